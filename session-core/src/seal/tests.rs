//! The sealing codec's guarantees, as tests: round trips, tampering of every kind, key rotation,
//! name binding, expiry, and no panics on hostile input. The wire-format test vectors of
//! `WIRE_FORMAT.md` (at the crate root) are checked at the bottom.

// The tests decode and re-encode with the `base64` crate, an implementation independent of the
// codec's own.
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use proptest::prelude::*;

use super::*;
use crate::expiry::Expiry;

/// A fixed "now" (milliseconds), so no test depends on the clock.
const NOW: u64 = 1_700_000_000_000;
const NAME: &str = "app";
const BOTH: [Protection; 2] = [Protection::Encrypted, Protection::Signed];
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Characters outside the base64url alphabet, including multi-byte and control characters.
const NOT_BASE64URL: &[char] = &['+', '/', '=', '.', ' ', '%', '\0', '\n', '~', 'é', '€'];

fn key(seed: u8) -> Key {
    Key::from_secret(&[seed; 32]).unwrap()
}

fn ring(seed: u8) -> KeyRing {
    KeyRing::new(key(seed))
}

fn raw(json: &str) -> crate::RawJson {
    crate::RawJson::from_string(json.to_string()).unwrap()
}

/// A record alive at [`NOW`] (one day idle, seven days absolute).
fn record() -> Record {
    let mut record = Record::new(
        SessionId::from_bytes([7; ID_BYTES]),
        &Expiry::default(),
        NOW,
    );
    record.data.insert("user".into(), raw(r#""alice""#));
    record
}

/// A record of about 300 bytes of JSON, ten keys, as a typical session.
fn typical_record() -> Record {
    let mut record = record();
    for index in 0..9 {
        record.data.insert(
            format!("key{index}").into(),
            raw(&format!(r#"{{"n":{index},"s":"v{index}"}}"#)),
        );
    }
    record
}

fn open(
    keys: &KeyRing,
    protection: Protection,
    name: &str,
    value: &str,
) -> Result<Opened, OpenError> {
    open_record(keys, protection, name, value, NOW)
}

/// Asserts that `value` does not open as a record of `protection` named [`NAME`] under `keys`,
/// for the reason `expected`.
fn assert_open_fails(keys: &KeyRing, protection: Protection, value: &str, expected: OpenError) {
    let error = open(keys, protection, NAME, value).unwrap_err();
    assert_eq!(error, expected, "{protection:?}: {value}");
}

/// Asserts that `value` does not open as a signed id named [`NAME`] under `keys`, for the reason
/// `expected`.
fn assert_id_fails(keys: &KeyRing, value: &str, expected: OpenError) {
    assert_eq!(open_id(keys, NAME, value).unwrap_err(), expected, "{value}");
}

/// Every way of opening `value` that a server might try: as a record of either protection and as
/// a signed id, under the keys that sealed it.
fn opens_as_anything(keys: &KeyRing, value: &str) -> bool {
    BOTH.iter()
        .any(|&protection| open(keys, protection, NAME, value).is_ok())
        || open_id(keys, NAME, value).is_ok()
}

#[test]
fn sealed_records_open_to_the_same_record() {
    let keys = ring(1);
    for protection in BOTH {
        let sealed = seal_record(&keys, protection, NAME, &typical_record()).unwrap();
        let opened = open(&keys, protection, NAME, &sealed).unwrap();
        assert_eq!(opened.record, typical_record(), "{protection:?}");
        assert!(!opened.stale_key);
    }
}

#[test]
fn sealed_values_are_unpadded_base64url() {
    let keys = ring(1);
    for protection in BOTH {
        let sealed = seal_record(&keys, protection, NAME, &typical_record()).unwrap();
        assert!(sealed.bytes().all(|b| BASE64URL.contains(&b)), "{sealed}");
    }
    let id = seal_id(&keys, NAME, &SessionId::generate()).unwrap();
    assert!(id.bytes().all(|b| BASE64URL.contains(&b)), "{id}");
}

#[test]
fn encrypted_records_hide_their_values_and_signed_ones_do_not() {
    let keys = ring(1);
    let find = |protection| {
        let sealed = seal_record(&keys, protection, NAME, &record()).unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(sealed).unwrap();
        bytes.windows(5).any(|window| window == b"alice")
    };
    assert!(!find(Protection::Encrypted));
    assert!(find(Protection::Signed));
}

#[test]
fn encrypting_twice_uses_fresh_nonces() {
    let keys = ring(1);
    let first = seal_record(&keys, Protection::Encrypted, NAME, &record()).unwrap();
    let second = seal_record(&keys, Protection::Encrypted, NAME, &record()).unwrap();
    assert_ne!(first, second);
}

/// Replaces the character at `index` of `text` with `replacement`.
fn replaced(text: &str, index: usize, replacement: char) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    out.push_str(&text[..index]);
    out.push(replacement);
    out.push_str(&text[index + 1..]);
    out
}

/// For each protection: a typical record sealed under `ring(1)`, and whether a value opens under
/// those keys and that protection.
fn each_typical_sealed(check: impl Fn(Protection, &str, &dyn Fn(&str) -> bool)) {
    let keys = ring(1);
    for protection in BOTH {
        let sealed = seal_record(&keys, protection, NAME, &typical_record()).unwrap();
        check(protection, &sealed, &|value| {
            open(&keys, protection, NAME, value).is_ok()
        });
    }
}

/// Every value that differs from `value` in one character: its index, the replacement (another
/// base64url character or one outside the alphabet), and the value.
fn substitutions(value: &str) -> impl Iterator<Item = (usize, char, String)> + '_ {
    value
        .bytes()
        .enumerate()
        .flat_map(move |(index, original)| {
            BASE64URL
                .iter()
                .map(|&b| b as char)
                .filter(move |&c| c as u8 != original)
                .chain(NOT_BASE64URL.iter().copied())
                .map(move |replacement| (index, replacement, replaced(value, index, replacement)))
        })
}

/// Every value whose bytes differ from those of `value` in one bit: the bit, and the value.
fn bit_flips(value: &str) -> impl Iterator<Item = (usize, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(value).unwrap();
    (0..bytes.len() * 8).map(move |bit| {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        (bit, URL_SAFE_NO_PAD.encode(&flipped))
    })
}

#[test]
fn every_single_character_substitution_fails_to_open() {
    each_typical_sealed(|protection, sealed, opens| {
        assert!(
            sealed.len() > 300,
            "the value under test is {} chars",
            sealed.len()
        );
        for (index, replacement, mutated) in substitutions(sealed) {
            assert!(
                !opens(&mutated),
                "{protection:?}: `{replacement}` at {index} opened"
            );
        }
    });
}

#[test]
fn every_bit_flip_fails_to_open() {
    each_typical_sealed(|protection, sealed, opens| {
        for (bit, mutated) in bit_flips(sealed) {
            assert!(!opens(&mutated), "{protection:?}: bit {bit} flipped opened");
        }
    });
}

#[test]
fn every_truncation_fails_to_open() {
    each_typical_sealed(|protection, sealed, opens| {
        for len in 0..sealed.len() {
            assert!(
                !opens(&sealed[..len]),
                "{protection:?}: truncated to {len} opened"
            );
            assert!(
                !opens(&sealed[sealed.len() - len..]),
                "{protection:?}: last {len} chars opened"
            );
        }
    });
}

#[test]
fn extensions_fail_to_open() {
    each_typical_sealed(|protection, sealed, opens| {
        for &extra in BASE64URL {
            for count in 1..=4 {
                let extended = format!("{sealed}{}", (extra as char).to_string().repeat(count));
                assert!(!opens(&extended), "{extended}");
                let prefixed = format!("{}{sealed}", (extra as char).to_string().repeat(count));
                assert!(!opens(&prefixed), "{prefixed}");
            }
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed).unwrap();
        for count in [1, 2, 3, 16, 32, 100] {
            for fill in [0u8, 0xff] {
                let mut longer = bytes.clone();
                longer.extend(std::iter::repeat_n(fill, count));
                let extended = URL_SAFE_NO_PAD.encode(&longer);
                assert!(
                    !opens(&extended),
                    "{protection:?}: {count} bytes appended opened"
                );
            }
        }
        // The value twice over is an extension too.
        assert!(!opens(&format!("{sealed}{sealed}")));
    });
}

/// A record sealed so that its base64url text differs from the other encodings of its bytes: it
/// holds a `-` or `_` (so the standard alphabet differs) and its length is not a multiple of 3
/// bytes (so padding differs).
fn sealed_with_distinct_encodings(keys: &KeyRing, protection: Protection) -> String {
    (0..1000)
        .map(|pad| {
            let mut record = typical_record();
            record
                .data
                .insert("pad".into(), raw(&format!("\"{}\"", "x".repeat(pad % 7))));
            record.version = pad as u64;
            seal_record(keys, protection, NAME, &record).unwrap()
        })
        .find(|sealed| {
            sealed.contains(['-', '_']) && URL_SAFE_NO_PAD.decode(sealed).unwrap().len() % 3 != 0
        })
        .unwrap()
}

#[test]
fn re_encodings_fail_to_open() {
    let keys = ring(1);
    for protection in BOTH {
        let sealed = sealed_with_distinct_encodings(&keys, protection);
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE] {
            let reencoded = engine.encode(&bytes);
            assert_ne!(reencoded, sealed);
            assert_open_fails(&keys, protection, &reencoded, OpenError::Malformed);
        }
        // Percent-encoding or surrounding whitespace is a re-encoding too.
        for wrapped in [
            format!(" {sealed}"),
            format!("{sealed}\n"),
            format!("\"{sealed}\""),
        ] {
            assert_open_fails(&keys, protection, &wrapped, OpenError::Malformed);
        }
    }
}

#[test]
fn non_canonical_trailing_bits_fail_to_open() {
    let keys = ring(1);
    for protection in BOTH {
        let sealed = sealed_with_distinct_encodings(&keys, protection);
        // The last character carries unused low bits (2 or 4 of them); setting any is rejected
        // even though the decoded bytes would be the same.
        let last = sealed.len() - 1;
        let position = BASE64URL
            .iter()
            .position(|&b| b == sealed.as_bytes()[last])
            .unwrap();
        let unused_bits = if URL_SAFE_NO_PAD.decode(&sealed).unwrap().len() % 3 == 1 {
            4
        } else {
            2
        };
        for low in 1..(1 << unused_bits) {
            let alias = BASE64URL[position | low] as char;
            let mutated = replaced(&sealed, last, alias);
            assert_open_fails(&keys, protection, &mutated, OpenError::Malformed);
        }
    }
}

#[test]
fn values_sealed_under_an_older_key_open_and_are_marked_stale() {
    let rotated = KeyRing::new(key(2)).with_old_key(key(1));
    for protection in BOTH {
        let old = seal_record(&ring(1), protection, NAME, &record()).unwrap();
        let opened = open(&rotated, protection, NAME, &old).unwrap();
        assert!(opened.stale_key);
        assert_eq!(opened.record, record());

        let new = seal_record(&rotated, protection, NAME, &record()).unwrap();
        assert!(!open(&rotated, protection, NAME, &new).unwrap().stale_key);
        // The primary seals: an old-key-only ring does not know the new value.
        assert_open_fails(&ring(1), protection, &new, OpenError::UnknownKey);
    }
}

#[test]
fn values_sealed_under_a_removed_key_do_not_open() {
    let after_removal = ring(2);
    for protection in BOTH {
        let old = seal_record(&ring(1), protection, NAME, &record()).unwrap();
        assert_open_fails(&after_removal, protection, &old, OpenError::UnknownKey);
    }
}

#[test]
fn a_forged_key_id_does_not_pick_another_key() {
    // A value sealed under key 1 but relabelled with key 2's id must not verify under key 2.
    let keys = ring(2);
    for protection in BOTH {
        let sealed = seal_record(&ring(1), protection, NAME, &record()).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        bytes[1..5].copy_from_slice(&key(2).id());
        let relabelled = URL_SAFE_NO_PAD.encode(&bytes);
        assert_open_fails(&keys, protection, &relabelled, OpenError::BadSeal);
    }
}

#[test]
fn values_sealed_for_another_name_do_not_open() {
    let keys = ring(1);
    let names = ["cart", "auth", "car", "cartt", "Cart", "", "cart\0"];
    for protection in BOTH {
        let sealed = seal_record(&keys, protection, "cart", &record()).unwrap();
        assert!(open(&keys, protection, "cart", &sealed).is_ok());
        for other in &names[1..] {
            assert_eq!(
                open(&keys, protection, other, &sealed).unwrap_err(),
                OpenError::BadSeal,
                "{protection:?}: opened as {other:?}"
            );
        }
    }
}

#[test]
fn expired_records_do_not_open() {
    let keys = ring(1);
    for protection in BOTH {
        let mut idle = record();
        idle.expires_at = NOW + 1_000;
        idle.absolute_deadline = None;
        let sealed = seal_record(&keys, protection, NAME, &idle).unwrap();
        assert!(open_record(&keys, protection, NAME, &sealed, NOW + 999).is_ok());
        assert_eq!(
            open_record(&keys, protection, NAME, &sealed, NOW + 1_000).unwrap_err(),
            OpenError::Expired
        );

        let mut absolute = record();
        absolute.expires_at = NOW + 10_000;
        absolute.absolute_deadline = Some(NOW + 5_000);
        let sealed = seal_record(&keys, protection, NAME, &absolute).unwrap();
        assert!(open_record(&keys, protection, NAME, &sealed, NOW + 4_999).is_ok());
        assert_eq!(
            open_record(&keys, protection, NAME, &sealed, NOW + 5_000).unwrap_err(),
            OpenError::Expired
        );
    }
}

#[test]
fn a_value_opens_only_with_the_protection_it_was_sealed_with() {
    let keys = ring(1);
    let encrypted = seal_record(&keys, Protection::Encrypted, NAME, &record()).unwrap();
    let signed = seal_record(&keys, Protection::Signed, NAME, &record()).unwrap();
    assert_open_fails(
        &keys,
        Protection::Signed,
        &encrypted,
        OpenError::WrongFormat {
            found: FORMAT_ENCRYPTED,
            expected: FORMAT_SIGNED,
        },
    );
    assert_open_fails(
        &keys,
        Protection::Encrypted,
        &signed,
        OpenError::WrongFormat {
            found: FORMAT_SIGNED,
            expected: FORMAT_ENCRYPTED,
        },
    );
    // A relabelled format byte does not verify either.
    let mut bytes = URL_SAFE_NO_PAD.decode(&signed).unwrap();
    bytes[0] = FORMAT_ENCRYPTED;
    assert!(open(
        &keys,
        Protection::Encrypted,
        NAME,
        &URL_SAFE_NO_PAD.encode(&bytes)
    )
    .is_err());
}

#[test]
fn ids_and_records_are_not_interchangeable() {
    let keys = ring(1);
    let id = seal_id(&keys, NAME, &SessionId::generate()).unwrap();
    for protection in BOTH {
        assert!(matches!(
            open(&keys, protection, NAME, &id).unwrap_err(),
            OpenError::WrongFormat {
                found: FORMAT_SIGNED_ID,
                ..
            }
        ));
        let record = seal_record(&keys, protection, NAME, &record()).unwrap();
        assert!(open_id(&keys, NAME, &record).is_err());
    }
}

#[test]
fn signed_ids_round_trip() {
    let keys = ring(1);
    let id = SessionId::generate();
    let sealed = seal_id(&keys, NAME, &id).unwrap();
    assert_eq!(open_id(&keys, NAME, &sealed).unwrap(), (id, false));
}

#[test]
fn tampered_signed_ids_do_not_open() {
    let keys = ring(1);
    let sealed = seal_id(&keys, NAME, &SessionId::generate()).unwrap();
    for (index, replacement, mutated) in substitutions(&sealed) {
        assert!(
            open_id(&keys, NAME, &mutated).is_err(),
            "`{replacement}` at {index}"
        );
    }
    for len in 0..sealed.len() {
        assert!(
            open_id(&keys, NAME, &sealed[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for extra in ["A", "AA", "AAA", "AAAA", &sealed[..]] {
        assert!(open_id(&keys, NAME, &format!("{sealed}{extra}")).is_err());
    }
    for (bit, mutated) in bit_flips(&sealed) {
        assert!(open_id(&keys, NAME, &mutated).is_err(), "bit {bit}");
    }
    let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE] {
        let reencoded = engine.encode(&bytes);
        if reencoded != sealed {
            assert_id_fails(&keys, &reencoded, OpenError::Malformed);
        }
    }
}

#[test]
fn signed_ids_for_another_name_do_not_open() {
    let keys = ring(1);
    let sealed = seal_id(&keys, "cart", &SessionId::generate()).unwrap();
    assert_eq!(
        open_id(&keys, "auth", &sealed).unwrap_err(),
        OpenError::BadSeal
    );
    assert_eq!(
        open_id(&keys, "car", &sealed).unwrap_err(),
        OpenError::BadSeal
    );
}

#[test]
fn signed_ids_follow_key_rotation() {
    let id = SessionId::generate();
    let old = seal_id(&ring(1), NAME, &id).unwrap();
    let rotated = KeyRing::new(key(2)).with_old_key(key(1));
    assert_eq!(open_id(&rotated, NAME, &old).unwrap(), (id, true));
    let new = seal_id(&rotated, NAME, &id).unwrap();
    assert_eq!(open_id(&rotated, NAME, &new).unwrap(), (id, false));
    assert_id_fails(&ring(2), &old, OpenError::UnknownKey);
}

#[test]
fn oversized_values_are_rejected_before_decoding() {
    let keys = ring(1);
    // Not even valid base64: TooLarge (not Malformed) proves the length is checked first.
    let huge = "!".repeat(MAX_SEALED_LEN + 1);
    for protection in BOTH {
        assert_open_fails(&keys, protection, &huge, OpenError::TooLarge);
    }
    assert_id_fails(&keys, &huge, OpenError::TooLarge);
    // Right at the limit the value is looked at (and here is malformed).
    let limit = "!".repeat(MAX_SEALED_LEN);
    assert_id_fails(&keys, &limit, OpenError::Malformed);
}

#[test]
fn names_too_long_to_authenticate_are_an_error_not_a_panic() {
    let keys = ring(1);
    let long = "n".repeat(usize::from(u16::MAX) + 1);
    for protection in BOTH {
        assert!(matches!(
            seal_record(&keys, protection, &long, &record()),
            Err(SealError::NameTooLong)
        ));
        let sealed = seal_record(&keys, protection, NAME, &record()).unwrap();
        assert_eq!(
            open(&keys, protection, &long, &sealed).unwrap_err(),
            OpenError::BadSeal
        );
    }
    assert!(matches!(
        seal_id(&keys, &long, &SessionId::generate()),
        Err(SealError::NameTooLong)
    ));
}

#[test]
fn verified_payloads_that_are_not_records_are_reported() {
    // Only the key holder can produce these; the codec still must not panic on them.
    let keys = ring(1);
    let primary = keys.primary();
    let mut body = vec![FORMAT_SIGNED];
    body.extend_from_slice(&primary.id());
    body.extend_from_slice(br#"{"not":"a record"}"#);
    let tag = mac_over(primary, NAME, &body).unwrap();
    body.extend_from_slice(&tag);
    assert_open_fails(
        &keys,
        Protection::Signed,
        &URL_SAFE_NO_PAD.encode(&body),
        OpenError::BadPayload,
    );
}

// ---- properties ----

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

fn arbitrary_record() -> impl Strategy<Value = Record> {
    (
        any::<[u8; ID_BYTES]>(),
        prop::collection::btree_map(".{0,12}", json_value(), 0..8),
        0..NOW,
        1..u64::MAX - NOW,
        prop::option::of(1..u64::MAX - NOW),
        any::<u64>(),
        prop::option::of((
            1..u64::MAX / 1000,
            prop::option::of(1..u64::MAX / 1000),
            any::<bool>(),
        )),
    )
        .prop_map(
            |(id, data, created_at, idle, absolute, version, expiry)| Record {
                id: SessionId::from_bytes(id),
                data: data
                    .into_iter()
                    .map(|(key, value)| (key.into(), crate::RawJson::to_json(&value).unwrap()))
                    .collect(),
                created_at,
                expires_at: NOW + idle,
                absolute_deadline: absolute.map(|offset| NOW + offset),
                version,
                expiry: expiry.map(|(idle, absolute, persistent)| Expiry {
                    idle_timeout_secs: idle,
                    absolute_timeout_secs: absolute,
                    persistent,
                }),
                owner: (version % 3 == 0).then(|| format!("user-{version}")),
            },
        )
}

fn protection() -> impl Strategy<Value = Protection> {
    prop_oneof![Just(Protection::Encrypted), Just(Protection::Signed)]
}

/// Strings that decode to bytes starting with a real header, so the deeper paths (key lookup,
/// decryption, MAC check, JSON) see hostile input too.
fn hostile_with_header(format: u8) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..200).prop_map(move |tail| {
        let mut bytes = vec![format];
        bytes.extend_from_slice(&key(1).id());
        bytes.extend_from_slice(&tail);
        URL_SAFE_NO_PAD.encode(bytes)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_records_round_trip(record in arbitrary_record(), protection in protection(), name in ".{0,40}") {
        let keys = ring(1);
        let sealed = seal_record(&keys, protection, &name, &record).unwrap();
        let opened = open(&keys, protection, &name, &sealed).unwrap();
        prop_assert_eq!(opened.record, record);
        prop_assert!(!opened.stale_key);
    }

    #[test]
    fn arbitrary_ids_round_trip(id in any::<[u8; ID_BYTES]>(), name in ".{0,40}") {
        let keys = ring(1);
        let id = SessionId::from_bytes(id);
        let sealed = seal_id(&keys, &name, &id).unwrap();
        prop_assert_eq!(open_id(&keys, &name, &sealed).unwrap(), (id, false));
    }

    #[test]
    fn arbitrary_strings_never_open_or_panic(text in any::<String>()) {
        prop_assert!(!opens_as_anything(&ring(1), &text));
    }

    #[test]
    fn arbitrary_base64url_never_opens_or_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(!opens_as_anything(&ring(1), &URL_SAFE_NO_PAD.encode(bytes)));
    }

    #[test]
    fn arbitrary_bytes_behind_a_real_header_never_open_or_panic(
        value in prop_oneof![
            hostile_with_header(FORMAT_ENCRYPTED),
            hostile_with_header(FORMAT_SIGNED),
            hostile_with_header(FORMAT_SIGNED_ID),
        ]
    ) {
        prop_assert!(!opens_as_anything(&ring(1), &value));
    }

    #[test]
    fn random_mutations_of_a_sealed_value_never_open(
        protection in protection(),
        index in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let keys = ring(1);
        let sealed = seal_record(&keys, protection, NAME, &record()).unwrap();
        let at = index.index(sealed.len());
        prop_assume!(replacement != sealed.as_bytes()[at] as char);
        let mutated = replaced(&sealed, at, replacement);
        prop_assert!(open(&keys, protection, NAME, &mutated).is_err());
    }
}

// ---- the test vectors of WIRE_FORMAT.md (the crate root) ----

const WIRE_FORMAT_DOC: &str = include_str!("../../WIRE_FORMAT.md");

const VECTOR_AES_KEY: &str = "47c1c2a7906ba494243e3dc0cae998de0897982398fd81ae21715d0e2695403c";
const VECTOR_HMAC_KEY: &str = "3b39cdca02b6aa1b714f5845f67dd487746563e0c9999f972384e4fac4f6169a";
const VECTOR_KEY_ID: [u8; 4] = [0xee, 0x3d, 0xc8, 0xce];
const VECTOR_ENVELOPE: &str = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f0068e5cf8b01000000c40bd58b01000001000000000000000100ecf1f38b01000002016e013104757365720722616c69636522";
const VECTOR_ENCRYPTED: &str = "Ae49yM6goaKjpKWmp6ipqqt_XTNdkHm-MvUCnaEXW4YliUWdjTU1hnxTX-OJumou2Qov3i1h-yOCQwYZwPD03Va6USRxqsp1Lg4evYz7hOm2bl2WHYPxSaMvurLcWtJhCj43jUwcE3rTm_myYoY_3KOfmX0";
const VECTOR_SIGNED: &str = "Au49yM5AQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpbXF1eXwBo5c-LAQAAAMQL1YsBAAABAAAAAAAAAAEA7PHziwEAAAIBbgExBHVzZXIHImFsaWNlIgXHqNL_ofJnr-5ieLAhPOtRJRMt3alflz7lHm8wT5J6";
const VECTOR_SIGNED_ID: &str =
    "A-49yM5AQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpbXF1eX0UMQiHNSyM7DWBdytS1eSQl7tULHSTJEWq0dcEdZ4V9";

fn vector_secret() -> Vec<u8> {
    (0x00..0x20).collect()
}

fn vector_id() -> SessionId {
    let mut bytes = [0u8; ID_BYTES];
    for (byte, value) in bytes.iter_mut().zip(0x40..) {
        *byte = value;
    }
    SessionId::from_bytes(bytes)
}

fn vector_record() -> Record {
    let mut record = Record {
        id: vector_id(),
        data: Default::default(),
        created_at: 1_700_000_000_000,
        expires_at: 1_700_086_400_000,
        absolute_deadline: Some(1_700_604_800_000),
        version: 1,
        expiry: None,
        owner: None,
    };
    record.data.insert("user".into(), raw(r#""alice""#));
    record.data.insert("n".into(), raw("1"));
    record
}

fn vector_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    for (byte, value) in nonce.iter_mut().zip(0xa0..) {
        *byte = value;
    }
    nonce
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
        .collect()
}

/// `format || key id || name_len (u16 BE) || name`, as the document describes it.
fn documented_prefix(format: u8, name: &str) -> Vec<u8> {
    let mut prefix = vec![format];
    prefix.extend_from_slice(&VECTOR_KEY_ID);
    prefix.extend_from_slice(&(name.len() as u16).to_be_bytes());
    prefix.extend_from_slice(name.as_bytes());
    prefix
}

#[test]
fn wire_format_test_vectors_match_the_document() {
    for vector in [
        VECTOR_AES_KEY,
        VECTOR_HMAC_KEY,
        "ee3dc8ce",
        VECTOR_ENVELOPE,
        VECTOR_ENCRYPTED,
        VECTOR_SIGNED,
        VECTOR_SIGNED_ID,
        &vector_id().to_string(),
    ] {
        assert!(
            WIRE_FORMAT_DOC.contains(vector),
            "the document lacks {vector}"
        );
    }

    let key = Key::from_secret(&vector_secret()).unwrap();
    let keys = KeyRing::new(key.clone());
    assert_eq!(key.id(), VECTOR_KEY_ID);
    let mut envelope = Vec::new();
    crate::envelope::encode(&vector_record(), &mut envelope);
    assert_eq!(envelope, unhex(VECTOR_ENVELOPE));

    let encrypted = seal_record_with_nonce(
        &key,
        Protection::Encrypted,
        "app",
        &vector_record(),
        vector_nonce(),
    )
    .unwrap();
    assert_eq!(encrypted, VECTOR_ENCRYPTED);
    let signed = seal_record(&keys, Protection::Signed, "app", &vector_record()).unwrap();
    assert_eq!(signed, VECTOR_SIGNED);
    assert_eq!(
        seal_id(&keys, "app", &vector_id()).unwrap(),
        VECTOR_SIGNED_ID
    );

    let now = 1_700_000_000_000;
    for (protection, value) in [
        (Protection::Encrypted, VECTOR_ENCRYPTED),
        (Protection::Signed, VECTOR_SIGNED),
    ] {
        let opened = open_record(&keys, protection, "app", value, now).unwrap();
        assert_eq!(opened.record, vector_record());
    }
    assert_eq!(
        open_id(&keys, "app", VECTOR_SIGNED_ID).unwrap(),
        (vector_id(), false)
    );
}

#[test]
fn wire_format_document_describes_the_derivation_and_layout() {
    use aes_gcm::aead::Aead;
    use aes_gcm::aead::Payload;
    use aes_gcm::{Aes256Gcm, KeyInit};
    use hkdf::Hkdf;
    use hmac::Hmac;
    use sha2::Sha256;

    // HKDF-SHA256 with the documented salt and info strings gives the documented keys.
    let hkdf = Hkdf::<Sha256>::new(Some(b"session-core key derivation v1"), &vector_secret());
    let mut aes_key = [0u8; 32];
    let mut hmac_key = [0u8; 32];
    let mut key_id = [0u8; 4];
    hkdf.expand(b"aes-256-gcm", &mut aes_key).unwrap();
    hkdf.expand(b"hmac-sha256", &mut hmac_key).unwrap();
    hkdf.expand(b"key-id", &mut key_id).unwrap();
    assert_eq!(aes_key.to_vec(), unhex(VECTOR_AES_KEY));
    assert_eq!(hmac_key.to_vec(), unhex(VECTOR_HMAC_KEY));
    assert_eq!(key_id, VECTOR_KEY_ID);

    // Encrypted: format, key id, nonce, then AES-256-GCM(envelope) with the documented AAD.
    let bytes = URL_SAFE_NO_PAD.decode(VECTOR_ENCRYPTED).unwrap();
    assert_eq!(
        &bytes[..5],
        &documented_prefix(FORMAT_ENCRYPTED, "app")[..5]
    );
    assert_eq!(bytes[5..17], vector_nonce());
    let plaintext = Aes256Gcm::new_from_slice(&aes_key)
        .unwrap()
        .decrypt(
            Nonce::from_slice(&bytes[5..17]),
            Payload {
                msg: &bytes[17..],
                aad: &documented_prefix(FORMAT_ENCRYPTED, "app"),
            },
        )
        .unwrap();
    assert_eq!(plaintext, unhex(VECTOR_ENVELOPE));

    // Signed record: format, key id, envelope in clear, HMAC over prefix || envelope.
    let bytes = URL_SAFE_NO_PAD.decode(VECTOR_SIGNED).unwrap();
    let (body, tag) = bytes.split_at(bytes.len() - 32);
    assert_eq!(body[5..], unhex(VECTOR_ENVELOPE));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&hmac_key).unwrap();
    mac.update(&documented_prefix(FORMAT_SIGNED, "app"));
    mac.update(&unhex(VECTOR_ENVELOPE));
    mac.verify_slice(tag).unwrap();

    // Signed id: format, key id, 32 id bytes, HMAC over prefix || id.
    let bytes = URL_SAFE_NO_PAD.decode(VECTOR_SIGNED_ID).unwrap();
    assert_eq!(bytes.len(), 69);
    assert_eq!(&bytes[5..37], vector_id().as_bytes());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&hmac_key).unwrap();
    mac.update(&documented_prefix(FORMAT_SIGNED_ID, "app"));
    mac.update(vector_id().as_bytes());
    mac.verify_slice(&bytes[37..]).unwrap();
}

// ---- two keys with one key id, and the exact lengths ----

/// Two secrets whose derived 4-byte key ids are equal (`16d85321`), found by a birthday search
/// over secrets of this form. Real rings meet such a pair about once in 2^32 key pairs; opening
/// must then try both keys.
const COLLIDING_SECRETS: [&[u8; 32]; 2] = [
    b"key-id collision 000000000056854",
    b"key-id collision 000000000084282",
];

fn colliding_keys() -> (Key, Key) {
    let first = Key::from_secret(COLLIDING_SECRETS[0]).unwrap();
    let second = Key::from_secret(COLLIDING_SECRETS[1]).unwrap();
    assert_eq!(first.id(), second.id(), "the secrets no longer collide");
    assert_eq!(first.id(), [0x16, 0xd8, 0x53, 0x21]);
    (first, second)
}

#[test]
fn records_open_under_either_of_two_keys_that_share_a_key_id() {
    let (first, second) = colliding_keys();
    for protection in BOTH {
        let by_first =
            seal_record(&KeyRing::new(first.clone()), protection, NAME, &record()).unwrap();
        let by_second =
            seal_record(&KeyRing::new(second.clone()), protection, NAME, &record()).unwrap();
        for (ring, value, stale) in [
            // The sealing key is tried second: the failed first attempt must not spoil the
            // second (aes-gcm before 0.10.3 decrypted in place even when the tag failed).
            (
                KeyRing::new(first.clone()).with_old_key(second.clone()),
                &by_second,
                true,
            ),
            (
                KeyRing::new(second.clone()).with_old_key(first.clone()),
                &by_first,
                true,
            ),
            (
                KeyRing::new(first.clone()).with_old_key(second.clone()),
                &by_first,
                false,
            ),
        ] {
            let opened = open(&ring, protection, NAME, value).unwrap();
            assert_eq!(opened.record, record(), "{protection:?}");
            assert_eq!(opened.stale_key, stale, "{protection:?}");
        }
        // A ring holding only the other key of the pair finds the id but not the seal.
        assert_open_fails(
            &KeyRing::new(first.clone()),
            protection,
            &by_second,
            OpenError::BadSeal,
        );
    }
}

#[test]
fn signed_ids_open_under_either_of_two_keys_that_share_a_key_id() {
    let (first, second) = colliding_keys();
    let id = SessionId::from_bytes([9; ID_BYTES]);
    let by_second = seal_id(&KeyRing::new(second.clone()), NAME, &id).unwrap();
    let both = KeyRing::new(first.clone()).with_old_key(second);
    assert_eq!(open_id(&both, NAME, &by_second).unwrap(), (id, true));
    assert_id_fails(&KeyRing::new(first), &by_second, OpenError::BadSeal);
}

#[test]
fn sealed_text_len_is_the_length_seal_record_gives() {
    // Empty envelopes, by the layout: 5 header bytes, then 28 (nonce, tag) or 32 (MAC).
    assert_eq!(sealed_text_len(Protection::Encrypted, 0), 44);
    assert_eq!(sealed_text_len(Protection::Signed, 0), 50);
    assert_eq!(sealed_text_len(Protection::Encrypted, 1), 46);
    assert_eq!(sealed_text_len(Protection::Signed, 2), 52);
    let keys = ring(1);
    for protection in BOTH {
        // Seven paddings cover every envelope length modulo 3, so every rounding of base64.
        for pad in 0..7 {
            let mut record = typical_record();
            record
                .data
                .insert("pad".into(), raw(&format!("\"{}\"", "x".repeat(pad))));
            let mut envelope = Vec::new();
            crate::envelope::encode(&record, &mut envelope);
            let sealed = seal_record(&keys, protection, NAME, &record).unwrap();
            assert_eq!(
                sealed_text_len(protection, envelope.len()),
                sealed.len(),
                "{protection:?}, envelope of {} bytes",
                envelope.len()
            );
        }
    }
}

/// A value of `protection` that verifies under `key` but holds an empty envelope: the shortest
/// value that is not malformed.
fn verified_empty_payload(key: &Key, protection: Protection) -> Vec<u8> {
    match protection {
        Protection::Encrypted => {
            let nonce = [3u8; NONCE_LEN];
            let mut bytes = vec![FORMAT_ENCRYPTED];
            bytes.extend_from_slice(&key.id());
            bytes.extend_from_slice(&nonce);
            let aad = AssociatedData::new(FORMAT_ENCRYPTED, key.id(), NAME).unwrap();
            let tag = key
                .cipher()
                .encrypt_in_place_detached(Nonce::from_slice(&nonce), aad.as_slice(), &mut [])
                .unwrap();
            bytes.extend_from_slice(&tag);
            bytes
        }
        Protection::Signed => {
            let mut bytes = vec![FORMAT_SIGNED];
            bytes.extend_from_slice(&key.id());
            let tag = mac_over(key, NAME, &bytes).unwrap();
            bytes.extend_from_slice(&tag);
            bytes
        }
    }
}

#[test]
fn the_shortest_well_formed_value_is_checked_and_one_byte_less_is_malformed() {
    let keys = ring(1);
    for (protection, shortest) in [(Protection::Encrypted, 33), (Protection::Signed, 37)] {
        let bytes = verified_empty_payload(keys.primary(), protection);
        assert_eq!(bytes.len(), shortest, "{protection:?}");
        // It verifies, so the length check let it through; an empty envelope is no record.
        assert_open_fails(
            &keys,
            protection,
            &URL_SAFE_NO_PAD.encode(&bytes),
            OpenError::BadPayload,
        );
        assert_open_fails(
            &keys,
            protection,
            &URL_SAFE_NO_PAD.encode(&bytes[..shortest - 1]),
            OpenError::Malformed,
        );
    }
}
