#![doc = include_str!("../README.md")]

mod error;
mod extract;
mod middleware;
mod rejection;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::Error;
pub use extract::{NamedSession, Session, Sessions};
pub use middleware::{ResponseFuture, SessionMiddleware, SessionService};
pub use rejection::SessionRejection;

pub use session_core;
pub use session_core::__adapter_exports::*;
