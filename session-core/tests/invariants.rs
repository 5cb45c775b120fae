//! The fuzz targets' invariants (`fuzz/`), as property tests that run on stable with every
//! `cargo test`: nothing panics on hostile input, nothing opens that was not sealed under a listed
//! key for that name (old keys and colliding key ids included), and round trips are exact —
//! sealed values, chunked cookies, the binary record envelope and configuration.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use session_core::{open_id, open_record, seal_id, seal_record};
use session_core::{
    Delta, Error, Expiry, Key, KeyRing, Protection, RawJson, Record, ResponseHeader, SessionId,
    SessionManager, SessionsConfig, StoreRegistry,
};

const CREATED: u64 = 1_700_000_000_000;
const NOW: u64 = CREATED + 60_000;

// Two pairs of secrets whose 32-bit key ids collide (the fuzz targets' keys).
const PRIMARY: &[u8; 32] = b"collision-00057585..............";
const OLD_COLLIDING: &[u8; 32] = b"collision-00121438..............";
const OLD: &[u8; 32] = b"collision-00087148..............";
const FOREIGN_COLLIDING: &[u8; 32] = b"collision-00128344..............";
const FOREIGN: &[u8; 32] = b"a foreign secret, in no key ring";

/// Each secret, whether the ring lists it, and whether it is the primary.
const ROLES: [(&[u8; 32], bool, bool); 5] = [
    (PRIMARY, true, true),
    (OLD_COLLIDING, true, false),
    (OLD, true, false),
    (FOREIGN_COLLIDING, false, false),
    (FOREIGN, false, false),
];
const BOTH: [Protection; 2] = [Protection::Encrypted, Protection::Signed];

fn key(secret: &[u8; 32]) -> Key {
    Key::from_secret(secret).unwrap()
}

/// Primary, then the older keys, one of them sharing the primary's key id.
fn ring() -> KeyRing {
    KeyRing::new(key(PRIMARY))
        .with_old_key(key(OLD_COLLIDING))
        .with_old_key(key(OLD))
}

fn raw(json: &str) -> RawJson {
    RawJson::from_string(json.to_string()).unwrap()
}

fn json_value() -> impl Strategy<Value = RawJson> {
    prop_oneof![
        any::<String>().prop_map(|text| RawJson::to_json(&text).unwrap()),
        any::<i64>().prop_map(|n| raw(&n.to_string())),
        Just(raw("null")),
        Just(raw(r#"{"deep":[[[{"a":[1,2,{"b":null}]}]]]}"#)),
    ]
}

fn expiry() -> impl Strategy<Value = Expiry> {
    (
        1..u64::MAX,
        proptest::option::of(1..u64::MAX),
        any::<bool>(),
    )
        .prop_map(
            |(idle_timeout_secs, absolute_timeout_secs, persistent)| Expiry {
                idle_timeout_secs,
                absolute_timeout_secs,
                persistent,
            },
        )
}

/// Any record alive at [`NOW`].
fn record() -> impl Strategy<Value = Record> {
    (
        any::<[u8; 32]>(),
        btree_map("[a-z_é]{0,8}", json_value(), 0..6),
        NOW + 1..u64::MAX,
        proptest::option::of(NOW + 1..u64::MAX),
        any::<u64>(),
        proptest::option::of(expiry()),
        proptest::option::of(".{0,12}"),
    )
        .prop_map(
            |(id, data, expires_at, absolute_deadline, version, expiry, owner)| Record {
                id: SessionId::from_bytes(id),
                data: data
                    .into_iter()
                    .map(|(key, value)| (key.into(), value))
                    .collect(),
                created_at: CREATED,
                expires_at,
                absolute_deadline,
                version,
                expiry,
                owner,
            },
        )
}

fn delta() -> impl Strategy<Value = Delta> {
    (
        vec(("[a-z_é]{0,8}", json_value()), 0..4),
        vec("[a-z_é]{0,8}", 0..3),
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        proptest::option::of(expiry()),
        proptest::option::of(proptest::option::of(".{0,12}")),
    )
        .prop_map(
            |(changed, removed, expires_at, absolute_deadline, expiry, owner)| Delta {
                changed: changed
                    .into_iter()
                    .map(|(key, value)| (key.into(), value))
                    .collect(),
                removed: removed.into_iter().map(Into::into).collect(),
                expires_at,
                absolute_deadline,
                expiry,
                owner,
            },
        )
}

#[test]
fn the_test_keys_collide_as_intended() {
    assert_eq!(key(PRIMARY).id(), key(OLD_COLLIDING).id());
    assert_eq!(key(OLD).id(), key(FOREIGN_COLLIDING).id());
    assert_ne!(key(PRIMARY).id(), key(OLD).id());
    assert_ne!(key(FOREIGN).id(), key(PRIMARY).id());
    assert_ne!(key(FOREIGN).id(), key(OLD).id());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn records_open_exactly_under_listed_keys_for_their_name_only(record in record()) {
        let ring = ring();
        for (secret, listed, primary) in ROLES {
            for protection in BOTH {
                let sealed = seal_record(&KeyRing::new(key(secret)), protection, "app", &record).unwrap();
                match open_record(&ring, protection, "app", &sealed, NOW) {
                    Ok(opened) => {
                        prop_assert!(listed, "a record sealed under an unlisted key opened");
                        prop_assert_eq!(&opened.record, &record);
                        prop_assert_eq!(opened.stale_key, !primary);
                    }
                    Err(error) => prop_assert!(!listed, "a listed key's record did not open: {}", error),
                }
                for name in ["cart", "ap", "app\0", "App", ""] {
                    prop_assert!(open_record(&ring, protection, name, &sealed, NOW).is_err());
                }
                let other = if protection == Protection::Signed { Protection::Encrypted } else { Protection::Signed };
                prop_assert!(open_record(&ring, other, "app", &sealed, NOW).is_err());
                prop_assert!(open_id(&ring, "app", &sealed).is_err());
            }
        }
    }

    #[test]
    fn ids_open_exactly_under_listed_keys_for_their_name_only(id in any::<[u8; 32]>()) {
        let ring = ring();
        let id = SessionId::from_bytes(id);
        for (secret, listed, primary) in ROLES {
            let sealed = seal_id(&KeyRing::new(key(secret)), "app", &id).unwrap();
            match open_id(&ring, "app", &sealed) {
                Ok((opened, stale)) => {
                    prop_assert!(listed, "an id sealed under an unlisted key opened");
                    prop_assert_eq!(opened, id);
                    prop_assert_eq!(stale, !primary);
                }
                Err(error) => prop_assert!(!listed, "a listed key's id did not open: {}", error),
            }
            prop_assert!(open_id(&ring, "cart", &sealed).is_err());
            for protection in BOTH {
                prop_assert!(open_record(&ring, protection, "app", &sealed, NOW).is_err());
            }
        }
    }

    #[test]
    fn no_change_to_a_sealed_value_opens(
        record in record(),
        secret_index in 0usize..3,
        position in any::<prop::sample::Index>(),
        replacement in any::<char>(),
        cut in any::<prop::sample::Index>(),
        tail in ".{1,8}",
    ) {
        let ring = ring();
        let secret = ROLES[secret_index].0;
        for protection in BOTH {
            let sealed = seal_record(&KeyRing::new(key(secret)), protection, "app", &record).unwrap();
            let sealed_id = seal_id(&KeyRing::new(key(secret)), "app", &record.id).unwrap();
            for value in [&sealed, &sealed_id] {
                let chars: Vec<char> = value.chars().collect();
                let mut replaced = chars.clone();
                replaced[position.index(chars.len())] = replacement;
                let changed = [
                    replaced.into_iter().collect::<String>(),
                    value[..cut.index(value.len())].to_string(),
                    format!("{value}{tail}"),
                    format!("{tail}{value}"),
                ];
                for changed in changed.iter().filter(|changed| *changed != value) {
                    prop_assert!(open_record(&ring, protection, "app", changed, NOW).is_err());
                    prop_assert!(open_id(&ring, "app", changed).is_err());
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics_and_never_opens(text in ".{0,200}", base64 in "[A-Za-z0-9_-]{0,160}") {
        let ring = ring();
        for value in [&text, &base64] {
            for protection in BOTH {
                prop_assert!(open_record(&ring, protection, "app", value, NOW).is_err());
            }
            prop_assert!(open_id(&ring, "app", value).is_err());
        }
    }

    #[test]
    fn envelopes_round_trip_exactly(record in record(), delta in delta()) {
        let bytes = record.to_compact_bytes();
        let decoded = Record::from_compact_bytes(record.id, &bytes).unwrap();
        prop_assert_eq!(&decoded, &record);
        prop_assert_eq!(Record::owner_of_compact_bytes(&bytes).unwrap(), record.owner.as_deref());
        let mut expected = record.clone();
        delta.apply(&mut expected);
        prop_assert_eq!(delta.apply_to_compact_bytes(&bytes).unwrap(), expected.to_compact_bytes());
    }

    #[test]
    fn arbitrary_envelope_bytes_never_panic(
        record in record(),
        bytes in vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
        delta in delta(),
    ) {
        let mut mutated = record.to_compact_bytes();
        let at = flip.index(mutated.len());
        mutated[at] ^= 0x5a;
        for input in [&bytes, &mutated] {
            let decoded = Record::from_compact_bytes(record.id, input);
            let applied = delta.apply_to_compact_bytes(input);
            if let Ok(decoded) = &decoded {
                let again = Record::from_compact_bytes(record.id, &decoded.to_compact_bytes()).unwrap();
                prop_assert_eq!(&again, decoded);
                if let Ok(applied) = &applied {
                    let mut expected = decoded.clone();
                    delta.apply(&mut expected);
                    prop_assert_eq!(applied, &expected.to_compact_bytes());
                }
            } else {
                prop_assert!(applied.is_err(), "the in-place delta accepted bytes that do not decode");
            }
        }
    }
}

/// Two chunked cookie sessions and a header session, all client-side (shared with the fuzz
/// targets).
const CHUNKED: &str = include_str!("chunked_sessions.toml");

async fn chunked_manager(keys: KeyRing) -> SessionManager {
    let config = SessionsConfig::from_toml(CHUNKED).unwrap();
    SessionManager::from_config(&config, &StoreRegistry::new(), keys)
        .await
        .unwrap()
}

/// The `name=value` pairs a browser keeps from `headers`.
fn jar(headers: &[ResponseHeader]) -> Vec<String> {
    headers
        .iter()
        .filter(|header| matches!(header, ResponseHeader::SetCookie(_)))
        .map(|header| header.value())
        .filter(|text| !text.contains("Max-Age=0"))
        .map(|text| text.split(';').next().unwrap().to_string())
        .collect()
}

/// Saves `value` under `v` in session `name` of a fresh request; returns the cookies, or `None`
/// when the session refused the value as too large for its cookies (where the handler writes
/// it: once accepted, saving must not fail).
async fn saved(
    manager: &SessionManager,
    name: &str,
    value: &str,
) -> Result<Option<Vec<String>>, Error> {
    let request = manager.request(None, |_| None);
    match request.session(name).await?.insert("v", value) {
        Ok(()) => {}
        Err(error) if error.is_too_large() => return Ok(None),
        Err(error) => return Err(error),
    }
    Ok(Some(jar(&manager.save_request(request).await?)))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn chunked_cookies_round_trip_and_any_reshuffle_is_no_session(
        value in "[ -~é]{0,40}",
        repeat in 1usize..300,
        drop in any::<prop::sample::Index>(),
    ) {
        runtime().block_on(async {
            let manager = chunked_manager(ring()).await;
            let value = value.repeat(repeat);
            for name in ["app", "signed"] {
                let Some(cookies) = saved(&manager, name, &value).await.unwrap() else {
                    continue;
                };
                let max = if name == "app" { 4 } else { 3 };
                prop_assert!(!cookies.is_empty() && cookies.len() <= max);
                let header = cookies.join("; ");
                let request = manager.request([header.as_str()], |_| None);
                let session = request.session(name).await.unwrap();
                prop_assert_eq!(session.get::<String>("v").unwrap(), Some(value.clone()));

                // The same chunks under the other session's names, reversed, or one missing.
                let other = if name == "app" { "signed" } else { "app" };
                let mut reshuffled = vec![header.replace(&format!("{name}="), &format!("{other}="))
                    .replace(&format!("{name}."), &format!("{other}."))];
                if cookies.len() > 1 {
                    let values: Vec<&str> = cookies.iter().map(|c| c.split_once('=').unwrap().1).collect();
                    let names: Vec<&str> = cookies.iter().map(|c| c.split_once('=').unwrap().0).collect();
                    let reversed: Vec<String> = names.iter().zip(values.iter().rev()).map(|(n, v)| format!("{n}={v}")).collect();
                    reshuffled.push(reversed.join("; "));
                    let mut missing = cookies.clone();
                    missing.remove(drop.index(cookies.len()));
                    reshuffled.push(missing.join("; "));
                }
                for header in &reshuffled {
                    let request = manager.request([header.as_str()], |_| None);
                    for session in ["app", "signed"] {
                        prop_assert!(request.session(session).await.unwrap().is_empty(), "{} opened from {}", session, header);
                    }
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn hostile_cookie_headers_never_panic_and_open_nothing(
        headers in vec(".{0,300}", 0..4),
        chunk_names in vec("(app|signed|api)(\\.[0-9]{1,3})?", 0..6),
        values in vec("[A-Za-z0-9_-]{0,200}", 0..6),
        session_header in proptest::option::of(".{0,200}"),
    ) {
        runtime().block_on(async {
            let manager = chunked_manager(ring()).await;
            let built: Vec<String> = chunk_names.iter().zip(values.iter().cycle())
                .map(|(name, value)| format!("{name}={value}")).collect();
            let mut all = headers.clone();
            all.push(built.join("; "));
            let request = manager.request(all.iter().map(String::as_str), |name| {
                (name == "x-session").then_some(session_header.as_deref()).flatten()
            });
            for name in ["app", "signed", "api"] {
                prop_assert!(request.session(name).await.unwrap().is_empty());
            }
            prop_assert!(manager.save_request(request).await.is_ok());
            Ok(())
        })?;
    }

    #[test]
    fn old_and_colliding_keys_open_cookies_and_foreign_ones_do_not(value in "[a-z]{1,40}", repeat in 1usize..200) {
        runtime().block_on(async {
            let opener = chunked_manager(ring()).await;
            let value = value.repeat(repeat);
            for (secret, listed, primary) in ROLES {
                let sealer = chunked_manager(KeyRing::new(key(secret))).await;
                let Some(cookies) = saved(&sealer, "app", &value).await.unwrap() else { continue };
                let header = cookies.join("; ");
                let request = opener.request([header.as_str()], |_| None);
                let session = request.session("app").await.unwrap();
                let opened = session.get::<String>("v").unwrap();
                prop_assert_eq!(opened.is_some(), listed);
                if listed {
                    prop_assert_eq!(opened, Some(value.clone()));
                    // An old key's value is resealed under the primary at once.
                    let resealed = jar(&opener.save_request(request).await.unwrap());
                    prop_assert_eq!(resealed.is_empty(), primary);
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn arbitrary_configuration_text_never_panics(text in ".{0,300}", json in "[{}\\[\\]\":,a-z0-9 ]{0,200}") {
        for text in [&text, &json] {
            for config in [SessionsConfig::from_toml(text), SessionsConfig::from_json(text)].into_iter().flatten() {
                prop_assert!(config.validate().is_ok());
                let again = SessionsConfig::from_json(&serde_json::to_string(&config).unwrap()).unwrap();
                prop_assert_eq!(again, config);
            }
        }
    }

    #[test]
    fn valid_configurations_round_trip_exactly(
        cookie in "[a-zA-Z0-9_-]{1,20}",
        header in "x-[a-z]{1,10}",
        idle in 1u64..i64::MAX as u64,
        absolute in proptest::option::of(1u64..i64::MAX as u64),
        chunks in 1usize..=8,
        signed in any::<bool>(),
        secure in any::<bool>(),
    ) {
        let text = format!(r#"
            default = "web"
            [sessions.web]
            transport = {{ type = "cookie", name = "{cookie}", secure = {secure} }}
            store = {{ type = "cookie", max_chunks = {chunks} }}
            expiry = {{ idle_timeout_secs = {idle}{} }}
            protection = "{}"
            [sessions.api]
            transport = {{ type = "header", name = "{header}" }}
            store = {{ type = "memory", max_sessions = 10, nested = {{ list = [1, "two", 3.5] }} }}
        "#,
            absolute.map(|a| format!(", absolute_timeout_secs = {a}")).unwrap_or_default(),
            if signed { "signed" } else { "encrypted" },
        );
        let config = SessionsConfig::from_toml(&text).unwrap();
        let json = serde_json::to_string(&config).unwrap();
        prop_assert_eq!(&SessionsConfig::from_json(&json).unwrap(), &config);
        let toml = toml::to_string(&config).unwrap();
        prop_assert_eq!(&SessionsConfig::from_toml(&toml).unwrap(), &config);
    }
}
