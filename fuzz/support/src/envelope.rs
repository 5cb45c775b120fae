//! Target `envelope`: the binary record envelope's decoder (`Record::from_compact_bytes`,
//! `Record::owner_of_compact_bytes`) and the in-place delta (`Delta::apply_to_compact_bytes`) on
//! arbitrary bytes.
//!
//! Input: one length byte `n`, `n` bytes that describe a [`Delta`], then the record bytes.
//!
//! Invariants: no panic; a decoded record re-encodes to bytes that decode to the same record
//! (and encode to themselves); the owner read without decoding is the decoded one; the in-place
//! delta accepts only bytes that decode, and gives exactly what decoding, [`Delta::apply`] and
//! encoding give.

use session_core::{DataKey, Delta, Expiry, RawJson, Record, SessionId};

const ID: [u8; 32] = [9; 32];

/// Keys a delta names: the seeds' own, so changes and removals hit stored entries.
const KEYS: [&str; 8] = ["user", "n", "cart", "_flash", "a", "b", "", "é"];
/// Values a delta sets.
const VALUES: [&str; 8] = [
    "\"bob\"",
    "0",
    "-1.5e300",
    "[1,2,3]",
    "{\"deep\":{\"er\":[null,true]}}",
    "\"\"",
    "\"\\u0000\\n\"",
    "null",
];

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                *first
            }
            None => 0,
        }
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |value, _| (value << 8) | u64::from(self.byte()))
    }
}

/// A delta described by `spec`: a flags byte, the deadlines, then one byte per change.
fn delta_from(spec: &[u8]) -> Delta {
    let mut bytes = Bytes(spec);
    let flags = bytes.byte();
    let mut delta = Delta {
        expires_at: bytes.u64(),
        ..Delta::default()
    };
    if flags & 1 != 0 {
        delta.absolute_deadline = Some(bytes.u64());
    }
    if flags & 2 != 0 {
        delta.expiry = Some(Expiry {
            idle_timeout_secs: bytes.u64(),
            absolute_timeout_secs: (flags & 4 != 0).then(|| bytes.u64()),
            persistent: flags & 8 != 0,
        });
    }
    if flags & 16 != 0 {
        delta.owner = Some((flags & 32 != 0).then(|| "mallory".to_string()));
    }
    while !bytes.0.is_empty() {
        let op = bytes.byte();
        let key = DataKey::from(KEYS[usize::from(op & 7)]);
        if op & 0x80 != 0 {
            delta.removed.push(key);
        } else {
            match RawJson::from_string(VALUES[usize::from((op >> 3) & 7)].to_string()) {
                Ok(value) => delta.changed.push((key, value)),
                Err(error) => panic!("the delta values are JSON: {error}"),
            }
        }
    }
    delta
}

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    let Some((&spec_len, rest)) = data.split_first() else {
        return;
    };
    let (spec, body) = rest.split_at(usize::from(spec_len).min(rest.len()));
    let id = SessionId::from_bytes(ID);
    let decoded = Record::from_compact_bytes(id, body);
    if let Ok(record) = &decoded {
        let encoded = record.to_compact_bytes();
        let again = Record::from_compact_bytes(id, &encoded)
            .unwrap_or_else(|_| panic!("a re-encoded record does not decode: {record:?}"));
        assert_eq!(&again, record, "decode, encode, decode changed the record");
        assert_eq!(
            again.to_compact_bytes(),
            encoded,
            "encoding is not canonical"
        );
        assert_eq!(
            Record::owner_of_compact_bytes(body).ok(),
            Some(record.owner.as_deref()),
            "the owner read in place is not the decoded owner"
        );
    }
    let delta = delta_from(spec);
    match (&decoded, delta.apply_to_compact_bytes(body)) {
        (Ok(record), Ok(applied)) => {
            let mut expected = record.clone();
            delta.apply(&mut expected);
            assert_eq!(
                applied,
                expected.to_compact_bytes(),
                "the in-place delta differs from decode, apply, encode ({delta:?})"
            );
        }
        (Err(_), Ok(_)) => panic!("the in-place delta accepted bytes that are not a record"),
        (Ok(record), Err(_)) => assert!(
            record.to_compact_bytes() != body,
            "the in-place delta refused a record in canonical form: {record:?}"
        ),
        (Err(_), Err(_)) => {}
    }
}

/// Records of every shape the flags allow, each with an empty delta and with one that changes,
/// removes and rebinds.
pub fn seeds() -> Vec<Vec<u8>> {
    let base = Record::new(
        SessionId::from_bytes(ID),
        &Expiry::default(),
        1_700_000_000_000,
    );
    let mut records = vec![base.clone()];
    let mut full = base.clone();
    for (key, json) in [
        ("user", "\"alice\""),
        ("n", "42"),
        ("cart", "{\"items\":[\"apple\",\"é ✓\"]}"),
        ("long", &format!("\"{}\"", "x".repeat(300))),
    ] {
        if let Ok(value) = RawJson::from_string(json.to_string()) {
            full.data.insert(key.into(), value);
        }
    }
    full.owner = Some("alice".to_string());
    full.version = 7;
    full.expiry = Some(Expiry {
        idle_timeout_secs: 3_600,
        absolute_timeout_secs: Some(86_400),
        persistent: true,
    });
    records.push(full.clone());
    full.absolute_deadline = None;
    full.expiry = Some(Expiry {
        idle_timeout_secs: 60,
        absolute_timeout_secs: None,
        persistent: false,
    });
    records.push(full);
    let specs: [&[u8]; 3] = [
        &[],
        &[
            0x1f, 0, 0, 1, 0x8b, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0x09, 0x01,
        ],
        &[
            0x32, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x02,
        ],
    ];
    let mut seeds = Vec::new();
    for record in &records {
        for spec in specs {
            let mut seed = vec![spec.len() as u8];
            seed.extend_from_slice(spec);
            seed.extend_from_slice(&record.to_compact_bytes());
            seeds.push(seed);
        }
    }
    seeds
}
