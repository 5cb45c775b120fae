//! The compact binary form of a [`Record`] inside a sealed value.
//!
//! A client-side record travels in every request, and is parsed on every request, so it is not
//! JSON: JSON field names, quotes, a 43-character text id and 13-digit timestamps would add about
//! a hundred bytes to each cookie (then encrypted and base64-encoded again), and building the map
//! from JSON was most of the cost of opening a session. Here the fixed part is fixed-width binary
//! and parsing is slicing; values stay raw JSON text, deserialized only when a handler reads them.
//!
//! Layout (integers little-endian, `varint` = unsigned LEB128):
//!
//! | field | bytes |
//! | --- | --- |
//! | id | 32 |
//! | created_at, expires_at, version | 8 each (u64) |
//! | flags | 1: bit 0 absolute deadline present; bit 1 expiry override present; bit 2 override has an absolute timeout; bit 3 override is persistent |
//! | absolute_deadline | 8, if bit 0 |
//! | override idle_timeout_secs | 8, if bit 1 |
//! | override absolute_timeout_secs | 8, if bit 2 |
//! | entry count | varint |
//! | each entry | key length (varint), key (UTF-8), value length (varint), value (JSON text) |
//!
//! Entries are written in key order. Nothing may follow the last entry.

use serde_json::value::RawValue;

use crate::expiry::Expiry;
use crate::id::{SessionId, ID_BYTES};
use crate::record::{Data, Record};

const ABSOLUTE: u8 = 1;
const OVERRIDE: u8 = 1 << 1;
const OVERRIDE_ABSOLUTE: u8 = 1 << 2;
const OVERRIDE_PERSISTENT: u8 = 1 << 3;
const KNOWN_FLAGS: u8 = ABSOLUTE | OVERRIDE | OVERRIDE_ABSOLUTE | OVERRIDE_PERSISTENT;

/// The envelope is not a record (only possible for a value this library did not write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Appends the envelope of `record` to `out`.
pub(crate) fn encode(record: &Record, out: &mut Vec<u8>) {
    out.reserve(ID_BYTES + body_len_hint(record));
    out.extend_from_slice(record.id.as_bytes());
    encode_body(record, out);
}

/// A capacity that holds the envelope without its id.
pub(crate) fn body_len_hint(record: &Record) -> usize {
    let values: usize = record
        .data
        .iter()
        .map(|(key, value)| key.len() + value.get().len() + 4)
        .sum();
    8 * 6 + 1 + 5 + values
}

/// Appends everything of the envelope but the id.
pub(crate) fn encode_body(record: &Record, out: &mut Vec<u8>) {
    out.extend_from_slice(&record.created_at.to_le_bytes());
    out.extend_from_slice(&record.expires_at.to_le_bytes());
    out.extend_from_slice(&record.version.to_le_bytes());
    let mut flags = 0;
    if record.absolute_deadline.is_some() {
        flags |= ABSOLUTE;
    }
    if let Some(expiry) = &record.expiry {
        flags |= OVERRIDE;
        if expiry.absolute_timeout_secs.is_some() {
            flags |= OVERRIDE_ABSOLUTE;
        }
        if expiry.persistent {
            flags |= OVERRIDE_PERSISTENT;
        }
    }
    out.push(flags);
    if let Some(deadline) = record.absolute_deadline {
        out.extend_from_slice(&deadline.to_le_bytes());
    }
    if let Some(expiry) = &record.expiry {
        out.extend_from_slice(&expiry.idle_timeout_secs.to_le_bytes());
        if let Some(absolute) = expiry.absolute_timeout_secs {
            out.extend_from_slice(&absolute.to_le_bytes());
        }
    }
    put_varint(out, record.data.len() as u64);
    for (key, value) in &record.data {
        put_varint(out, key.len() as u64);
        out.extend_from_slice(key.as_bytes());
        let value = value.get();
        put_varint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }
}

/// Parses an envelope written by [`encode`].
pub(crate) fn decode(bytes: &[u8]) -> Result<Record, Malformed> {
    let mut reader = Reader { rest: bytes };
    let mut id = [0u8; ID_BYTES];
    id.copy_from_slice(reader.take(ID_BYTES)?);
    decode_body(SessionId::from_bytes(id), reader)
}

/// Parses what [`encode_body`] wrote, for the session `id`.
pub(crate) fn decode_body_of(id: SessionId, bytes: &[u8]) -> Result<Record, Malformed> {
    decode_body(id, Reader { rest: bytes })
}

fn decode_body(id: SessionId, mut reader: Reader<'_>) -> Result<Record, Malformed> {
    let created_at = reader.u64()?;
    let expires_at = reader.u64()?;
    let version = reader.u64()?;
    let flags = reader.take(1)?[0];
    if flags & !KNOWN_FLAGS != 0 {
        return Err(Malformed);
    }
    let absolute_deadline = if flags & ABSOLUTE != 0 {
        Some(reader.u64()?)
    } else {
        None
    };
    let expiry = if flags & OVERRIDE != 0 {
        let idle_timeout_secs = reader.u64()?;
        let absolute_timeout_secs = if flags & OVERRIDE_ABSOLUTE != 0 {
            Some(reader.u64()?)
        } else {
            None
        };
        Some(Expiry {
            idle_timeout_secs,
            absolute_timeout_secs,
            persistent: flags & OVERRIDE_PERSISTENT != 0,
        })
    } else {
        None
    };
    let count = reader.varint()?;
    // Every entry takes at least two bytes, so a count larger than that is a lie; checking it
    // first keeps a hostile count from reserving memory.
    if count > (reader.rest.len() / 2) as u64 {
        return Err(Malformed);
    }
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let key = reader.text()?;
        let value = reader.text()?;
        let value = RawValue::from_string(value.to_string()).map_err(|_| Malformed)?;
        entries.push((key.to_string(), value));
    }
    if !reader.rest.is_empty() {
        return Err(Malformed);
    }
    // Entries were written in key order, which lets the map be built in bulk.
    let data: Data = entries.into_iter().collect();
    Ok(Record {
        id,
        data,
        created_at,
        expires_at,
        absolute_deadline,
        version,
        expiry,
    })
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], Malformed> {
        if self.rest.len() < len {
            return Err(Malformed);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(bytes))
    }

    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Malformed)
    }

    fn text(&mut self) -> Result<&'a str, Malformed> {
        let len = usize::try_from(self.varint()?).map_err(|_| Malformed)?;
        std::str::from_utf8(self.take(len)?).map_err(|_| Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), 1_700_000_000_000);
        record.version = 7;
        for (key, json) in [
            ("user", r#""alice""#),
            ("cart", r#"{"items":[1,2,3],"note":"é ✓"}"#),
            ("n", "42"),
            ("long", &format!("\"{}\"", "x".repeat(300))),
        ] {
            record.data.insert(
                key.to_string(),
                RawValue::from_string(json.to_string()).unwrap(),
            );
        }
        record
    }

    fn round_trip(record: &Record) -> Record {
        let mut bytes = Vec::new();
        encode(record, &mut bytes);
        decode(&bytes).unwrap()
    }

    #[test]
    fn records_round_trip() {
        let plain = record();
        assert_eq!(round_trip(&plain), plain);

        let mut no_deadline = record();
        no_deadline.absolute_deadline = None;
        no_deadline.data.clear();
        assert_eq!(round_trip(&no_deadline), no_deadline);

        for expiry in [
            Expiry::persistent(std::time::Duration::from_secs(30 * 86400)),
            Expiry::browser_session(
                std::time::Duration::from_secs(60),
                Some(std::time::Duration::from_secs(0)),
            ),
        ] {
            let mut overridden = record();
            overridden.expiry = Some(expiry);
            assert_eq!(round_trip(&overridden), overridden);
        }
    }

    #[test]
    fn an_absolute_deadline_of_zero_stays_a_deadline() {
        let mut record = record();
        record.absolute_deadline = Some(0);
        assert_eq!(round_trip(&record).absolute_deadline, Some(0));
    }

    #[test]
    fn every_truncation_and_any_trailing_byte_is_malformed() {
        let mut bytes = Vec::new();
        encode(&record(), &mut bytes);
        for len in 0..bytes.len() {
            assert_eq!(decode(&bytes[..len]), Err(Malformed), "truncated to {len}");
        }
        bytes.push(0);
        assert_eq!(decode(&bytes), Err(Malformed));
    }

    #[test]
    fn hostile_counts_lengths_and_flags_are_malformed() {
        let mut bytes = Vec::new();
        encode(&record(), &mut bytes);
        let flags_at = ID_BYTES + 24;
        let mut unknown_flag = bytes.clone();
        unknown_flag[flags_at] |= 0x80;
        assert_eq!(decode(&unknown_flag), Err(Malformed));

        let mut empty = record();
        empty.data.clear();
        let mut huge_count = Vec::new();
        encode(&empty, &mut huge_count);
        huge_count.pop();
        huge_count.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(decode(&huge_count), Err(Malformed));

        let mut endless_varint = Vec::new();
        encode(&empty, &mut endless_varint);
        endless_varint.pop();
        endless_varint.extend_from_slice(&[0xff; 11]);
        assert_eq!(decode(&endless_varint), Err(Malformed));
    }

    #[test]
    fn values_that_are_not_json_are_malformed() {
        let mut record = record();
        record.data.clear();
        let mut bytes = Vec::new();
        encode(&record, &mut bytes);
        bytes.pop();
        put_varint(&mut bytes, 1);
        for text in ["k", "{not json"] {
            put_varint(&mut bytes, text.len() as u64);
            bytes.extend_from_slice(text.as_bytes());
        }
        assert_eq!(decode(&bytes), Err(Malformed));
    }

    #[test]
    fn the_envelope_is_much_smaller_than_json() {
        let mut record = record();
        record.data.remove("long");
        let mut bytes = Vec::new();
        encode(&record, &mut bytes);
        let json = serde_json::to_vec(&record).unwrap();
        assert!(
            bytes.len() + 50 < json.len(),
            "{} vs {}",
            bytes.len(),
            json.len()
        );
    }
}
