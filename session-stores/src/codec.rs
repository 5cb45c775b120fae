//! How the file store encodes a [`Record`]: compact JSON *without the session id*, readable
//! when debugging. (The memory store uses the binary [`Record::to_compact_bytes`], also id-less.)
//!
//! `Record`'s own serde form carries the id, which is right for a sealed cookie (the client holds
//! it anyway) and wrong for a server-side store: anyone who could read a store's contents (a backup,
//! a copied directory) would get live session tokens. The stores key records by
//! [`SessionId::storage_key`], a one-way hash, and put the id back from the caller's argument when
//! decoding.

use serde::{Deserialize, Serialize};
use session_core::{Data, Delta, Device, Expiry, Record, SessionId, StoreError};

/// The record minus its id, borrowed for encoding.
#[derive(Serialize)]
struct StoredRef<'a> {
    #[serde(rename = "d")]
    data: &'a Data,
    #[serde(rename = "c")]
    created_at: u64,
    #[serde(rename = "e")]
    expires_at: u64,
    #[serde(rename = "a", skip_serializing_if = "Option::is_none")]
    absolute_deadline: Option<u64>,
    #[serde(rename = "v")]
    version: u64,
    #[serde(rename = "x", skip_serializing_if = "Option::is_none")]
    expiry: &'a Option<Expiry>,
    #[serde(rename = "o", skip_serializing_if = "Option::is_none")]
    owner: &'a Option<String>,
}

/// The record minus its id, owned for decoding.
#[derive(Deserialize)]
struct Stored {
    #[serde(rename = "d", default)]
    data: Data,
    #[serde(rename = "c")]
    created_at: u64,
    #[serde(rename = "e")]
    expires_at: u64,
    #[serde(rename = "a", default)]
    absolute_deadline: Option<u64>,
    #[serde(rename = "v", default)]
    version: u64,
    #[serde(rename = "x", default)]
    expiry: Option<Expiry>,
    #[serde(rename = "o", default)]
    owner: Option<String>,
}

/// Encodes `record` without its id.
pub(crate) fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&StoredRef {
        data: &record.data,
        created_at: record.created_at,
        expires_at: record.expires_at,
        absolute_deadline: record.absolute_deadline,
        version: record.version,
        expiry: &record.expiry,
        owner: &record.owner,
    })
    .map_err(StoreError::backend)
}

/// Decodes what [`encode`] wrote, giving the record back its `id`.
pub(crate) fn decode(id: SessionId, bytes: &[u8]) -> Result<Record, StoreError> {
    let stored: Stored =
        serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt(error.into()))?;
    Ok(Record {
        id,
        data: stored.data,
        created_at: stored.created_at,
        expires_at: stored.expires_at,
        absolute_deadline: stored.absolute_deadline,
        version: stored.version,
        expiry: stored.expiry,
        owner: stored.owner,
    })
}

/// What the file store needs to know of an encoded record without building a [`Record`]:
/// whether it is live, and where the owner index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
    /// The moment it stops loading: `expires_at`, capped by the absolute deadline.
    pub(crate) deadline: u64,
    pub(crate) owner: Option<String>,
    /// Its device record, when bound to an owner.
    pub(crate) device: Option<Device>,
}

impl Summary {
    /// Whether the record still loads at `now`.
    pub(crate) fn is_live(&self, now: u64) -> bool {
        now < self.deadline
    }
}

/// Decodes an encoded record as [`decode`] would (so a record that fails here fails there too,
/// and the other way round) and keeps its times and owner.
pub(crate) fn summary(bytes: &[u8]) -> Result<Summary, StoreError> {
    let stored: Stored =
        serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt(error.into()))?;
    Ok(Summary {
        created_at: stored.created_at,
        expires_at: stored.expires_at,
        deadline: stored
            .absolute_deadline
            .map_or(stored.expires_at, |absolute| {
                absolute.min(stored.expires_at)
            }),
        device: Device::from_data(&stored.data),
        owner: stored.owner,
    })
}

/// The moment a record stops loading once `delta` is applied to it.
pub(crate) fn deadline_after(delta: &Delta) -> u64 {
    delta
        .absolute_deadline
        .map_or(delta.expires_at, |absolute| absolute.min(delta.expires_at))
}

/// The moment `record` stops loading: its idle deadline, capped by its absolute one.
pub(crate) fn deadline(record: &Record) -> u64 {
    record
        .absolute_deadline
        .map_or(record.expires_at, |absolute| {
            absolute.min(record.expires_at)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::RawJson;
    use std::time::Duration;

    #[test]
    fn encoding_round_trips_and_leaves_the_id_out() {
        let id = SessionId::generate();
        let mut record = Record::new(id, &Expiry::default(), 1_000);
        record.data.insert(
            "cart".into(),
            RawJson::from_string(r#"{"items":[1,2]}"#.into()).unwrap(),
        );
        record.expiry = Some(Expiry::persistent(Duration::from_secs(60)));
        record.version = 7;
        let bytes = encode(&record).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains(&id.to_string()));
        assert_eq!(decode(id, &bytes).unwrap(), record);
    }

    #[test]
    fn a_summary_keeps_times_and_owner() {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), 1_000);
        record.owner = Some("alice".into());
        record.absolute_deadline = Some(record.expires_at - 1);
        let summary = summary(&encode(&record).unwrap()).unwrap();
        assert_eq!(summary.created_at, 1_000);
        assert_eq!(summary.expires_at, record.expires_at);
        assert_eq!(summary.deadline, record.expires_at - 1);
        assert_eq!(summary.owner.as_deref(), Some("alice"));
        assert!(summary.is_live(summary.deadline - 1));
        assert!(!summary.is_live(summary.deadline));
    }

    #[test]
    fn what_does_not_decode_has_no_summary_either() {
        // Well-formed JSON whose values have the wrong shape: `decode` refuses it, so must this.
        for bytes in [
            &b"{\"d\":"[..],
            br#"{"d":5,"c":1,"e":2}"#,
            br#"{"c":1}"#,
            b"",
        ] {
            assert!(decode(SessionId::generate(), bytes).is_err());
            assert!(matches!(summary(bytes), Err(StoreError::Corrupt(_))));
        }
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        let error = decode(SessionId::generate(), b"{\"d\":").unwrap_err();
        assert!(matches!(error, StoreError::Corrupt(_)));
    }
}
