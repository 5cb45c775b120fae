#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod fairing;
mod guard;

pub use error::{SessionError, SessionFailure};
pub use fairing::SessionFairing;
pub use guard::{NamedSession, Session, Sessions};
pub use session_core::{session_name, SessionName};

pub use session_core;
pub use session_core::{
    Expiry, Flash, FlashLevel, KeyRing, SessionConfig, SessionManager, SessionsConfig,
    StoreRegistry,
};
