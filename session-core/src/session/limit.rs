//! How big a session may grow, and how its size is counted.

use std::sync::{Arc, LazyLock};

use crate::envelope;
use crate::error::Error;
use crate::record::{RawJson, Record};
use crate::seal::{sealed_text_len, Protection};

/// Room kept in a client-side session's cookies for an expiry override set later (the
/// override's idle and absolute timeouts, 8 bytes each, and a byte to spare), so that
/// [`Session::set_expiry`](crate::Session::set_expiry) cannot make the cookie outgrow its
/// limit after the handler.
const EXPIRY_OVERRIDE_ROOM: usize = 17;

/// The longest owner a session takes, in bytes: owners are user ids, kept in clear in every
/// store's index.
pub(crate) const MAX_OWNER_LEN: usize = 256;

/// How big a session may grow, and how its size is counted.
#[derive(Debug, Clone)]
pub(crate) struct SizeLimit {
    /// The session name, for the error.
    name: Arc<str>,
    measure: Measure,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Measure {
    /// No limit (a handle made outside a manager).
    Unlimited,
    /// At most this many bytes of keys and JSON values (server-side stores).
    Data(usize),
    /// A sealed value of at most this many characters, `data` bytes of values at most
    /// (client-side sessions: what fits the cookies).
    Sealed {
        protection: Protection,
        capacity: usize,
        data: usize,
    },
}

impl SizeLimit {
    pub(crate) fn new(name: Arc<str>, measure: Measure) -> Self {
        SizeLimit { name, measure }
    }

    pub(crate) fn unlimited() -> Self {
        // A handle made outside a manager has no limit: one shared empty name keeps that from
        // costing an allocation per session.
        static NO_NAME: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));
        SizeLimit {
            name: Arc::clone(&NO_NAME),
            measure: Measure::Unlimited,
        }
    }

    /// The session name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Checks `record` (with values of `data_bytes` in all) against the limit.
    pub(crate) fn check(&self, record: &Record, data_bytes: usize) -> Result<(), Error> {
        let (size, limit, cookie_capacity) = match self.measure {
            Measure::Unlimited => return Ok(()),
            // The owner is kept beside the values (and in the owner index): it counts.
            Measure::Data(limit) => (
                data_bytes + record.owner.as_ref().map_or(0, String::len),
                limit,
                false,
            ),
            Measure::Sealed {
                protection,
                capacity,
                data,
            } => {
                if data_bytes > data {
                    (data_bytes, data, false)
                } else {
                    let margin = if record.expiry.is_none() {
                        EXPIRY_OVERRIDE_ROOM
                    } else {
                        0
                    };
                    let envelope = envelope::encoded_len(record) + margin;
                    (sealed_text_len(protection, envelope), capacity, true)
                }
            }
        };
        if size > limit {
            return Err(Error::SessionTooLarge {
                name: self.name.to_string(),
                size,
                limit,
                cookie_capacity,
            });
        }
        Ok(())
    }
}

/// Why `owner` cannot be a session's owner, if it cannot: stores index owners in clear, so an
/// owner is a short printable id.
pub(crate) fn owner_problem(owner: &str) -> Option<&'static str> {
    if owner.is_empty() {
        Some("is empty")
    } else if owner.len() > MAX_OWNER_LEN {
        Some("is too long")
    } else if owner.chars().any(char::is_control) {
        Some("holds a control character")
    } else {
        None
    }
}

/// The bytes a value of the session counts for against its limit.
pub(crate) fn entry_bytes(key: &str, value: &RawJson) -> usize {
    key.len() + value.get().len()
}
