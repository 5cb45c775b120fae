//! The error handlers and adapters see.

use crate::seal::SealError;
use crate::store::StoreError;

/// What can go wrong using a session. Adapters answer every variant that reaches them at the end
/// of a request with a 500 that leaks no detail, and log the detail.
#[derive(Debug, thiserror::Error)]
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
    /// The key is reserved for the library (the flash queue).
    #[error("`{0}` is a reserved session key; use flash()/take_flashes() or choose another key")]
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
