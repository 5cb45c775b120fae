#![doc = include_str!("../README.md")]

mod error;
mod fairing;
mod guard;
mod login;
mod origin;
mod rule;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, SessionFailure, SessionRejection};
pub use fairing::SessionFairing;
pub use guard::{NamedSession, Session, Sessions};
pub use login::{login_catchers, LoggedIn, LoginRejection, NOT_LOGGED_IN_BODY};
pub use rule::discard_sessions;

pub use session_core;
pub use session_core::__adapter_exports::*;
