//! The contract's request and response bodies, and the names of its sessions and keys.
//!
//! Every demo serializes these types, so the three speak byte-for-byte the same JSON.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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
