#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod extract;
mod layer;
mod rejection;

pub use error::Error;
pub use extract::{NamedSession, Session, Sessions};
pub use layer::{request_sessions, ResponseFuture, SessionLayer, SessionService};
pub use rejection::SessionRejection;
pub use session_core::{session_name, SessionName};
pub use session_core::{INTERNAL_ERROR_BODY, STORE_UNAVAILABLE_BODY};

pub use session_core;
pub use session_core::{
    Expiry, ExpiryPolicy, Flash, FlashLevel, KeyRing, RequestSessions, SessionId, SessionManager,
    SessionsConfig, StoreRegistry,
};
