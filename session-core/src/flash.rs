//! Flash messages: values that live until they are read.
//!
//! They are kept in the session under the reserved key [`FLASH_KEY`] as a queue.
//! [`Session::flash`](crate::Session::flash) appends; [`Session::take_flashes`](crate::Session::take_flashes)
//! returns and removes them all (so they show exactly once, typically on the next page);
//! [`Session::peek_flashes`](crate::Session::peek_flashes) returns them without removing.

use serde::{Deserialize, Serialize};

/// The reserved session key that holds the flash queue. Handlers cannot write it directly.
pub const FLASH_KEY: &str = "__flash";

/// How important a flash message is; templates usually map it to a style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashLevel {
    /// Diagnostic detail.
    Debug,
    /// Neutral information.
    Info,
    /// An action succeeded.
    Success,
    /// Something needs attention.
    Warning,
    /// An action failed.
    Error,
}

/// One flash message: a level and a JSON value (usually a string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flash {
    /// The message's level.
    pub level: FlashLevel,
    /// The message itself.
    pub value: serde_json::Value,
}

impl Flash {
    /// The message as text, when it is a string.
    pub fn text(&self) -> Option<&str> {
        self.value.as_str()
    }
}
