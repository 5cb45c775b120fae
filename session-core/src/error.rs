//! The error handlers and adapters see.

use crate::registry::MAX_COOKIE_CHUNKS;
use crate::seal::SealError;
use crate::store::StoreError;

/// The body of the 500 adapters answer when a session store failed. It names no store and no
/// cause.
pub const STORE_UNAVAILABLE_BODY: &str = r#"{"error":"session store unavailable"}"#;

/// The body of the 413 adapters answer when a change would take a session past its size limit.
pub const TOO_LARGE_BODY: &str = r#"{"error":"session too large"}"#;

/// The body of the 400 adapters answer when a handler passed an owner no store can index (often
/// a user name straight from the request).
pub const INVALID_OWNER_BODY: &str = r#"{"error":"invalid session owner"}"#;

/// The body of the 409 adapters answer when a login is refused at the owner's session cap.
pub const TOO_MANY_SESSIONS_BODY: &str = r#"{"error":"too many sessions"}"#;

/// The body of the 401 the adapters' login guards answer when no owner is bound.
pub const NOT_LOGGED_IN_BODY: &str = r#"{"error":"not logged in"}"#;

/// The body of the 500 adapters answer for any other session failure.
pub const INTERNAL_ERROR_BODY: &str = r#"{"error":"session error"}"#;

/// What can go wrong using a session. Adapters answer a variant that reaches them with its
/// [`status`](Error::status) and [`public_body`](Error::public_body), which leak no detail (413
/// for [`SessionTooLarge`](Error::SessionTooLarge), 400 for [`InvalidOwner`](Error::InvalidOwner),
/// 500 for every other), and log the detail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value could not be serialized to JSON.
    #[error("could not serialize the value for session key `{key}`: {source}")]
    Serialize {
        /// The key being written.
        key: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// A stored value is not of the requested type.
    #[error("session key `{key}` holds a value of another type: {source}")]
    Deserialize {
        /// The key being read.
        key: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// The key is reserved for the library (the flash queue, the device record).
    #[error("`{0}` is a reserved session key (the library keeps flash messages and the device record there); use flash()/take_flashes() or choose another key")]
    ReservedKey(String),
    /// No session of that name is configured.
    #[error(
        "no session named `{0}` is configured; add a [sessions.{0}] table to the configuration"
    )]
    UnknownSession(String),
    /// The store failed.
    #[error("session store failed: {0}")]
    Store(#[from] StoreError),
    /// The session could not be sealed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A change would take the session past its size limit. Returned where the handler makes
    /// the change (`insert`, `flash`, ...), which then changes nothing; adapters answer 413.
    #[error("{}", describe_too_large(name, *size, *limit, *cookie_capacity))]
    SessionTooLarge {
        /// The session name.
        name: String,
        /// The size the change would have given (bytes, as the limit counts them).
        size: usize,
        /// The limit.
        limit: usize,
        /// Whether the limit is what the client-side `cookie` store's cookies hold, which
        /// `max_bytes` cannot raise; otherwise it is the session's `max_bytes`.
        cookie_capacity: bool,
    },
    /// The owner given to [`Session::set_owner`](crate::Session::set_owner) is not one a store
    /// can index. Returned where the handler sets it; the session is then unchanged.
    #[error("the session owner {0}; pass the user's id: 1 to {max} bytes, no control characters", max = crate::session::MAX_OWNER_LEN)]
    InvalidOwner(&'static str),
    /// A change to a session whose request was already saved (a task the handler spawned wrote
    /// after the response left): it would be lost, so it is refused.
    #[error("session `{0}` was already saved with its request's response, so this change would be lost; make every change before the handler returns, or await the spawned task inside the handler")]
    AlreadySaved(String),
    /// The operation needs a server-side store, and this session lives in the client.
    #[error("session `{0}` is kept in the client's cookie, which cannot be listed, counted or revoked; give it a server-side store (memory, file, redis, sql) for that")]
    NotServerSide(String),
    /// Binding the session to an owner who already has `owners.max_sessions` live sessions, with
    /// `when_full = "refuse"` (409).
    #[error("session `{name}`: this owner already has {max} live sessions, the most its `owners.max_sessions` allows; end one of them first (or configure `when_full = \"end_least_recent\"`)")]
    TooManySessions {
        /// The session name.
        name: String,
        /// The configured cap.
        max: u32,
    },
    /// The session's cookie would exceed what browsers keep.
    #[error("session `{name}` needs a {size}-byte Set-Cookie, over the {limit}-byte browser limit; store less in it, raise `max_chunks` of the cookie store, or use a server-side store")]
    CookieTooLarge {
        /// The session name.
        name: String,
        /// The size needed.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// The message of [`Error::SessionTooLarge`]: what helps depends on which limit was hit.
fn describe_too_large(name: &str, size: usize, limit: usize, cookie_capacity: bool) -> String {
    if cookie_capacity {
        format!(
            "session `{name}` would need a {size}-byte sealed value, over the {limit} bytes its cookies hold; store less in it, let its cookie store split it across more cookies (`max_chunks`, up to {MAX_COOKIE_CHUNKS}), or give it a server-side store"
        )
    } else {
        format!(
            "session `{name}` would hold {size} bytes, over its {limit}-byte limit; store less in it, or raise `max_bytes` in its configuration"
        )
    }
}

impl Error {
    /// Whether the session store failed (an outage), as opposed to a misuse or a bug.
    pub fn is_store_failure(&self) -> bool {
        matches!(self, Error::Store(_))
    }

    /// Whether a change was refused because the session would pass its size limit (413).
    pub fn is_too_large(&self) -> bool {
        matches!(self, Error::SessionTooLarge { .. })
    }

    /// The HTTP status an adapter answers this error with: 413 for
    /// [`SessionTooLarge`](Error::SessionTooLarge), 400 for
    /// [`InvalidOwner`](Error::InvalidOwner) (the owner usually comes from the request), 409 for
    /// [`TooManySessions`](Error::TooManySessions), 500 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            Error::SessionTooLarge { .. } => 413,
            Error::InvalidOwner(_) => 400,
            Error::TooManySessions { .. } => 409,
            _ => 500,
        }
    }

    /// The JSON body an adapter answers for this error, without its detail (log the error
    /// itself): [`TOO_LARGE_BODY`] with the 413, [`INVALID_OWNER_BODY`] with the 400,
    /// [`TOO_MANY_SESSIONS_BODY`] with the 409,
    /// [`STORE_UNAVAILABLE_BODY`] or [`INTERNAL_ERROR_BODY`] with a 500.
    pub fn public_body(&self) -> &'static str {
        if self.is_too_large() {
            TOO_LARGE_BODY
        } else if matches!(self, Error::InvalidOwner(_)) {
            INVALID_OWNER_BODY
        } else if matches!(self, Error::TooManySessions { .. }) {
            TOO_MANY_SESSIONS_BODY
        } else if self.is_store_failure() {
            STORE_UNAVAILABLE_BODY
        } else {
            INTERNAL_ERROR_BODY
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_bodies_tell_store_outages_apart_and_leak_no_detail() {
        let outage = Error::Store(StoreError::backend_msg("redis at 10.0.0.7:6379 refused"));
        assert!(outage.is_store_failure());
        assert_eq!(outage.public_body(), STORE_UNAVAILABLE_BODY);
        let misuse = Error::UnknownSession("carts".into());
        assert!(!misuse.is_store_failure());
        assert_eq!(misuse.public_body(), INTERNAL_ERROR_BODY);
        for body in [outage.public_body(), misuse.public_body()] {
            assert!(!body.contains("10.0.0.7") && !body.contains("carts"));
            assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
        }
    }
}
