//! How a session is laid out in Redis: its key, its hash fields, and the record they make.

use std::io::Write as _;

use redis::{Cmd, RedisWrite, ToRedisArgs};
use session_core::{Data, Delta, Expiry, RawJson, Record, SessionId, StoreError};

pub(super) const CREATED: &str = "@c";
pub(super) const EXPIRES: &str = "@e";
pub(super) const ABSOLUTE: &str = "@a";
pub(super) const VERSION: &str = "@v";
pub(super) const EXPIRY: &str = "@x";
/// The owner, when the session is bound to one.
pub(super) const OWNER: &str = "@o";
/// Until when the owner's set is known to live (ms); see the scripts.
pub(super) const INDEX_COVER: &str = "@t";
pub(super) const DATA_PREFIX: &str = "d:";
/// The hash field of the device record (`d:` and [`DEVICE_KEY`](session_core::DEVICE_KEY)),
/// which the owner listing reads; the scripts spell it out.
pub(super) const DEVICE_FIELD: &str = "d:__device";
/// What follows `key_prefix` in the key of an owner's set.
pub(super) const OWNER_INFIX: &str = "owner:";

/// How long an owner's set outlives the deadline of the member that last extended it (a day).
/// Sets are extended when a member's deadline comes within half of this of the set's expiry, so a
/// session that keeps sliding costs one extension a day, not one per update.
pub(crate) const INDEX_SLACK_MS: u64 = 24 * 60 * 60 * 1000;

/// The hash field of session key `key`, `d:<key>`, written straight into a command's buffer.
pub(super) struct DataField<'a>(pub(super) &'a str);

impl ToRedisArgs for DataField<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        // Writes into an in-memory command buffer, which cannot fail.
        let _ = arg.write_all(DATA_PREFIX.as_bytes());
        let _ = arg.write_all(self.0.as_bytes());
    }
}

/// A Redis key made of a prefix and a name, written straight into a command's buffer.
#[derive(Clone, Copy)]
pub(super) struct Key<'a> {
    pub(super) prefix: &'a str,
    pub(super) infix: &'a str,
    pub(super) name: &'a str,
}

impl Key<'_> {
    /// Its length in bytes.
    pub(super) fn len(&self) -> usize {
        self.prefix.len() + self.infix.len() + self.name.len()
    }
}

impl ToRedisArgs for Key<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        let _ = arg.write_all(self.prefix.as_bytes());
        let _ = arg.write_all(self.infix.as_bytes());
        let _ = arg.write_all(self.name.as_bytes());
    }
}

/// Whether `key` can be a session's storage key ([`SessionId::storage_key`]: 43 characters of
/// unpadded base64url). A handle that is not one names no session.
pub(crate) fn is_storage_key(key: &str) -> bool {
    key.len() == 43
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// The `PEXPIREAT` argument for a deadline: Redis refuses times past `i64::MAX` ms (a
/// "never" deadline, e.g. from a huge per-session expiry), so those are capped there.
pub(super) fn expire_at(deadline: u64) -> u64 {
    deadline.min(i64::MAX as u64)
}

pub(super) fn expiry_json(expiry: &Expiry) -> Result<String, StoreError> {
    serde_json::to_string(expiry).map_err(StoreError::backend)
}

/// Bytes that a record's fields and values take in a command, for sizing its buffer.
pub(super) fn data_bytes<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> usize {
    pairs
        .map(|(key, value)| DATA_PREFIX.len() + key.len() + value.len())
        .sum()
}

/// Appends the hash fields of a whole record but its owner (which the scripts write, with the
/// index) to `cmd`, as field, value arguments.
pub(super) fn push_fields(cmd: &mut Cmd, record: &Record) -> Result<(), StoreError> {
    cmd.arg(CREATED)
        .arg(record.created_at)
        .arg(EXPIRES)
        .arg(record.expires_at)
        .arg(VERSION)
        .arg(record.version);
    if let Some(absolute) = record.absolute_deadline {
        cmd.arg(ABSOLUTE).arg(absolute);
    }
    if let Some(expiry) = &record.expiry {
        cmd.arg(EXPIRY).arg(expiry_json(expiry)?);
    }
    for (key, value) in &record.data {
        cmd.arg(DataField(key)).arg(value.get());
    }
    Ok(())
}

/// How many fields a delta removes: its removed keys, and the absolute deadline and expiry
/// override it does not set.
pub(super) fn removed_count(delta: &Delta) -> usize {
    delta.removed.len()
        + usize::from(delta.absolute_deadline.is_none())
        + usize::from(delta.expiry.is_none())
}

/// Appends the fields a delta removes ([`removed_count`] of them) to `cmd`.
pub(super) fn push_removed(cmd: &mut Cmd, delta: &Delta) {
    for key in &delta.removed {
        cmd.arg(DataField(key));
    }
    if delta.absolute_deadline.is_none() {
        cmd.arg(ABSOLUTE);
    }
    if delta.expiry.is_none() {
        cmd.arg(EXPIRY);
    }
}

/// Appends the field, value pairs a delta sets to `cmd`: its changed keys, `@e`, and `@a` and
/// `@x` when it has them.
pub(super) fn push_changed(cmd: &mut Cmd, delta: &Delta) -> Result<(), StoreError> {
    for (key, value) in &delta.changed {
        cmd.arg(DataField(key)).arg(value.get());
    }
    cmd.arg(EXPIRES).arg(delta.expires_at);
    if let Some(absolute) = delta.absolute_deadline {
        cmd.arg(ABSOLUTE).arg(absolute);
    }
    if let Some(expiry) = &delta.expiry {
        cmd.arg(EXPIRY).arg(expiry_json(expiry)?);
    }
    Ok(())
}

/// Bytes a whole record's fields and values take in a command.
pub(super) fn record_bytes(record: &Record) -> usize {
    data_bytes(record.data.iter().map(|(k, v)| (k.as_str(), v.get())))
        + record.expiry.as_ref().map_or(0, |_| 64)
        + 96
}

fn corrupt(message: impl Into<String>) -> StoreError {
    StoreError::corrupt(message.into())
}

fn text(field: &str, bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| corrupt(format!("field `{field}` is not UTF-8")))
}

fn number(field: &str, bytes: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            corrupt(format!(
                "field `{field}` is not a number: {:?}",
                String::from_utf8_lossy(bytes)
            ))
        })
}

/// Rebuilds a record from `HGETALL` output. A hash without `@c` is no record (`None`: an empty
/// one, or what an update of a gone session leaves; see the `update` module). A hash without
/// `@e`, or with a field that does not decode, is [`StoreError::Corrupt`].
pub(super) fn record_from(
    id: SessionId,
    hash: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<Option<Record>, StoreError> {
    let (mut created_at, mut expires_at, mut absolute_deadline) = (None, None, None);
    let (mut version, mut expiry, mut owner) = (0, None, None);
    // Redis returns a hash's fields in no set order: collected, then sorted once.
    let mut values = Vec::new();
    for (field, value) in hash {
        match field.as_slice() {
            b"@c" => created_at = Some(number(CREATED, &value)?),
            b"@e" => expires_at = Some(number(EXPIRES, &value)?),
            b"@a" => absolute_deadline = Some(number(ABSOLUTE, &value)?),
            b"@v" => version = number(VERSION, &value)?,
            b"@x" => {
                expiry = Some(
                    serde_json::from_slice(&value)
                        .map_err(|error| corrupt(format!("field `{EXPIRY}`: {error}")))?,
                )
            }
            b"@o" => owner = Some(text(OWNER, value)?),
            _ if field.starts_with(DATA_PREFIX.as_bytes()) => {
                let mut key = text("d:", field)?;
                // The field, minus its prefix, becomes the key: no new String.
                key.drain(..DATA_PREFIX.len());
                let value = RawJson::from_string(text(&key, value)?)
                    .map_err(|error| corrupt(format!("value of `{key}`: {error}")))?;
                values.push((key.into(), value));
            }
            _ => {}
        }
    }
    let Some(created_at) = created_at else {
        return Ok(None);
    };
    Ok(Some(Record {
        id,
        data: values.into_iter().collect::<Data>(),
        created_at,
        expires_at: expires_at.ok_or_else(|| corrupt("field `@e` is missing"))?,
        absolute_deadline,
        version,
        expiry,
        owner,
    }))
}

/// How many members of an owner's set one command or script handles: listing and revoking an
/// owner's sessions work in batches of this size (an `SSCAN` with this `COUNT`, then a script
/// over what it returned), so no single command's work grows with the owner's set.
pub(super) const OWNER_BATCH: usize = 200;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use session_core::now_ms;

    use super::*;

    #[test]
    fn the_device_field_is_the_device_key_and_handles_are_storage_keys() {
        assert_eq!(
            DEVICE_FIELD,
            format!("{DATA_PREFIX}{}", session_core::DEVICE_KEY)
        );
        assert!(is_storage_key(&SessionId::generate().storage_key()));
        for made_up in [
            "",
            "owner:alice",
            &"a".repeat(42),
            &format!("{}=", "a".repeat(42)),
        ] {
            assert!(!is_storage_key(made_up), "{made_up:?}");
        }
    }

    #[test]
    fn a_record_survives_the_hash_layout() {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
        record.data.insert(
            "@e".into(),
            RawJson::from_string("\"not metadata\"".into()).unwrap(),
        );
        record.expiry = Some(Expiry::persistent(Duration::from_secs(60)));
        record.version = 9;
        let mut command = Cmd::new();
        push_fields(&mut command, &record).unwrap();
        let mut hash: Vec<(Vec<u8>, Vec<u8>)> = command
            .args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => bytes.to_vec(),
                _ => panic!("only simple arguments"),
            })
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect();
        assert_eq!(
            record_from(record.id, hash.clone()).unwrap(),
            Some(record.clone())
        );

        hash.push((b"@o".to_vec(), b"alice".to_vec()));
        record.owner = Some("alice".into());
        assert_eq!(record_from(record.id, hash).unwrap(), Some(record));
    }

    #[test]
    fn a_hash_without_created_at_is_no_record() {
        let id = SessionId::generate();
        let field = |name: &str, value: &[u8]| (name.as_bytes().to_vec(), value.to_vec());
        for hash in [
            vec![],
            vec![field("@v", b"1"), field("d:a", b"1"), field("@e", b"2")],
        ] {
            assert_eq!(record_from(id, hash).unwrap(), None);
        }
    }

    #[test]
    fn a_hash_without_deadlines_or_with_undecodable_fields_is_corrupt() {
        let id = SessionId::generate();
        let field = |name: &str, value: &[u8]| (name.as_bytes().to_vec(), value.to_vec());
        let good = [field("@c", b"1"), field("@e", b"2")];
        for hash in [
            vec![field("@c", b"1"), field("d:a", b"1")],
            vec![good[0].clone(), good[1].clone(), field("d:a", b"{not json")],
            vec![good[0].clone(), field("@e", b"soon")],
            vec![good[0].clone(), good[1].clone(), field("d:a", b"\"\xff\"")],
            vec![good[0].clone(), good[1].clone(), field("@x", b"[")],
        ] {
            let result = record_from(id, hash);
            assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
        }
    }
}
