//! What a store persists: [`Record`], and the [`Delta`] that carries one request's changes.
//!
//! Values are kept as JSON text ([`RawJson`]) rather than parsed trees: a record is opened on
//! every request but most values are never read, so each one is deserialized only when a handler
//! asks for it with [`Session::get`](crate::Session::get).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::expiry::Expiry;
use crate::id::SessionId;

/// A session's values: keys to JSON text.
pub type Data = BTreeMap<String, RawJson>;

/// One session value as JSON text.
///
/// Values built here ([`from_string`](Self::from_string), [`to_json`](Self::to_json)) or
/// deserialized are checked to be one JSON value. Values read back from a sealed cookie or from
/// [`Record::from_compact_bytes`] are not checked again: that text was written by this library
/// and, for cookies, authenticated, so re-parsing it on every request would only cost time.
/// Whatever its origin, text that is not JSON can never reach a handler as a value
/// ([`Session::get`](crate::Session::get) parses it and reports an error) nor another format
/// (serializing a `RawJson` checks it first).
///
/// `Debug` shows the length, never the text, which may be secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RawJson(String);

impl RawJson {
    /// Checks that `json` is exactly one JSON value.
    pub fn from_string(json: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(json).map(RawJson::from)
    }

    /// Serializes `value` to JSON.
    pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_string(value).map(RawJson)
    }

    /// Text this library wrote (inside an authenticated or self-written envelope).
    pub(crate) fn written(text: &str) -> Self {
        RawJson(text.to_string())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(raw: Box<RawValue>) -> Self {
        RawJson(Box::<str>::from(raw).into_string())
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson(<{} bytes>)", self.0.len())
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(|error| {
            serde::ser::Error::custom(format_args!("a session value is not JSON: {error}"))
        })?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(RawJson::from)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// One session as a store persists it.
///
/// Times are milliseconds since the Unix epoch. Field names are short on the wire because a
/// client-side record travels in every request's cookie.
///
/// `Debug` shows the keys but never the values, which may be secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct Record {
    /// The session's id.
    #[serde(rename = "i")]
    pub id: SessionId,
    /// The session's values.
    #[serde(rename = "d", default)]
    pub data: Data,
    /// When the session was first saved.
    #[serde(rename = "c")]
    pub created_at: u64,
    /// When the session expires unless it is used again (the idle deadline, capped by the
    /// absolute one). Stores set their TTL from this.
    #[serde(rename = "e")]
    pub expires_at: u64,
    /// When the session expires however active it is, if ever.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub absolute_deadline: Option<u64>,
    /// Incremented by every save and update; lets stores detect concurrent whole-record writes.
    #[serde(rename = "v", default)]
    pub version: u64,
    /// A per-session expiry that overrides the configured policy ("remember me").
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Expiry>,
    /// Who the session belongs to (a user id), for the store's owner index: listing and ending
    /// one user's sessions on every device.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Record {
    /// A new, empty record whose deadlines follow `expiry` from `now`.
    pub fn new(id: SessionId, expiry: &Expiry, now: u64) -> Self {
        let absolute_deadline = expiry.absolute_deadline(now);
        Record {
            id,
            data: Data::new(),
            created_at: now,
            expires_at: expiry.next_expires_at(now, absolute_deadline),
            absolute_deadline,
            version: 0,
            expiry: None,
            owner: None,
        }
    }

    /// Whether the record is past its idle or absolute deadline at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
            || self
                .absolute_deadline
                .is_some_and(|deadline| now >= deadline)
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("id", &self.id)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("absolute_deadline", &self.absolute_deadline)
            .field("version", &self.version)
            .field("expiry", &self.expiry)
            .field("owner", &self.owner)
            .finish()
    }
}

impl PartialEq for Record {
    /// Values compare by their JSON text.
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.created_at == other.created_at
            && self.expires_at == other.expires_at
            && self.absolute_deadline == other.absolute_deadline
            && self.version == other.version
            && self.expiry == other.expiry
            && self.owner == other.owner
            && self.data.len() == other.data.len()
            && self
                .data
                .iter()
                .zip(&other.data)
                .all(|((k1, v1), (k2, v2))| k1 == k2 && v1.get() == v2.get())
    }
}

/// The bytes are not a record written by [`Record::to_compact_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stored bytes are not a session record (corrupt, or written by an incompatible version)")]
pub struct InvalidRecordBytes;

/// The changes one request made to a stored session, for [`Store::update`](crate::Store::update).
///
/// Applying a delta touches only the keys it names, so two requests that change different keys of
/// one session both persist. Two that change the same key: the last writer wins.
///
/// `Debug` shows the keys but never the values, which may be secret.
#[derive(Clone, Default, PartialEq)]
pub struct Delta {
    /// Keys set to new values.
    pub changed: Vec<(String, RawJson)>,
    /// Keys removed.
    pub removed: Vec<String>,
    /// The record's new idle deadline.
    pub expires_at: u64,
    /// The record's absolute deadline (changes when a per-session expiry is set).
    pub absolute_deadline: Option<u64>,
    /// The record's per-session expiry override.
    pub expiry: Option<Expiry>,
    /// `Some` when the request rebound the session's owner: `Some(None)` unbinds it. `None`
    /// leaves the stored owner as it is (a concurrent login's binding survives).
    pub owner: Option<Option<String>>,
}

impl fmt::Debug for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delta")
            .field(
                "changed",
                &self.changed.iter().map(|(key, _)| key).collect::<Vec<_>>(),
            )
            .field("removed", &self.removed)
            .field("expires_at", &self.expires_at)
            .field("absolute_deadline", &self.absolute_deadline)
            .field("expiry", &self.expiry)
            .field("owner", &self.owner)
            .finish()
    }
}

impl Delta {
    /// Applies the delta to `record` and bumps its version.
    pub fn apply(&self, record: &mut Record) {
        for key in &self.removed {
            record.data.remove(key);
        }
        for (key, value) in &self.changed {
            record.data.insert(key.clone(), value.clone());
        }
        record.expires_at = self.expires_at;
        record.absolute_deadline = self.absolute_deadline;
        record.expiry = self.expiry.clone();
        if let Some(owner) = &self.owner {
            record.owner = owner.clone();
        }
        record.version = record.version.wrapping_add(1);
    }

    /// Whether the delta changes no values (it may still move the deadlines).
    pub fn touches_no_values(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> RawJson {
        RawJson::from_string(json.to_string()).unwrap()
    }

    #[test]
    fn delta_sets_removes_and_moves_deadlines() {
        let expiry = Expiry::default();
        let mut record = Record::new(SessionId::generate(), &expiry, 1_000);
        record.data.insert("keep".into(), raw("1"));
        record.data.insert("drop".into(), raw("2"));
        let delta = Delta {
            changed: vec![("new".into(), raw("\"x\""))],
            removed: vec!["drop".into()],
            expires_at: 99_000,
            absolute_deadline: Some(100_000),
            expiry: None,
            owner: None,
        };
        delta.apply(&mut record);
        let keys: Vec<_> = record.data.keys().cloned().collect();
        assert_eq!(keys, ["keep", "new"]);
        assert_eq!(record.expires_at, 99_000);
        assert_eq!(record.absolute_deadline, Some(100_000));
        assert_eq!(record.version, 1);
    }

    #[test]
    fn two_deltas_on_different_keys_both_persist() {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), 0);
        let first = Delta {
            changed: vec![("a".into(), raw("1"))],
            ..Delta::default()
        };
        let second = Delta {
            changed: vec![("b".into(), raw("2"))],
            ..Delta::default()
        };
        first.apply(&mut record);
        second.apply(&mut record);
        assert_eq!(record.data.len(), 2);
    }

    #[test]
    fn expiry_checks_both_deadlines() {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), 0);
        record.expires_at = 10;
        record.absolute_deadline = Some(5);
        assert!(!record.is_expired(4));
        assert!(record.is_expired(5));
        record.absolute_deadline = None;
        assert!(!record.is_expired(9));
        assert!(record.is_expired(10));
    }

    #[test]
    fn debug_shows_keys_not_values() {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), 42);
        record.data.insert("token".into(), raw(r#""s3cr3t-value""#));
        let delta = Delta {
            changed: vec![("token".into(), raw(r#""s3cr3t-value""#))],
            ..Delta::default()
        };
        for printed in [format!("{record:?}"), format!("{delta:?}")] {
            assert!(printed.contains("token"), "{printed}");
            assert!(!printed.contains("s3cr3t"), "{printed}");
            assert!(!printed.contains(&record.id.to_string()), "{printed}");
        }
    }

    #[test]
    fn compact_bytes_round_trip_and_hold_no_id() {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), 42);
        record.data.insert("k".into(), raw(r#"{"nested":[1,2]}"#));
        let bytes = record.to_compact_bytes();
        assert!(!bytes
            .windows(crate::id::ID_BYTES)
            .any(|window| window == record.id.as_bytes()));
        assert_eq!(
            Record::from_compact_bytes(record.id, &bytes),
            Ok(record.clone())
        );
        assert_eq!(
            Record::from_compact_bytes(record.id, &bytes[..bytes.len() - 1]),
            Err(InvalidRecordBytes)
        );
    }

    #[test]
    fn compact_bytes_after_a_prefix_are_the_prefix_then_the_record_in_an_exact_buffer() {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), 42);
        record.data.insert("k".into(), raw(r#"{"nested":[1,2]}"#));
        record.owner = Some("alice".into());
        let prefix = b"key of the store";
        let bytes = record.to_compact_bytes_after(prefix);
        assert_eq!(bytes.capacity(), bytes.len());
        assert_eq!(&bytes[..prefix.len()], prefix);
        assert_eq!(&bytes[prefix.len()..], &record.to_compact_bytes()[..]);
        assert_eq!(
            record.to_compact_bytes().capacity(),
            bytes.len() - prefix.len()
        );

        let delta = Delta {
            changed: vec![("n".into(), raw("1"))],
            removed: vec!["k".into()],
            expires_at: 90,
            ..Delta::default()
        };
        let plain = delta
            .apply_to_compact_bytes(&bytes[prefix.len()..])
            .unwrap();
        let updated = delta
            .apply_to_compact_bytes_after(prefix, &bytes[prefix.len()..])
            .unwrap();
        assert_eq!(updated.capacity(), updated.len());
        assert_eq!(&updated[..prefix.len()], prefix);
        assert_eq!(&updated[prefix.len()..], &plain[..]);
        assert_eq!(
            delta.apply_to_compact_bytes_after(prefix, &bytes[..bytes.len() - 1]),
            Err(InvalidRecordBytes)
        );
    }

    #[test]
    fn record_round_trips_through_json() {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), 42);
        record.data.insert("k".into(), raw(r#"{"nested":[1,2]}"#));
        let text = serde_json::to_string(&record).unwrap();
        let back: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(back, record);
    }
}
