#![doc = include_str!("../README.md")]

mod error;
mod fairing;
mod guard;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, SessionFailure, SessionRejection};
pub use fairing::SessionFairing;
pub use guard::{NamedSession, Session, Sessions};

pub use session_core;
pub use session_core::__adapter_exports::*;
