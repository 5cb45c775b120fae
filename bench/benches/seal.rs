//! Seal + open of client-side sessions: this library against the `cookie` crate's private
//! (AES-256-GCM) and signed (HMAC-SHA256) jars with a serde_json map, the path actix-session's
//! cookie store and axum-extra's `PrivateCookieJar` take.
//!
//! What one iteration does, on each side, starting from the session as it is held in memory at
//! the end of a request and ending with one typed value read back:
//!
//! - ours: `seal_record` (serialize the record, encrypt or sign, base64url), `open_record`
//!   (decode, decrypt or verify, parse the record with its values left as raw JSON), then
//!   deserialize one value as `u64`, which is what `Session::get::<u64>` does.
//! - peer: `serde_json::to_string` of the `HashMap<String, Value>`, add to a `CookieJar` through
//!   the private or signed child jar (encrypt or sign, base64), get it back through the same child
//!   jar (decode, decrypt or verify), `serde_json::from_str` into a `HashMap<String, Value>`, then
//!   deserialize one value as `u64` from the map.
//!
//! Our sealed record also carries the session id, its deadlines and a version, so it is about 110
//! bytes longer than the peer's map: the comparison counts that against us.
//!
//! `request_cycle` measures a whole client-side session request instead: parse the `Cookie`
//! header, open, read one value, change one value, reseal and render the `Set-Cookie` header.
//! Ours goes through the public `SessionManager` (the code every adapter drives); the peer does the
//! same steps with a `CookieJar`.

use std::collections::HashMap;
use std::hint::black_box;
mod support;

use cookie::{Cookie, CookieJar, SameSite};
use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion, Throughput};
use serde::Deserialize;
use serde_json::Value;
use session_bench::{json_len, peer_map, ready, record};
use session_core::{
    now_ms, KeyRing, Protection, ResponseHeader, SessionManager, SessionsConfig, StoreRegistry,
};
use session_core::{open_record, seal_record};

const NAME: &str = "app_session";
const SIZES: [usize; 3] = [1, 10, 100];

fn ours(keys: &KeyRing, protection: Protection, record: &session_core::Record, now: u64) -> u64 {
    let sealed = seal_record(keys, protection, NAME, record).expect("seals");
    let opened = open_record(keys, protection, NAME, black_box(&sealed), now).expect("opens");
    let raw = opened.record.data.get("user_id").expect("present");
    serde_json::from_str::<u64>(raw.get()).expect("a u64")
}

fn peer(key: &cookie::Key, protection: Protection, map: &HashMap<String, Value>) -> u64 {
    let json = serde_json::to_string(map).expect("serializes");
    let mut jar = CookieJar::new();
    let cookie = Cookie::new(NAME, json);
    let opened = match protection {
        Protection::Encrypted => {
            jar.private_mut(key).add(cookie);
            jar.private(key).get(NAME)
        }
        Protection::Signed => {
            jar.signed_mut(key).add(cookie);
            jar.signed(key).get(NAME)
        }
    };
    let opened = opened.expect("opens");
    let map: HashMap<String, Value> = serde_json::from_str(opened.value()).expect("parses");
    u64::deserialize(&map["user_id"]).expect("a u64")
}

fn seal_open<M: Measurement>(c: &mut Criterion<M>) {
    let keys = KeyRing::generate();
    let key = cookie::Key::generate();
    let now = now_ms();
    for (label, protection) in [
        ("encrypted", Protection::Encrypted),
        ("signed", Protection::Signed),
    ] {
        let mut group = c.benchmark_group(format!("seal_open/{label}"));
        for keys_n in SIZES {
            let record = record(keys_n);
            let map = peer_map(keys_n);
            assert_eq!(ours(&keys, protection, &record, now), 48213);
            assert_eq!(peer(&key, protection, &map), 48213);
            group.throughput(Throughput::Bytes(json_len(keys_n) as u64));
            group.bench_with_input(BenchmarkId::new("ours", keys_n), &record, |b, record| {
                b.iter(|| ours(&keys, protection, black_box(record), now))
            });
            let peer_label = match protection {
                Protection::Encrypted => "cookie_private_jar",
                Protection::Signed => "cookie_signed_jar",
            };
            group.bench_with_input(BenchmarkId::new(peer_label, keys_n), &map, |b, map| {
                b.iter(|| peer(&key, protection, black_box(map)))
            });
        }
        group.finish();
    }
}

/// A client-side session manager and a `Cookie` header holding a session of `keys_n` keys.
fn our_cycle_setup(keys_n: usize, protection: Protection) -> (SessionManager, String) {
    let protection = match protection {
        Protection::Encrypted => "encrypted",
        Protection::Signed => "signed",
    };
    let config = SessionsConfig::from_toml(&format!(
        r#"
        [sessions.app]
        transport = {{ type = "cookie", name = "{NAME}" }}
        store = {{ type = "cookie" }}
        protection = "{protection}"
        "#
    ))
    .expect("config");
    let manager = ready(SessionManager::from_config(
        &config,
        &StoreRegistry::new(),
        KeyRing::generate(),
    ))
    .expect("manager");
    let cookie = ready(session_bench::first_cookie(&manager, keys_n));
    (manager, cookie)
}

fn our_cycle(manager: &SessionManager, cookie_header: &str, visits: u64) -> String {
    let request = manager.request([cookie_header], |_| None);
    let session = ready(request.default_session()).expect("session");
    let user: u64 = session.get("user_id").expect("reads").expect("present");
    session.insert("visits", visits).expect("insert");
    let mut headers = ready(manager.save_request(request)).expect("finish");
    assert_eq!(user, 48213);
    match headers.pop() {
        Some(ResponseHeader::SetCookie(value)) => value,
        _ => panic!("expected a Set-Cookie header"),
    }
}

/// A `Cookie` header holding the peer's sealed session, sealed the way the jar seals it.
fn peer_cycle_setup(key: &cookie::Key, protection: Protection, keys_n: usize) -> String {
    let json = serde_json::to_string(&peer_map(keys_n)).expect("serializes");
    let mut jar = CookieJar::new();
    match protection {
        Protection::Encrypted => jar.private_mut(key).add(Cookie::new(NAME, json)),
        Protection::Signed => jar.signed_mut(key).add(Cookie::new(NAME, json)),
    }
    let sealed = jar.get(NAME).expect("added");
    format!("{}={}", sealed.name(), sealed.value())
}

fn peer_cycle(
    key: &cookie::Key,
    protection: Protection,
    cookie_header: &str,
    visits: u64,
) -> String {
    let mut jar = CookieJar::new();
    for cookie in Cookie::split_parse(cookie_header).flatten() {
        jar.add_original(cookie.into_owned());
    }
    let opened = match protection {
        Protection::Encrypted => jar.private(key).get(NAME),
        Protection::Signed => jar.signed(key).get(NAME),
    };
    let mut map: HashMap<String, Value> =
        serde_json::from_str(opened.expect("opens").value()).expect("parses");
    let user = u64::deserialize(&map["user_id"]).expect("a u64");
    assert_eq!(user, 48213);
    map.insert("visits".to_string(), Value::from(visits));
    let cookie = Cookie::build((NAME, serde_json::to_string(&map).expect("serializes")))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .build();
    match protection {
        Protection::Encrypted => jar.private_mut(key).add(cookie),
        Protection::Signed => jar.signed_mut(key).add(cookie),
    }
    jar.delta().next().expect("changed").to_string()
}

fn request_cycle<M: Measurement>(c: &mut Criterion<M>) {
    let key = cookie::Key::generate();
    for (label, protection) in [
        ("encrypted", Protection::Encrypted),
        ("signed", Protection::Signed),
    ] {
        let mut group = c.benchmark_group(format!("request_cycle/{label}"));
        // A 100-key session does not fit one 4096-byte cookie, so the cycle stops at 10 keys.
        for keys_n in [1, 10] {
            let (manager, our_header) = our_cycle_setup(keys_n, protection);
            let peer_header = peer_cycle_setup(&key, protection, keys_n);
            our_cycle(&manager, &our_header, 1);
            peer_cycle(&key, protection, &peer_header, 1);
            // Past the stored 17, so every write is a change and every request reseals.
            let mut visits = 1_000u64;
            group.bench_function(BenchmarkId::new("ours", keys_n), |b| {
                b.iter(|| {
                    visits += 1;
                    our_cycle(&manager, black_box(&our_header), visits)
                })
            });
            let peer_label = match protection {
                Protection::Encrypted => "cookie_private_jar",
                Protection::Signed => "cookie_signed_jar",
            };
            group.bench_function(BenchmarkId::new(peer_label, keys_n), |b| {
                b.iter(|| {
                    visits += 1;
                    peer_cycle(&key, protection, black_box(&peer_header), visits)
                })
            });
        }
        group.finish();
    }
}

/// Where the time of a 10-key seal + open goes: each step of the two pipelines alone, on the
/// same sizes the full runs handle. `record_json_*` is a whole `Record` as JSON: no longer what
/// sealing uses (a binary envelope), but what the server-side stores encode and decode.
fn parts<M: Measurement>(c: &mut Criterion<M>) {
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use aes_gcm::{Aes256Gcm, Nonce};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rand::RngCore;

    let record = record(10);
    let map = peer_map(10);
    let record_json = serde_json::to_vec(&record).expect("serializes");
    let map_json = serde_json::to_vec(&map).expect("serializes");
    let mut group = c.benchmark_group("parts_10_keys");
    group.bench_function("record_json_write_parse", |b| {
        b.iter(|| {
            let mut buf = Vec::with_capacity(512);
            serde_json::to_writer(&mut buf, black_box(&record)).expect("serializes");
            serde_json::from_slice::<session_core::Record>(black_box(&buf)).expect("parses")
        })
    });
    group.bench_function("map_json_write_parse", |b| {
        b.iter(|| {
            let text = serde_json::to_string(black_box(&map)).expect("serializes");
            serde_json::from_str::<HashMap<String, Value>>(black_box(&text)).expect("parses")
        })
    });
    group.bench_function("record_json_parse_only", |b| {
        b.iter(|| {
            serde_json::from_slice::<session_core::Record>(black_box(&record_json)).expect("parses")
        })
    });
    // What our cipher and encoder really handle: the plaintext inside a sealed 10-key record.
    let sealed =
        seal_record(&KeyRing::generate(), Protection::Encrypted, NAME, &record).expect("seals");
    let record_plaintext = URL_SAFE_NO_PAD.decode(&sealed).expect("base64").len() - 5 - 12 - 16;
    let cipher = Aes256Gcm::new(&[7u8; 32].into());
    for (label, len) in [("record", record_plaintext), ("map", map_json.len())] {
        let plaintext = vec![b'x'; len];
        group.bench_function(
            BenchmarkId::new("aes_gcm_seal_open_thread_rng", label),
            |b| {
                b.iter(|| {
                    let mut nonce = [0u8; 12];
                    rand::thread_rng().fill_bytes(&mut nonce);
                    let mut buf = black_box(&plaintext).clone();
                    let tag = cipher
                        .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"aad", &mut buf)
                        .expect("encrypts");
                    cipher
                        .decrypt_in_place_detached(
                            Nonce::from_slice(&nonce),
                            b"aad",
                            &mut buf,
                            &tag,
                        )
                        .expect("decrypts");
                    buf
                })
            },
        );
        let sealed = vec![b'x'; len + 5 + 12 + 16];
        // Each side's own encoder: base64-simd in `seal`, the base64 crate in the cookie jars.
        if label == "record" {
            let simd = base64_simd::URL_SAFE_NO_PAD;
            group.bench_function(BenchmarkId::new("base64url_encode_decode", label), |b| {
                b.iter(|| {
                    let text: String = simd.encode_type(black_box(&sealed));
                    simd.decode_type::<Vec<u8>>(black_box(&text))
                        .expect("decodes")
                })
            });
        } else {
            group.bench_function(BenchmarkId::new("base64url_encode_decode", label), |b| {
                b.iter(|| {
                    let text = URL_SAFE_NO_PAD.encode(black_box(&sealed));
                    URL_SAFE_NO_PAD.decode(black_box(&text)).expect("decodes")
                })
            });
        }
    }
    group.bench_function("session_id_generate_os_rng", |b| {
        b.iter(session_core::SessionId::generate)
    });
    // What a server-side store's cookie costs on every request: the HMAC-SHA256 over the id.
    let keys = KeyRing::generate();
    let signed_id =
        session_core::seal_id(&keys, NAME, &session_core::SessionId::generate()).expect("signs");
    group.bench_function("signed_id_open", |b| {
        b.iter(|| session_core::open_id(&keys, NAME, black_box(&signed_id)).expect("opens"))
    });
    group.finish();
    eprintln!(
        "parts_10_keys: sealed record plaintext {record_plaintext} bytes, record as JSON {} bytes, \
         map JSON {} bytes",
        record_json.len(),
        map_json.len()
    );
}

bench_main!(seal_open, request_cycle, parts);
