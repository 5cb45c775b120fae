//! The contract's request and response bodies, and the names of its sessions and keys.
//!
//! Every demo serializes these types, so the three speak byte-for-byte the same JSON.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use session_core::{Error, OwnerSession, Session};

/// The default session: login state, counters and flash messages (cookie `app_session`).
pub const APP: &str = "app";
/// The client-side session holding the cart (cookie `cart`).
pub const CART: &str = "cart";
/// The header-carried session of API clients (header `x-session`).
pub const API: &str = "api";

/// The key of the logged-in user in `app`.
pub const USER_KEY: &str = "user";
/// The key of the cart's items in `cart`.
pub const ITEMS_KEY: &str = "items";
/// The key of the API user in `api`.
pub const TOKEN_USER_KEY: &str = "token_user";

/// The session key that holds counter `name` in `app`. Counters live under their own prefix so
/// a counter can never overwrite `user` (or any other value of the session).
pub fn counter_key(name: &str) -> String {
    format!("counter.{name}")
}

/// `POST /login` and `POST /api/login`: `{"user":"alice"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Who logs in.
    pub user: String,
}

/// `POST /flash`: `{"message":"saved"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlashRequest {
    /// The message to show once.
    pub message: String,
}

/// `POST /cart/items`: `{"item":"apple"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartItemRequest {
    /// The item to append.
    pub item: String,
}

/// `{"ok":true}`: `GET /health`, `POST /logout`, `POST /flash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OkResponse {
    /// Always `true`.
    pub ok: bool,
}

impl OkResponse {
    /// `{"ok":true}`.
    pub const OK: OkResponse = OkResponse { ok: true };
}

/// `{"user":"alice"}`: `POST /login`, `GET /me`, `POST /api/login`, `GET /api/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserResponse {
    /// The logged-in user.
    pub user: String,
}

/// `{"messages":["saved"]}`: `GET /flash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashesResponse {
    /// The flash messages, oldest first.
    pub messages: Vec<String>,
}

impl FlashesResponse {
    /// The texts of `session`'s flash messages, taken out of it (the contract's `GET /flash`:
    /// shown once).
    pub fn take(session: &Session) -> Self {
        let messages = session
            .take_flashes()
            .iter()
            .filter_map(|flash| flash.text().map(str::to_string))
            .collect();
        FlashesResponse { messages }
    }
}

/// `{"key":"k","value":N}`: `GET` and `POST /counter/{key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterResponse {
    /// The counter's name (the path segment).
    pub key: String,
    /// Its value; 0 when it was never incremented.
    pub value: i64,
}

/// `{"items":["apple"]}`: `GET /cart`, `POST /cart/items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartResponse {
    /// The cart's items, in the order added.
    pub items: Vec<String>,
}

/// `{"error":"..."}`: every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// What went wrong, without internal detail.
    pub error: String,
}

impl ErrorResponse {
    /// The 401 of `GET /me` and `GET /api/me`: `{"error":"not logged in"}`.
    pub fn not_logged_in() -> Self {
        ErrorResponse {
            error: "not logged in".to_string(),
        }
    }

    /// The 500 of a store failure: `{"error":"session store unavailable"}`.
    pub fn store_unavailable() -> Self {
        ErrorResponse {
            error: "session store unavailable".to_string(),
        }
    }

    /// The 413 of a change that would take a session past its size limit:
    /// `{"error":"session too large"}`.
    pub fn session_too_large() -> Self {
        ErrorResponse {
            error: "session too large".to_string(),
        }
    }

    /// The 413 of a request body over [`MAX_BODY_BYTES`]: `{"error":"request body too large"}`.
    pub fn body_too_large() -> Self {
        ErrorResponse {
            error: "request body too large".to_string(),
        }
    }

    /// The 404 of `DELETE /sessions/{id}` for a handle that is not one of the user's live
    /// sessions: `{"error":"no such session"}`.
    pub fn no_such_session() -> Self {
        ErrorResponse {
            error: "no such session".to_string(),
        }
    }

    /// The 409 of a login refused by the cap on the user's sessions:
    /// `{"error":"too many sessions"}`.
    pub fn too_many_sessions() -> Self {
        ErrorResponse {
            error: "too many sessions".to_string(),
        }
    }

    /// The 415 of a JSON route sent another content type: `{"error":"expected application/json"}`.
    pub fn expected_json() -> Self {
        ErrorResponse {
            error: "expected application/json".to_string(),
        }
    }

    /// The 404 of an unknown route: `{"error":"not found"}`.
    pub fn not_found() -> Self {
        ErrorResponse {
            error: "not found".to_string(),
        }
    }

    /// The body of an error the framework itself answered with `status` (a rejected path or
    /// body, an unknown route, a panic), so every demo says the same for each status.
    ///
    /// ```
    /// use demo_contract::ErrorResponse;
    ///
    /// assert_eq!(ErrorResponse::for_status(404), ErrorResponse::not_found());
    /// assert_eq!(ErrorResponse::for_status(413), ErrorResponse::body_too_large());
    /// assert_eq!(ErrorResponse::for_status(400).error, "bad request");
    /// ```
    pub fn for_status(status: u16) -> Self {
        let error = match status {
            400 => "bad request",
            401 => "not logged in",
            404 => return ErrorResponse::not_found(),
            413 => return ErrorResponse::body_too_large(),
            415 => return ErrorResponse::expected_json(),
            status if (400..500).contains(&status) => "request refused",
            _ => "internal error",
        };
        ErrorResponse {
            error: error.to_string(),
        }
    }

    /// The 400 of a body that is not the expected JSON.
    pub fn malformed_body(reason: impl std::fmt::Display) -> Self {
        ErrorResponse {
            error: format!("malformed body: {reason}"),
        }
    }
}

/// Whether a `Content-Type` value (`None` when the header is absent) names JSON:
/// `application/json`, in any case, with or without parameters. A JSON route answers anything
/// else with `415` ([`ErrorResponse::expected_json`]), so a cross-site `text/plain` form, which
/// a browser sends without asking, cannot pass for JSON.
///
/// ```
/// use demo_contract::is_json_content_type;
///
/// assert!(is_json_content_type(Some(b"application/json")));
/// assert!(is_json_content_type(Some(b"Application/JSON; charset=utf-8")));
/// assert!(!is_json_content_type(Some(b"text/plain")));
/// assert!(!is_json_content_type(Some(b"application/jsonx")));
/// assert!(!is_json_content_type(None));
/// ```
pub fn is_json_content_type(value: Option<&[u8]>) -> bool {
    let Some(value) = value else {
        return false;
    };
    let essence = value.split(|&byte| byte == b';').next().unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/json")
}

/// Parses a JSON request body (the caller checked its `Content-Type` with
/// [`is_json_content_type`]); the error is the contract's 400 body.
///
/// ```
/// use demo_contract::{parse_body, LoginRequest};
///
/// let login: LoginRequest = parse_body(br#"{"user":"alice"}"#).unwrap();
/// assert_eq!(login.user, "alice");
/// assert!(parse_body::<LoginRequest>(b"{").unwrap_err().error.starts_with("malformed body"));
/// assert!(parse_body::<LoginRequest>(br#"["alice"]"#).is_err());
/// ```
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ErrorResponse> {
    // serde accepts a struct written as a JSON array too (`["alice"]`); the contract does not.
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ErrorResponse::malformed_body("expected a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(ErrorResponse::malformed_body)
}

/// The largest request body a demo reads: 64 KiB. A larger one is `413`
/// ([`ErrorResponse::body_too_large`]).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One live session of the logged-in user in `GET /sessions`: what the device is and when it
/// was used. Carries no token: `id` is the store's one-way handle, which opens nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// The handle of `DELETE /sessions/{id}`.
    pub id: String,
    /// Whether this is the session of the request.
    pub current: bool,
    /// When it was created (ms since the Unix epoch).
    pub created_at: u64,
    /// When it was last used (ms since the Unix epoch), moved at most once per
    /// `touch_after_secs`.
    pub last_seen_at: u64,
    /// When it expires unless used again (ms since the Unix epoch).
    pub expires_at: u64,
    /// When the user logged in on it (ms since the Unix epoch).
    pub logged_in_at: u64,
    /// The device's `User-Agent` at login (cut to 256 characters), empty when it sent none.
    pub user_agent: String,
}

impl From<OwnerSession> for SessionEntry {
    fn from(session: OwnerSession) -> Self {
        let last_seen_at = session.last_seen_at();
        // A session bound before devices were recorded has no record: its creation stands in.
        let (logged_in_at, user_agent) = match session.device {
            Some(device) => (device.logged_in_at, device.user_agent.unwrap_or_default()),
            None => (session.created_at, String::new()),
        };
        SessionEntry {
            id: session.handle,
            current: session.current,
            created_at: session.created_at,
            last_seen_at,
            expires_at: session.expires_at,
            logged_in_at,
            user_agent,
        }
    }
}

/// `{"sessions":[...]}`: `GET /sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsResponse {
    /// The user's live sessions, most recently seen first.
    pub sessions: Vec<SessionEntry>,
}

impl SessionsResponse {
    /// The listing of `devices` as [`Session::devices`] returns them (most recently seen first,
    /// the request's own marked current).
    pub fn of(devices: Vec<OwnerSession>) -> Self {
        SessionsResponse {
            sessions: devices.into_iter().map(SessionEntry::from).collect(),
        }
    }
}

/// `{"revoked":N}`: `DELETE /sessions/{id}`, `POST /logout-others`, `POST /logout-everywhere`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedResponse {
    /// How many sessions ended.
    pub revoked: u64,
}

/// `POST /login` on the `app` session: [`Session::login`] (a new id against session fixation,
/// bound to the user so the device is recorded and listed; another user's values do not carry
/// over, an anonymous visitor's do) and `user` set.
///
/// A user name that would take the session past its size limit is refused with
/// [`Error::SessionTooLarge`] before anything changes: the previous user (if any) kept, no new
/// id, no new owner.
pub fn log_in(session: &Session, user: &str) -> Result<(), Error> {
    let previous = session.get::<String>(USER_KEY)?;
    let switching = session.owner().is_some_and(|owner| owner != user);
    // The size check comes first, so a refused name leaves the session as it was. Only when the
    // login drops another user's values may a name that does not fit beside them still fit.
    match session.insert(USER_KEY, user) {
        Ok(()) => {}
        Err(error) if error.is_too_large() && switching => {
            if session.login(user).is_err() {
                return Err(error);
            }
            return session.insert(USER_KEY, user);
        }
        Err(error) => return Err(error),
    }
    if let Err(error) = session.login(user) {
        match previous {
            Some(previous) => session.insert(USER_KEY, previous)?,
            None => {
                session.remove(USER_KEY);
            }
        }
        return Err(error);
    }
    // Logging in as another user started from empty values.
    if !session.contains(USER_KEY) {
        session.insert(USER_KEY, user)?;
    }
    Ok(())
}

/// A path segment percent-decoded strictly: `None` when an escape is malformed or the bytes are
/// not UTF-8 (the contract's 400), where a framework might decode lossily.
///
/// ```
/// use demo_contract::decode_segment;
///
/// assert_eq!(decode_segment("caf%C3%A9").as_deref(), Some("café"));
/// assert_eq!(decode_segment("%FF"), None);
/// assert_eq!(decode_segment("%2"), None);
/// assert_eq!(decode_segment("%+1"), None);
/// ```
pub fn decode_segment(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%' {
            let hex = bytes.get(at + 1..at + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            decoded.push(byte);
            at += 1;
        }
    }
    String::from_utf8(decoded).ok()
}
