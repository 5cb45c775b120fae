//! How big a session may grow, and how its size is counted.

use std::fmt;
use std::sync::{Arc, LazyLock};

use crate::device::Device;
use crate::envelope;
use crate::error::Error;
use crate::observe::{EventDetail, Refusal, SessionEventKind, SessionObserver};
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
#[derive(Clone)]
pub(crate) struct SizeLimit {
    /// The session name, for the error.
    name: Arc<str>,
    measure: Measure,
    /// Where a refusal is counted (a handle made outside a manager has none).
    observer: Option<Arc<SessionObserver>>,
}

impl fmt::Debug for SizeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SizeLimit")
            .field("name", &self.name)
            .field("measure", &self.measure)
            .finish_non_exhaustive()
    }
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
        SizeLimit {
            name,
            measure,
            observer: None,
        }
    }

    /// The same limit, its refusals counted and reported by `observer`.
    pub(crate) fn with_observer(mut self, observer: Arc<SessionObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub(crate) fn unlimited() -> Self {
        // A handle made outside a manager has no limit: one shared empty name keeps that from
        // costing an allocation per session.
        static NO_NAME: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));
        SizeLimit {
            name: Arc::clone(&NO_NAME),
            measure: Measure::Unlimited,
            observer: None,
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
            if let Some(observer) = &self.observer {
                let refusal = SessionEventKind::Refused(Refusal::TooLarge);
                // The device record is decoded only for a hook.
                let device = observer
                    .has_hook()
                    .then(|| Device::from_data(&record.data))
                    .flatten();
                let detail = EventDetail {
                    owner: record.owner.as_deref(),
                    handle: None,
                    device: device.as_ref(),
                };
                observer.record_with(refusal, &detail);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::Expiry;
    use crate::id::SessionId;
    use std::time::Duration;

    const NOW: u64 = 1_000_000_000;

    fn record_with(entries: &[(&str, &str)]) -> (Record, usize) {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), NOW);
        let mut data_bytes = 0;
        for (key, json) in entries {
            let value = RawJson::from_string((*json).into()).unwrap();
            data_bytes += entry_bytes(key, &value);
            record.data.insert((*key).into(), value);
        }
        (record, data_bytes)
    }

    fn limit(measure: Measure) -> SizeLimit {
        SizeLimit::new(Arc::from("cart"), measure)
    }

    /// The refusal's `(size, limit, cookie_capacity)`, or `None` when the record fits.
    fn refusal(
        limit: &SizeLimit,
        record: &Record,
        data_bytes: usize,
    ) -> Option<(usize, usize, bool)> {
        match limit.check(record, data_bytes) {
            Ok(()) => None,
            Err(Error::SessionTooLarge {
                name,
                size,
                limit,
                cookie_capacity,
            }) => {
                assert_eq!(name, "cart");
                Some((size, limit, cookie_capacity))
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_entry_counts_its_key_and_its_json_text() {
        let value = RawJson::from_string("\"dark\"".into()).unwrap();
        assert_eq!(entry_bytes("theme", &value), 5 + 6);
    }

    #[test]
    fn no_limit_takes_anything() {
        let (record, data_bytes) = record_with(&[("k", "\"value\"")]);
        assert!(SizeLimit::unlimited().check(&record, usize::MAX).is_ok());
        assert!(SizeLimit::unlimited().check(&record, data_bytes).is_ok());
    }

    #[test]
    fn a_data_limit_takes_exactly_its_bytes_and_refuses_one_more() {
        let (record, data_bytes) = record_with(&[("theme", "\"dark\"")]);
        assert_eq!(data_bytes, 11);
        assert_eq!(
            refusal(&limit(Measure::Data(11)), &record, data_bytes),
            None
        );
        assert_eq!(
            refusal(&limit(Measure::Data(10)), &record, data_bytes),
            Some((11, 10, false))
        );
    }

    #[test]
    fn a_sealed_limit_refuses_values_past_its_data_bytes_as_max_bytes() {
        let (record, data_bytes) = record_with(&[("theme", "\"dark\"")]);
        let sealed = |data| Measure::Sealed {
            protection: Protection::Encrypted,
            capacity: 4096,
            data,
        };
        assert_eq!(refusal(&limit(sealed(11)), &record, data_bytes), None);
        assert_eq!(
            refusal(&limit(sealed(10)), &record, data_bytes),
            Some((11, 10, false))
        );
    }

    #[test]
    fn a_sealed_limit_counts_the_sealed_text_with_room_for_an_expiry_override() {
        for protection in [Protection::Encrypted, Protection::Signed] {
            let (record, data_bytes) = record_with(&[("theme", "\"dark\"")]);
            let sealed_len = sealed_text_len(
                protection,
                envelope::encoded_len(&record) + EXPIRY_OVERRIDE_ROOM,
            );
            let sealed = |capacity| Measure::Sealed {
                protection,
                capacity,
                data: 4096,
            };
            assert_eq!(
                refusal(&limit(sealed(sealed_len)), &record, data_bytes),
                None
            );
            assert_eq!(
                refusal(&limit(sealed(sealed_len - 1)), &record, data_bytes),
                Some((sealed_len, sealed_len - 1, true))
            );
        }
    }

    #[test]
    fn a_record_with_its_override_set_needs_no_room_for_one() {
        let (mut record, data_bytes) = record_with(&[("theme", "\"dark\"")]);
        record.expiry = Some(Expiry::browser_session(
            Duration::from_secs(600),
            Some(Duration::from_secs(3_600)),
        ));
        let sealed_len = sealed_text_len(Protection::Signed, envelope::encoded_len(&record));
        let sealed = Measure::Sealed {
            protection: Protection::Signed,
            capacity: sealed_len,
            data: 4096,
        };
        assert_eq!(refusal(&limit(sealed), &record, data_bytes), None);
    }

    #[test]
    fn the_room_kept_holds_the_largest_override() {
        let (mut record, _) = record_with(&[("theme", "\"dark\"")]);
        let without = envelope::encoded_len(&record);
        record.expiry = Some(Expiry::browser_session(
            Duration::from_secs(600),
            Some(Duration::from_secs(3_600)),
        ));
        assert!(envelope::encoded_len(&record) - without < EXPIRY_OVERRIDE_ROOM);
    }

    #[test]
    fn values_at_exactly_their_data_bytes_still_must_fit_the_cookies() {
        let (record, data_bytes) = record_with(&[("theme", "\"dark\"")]);
        let sealed_len = sealed_text_len(
            Protection::Encrypted,
            envelope::encoded_len(&record) + EXPIRY_OVERRIDE_ROOM,
        );
        let measure = Measure::Sealed {
            protection: Protection::Encrypted,
            capacity: sealed_len - 1,
            data: data_bytes,
        };
        assert_eq!(
            refusal(&limit(measure), &record, data_bytes),
            Some((sealed_len, sealed_len - 1, true))
        );
    }
}
