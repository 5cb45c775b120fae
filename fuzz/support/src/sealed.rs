//! Target `open_sealed`: `seal::{open_record, open_id}` on arbitrary text, under the ring of
//! [`keys`](crate::keys) (old keys, colliding key ids), judged by the [`reference`] opener; and
//! `seal_record`/`seal_id` round trips of a record built from the input under every key.
//!
//! Input: one selector byte (format and session name), then the value's text.

use std::sync::OnceLock;

use session_core::{open_id, open_record, seal_id, seal_record};
use session_core::{Expiry, KeyRing, OpenError, Protection, RawJson, Record, SessionId};

use crate::keys::{self, Role, ROLES};
use crate::reference::{self, Authentic};

/// When the seeds' records were created (ms since the epoch).
pub const CREATED: u64 = 1_700_000_000_000;
/// The clock every open uses: a minute after [`CREATED`], so the seeds never expire.
pub const NOW: u64 = CREATED + 60_000;

/// The names values are opened for: the seeds' own, and near misses.
pub const NAMES: [&str; 6] = ["app", "cart", "ap", "app\0", "", "App"];

/// What a selector byte asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Record(Protection),
    Id,
}

const MODES: [Mode; 3] = [
    Mode::Record(Protection::Encrypted),
    Mode::Record(Protection::Signed),
    Mode::Id,
];

fn format_of(mode: Mode) -> u8 {
    match mode {
        Mode::Record(Protection::Encrypted) => reference::ENCRYPTED,
        Mode::Record(Protection::Signed) => reference::SIGNED,
        Mode::Id => reference::SIGNED_ID,
    }
}

fn selector(mode: usize, name: usize) -> u8 {
    // In range by construction: 3 modes times 6 names.
    (name * MODES.len() + mode) as u8
}

struct Rings {
    ring: KeyRing,
    sealers: Vec<(Role, KeyRing)>,
}

fn rings() -> &'static Rings {
    static RINGS: OnceLock<Rings> = OnceLock::new();
    RINGS.get_or_init(|| {
        keys::assert_collisions();
        Rings {
            ring: keys::ring(),
            sealers: ROLES
                .iter()
                .map(|role| (*role, keys::sealer(*role)))
                .collect(),
        }
    })
}

/// The record a verified envelope holds, if it is one.
fn record_of(payload: &[u8]) -> Option<Record> {
    let (id, body) = payload.split_at_checked(32)?;
    let id: [u8; 32] = id.try_into().ok()?;
    Record::from_compact_bytes(SessionId::from_bytes(id), body).ok()
}

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mode = MODES[usize::from(selector) % MODES.len()];
    let name = NAMES[(usize::from(selector) / MODES.len()) % NAMES.len()];
    let value = crate::text(rest);
    check_open(mode, name, &value);
    check_round_trips(name, &value);
}

fn check_open(mode: Mode, name: &str, value: &str) {
    let ring = &rings().ring;
    let authentic = reference::open(&ROLES, format_of(mode), name, value);
    match mode {
        Mode::Record(protection) => {
            let opened = open_record(ring, protection, name, value, NOW);
            match (opened, authentic) {
                (Ok(opened), Some(Authentic { payload, role })) => {
                    assert_eq!(
                        opened.stale_key, !role.primary,
                        "a value sealed under the {} opened with stale_key = {}",
                        role.label, opened.stale_key
                    );
                    let expected = record_of(&payload)
                        .unwrap_or_else(|| panic!("an undecodable envelope opened for `{name}`"));
                    assert_eq!(
                        opened.record, expected,
                        "the opened record is not the sealed one"
                    );
                    assert!(!expected.is_expired(NOW), "an expired record opened");
                }
                (Ok(opened), None) => panic!(
                    "a value opened for `{name}` that no listed key sealed for it: {:?}",
                    opened.record
                ),
                (Err(OpenError::BadPayload), Some(authentic)) => assert!(
                    record_of(&authentic.payload).is_none(),
                    "a decodable record sealed under the {} was called a bad payload",
                    authentic.role.label
                ),
                (Err(OpenError::Expired), Some(authentic)) => assert!(
                    record_of(&authentic.payload).is_some_and(|record| record.is_expired(NOW)),
                    "a live record sealed under the {} was called expired",
                    authentic.role.label
                ),
                (Err(error), Some(authentic)) => panic!(
                    "a value sealed under the {} for `{name}` did not open: {error}",
                    authentic.role.label
                ),
                (Err(_), None) => {}
            }
        }
        Mode::Id => match (open_id(ring, name, value), authentic) {
            (Ok((id, stale)), Some(Authentic { payload, role })) => {
                assert_eq!(
                    &id.as_bytes()[..],
                    &payload[..],
                    "the opened id is not the sealed one"
                );
                assert_eq!(
                    stale, !role.primary,
                    "stale flag of an id under the {}",
                    role.label
                );
            }
            (Ok(_), None) => panic!("an id opened for `{name}` that no listed key sealed for it"),
            (Err(error), Some(authentic)) => panic!(
                "an id sealed under the {} for `{name}` did not open: {error}",
                authentic.role.label
            ),
            (Err(_), None) => {}
        },
    }
}

/// A live record whose contents come from the input.
fn record_from(value: &str) -> Record {
    let mut id = [0u8; 32];
    for (slot, byte) in id.iter_mut().zip(value.bytes().rev()) {
        *slot = byte;
    }
    let mut record = Record::new(SessionId::from_bytes(id), &Expiry::default(), CREATED);
    match RawJson::to_json(value) {
        Ok(json) => {
            record
                .data
                .insert(value.chars().take(8).collect::<String>().into(), json);
        }
        Err(error) => panic!("a string always serializes: {error}"),
    }
    record.owner = (!value.is_empty()).then(|| value.chars().take(16).collect());
    record.version = value.len() as u64;
    record
}

fn check_round_trips(name: &str, value: &str) {
    let rings = rings();
    let record = record_from(value);
    let other_name = if name == "app" { "cart" } else { "app" };
    for (role, sealer) in &rings.sealers {
        for protection in [Protection::Encrypted, Protection::Signed] {
            let sealed = seal_record(sealer, protection, name, &record)
                .unwrap_or_else(|error| panic!("sealing for `{name}` failed: {error}"));
            let opened = open_record(&rings.ring, protection, name, &sealed, NOW);
            if role.listed {
                let opened = opened.unwrap_or_else(|error| {
                    panic!(
                        "a record sealed under the {} did not open: {error}",
                        role.label
                    )
                });
                assert_eq!(opened.record, record, "round trip under the {}", role.label);
                assert_eq!(opened.stale_key, !role.primary);
            } else {
                assert!(
                    opened.is_err(),
                    "a record sealed under the {} opened",
                    role.label
                );
            }
            assert!(
                open_record(&rings.ring, protection, other_name, &sealed, NOW).is_err(),
                "a record sealed for `{name}` opened as `{other_name}`"
            );
            let other_protection = match protection {
                Protection::Encrypted => Protection::Signed,
                Protection::Signed => Protection::Encrypted,
            };
            assert!(
                open_record(&rings.ring, other_protection, name, &sealed, NOW).is_err(),
                "a {protection:?} record opened as {other_protection:?}"
            );
        }
        let sealed = seal_id(sealer, name, &record.id)
            .unwrap_or_else(|error| panic!("sealing an id for `{name}` failed: {error}"));
        match open_id(&rings.ring, name, &sealed) {
            Ok((id, stale)) if role.listed => {
                assert_eq!(id, record.id, "id round trip under the {}", role.label);
                assert_eq!(stale, !role.primary);
            }
            Ok(_) => panic!("an id sealed under the {} opened", role.label),
            Err(error) if role.listed => {
                panic!(
                    "an id sealed under the {} did not open: {error}",
                    role.label
                )
            }
            Err(_) => {}
        }
        assert!(open_id(&rings.ring, other_name, &sealed).is_err());
    }
}

/// Values sealed under every key, for the seed names, live and expired.
pub fn seeds() -> Vec<Vec<u8>> {
    let rings = rings();
    let mut seeds = Vec::new();
    for (_, sealer) in &rings.sealers {
        for (name_index, name) in NAMES.iter().enumerate().take(2) {
            for (created, user) in [(CREATED, "alice"), (CREATED - 30 * 86_400_000, "expired")] {
                let mut record = Record::new(
                    SessionId::from_bytes([name_index as u8 + 1; 32]),
                    &Expiry::default(),
                    created,
                );
                for (key, json) in [("user", format!("\"{user}\"")), ("n", "42".to_string())] {
                    if let Ok(json) = RawJson::from_string(json) {
                        record.data.insert(key.into(), json);
                    }
                }
                record.owner = Some(user.to_string());
                for (mode_index, mode) in MODES.iter().enumerate() {
                    let sealed = match mode {
                        Mode::Record(protection) => seal_record(sealer, *protection, name, &record),
                        Mode::Id => seal_id(sealer, name, &record.id),
                    };
                    let Ok(sealed) = sealed else {
                        continue;
                    };
                    let mut seed = vec![selector(mode_index, name_index)];
                    seed.extend_from_slice(sealed.as_bytes());
                    seeds.push(seed);
                }
            }
        }
    }
    seeds
}
