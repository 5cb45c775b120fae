//! The contract's request and response bodies, and the names of its sessions and keys.
//!
//! Every demo serializes these types, so the three speak byte-for-byte the same JSON.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use session_core::{Error, Expiry, OwnerSession, Session, SessionId};

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

/// Parses a JSON request body, whatever its `Content-Type`; the error is the contract's 400 body.
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

/// How long a "remember me" session lasts without use: 30 days (`POST /remember`).
pub const REMEMBER_ME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The lifetime `POST /remember` gives the `app` session: persistent (the cookie carries
/// `Max-Age`), [`REMEMBER_ME`] of idle time.
pub fn remember_me() -> Expiry {
    Expiry::persistent(REMEMBER_ME)
}

/// The largest request body a demo reads: 64 KiB. A larger one is `413`
/// ([`ErrorResponse::body_too_large`]).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One live session of the logged-in user in `GET /sessions`. Carries no id or token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// Whether this is the session of the request.
    pub current: bool,
    /// When it was created (ms since the Unix epoch).
    pub created_at: u64,
    /// When it expires unless used again (ms since the Unix epoch).
    pub expires_at: u64,
}

/// `{"sessions":[...]}`: `GET /sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsResponse {
    /// The user's live sessions: the current one first, then the newest first.
    pub sessions: Vec<SessionEntry>,
}

impl SessionsResponse {
    /// The listing of `sessions` (as the manager's `owner_sessions` returns them) for a request
    /// whose own session is `current`: entries lose their storage keys, the current one is
    /// marked and listed first, the others newest first.
    pub fn of(sessions: Vec<OwnerSession>, current: &SessionId) -> Self {
        let current_key = current.storage_key();
        let mut sessions: Vec<SessionEntry> = sessions
            .into_iter()
            .map(|session| SessionEntry {
                current: session.handle == current_key,
                created_at: session.created_at,
                expires_at: session.expires_at,
            })
            .collect();
        sessions.sort_by(|a, b| {
            b.current
                .cmp(&a.current)
                .then(b.created_at.cmp(&a.created_at))
        });
        SessionsResponse { sessions }
    }
}

/// `{"revoked":N}`: `POST /logout-everywhere`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedResponse {
    /// How many sessions ended, the request's own included.
    pub revoked: u64,
}

/// `POST /login` on the `app` session: sets `user`, binds the session to the user (so the
/// user's sessions can be listed and ended together) and gives it a new id (against session
/// fixation).
///
/// A change past the session's size limit is refused with [`Error::SessionTooLarge`] and leaves
/// the session as it was: the previous user (if any) kept, no new id, no new owner.
pub fn log_in(session: &Session, user: &str) -> Result<(), Error> {
    let previous = session.get::<String>(USER_KEY)?;
    session.insert(USER_KEY, user)?;
    if let Err(error) = session.set_owner(user) {
        match previous {
            Some(previous) => session.insert(USER_KEY, previous)?,
            None => {
                session.remove(USER_KEY);
            }
        }
        return Err(error);
    }
    session.regenerate_id();
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
