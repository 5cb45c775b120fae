#![doc = include_str!("../README.md")]

mod error;
mod extract;
mod guard;
mod layer;
mod origin;
mod rejection;
mod rule;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::Error;
pub use extract::{NamedSession, Session, Sessions};
pub use guard::{LoggedIn, LoginRejection, NOT_LOGGED_IN_BODY};
pub use layer::{request_sessions, ResponseFuture, SessionLayer, SessionService};
pub use rejection::SessionRejection;
pub use rule::DiscardSessions;

pub use session_core;
pub use session_core::__adapter_exports::*;
