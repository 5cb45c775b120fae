//! What a store persists: [`Record`], and the [`Delta`] that carries one request's changes.
//!
//! Values are kept as JSON text ([`RawJson`]) rather than parsed trees: a record is opened on
//! every request but most values are never read, so each one is deserialized only when a handler
//! asks for it with [`Session::get`](crate::Session::get).
//!
//! Keys ([`DataKey`]) and values hold text of up to 23 bytes inline, and longer text in one
//! shared allocation: opening a session of short keys and values allocates nothing per entry,
//! and copying an entry into a [`Delta`] never copies its text.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use smol_str::SmolStr;

use crate::expiry::Expiry;
use crate::id::SessionId;

pub(crate) use crate::data::Data;

/// The key of one session value.
///
/// Compares, orders and hashes as its text, and borrows as `&str`, so a [`Data`] is looked up
/// with a `&str`. Keys of up to 23 bytes are held inline; a clone of a longer one shares its
/// text.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataKey(SmolStr);

impl DataKey {
    /// The key's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for DataKey {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for DataKey {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl Borrow<str> for DataKey {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl fmt::Display for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl From<&str> for DataKey {
    fn from(key: &str) -> Self {
        DataKey(SmolStr::new(key))
    }
}

impl From<&String> for DataKey {
    fn from(key: &String) -> Self {
        DataKey(SmolStr::new(key))
    }
}

impl From<String> for DataKey {
    fn from(key: String) -> Self {
        DataKey(SmolStr::from(key))
    }
}

impl From<Box<str>> for DataKey {
    fn from(key: Box<str>) -> Self {
        DataKey(SmolStr::from(key))
    }
}

impl From<Cow<'_, str>> for DataKey {
    fn from(key: Cow<'_, str>) -> Self {
        DataKey(SmolStr::new(key))
    }
}

impl From<char> for DataKey {
    fn from(key: char) -> Self {
        DataKey(SmolStr::from(key.encode_utf8(&mut [0; 4]) as &str))
    }
}

impl From<DataKey> for String {
    fn from(key: DataKey) -> Self {
        key.0.into()
    }
}

impl PartialEq<str> for DataKey {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for DataKey {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl PartialEq<String> for DataKey {
    fn eq(&self, other: &String) -> bool {
        self.0.as_str() == other.as_str()
    }
}

impl Serialize for DataKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for DataKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyText;

        impl serde::de::Visitor<'_> for KeyText {
            type Value = DataKey;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a session value's key")
            }

            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<DataKey, E> {
                Ok(DataKey::from(key))
            }

            fn visit_string<E: serde::de::Error>(self, key: String) -> Result<DataKey, E> {
                Ok(DataKey::from(key))
            }
        }

        deserializer.deserialize_str(KeyText)
    }
}

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
///
/// Text of up to 23 bytes is held inline; a clone of longer text shares it.
#[derive(Clone, PartialEq, Eq)]
pub struct RawJson(SmolStr);

impl RawJson {
    /// Checks that `json` is exactly one JSON value.
    pub fn from_string(json: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(json).map(RawJson::from)
    }

    /// Serializes `value` to JSON.
    pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        let mut text = ShortFirst::default();
        serde_json::to_writer(&mut text, value)?;
        text.finish().map(RawJson)
    }

    /// Text this library wrote (inside an authenticated or self-written envelope).
    pub(crate) fn written(text: &str) -> Self {
        RawJson(SmolStr::new(text))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.as_str()
    }
}

/// Text that fits inline is written on the stack; only longer text goes to the heap.
#[derive(Default)]
struct ShortFirst {
    inline: [u8; INLINE_TEXT],
    len: usize,
    spilled: Vec<u8>,
}

/// The most text [`SmolStr`] holds without an allocation.
const INLINE_TEXT: usize = 23;

impl ShortFirst {
    /// The text written. serde_json writes only UTF-8, so the error is never expected; it is
    /// an error rather than some other text, which could be stored as the value.
    fn finish(self) -> Result<SmolStr, serde_json::Error> {
        let text = if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled[..]
        };
        std::str::from_utf8(text).map(SmolStr::new).map_err(|_| {
            <serde_json::Error as serde::ser::Error>::custom("a serialized value is not UTF-8")
        })
    }
}

impl io::Write for ShortFirst {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.spilled.is_empty() {
            if let Some(room) = self.inline.get_mut(self.len..self.len + bytes.len()) {
                room.copy_from_slice(bytes);
                self.len += bytes.len();
                return Ok(());
            }
            self.spilled.reserve(self.len + bytes.len());
            self.spilled.extend_from_slice(&self.inline[..self.len]);
        }
        self.spilled.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(raw: Box<RawValue>) -> Self {
        RawJson(SmolStr::from(Box::<str>::from(raw)))
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson(<{} bytes>)", self.0.len())
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(self.0.as_str()).map_err(|error| {
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
    pub changed: Vec<(DataKey, RawJson)>,
    /// Keys removed.
    pub removed: Vec<DataKey>,
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
        record.data.apply(&self.removed, &self.changed);
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
    fn to_json_writes_what_serde_json_writes_at_every_length_around_the_inline_limit() {
        for len in [0, 1, 20, 21, 22, 23, 24, 25, 100, 5_000] {
            let text = "é".repeat(len / 2) + &"x".repeat(len % 2);
            let expected = serde_json::to_string(&text).unwrap();
            assert_eq!(RawJson::to_json(&text).unwrap().get(), expected, "{len}");
        }
        let nested = serde_json::json!({"a": [1, 2, {"b": "c"}], "long": "y".repeat(40)});
        assert_eq!(
            RawJson::to_json(&nested).unwrap().get(),
            serde_json::to_string(&nested).unwrap()
        );
    }

    #[test]
    fn a_value_that_fails_to_serialize_is_an_error_not_partial_text() {
        let mut map = std::collections::BTreeMap::new();
        map.insert((1, 2), "tuple keys are not JSON object keys");
        assert!(RawJson::to_json(&map).is_err());
    }

    #[test]
    fn data_keys_order_and_look_up_as_their_text() {
        let texts = [
            "",
            "a",
            "B",
            "é",
            "key10",
            "key9",
            &"k".repeat(23),
            &"k".repeat(24),
        ];
        let mut keys: Vec<DataKey> = texts.iter().map(|text| DataKey::from(*text)).collect();
        keys.sort();
        let mut sorted = texts.to_vec();
        sorted.sort();
        assert_eq!(keys, sorted);

        let data: Data = texts
            .iter()
            .map(|text| (DataKey::from(*text), raw("1")))
            .collect();
        for text in texts {
            assert!(data.contains_key(text), "{text:?}");
        }
        let long = DataKey::from("k".repeat(24));
        assert_eq!(long.clone(), long);
        assert_eq!(long.as_str(), "k".repeat(24));
        assert_eq!(String::from(long), "k".repeat(24));
        assert_eq!(DataKey::from('é'), "é");
        assert_eq!(
            format!("{:?} {}", DataKey::from("a\"b"), DataKey::from("c")),
            r#""a\"b" c"#
        );
    }

    #[test]
    fn data_keys_serialize_as_strings() {
        let key = DataKey::from("user");
        assert_eq!(serde_json::to_string(&key).unwrap(), r#""user""#);
        let back: DataKey = serde_json::from_str(r#""us\u0065r""#).unwrap();
        assert_eq!(back, key);
        assert!(serde_json::from_str::<DataKey>("1").is_err());
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
