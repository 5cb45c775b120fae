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
//! | flags | 1: bit 0 absolute deadline present; bit 1 expiry override present; bit 2 override has an absolute timeout; bit 3 override is persistent; bit 4 owner present; bits 5-7 zero |
//! | absolute_deadline | 8, if bit 0 |
//! | override idle_timeout_secs | 8, if bit 1 |
//! | override absolute_timeout_secs | 8, if bit 2 (only with bit 1) |
//! | owner | length (varint), then the owner (UTF-8), if bit 4 |
//! | entry count | varint |
//! | each entry | key length (varint), key (UTF-8), value length (varint), value (JSON text) |
//!
//! Entries are written in key order. Nothing may follow the last entry.

use std::ops::Range;

use crate::expiry::Expiry;
use crate::id::{SessionId, ID_BYTES};
use crate::record::{Data, DataKey, Delta, InvalidRecordBytes, RawJson, Record};

const ABSOLUTE: u8 = 1;
const OVERRIDE: u8 = 1 << 1;
const OVERRIDE_ABSOLUTE: u8 = 1 << 2;
const OVERRIDE_PERSISTENT: u8 = 1 << 3;
const OWNER: u8 = 1 << 4;
// The flags are distinct bits, so `^` for any `|` here gives the same set: an equivalent mutant.
const KNOWN_FLAGS: u8 = ABSOLUTE | OVERRIDE | OVERRIDE_ABSOLUTE | OVERRIDE_PERSISTENT | OWNER;

impl Record {
    /// The record in the compact binary form sealed values use (see `docs/WIRE_FORMAT.md`),
    /// **without its id**: for server-side stores that key records by
    /// [`SessionId::storage_key`], so that what they hold is no live session token.
    pub fn to_compact_bytes(&self) -> Vec<u8> {
        self.to_compact_bytes_after(&[])
    }

    /// [`to_compact_bytes`](Self::to_compact_bytes) written after `prefix` (a store's own key,
    /// say), in a buffer of exactly their length: it becomes a boxed slice without reallocating.
    pub fn to_compact_bytes_after(&self, prefix: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(prefix.len() + body_len(self));
        out.extend_from_slice(prefix);
        encode_body(self, &mut out);
        out
    }

    /// Reads what [`to_compact_bytes`](Self::to_compact_bytes) wrote, giving the record back
    /// its `id`.
    pub fn from_compact_bytes(id: SessionId, bytes: &[u8]) -> Result<Record, InvalidRecordBytes> {
        decode_body_of(id, bytes).map_err(|_| InvalidRecordBytes)
    }

    /// The owner of a record in its compact form, read without decoding the values: for stores
    /// that keep an owner index beside compact records.
    pub fn owner_of_compact_bytes(bytes: &[u8]) -> Result<Option<&str>, InvalidRecordBytes> {
        owner_of_body(bytes).map_err(|_| InvalidRecordBytes)
    }
}

impl Delta {
    /// Applies the delta to a record in its compact form ([`Record::to_compact_bytes`]) without
    /// decoding its values: the same bytes as decoding, [`apply`](Self::apply) and encoding
    /// again, at a fraction of the cost. For stores that keep records in that form.
    pub fn apply_to_compact_bytes(&self, bytes: &[u8]) -> Result<Vec<u8>, InvalidRecordBytes> {
        apply_delta_to_body(bytes, self).map_err(|_| InvalidRecordBytes)
    }

    /// [`apply_to_compact_bytes`](Self::apply_to_compact_bytes), the result written after
    /// `prefix` (a store's own key, say) in a buffer of exactly their length.
    pub fn apply_to_compact_bytes_after(
        &self,
        prefix: &[u8],
        bytes: &[u8],
    ) -> Result<Vec<u8>, InvalidRecordBytes> {
        apply_delta_to_body_after(prefix, bytes, self).map_err(|_| InvalidRecordBytes)
    }
}

/// No unknown bit, and the override's own bits only with the override.
// `OVERRIDE_ABSOLUTE | OVERRIDE_PERSISTENT` are distinct bits: `^` for that `|` is an equivalent
// mutant.
fn flags_are_valid(flags: u8) -> bool {
    flags & !KNOWN_FLAGS == 0
        && (flags & OVERRIDE != 0 || flags & (OVERRIDE_ABSOLUTE | OVERRIDE_PERSISTENT) == 0)
}

/// The envelope is not a record (only possible for a value this library did not write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Appends the envelope of `record` to `out`, reserving its exact length first.
pub(crate) fn encode(record: &Record, out: &mut Vec<u8>) {
    out.reserve(encoded_len(record));
    out.extend_from_slice(record.id.as_bytes());
    encode_body(record, out);
}

/// The exact length of the envelope of `record`, its id included.
pub(crate) fn encoded_len(record: &Record) -> usize {
    ID_BYTES + body_len(record)
}

/// The exact length of what [`encode_body`] writes for `record`.
pub(crate) fn body_len(record: &Record) -> usize {
    let entries: usize = record
        .data
        .iter()
        .map(|(key, value)| entry_len(key.as_bytes(), value.get().as_bytes()))
        .sum();
    header_len(
        record.absolute_deadline,
        record.expiry.as_ref(),
        record.owner.as_deref(),
    ) + varint_len(record.data.len() as u64)
        + entries
}

fn header_len(
    absolute_deadline: Option<u64>,
    expiry: Option<&Expiry>,
    owner: Option<&str>,
) -> usize {
    8 * 3
        + 1
        + if absolute_deadline.is_some() { 8 } else { 0 }
        + match expiry {
            Some(expiry) if expiry.absolute_timeout_secs.is_some() => 16,
            Some(_) => 8,
            None => 0,
        }
        + owner.map_or(0, |owner| varint_len(owner.len() as u64) + owner.len())
}

/// Appends everything of the envelope but the id.
pub(crate) fn encode_body(record: &Record, out: &mut Vec<u8>) {
    encode_header(
        out,
        record.created_at,
        record.expires_at,
        record.version,
        record.absolute_deadline,
        record.expiry.as_ref(),
        record.owner.as_deref(),
    );
    put_varint(out, record.data.len() as u64);
    for (key, value) in &record.data {
        put_entry(out, key.as_bytes(), value.get().as_bytes());
    }
}

fn encode_header(
    out: &mut Vec<u8>,
    created_at: u64,
    expires_at: u64,
    version: u64,
    absolute_deadline: Option<u64>,
    expiry: Option<&Expiry>,
    owner: Option<&str>,
) {
    out.extend_from_slice(&created_at.to_le_bytes());
    out.extend_from_slice(&expires_at.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    let mut flags = 0;
    if absolute_deadline.is_some() {
        flags |= ABSOLUTE;
    }
    if let Some(expiry) = expiry {
        flags |= OVERRIDE;
        if expiry.absolute_timeout_secs.is_some() {
            flags |= OVERRIDE_ABSOLUTE;
        }
        if expiry.persistent {
            flags |= OVERRIDE_PERSISTENT;
        }
    }
    if owner.is_some() {
        flags |= OWNER;
    }
    out.push(flags);
    if let Some(deadline) = absolute_deadline {
        out.extend_from_slice(&deadline.to_le_bytes());
    }
    if let Some(expiry) = expiry {
        out.extend_from_slice(&expiry.idle_timeout_secs.to_le_bytes());
        if let Some(absolute) = expiry.absolute_timeout_secs {
            out.extend_from_slice(&absolute.to_le_bytes());
        }
    }
    if let Some(owner) = owner {
        put_varint(out, owner.len() as u64);
        out.extend_from_slice(owner.as_bytes());
    }
}

fn put_entry(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    put_varint(out, key.len() as u64);
    out.extend_from_slice(key);
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// Applies `delta` to what [`encode_body`] wrote, without decoding the values: unchanged
/// entries are copied as they are, so a one-key update costs no parsing or allocation per value.
/// The result is what encoding the record after [`Delta::apply`] would give.
pub(crate) fn apply_delta_to_body(bytes: &[u8], delta: &Delta) -> Result<Vec<u8>, Malformed> {
    apply_delta_to_body_after(&[], bytes, delta)
}

/// [`apply_delta_to_body`], its result written after `prefix` into a buffer of exactly the
/// size of both.
pub(crate) fn apply_delta_to_body_after(
    prefix: &[u8],
    bytes: &[u8],
    delta: &Delta,
) -> Result<Vec<u8>, Malformed> {
    let mut reader = Reader { rest: bytes };
    let Header {
        created_at,
        version,
        owner: stored_owner,
        ..
    } = Header::read(&mut reader)?;
    let owner = match &delta.owner {
        Some(rebound) => rebound.as_deref(),
        None => stored_owner,
    };
    let count = reader.varint()?;
    // As in decode_body: a looser bound (`*` for the `/`, an equivalent mutant) only lets a lying
    // count fail a little later, on the entries it does not have.
    if count > (reader.rest.len() / 2) as u64 {
        return Err(Malformed);
    }
    let changes = Changes::of(delta);
    let dropped = |key: &[u8]| {
        delta
            .removed
            .iter()
            .any(|removed| removed.as_bytes() == key)
            || changes.contains(key)
    };
    // Kept entries are checked as decode checks them (text, in order), so that bytes that would
    // not decode are refused here too, then copied as bytes; byte order is the keys' order as
    // text (UTF-8 sorts by code point). Each is kept as its key and the span of its bytes, which
    // are copied unchanged: runs of kept entries go out in one copy.
    let mut kept: Vec<(&[u8], Range<usize>)> = Vec::with_capacity(count as usize);
    let mut previous: Option<&[u8]> = None;
    let mut reader = EntryReader::new(reader);
    for _ in 0..count {
        let start = bytes.len() - reader.reader.rest.len();
        let key = reader.text()?.as_bytes();
        let value = reader.text()?.as_bytes();
        let end = bytes.len() - reader.reader.rest.len();
        // The merge below relies on the order encode_body writes.
        if previous.is_some_and(|previous| previous >= key) {
            return Err(Malformed);
        }
        // A length written in more bytes than it needs decodes, but copying it would keep it
        // where encoding writes it short: such bytes are not in canonical form, and refused.
        if end - start != entry_len(key, value) {
            return Err(Malformed);
        }
        previous = Some(key);
        if !dropped(key) {
            kept.push((key, start..end));
        }
    }
    if !reader.is_done() {
        return Err(Malformed);
    }

    // The exact size, so that a store keeping the result as a boxed slice does not reallocate.
    let count = kept.len() + changes.len();
    let entries_len: usize = kept.iter().map(|(_, span)| span.len()).sum::<usize>()
        + changes
            .entries()
            .map(|(key, value)| entry_len(key, value))
            .sum::<usize>();
    let header = header_len(delta.absolute_deadline, delta.expiry.as_ref(), owner);
    let mut out =
        Vec::with_capacity(prefix.len() + header + varint_len(count as u64) + entries_len);
    out.extend_from_slice(prefix);
    encode_header(
        &mut out,
        created_at,
        delta.expires_at,
        // As in Delta::apply: a version at the top of its range wraps, never panics.
        version.wrapping_add(1),
        delta.absolute_deadline,
        delta.expiry.as_ref(),
        owner,
    );
    put_varint(&mut out, count as u64);
    let (mut old, mut new) = (kept.into_iter().peekable(), changes.entries().peekable());
    // Kept bytes not yet copied: a run of adjacent kept entries.
    let mut run = 0..0;
    loop {
        // A kept key is never a changed one, so `a.0 == b.0` cannot happen: `<=` for the `<` is
        // an equivalent mutant.
        match (old.peek(), new.peek()) {
            (Some(a), Some(b)) if a.0 < b.0 => {}
            (Some(_), Some(_)) | (None, Some(_)) => {
                if let Some((key, value)) = new.next() {
                    out.extend_from_slice(&bytes[run.clone()]);
                    run = 0..0;
                    put_entry(&mut out, key, value);
                }
                continue;
            }
            (Some(_), None) => {}
            (None, None) => break,
        }
        if let Some((_, span)) = old.next() {
            if run.end != span.start {
                out.extend_from_slice(&bytes[run]);
                run = span.start..span.start;
            }
            run.end = span.end;
        }
    }
    out.extend_from_slice(&bytes[run]);
    Ok(out)
}

/// A delta's changed entries in key order, each key once, the last change of a key winning (as
/// in [`Delta::apply`]). The deltas the manager builds are in that order already and are used as
/// they are; any other is sorted into a list of its own.
enum Changes<'a> {
    InOrder(&'a [(DataKey, RawJson)]),
    Sorted(Vec<(&'a [u8], &'a [u8])>),
}

impl<'a> Changes<'a> {
    fn of(delta: &'a Delta) -> Self {
        if delta.changed.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            return Changes::InOrder(&delta.changed);
        }
        let mut sorted: Vec<(&[u8], &[u8])> = Vec::with_capacity(delta.changed.len());
        for (key, value) in &delta.changed {
            match sorted
                .iter_mut()
                .find(|(existing, _)| *existing == key.as_bytes())
            {
                Some(entry) => entry.1 = value.get().as_bytes(),
                None => sorted.push((key.as_bytes(), value.get().as_bytes())),
            }
        }
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Changes::Sorted(sorted)
    }

    fn len(&self) -> usize {
        match self {
            Changes::InOrder(changed) => changed.len(),
            Changes::Sorted(sorted) => sorted.len(),
        }
    }

    fn contains(&self, key: &[u8]) -> bool {
        match self {
            Changes::InOrder(changed) => changed
                .binary_search_by(|(changed, _)| changed.as_bytes().cmp(key))
                .is_ok(),
            Changes::Sorted(sorted) => sorted
                .binary_search_by(|(changed, _)| (*changed).cmp(key))
                .is_ok(),
        }
    }

    fn entries(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        let (in_order, sorted) = match self {
            Changes::InOrder(changed) => (Some(changed.iter()), None),
            Changes::Sorted(sorted) => (None, Some(sorted.iter())),
        };
        let in_order = in_order
            .into_iter()
            .flatten()
            .map(|(key, value)| (key.as_bytes(), value.get().as_bytes()));
        in_order.chain(sorted.into_iter().flatten().copied())
    }
}

/// The owner recorded in what [`encode_body`] wrote, read without decoding the values.
pub(crate) fn owner_of_body(bytes: &[u8]) -> Result<Option<&str>, Malformed> {
    Header::read(&mut Reader { rest: bytes }).map(|header| header.owner)
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
    let Header {
        created_at,
        expires_at,
        version,
        absolute_deadline,
        expiry,
        owner,
    } = Header::read(&mut reader)?;
    let owner = owner.map(str::to_string);
    let count = reader.varint()?;
    // Every entry takes at least two bytes, so a count larger than that is a lie; checking it
    // first keeps a hostile count from reserving memory. A looser bound (`*` for the `/`, an
    // equivalent mutant) refuses the same bytes, only later: reading the entries the count
    // claims runs out of bytes, and what it reserved is still bounded by the input's length.
    if count > (reader.rest.len() / 2) as u64 {
        return Err(Malformed);
    }
    let mut entries: Vec<(DataKey, RawJson)> = Vec::with_capacity(count as usize);
    let mut reader = EntryReader::new(reader);
    for _ in 0..count {
        let key = reader.text()?;
        let value = reader.text()?;
        // Keys come in strictly increasing order, as encode_body writes them (and as
        // apply_delta_to_body's merge needs): anything else was not written here.
        if entries
            .last()
            .is_some_and(|(previous, _)| previous.as_str() >= key)
        {
            return Err(Malformed);
        }
        entries.push((DataKey::from(key), RawJson::written(value)));
    }
    if !reader.is_done() {
        return Err(Malformed);
    }
    // Checked above to be in strictly increasing order: the list is the values as they are.
    let data = Data::from_sorted(entries);
    Ok(Record {
        id,
        data,
        created_at,
        expires_at,
        absolute_deadline,
        version,
        expiry,
        owner,
    })
}

/// The fixed part of an envelope, up to the entry count: every reader of it (decoding, applying
/// a delta, reading the owner) reads it here, so none skips a field another does not.
struct Header<'a> {
    created_at: u64,
    expires_at: u64,
    version: u64,
    absolute_deadline: Option<u64>,
    expiry: Option<Expiry>,
    owner: Option<&'a str>,
}

impl<'a> Header<'a> {
    fn read(reader: &mut Reader<'a>) -> Result<Self, Malformed> {
        let created_at = reader.u64()?;
        let expires_at = reader.u64()?;
        let version = reader.u64()?;
        let flags = reader.take(1)?[0];
        if !flags_are_valid(flags) {
            return Err(Malformed);
        }
        let has = |flag: u8| flags & flag != 0;
        let absolute_deadline = has(ABSOLUTE).then(|| reader.u64()).transpose()?;
        let expiry = match has(OVERRIDE) {
            true => Some(Expiry {
                idle_timeout_secs: reader.u64()?,
                absolute_timeout_secs: has(OVERRIDE_ABSOLUTE).then(|| reader.u64()).transpose()?,
                persistent: has(OVERRIDE_PERSISTENT),
            }),
            false => None,
        };
        let owner = has(OWNER).then(|| reader.text()).transpose()?;
        Ok(Header {
            created_at,
            expires_at,
            version,
            absolute_deadline,
            expiry,
            owner,
        })
    }
}

fn entry_len(key: &[u8], value: &[u8]) -> usize {
    varint_len(key.len() as u64) + key.len() + varint_len(value.len() as u64) + value.len()
}

fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
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

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, Malformed> {
        // Nearly every varint here is a length under 128: one byte.
        if let Some((&byte, rest)) = self.rest.split_first() {
            if byte < 0x80 {
                self.rest = rest;
                return Ok(u64::from(byte));
            }
        }
        self.long_varint()
    }

    #[inline(never)]
    fn long_varint(&mut self) -> Result<u64, Malformed> {
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

    /// A length-prefixed field, as bytes.
    #[inline(always)]
    fn field(&mut self) -> Result<&'a [u8], Malformed> {
        let len = usize::try_from(self.varint()?).map_err(|_| Malformed)?;
        self.take(len)
    }

    fn text(&mut self) -> Result<&'a str, Malformed> {
        std::str::from_utf8(self.field()?).map_err(|_| Malformed)
    }
}

/// Reads the entries of a record, the rest of its bytes.
///
/// When all of them are UTF-8, as they are whenever every key and value is shorter than 128
/// bytes (the length prefixes are then ASCII bytes), they are validated once, and each field is
/// cut from that text at checked character boundaries: one pass over the bytes instead of one
/// validation call per key and value. Otherwise each field is validated on its own.
struct EntryReader<'a> {
    reader: Reader<'a>,
    /// The whole of the entries as text, when they validated as one.
    text: Option<&'a str>,
}

impl<'a> EntryReader<'a> {
    fn new(reader: Reader<'a>) -> Self {
        let text = std::str::from_utf8(reader.rest).ok();
        EntryReader { reader, text }
    }

    // Called twice per entry on every load and update: inlined, the call costs more than the
    // work.
    #[inline(always)]
    fn text(&mut self) -> Result<&'a str, Malformed> {
        let Some(text) = self.text else {
            return self.reader.text();
        };
        let field = self.reader.field()?;
        let end = text.len() - self.reader.rest.len();
        text.get(end - field.len()..end).ok_or(Malformed)
    }

    fn is_done(&self) -> bool {
        self.reader.rest.is_empty()
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
            record
                .data
                .insert(key.into(), RawJson::from_string(json.to_string()).unwrap());
        }
        record
    }

    /// A record like [`record`]'s with no values.
    fn empty_record() -> Record {
        let mut record = record();
        record.data.clear();
        record
    }

    /// The encoding of `record`, which has no values, without its last byte (the count of its
    /// values, zero), for a test to put a count and entries of its own.
    fn without_count(record: &Record) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode(record, &mut bytes);
        bytes.pop();
        bytes
    }

    fn round_trip(record: &Record) -> Record {
        let mut bytes = Vec::new();
        encode(record, &mut bytes);
        decode(&bytes).unwrap()
    }

    #[test]
    fn a_version_at_the_top_of_its_range_wraps_in_both_delta_paths() {
        let mut record = record();
        record.version = u64::MAX;
        let delta = Delta {
            expires_at: record.expires_at,
            absolute_deadline: record.absolute_deadline,
            ..Delta::default()
        };
        let bytes = apply_delta_to_body(&record.to_compact_bytes(), &delta).unwrap();
        delta.apply(&mut record);
        assert_eq!(record.version, 0);
        assert_eq!(decode_body_of(record.id, &bytes), Ok(record));
    }

    #[test]
    fn keys_out_of_order_or_repeated_are_malformed() {
        let mut record = record();
        record.data.clear();
        for key in ["a", "b"] {
            record
                .data
                .insert(key.into(), RawJson::from_string("1".into()).unwrap());
        }
        let bytes = record.to_compact_bytes();
        assert!(decode_body_of(record.id, &bytes).is_ok());
        // The two entries are the last 6 bytes: swap them, then repeat the first.
        let (head, entries) = bytes.split_at(bytes.len() - 6);
        let swapped = [head, &entries[3..], &entries[..3]].concat();
        let repeated = [head, &entries[..3], &entries[..3]].concat();
        assert_eq!(decode_body_of(record.id, &swapped), Err(Malformed));
        assert_eq!(decode_body_of(record.id, &repeated), Err(Malformed));
    }

    #[test]
    fn owners_round_trip_and_deltas_rebind_or_keep_them() {
        let mut owned = record();
        owned.owner = Some("user-ü-42".into());
        assert_eq!(round_trip(&owned), owned);
        let mut bytes = Vec::new();
        encode(&owned, &mut bytes);
        assert_eq!(bytes.len(), encoded_len(&owned));
        assert_eq!(encoded_len(&record()), {
            let mut plain = Vec::new();
            encode(&record(), &mut plain);
            plain.len()
        });

        let body = owned.to_compact_bytes();
        assert_eq!(owner_of_body(&body), Ok(Some("user-ü-42")));
        assert_eq!(owner_of_body(&record().to_compact_bytes()), Ok(None));
        assert_eq!(owner_of_body(&body[..30]), Err(Malformed));
        for (rebind, expected) in [
            (None, Some("user-ü-42")),
            (Some(None), None),
            (Some(Some("bob".to_string())), Some("bob")),
        ] {
            let delta = Delta {
                owner: rebind,
                expires_at: owned.expires_at,
                absolute_deadline: owned.absolute_deadline,
                ..Delta::default()
            };
            let mut applied = owned.clone();
            delta.apply(&mut applied);
            assert_eq!(applied.owner.as_deref(), expected);
            let from_bytes = apply_delta_to_body(&body, &delta).unwrap();
            assert_eq!(decode_body_of(owned.id, &from_bytes).unwrap(), applied);
        }
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

        let empty = empty_record();
        let mut huge_count = without_count(&empty);
        huge_count.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(decode(&huge_count), Err(Malformed));

        let mut endless_varint = without_count(&empty);
        endless_varint.extend_from_slice(&[0xff; 11]);
        assert_eq!(decode(&endless_varint), Err(Malformed));
    }

    #[test]
    fn values_are_not_parsed_again_but_cannot_leak_as_json() {
        // Only text this library wrote reaches decode; a value that is not JSON anyway (a
        // compromised key) decodes, but cannot be read as a value nor written into JSON.
        let mut bytes = without_count(&empty_record());
        put_varint(&mut bytes, 1);
        put_entry(&mut bytes, b"k", b"{not json");
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.data["k"].get(), "{not json");
        assert!(serde_json::to_string(&decoded).is_err());
        let session = crate::Session::from_state(crate::session::State::loaded(decoded, false));
        assert!(session.get::<serde_json::Value>("k").is_err());
    }

    #[test]
    fn override_bits_without_the_override_are_malformed_for_every_reader() {
        let record = record();
        for bit in [OVERRIDE_ABSOLUTE, OVERRIDE_PERSISTENT] {
            let mut bytes = record.to_compact_bytes();
            // The flags byte follows created_at, expires_at and the version.
            bytes[24] |= bit;
            assert_eq!(decode_body_of(record.id, &bytes).err(), Some(Malformed));
            assert_eq!(owner_of_body(&bytes), Err(Malformed));
            assert_eq!(
                apply_delta_to_body(&bytes, &Delta::default()).err(),
                Some(Malformed)
            );
        }
    }

    #[test]
    fn a_field_that_cuts_a_character_is_malformed_even_when_the_whole_is_text() {
        let record = empty_record();
        let mut bytes = without_count(&record);
        // One entry: a key of one byte (0xC3, half of 'Á') whose value length prefix (0x81 0x00)
        // completes the character, so the entries are valid UTF-8 as a whole.
        bytes.extend_from_slice(&[0x01, 0x01, 0xC3, 0x81, 0x00, b'1']);
        assert!(std::str::from_utf8(&bytes[bytes.len() - 6..]).is_ok());
        assert_eq!(decode(&bytes), Err(Malformed));

        // The same shape with a whole character decodes, by either path.
        for value in ["1", &"x".repeat(200)] {
            let mut bytes = without_count(&record);
            put_varint(&mut bytes, 1);
            put_entry(&mut bytes, "Á".as_bytes(), value.as_bytes());
            assert_eq!(decode(&bytes).unwrap().data["Á"].get(), value);
        }
    }

    fn raw(json: &str) -> RawJson {
        RawJson::from_string(json.to_string()).unwrap()
    }

    #[test]
    fn deltas_applied_to_bytes_match_deltas_applied_to_records() {
        let deltas = [
            Delta::default(),
            Delta {
                owner: None,
                changed: vec![("n".into(), raw("43"))],
                expires_at: 9,
                ..Delta::default()
            },
            Delta {
                owner: None,
                changed: vec![
                    ("zz".into(), raw("1")),
                    ("a".into(), raw("[]")),
                    ("zz".into(), raw("2")),
                    ("user".into(), raw(r#""bob""#)),
                ],
                removed: vec!["cart".into(), "user".into(), "absent".into()],
                expires_at: 10,
                absolute_deadline: None,
                expiry: Some(Expiry::persistent(std::time::Duration::from_secs(60))),
            },
            // In key order, as the manager builds them: merged without sorting.
            Delta {
                owner: None,
                changed: vec![
                    ("a".into(), raw("0")),
                    ("n".into(), raw("44")),
                    ("zz".into(), raw("{}")),
                ],
                removed: vec!["n".into(), "long".into()],
                expires_at: 11,
                ..Delta::default()
            },
            Delta {
                owner: None,
                removed: vec!["cart".into(), "long".into(), "n".into(), "user".into()],
                absolute_deadline: Some(0),
                ..Delta::default()
            },
        ];
        for delta in &deltas {
            let before = record();
            let mut after = before.clone();
            delta.apply(&mut after);
            let applied = apply_delta_to_body(&before.to_compact_bytes(), delta).unwrap();
            assert_eq!(applied, after.to_compact_bytes(), "{delta:?}");
            assert_eq!(
                Record::from_compact_bytes(before.id, &applied).unwrap(),
                after
            );
        }
    }

    /// Values at and around the varint's byte boundaries (7 bits a byte), and the largest.
    const VARINT_EDGES: [u64; 11] = [
        0,
        1,
        127,
        128,
        200,
        0xff,
        300,
        16_383,
        16_384,
        u32::MAX as u64,
        u64::MAX,
    ];

    #[test]
    fn varint_lengths_match_what_is_written() {
        for value in VARINT_EDGES {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(varint_len(value), out.len(), "{value}");
        }
    }

    #[test]
    fn deltas_are_applied_into_a_buffer_of_the_exact_size() {
        let delta = Delta {
            owner: None,
            changed: vec![("n".into(), raw("43")), ("new".into(), raw("[1,2,3]"))],
            removed: vec!["cart".into()],
            expires_at: 9,
            absolute_deadline: Some(10),
            expiry: Some(Expiry::persistent(std::time::Duration::from_secs(60))),
        };
        let applied = apply_delta_to_body(&record().to_compact_bytes(), &delta).unwrap();
        assert_eq!(applied.capacity(), applied.len());
    }

    #[test]
    fn deltas_are_not_applied_to_malformed_bytes() {
        let bytes = record().to_compact_bytes();
        for len in 0..bytes.len() {
            assert_eq!(
                apply_delta_to_body(&bytes[..len], &Delta::default()),
                Err(Malformed),
                "truncated to {len}"
            );
        }
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

    #[test]
    fn encoding_reserves_exactly_the_envelope() {
        let mut bare = record();
        bare.data.clear();
        bare.owner = None;
        bare.expiry = None;
        bare.absolute_deadline = None;
        let mut full = record();
        full.owner = Some("user-42".into());
        full.absolute_deadline = Some(1_800_000_000_000);
        full.expiry = Some(Expiry {
            idle_timeout_secs: 600,
            absolute_timeout_secs: Some(86_400),
            persistent: true,
        });
        for record in [record(), bare, full] {
            let mut bytes = Vec::new();
            encode(&record, &mut bytes);
            assert_eq!(bytes.capacity(), bytes.len());
            assert_eq!(bytes.len(), encoded_len(&record));
        }
    }

    #[test]
    fn a_count_the_rest_can_just_hold_is_read_by_every_reader() {
        // Two bytes is the smallest entry (an empty key and an empty value): a count of exactly
        // half the bytes left is possible, and only a larger one is refused unread.
        let empty = empty_record();
        let mut bytes = empty.to_compact_bytes();
        bytes.pop();
        put_varint(&mut bytes, 1);
        put_entry(&mut bytes, b"", b"");
        let decoded = decode_body_of(empty.id, &bytes).unwrap();
        assert_eq!(decoded.data[""].get(), "");
        let applied = apply_delta_to_body(&bytes, &Delta::default()).unwrap();
        assert_eq!(decode_body_of(empty.id, &applied).unwrap().data.len(), 1);
    }

    #[test]
    fn the_delta_path_refuses_what_decode_refuses() {
        let mut two = record();
        two.data.retain(|key, _| key == "n" || key == "user");
        let bytes = two.to_compact_bytes();
        // The two entries are the last 18 bytes: `n` = 42 (5), `user` = "alice" (13).
        let (head, entries) = bytes.split_at(bytes.len() - 18);
        let (n, user) = entries.split_at(5);
        assert_eq!(n, b"\x01n\x0242");
        assert_eq!(decode_body_of(two.id, &bytes), Ok(two.clone()));
        let swapped = [head, user, n].concat();
        let repeated = [head, n, n].concat();
        let trailing = [&bytes[..], &[0]].concat();
        let mut huge_count = head.to_vec();
        huge_count.pop();
        huge_count.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        huge_count.extend_from_slice(entries);
        for (what, malformed) in [
            ("swapped", swapped),
            ("repeated", repeated),
            ("trailing", trailing),
            ("huge count", huge_count),
        ] {
            assert_eq!(decode_body_of(two.id, &malformed), Err(Malformed), "{what}");
            assert_eq!(
                apply_delta_to_body(&malformed, &Delta::default()),
                Err(Malformed),
                "{what}"
            );
        }
        assert!(apply_delta_to_body(&bytes, &Delta::default()).is_ok());
    }

    #[test]
    fn a_key_changed_twice_in_a_row_keeps_its_last_value_on_bytes_too() {
        let delta = Delta {
            changed: vec![("n".into(), raw("1")), ("n".into(), raw("2"))],
            ..Delta::default()
        };
        let before = record();
        let mut after = before.clone();
        delta.apply(&mut after);
        assert_eq!(after.data["n"].get(), "2");
        let applied = apply_delta_to_body(&before.to_compact_bytes(), &delta).unwrap();
        assert_eq!(applied, after.to_compact_bytes());
    }

    #[test]
    fn the_public_compact_forms_agree_with_the_envelope_readers() {
        let mut owned = record();
        owned.owner = Some("user-42".into());
        let body = owned.to_compact_bytes();
        assert_eq!(Record::owner_of_compact_bytes(&body), Ok(Some("user-42")));
        assert_eq!(
            Record::owner_of_compact_bytes(&record().to_compact_bytes()),
            Ok(None)
        );
        assert_eq!(
            Record::owner_of_compact_bytes(&body[..30]),
            Err(InvalidRecordBytes)
        );

        let delta = Delta {
            changed: vec![("n".into(), raw("43"))],
            expires_at: 9,
            ..Delta::default()
        };
        let applied = delta.apply_to_compact_bytes(&body).unwrap();
        assert_eq!(Ok(applied.clone()), apply_delta_to_body(&body, &delta));
        let prefixed = delta.apply_to_compact_bytes_after(b"key:", &body).unwrap();
        assert_eq!(prefixed, [&b"key:"[..], &applied].concat());
        assert_eq!(
            delta.apply_to_compact_bytes(&body[..30]),
            Err(InvalidRecordBytes)
        );
        assert_eq!(
            owned.to_compact_bytes_after(b"key:"),
            [&b"key:"[..], &body].concat()
        );
    }

    #[test]
    fn a_delta_whose_keys_come_in_reverse_order_is_sorted_before_the_merge() {
        let delta = Delta {
            changed: vec![
                ("zz".into(), raw("1")),
                ("n".into(), raw("2")),
                ("a".into(), raw("3")),
            ],
            ..Delta::default()
        };
        let before = record();
        let mut after = before.clone();
        delta.apply(&mut after);
        let applied = apply_delta_to_body(&before.to_compact_bytes(), &delta).unwrap();
        assert_eq!(applied, after.to_compact_bytes());
    }

    #[test]
    fn the_delta_refuses_a_length_written_long_which_decoding_reads() {
        let empty = empty_record();
        let mut bytes = without_count(&empty);
        put_varint(&mut bytes, 2);
        for (key, value) in [("a", "1"), ("b", "2")] {
            put_varint(&mut bytes, key.len() as u64);
            bytes.extend_from_slice(key.as_bytes());
            put_varint(&mut bytes, value.len() as u64);
            bytes.extend_from_slice(value.as_bytes());
        }
        let canonical = bytes.clone();
        // The length of "2" as two bytes: 0x81 0x00 is 1, not written the shortest way.
        let at = bytes.len() - 2;
        bytes.splice(at..at + 1, [0x81, 0x00]);
        assert!(decode(&bytes).is_ok());
        let delta = Delta {
            changed: vec![("c".into(), RawJson::written("3"))],
            ..Delta::default()
        };
        assert_eq!(
            apply_delta_to_body(&bytes[ID_BYTES..], &delta),
            Err(Malformed)
        );
        let mut expected = decode(&canonical).unwrap();
        delta.apply(&mut expected);
        let mut encoded = Vec::new();
        encode(&expected, &mut encoded);
        assert_eq!(
            apply_delta_to_body(&canonical[ID_BYTES..], &delta),
            Ok(encoded[ID_BYTES..].to_vec())
        );
    }

    #[test]
    fn kept_entries_on_both_sides_of_changes_keep_their_order() {
        let before = record();
        let delta = Delta {
            changed: vec![
                ("a".into(), RawJson::written("1")),
                ("m".into(), RawJson::written("2")),
                ("z".into(), RawJson::written("3")),
            ],
            removed: vec!["n".into()],
            ..Delta::default()
        };
        let mut after = before.clone();
        delta.apply(&mut after);
        let applied = apply_delta_to_body(&before.to_compact_bytes(), &delta).unwrap();
        assert_eq!(applied, after.to_compact_bytes());
        let keys: Vec<_> = after.data.keys().map(|key| key.as_str()).collect();
        assert_eq!(keys, ["a", "cart", "long", "m", "user", "z"]);
    }

    #[test]
    fn varints_read_back_what_is_written_and_an_overlong_one_is_malformed() {
        // 200 and 0xff have the top bit of their low byte set: the continuation bit must be
        // added to it, not toggled.
        for value in VARINT_EDGES {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut reader = Reader { rest: &out };
            assert_eq!(reader.varint(), Ok(value), "{value}");
            assert!(reader.rest.is_empty(), "{value}");
        }
        // Ten bytes carry all 64 bits; an eleventh continuation is refused, not wrapped.
        let overlong = [0x80; 11];
        assert_eq!(Reader { rest: &overlong }.varint(), Err(Malformed));
        assert_eq!(Reader { rest: &[0x80] }.varint(), Err(Malformed));
    }

    #[test]
    fn a_field_may_end_exactly_at_the_end_of_the_bytes() {
        let mut reader = Reader { rest: b"\x03abc" };
        assert_eq!(reader.field(), Ok(&b"abc"[..]));
        assert!(reader.rest.is_empty());
        assert_eq!(Reader { rest: b"\x04abc" }.field(), Err(Malformed));
        assert_eq!(Reader { rest: b"abc" }.take(3), Ok(&b"abc"[..]));
        assert_eq!(Reader { rest: b"abc" }.take(4), Err(Malformed));
    }

    #[test]
    fn entries_longer_than_a_one_byte_prefix_are_read_field_by_field() {
        // A 200-byte value's length prefix is not UTF-8, so the entries are not one text and each
        // field is validated on its own.
        let long = "v".repeat(200);
        let mut bytes = Vec::new();
        for field in ["k", long.as_str(), "é", ""] {
            put_varint(&mut bytes, field.len() as u64);
            bytes.extend_from_slice(field.as_bytes());
        }
        let mut entries = EntryReader::new(Reader { rest: &bytes });
        assert!(entries.text.is_none());
        assert_eq!(entries.text(), Ok("k"));
        assert_eq!(entries.text(), Ok(long.as_str()));
        assert!(!entries.is_done());
        assert_eq!(entries.text(), Ok("é"));
        assert_eq!(entries.text(), Ok(""));
        assert!(entries.is_done());
        // The same fields, short enough to be one text, are cut from it.
        let mut short = Vec::new();
        for field in ["k", "é", "v"] {
            put_varint(&mut short, field.len() as u64);
            short.extend_from_slice(field.as_bytes());
        }
        let mut entries = EntryReader::new(Reader { rest: &short });
        assert!(entries.text.is_some());
        assert_eq!(entries.text(), Ok("k"));
        assert_eq!(entries.text(), Ok("é"));
        assert_eq!(entries.text(), Ok("v"));
        assert!(entries.is_done());
    }
}
