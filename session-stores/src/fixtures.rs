//! The records and deltas that the crate's unit tests and the conformance suite build from.

use session_core::{now_ms, Delta, Expiry, Record, SessionId};

/// A new record with no values, bound to `owner`.
pub(crate) fn owned_by(owner: &str) -> Record {
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
    record.owner = Some(owner.to_string());
    record
}

/// A delta that changes nothing but keeps `record`'s deadlines.
pub(crate) fn keeping(record: &Record) -> Delta {
    Delta {
        expires_at: record.expires_at,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    }
}
