//! Shared fixtures for the benchmarks: the session payloads every side of a comparison uses.
//!
//! Each payload exists in two shapes holding the same values: a `session_core::Record` (values as
//! raw JSON, how this library keeps them) and a `HashMap<String, serde_json::Value>` (how the peer
//! crates keep them). Ten keys come to about 300 bytes of JSON.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use serde_json::{json, Value};
use session_core::RawJson;
use session_core::{now_ms, Expiry, Record, SessionId};

/// The values of a typical ten-key session (about 300 bytes of JSON).
pub fn ten_values(suffix: &str) -> Vec<(String, Value)> {
    let entries = [
        ("user_id", json!(48213)),
        ("user", json!("alice@example.com")),
        ("roles", json!(["admin", "editor"])),
        ("csrf", json!("q9XvR2mB7kLw4TzYp1HcN8dJfE3sA6uG")),
        ("locale", json!("en-GB")),
        ("theme", json!("dark")),
        (
            "cart",
            json!([{"sku": "A-1042", "qty": 2}, {"sku": "B-77", "qty": 1}]),
        ),
        ("last_seen", json!(1_763_942_400_000u64)),
        ("flags", json!({"beta": true, "newsletter": false})),
        ("visits", json!(17)),
    ];
    entries
        .into_iter()
        .map(|(key, value)| (format!("{key}{suffix}"), value))
        .collect()
}

/// The values of a session of `keys` keys: 1, 10 or a multiple of 10.
pub fn values(keys: usize) -> Vec<(String, Value)> {
    match keys {
        1 => vec![("user_id".to_string(), json!(48213))],
        n if n % 10 == 0 => (0..n / 10)
            .flat_map(|round| {
                ten_values(&if round == 0 {
                    String::new()
                } else {
                    format!("_{round}")
                })
            })
            .collect(),
        n => panic!("no payload of {n} keys"),
    }
}

/// The payload as the peers hold it.
pub fn peer_map(keys: usize) -> HashMap<String, Value> {
    values(keys).into_iter().collect()
}

/// The payload as this library holds it: a fresh record with the values as raw JSON.
pub fn record(keys: usize) -> Record {
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
    for (key, value) in values(keys) {
        let raw = RawJson::from_string(value.to_string()).expect("valid JSON");
        record.data.insert(key.into(), raw);
    }
    record
}

/// Bytes of the payload's values as one JSON object.
pub fn json_len(keys: usize) -> usize {
    serde_json::to_string(&peer_map(keys)).map_or(0, |text| text.len())
}

/// Drives a future that never waits (the client-side cookie path of the session manager does no
/// I/O) to completion without a runtime, so the measurement holds no executor overhead.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited; use a runtime for this one"),
    }
}

/// A fresh session id from the thread-local CSPRNG: as unguessable as `SessionId::generate`
/// for a benchmark's purposes, without its system call, so setting up millions of sessions stays
/// quick.
pub fn fast_id() -> SessionId {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    SessionId::from_bytes(bytes)
}

/// A record of `keys` keys under a fresh id (see [`fast_id`]).
pub fn record_with_fresh_id(keys: usize) -> Record {
    let mut record = record(keys);
    record.id = fast_id();
    record
}

/// The CPU time `clock` (`libc::CLOCK_THREAD_CPUTIME_ID`, `libc::CLOCK_PROCESS_CPUTIME_ID`) has
/// counted so far, in nanoseconds.
pub fn cpu_time_ns(clock: libc::clockid_t) -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec.
    let status = unsafe { libc::clock_gettime(clock, &mut now) };
    assert_eq!(status, 0, "CPU-time clock {clock} is not available");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// What the store benchmarks share: building a store from configuration as an application does,
/// and the one-key change every update measurement applies.
pub mod stores {
    use std::sync::Arc;

    use session_core::{now_ms, Backend, Delta, RawJson, SessionsConfig, Store};
    use tokio::runtime::Runtime;

    /// Builds the store of a one-session configuration whose store table is `store_toml`, through
    /// `session_stores::registry()`; `None` (with a message) when the store cannot be built, e.g.
    /// a store type this checkout does not compile.
    pub fn build(rt: &Runtime, store_toml: &str) -> Option<Arc<dyn Store>> {
        let config = SessionsConfig::from_toml(&format!(
            "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"id\" }}\nstore = {store_toml}\n"
        ))
        .expect("config");
        let store = &config.sessions["app"].store;
        match rt.block_on(session_stores::registry().build("app", store)) {
            Ok(Backend::Server(store)) => Some(store),
            Ok(Backend::ClientSide(_)) => panic!("not a server-side store: {store_toml}"),
            Err(error) => {
                eprintln!("skipping `{store_toml}`: {error}");
                None
            }
        }
    }

    /// The Redis store at `url`, built as [`build`] builds any store.
    pub fn redis_store(rt: &Runtime, url: &str) -> Option<Arc<dyn Store>> {
        build(
            rt,
            &format!("{{ type = \"redis\", url = {} }}", toml_string(url)),
        )
    }

    /// `text` as a TOML basic string.
    pub fn toml_string(text: &str) -> String {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    }

    /// One request's change to a stored session: `visits` set, the idle deadline moved a day
    /// ahead, the absolute deadline kept.
    pub fn one_key_delta(visits: u64, absolute_deadline: Option<u64>) -> Delta {
        Delta {
            changed: vec![(
                "visits".into(),
                RawJson::to_json(&visits).expect("a number is JSON"),
            )],
            removed: Vec::new(),
            expires_at: now_ms() + 86_400_000,
            absolute_deadline,
            expiry: None,
            owner: None,
        }
    }
}

/// The `name=value` of the cookie `manager` sets for a first request that writes
/// [`values`]`(keys)` to the default session.
pub async fn first_cookie(manager: &session_core::SessionManager, keys: usize) -> String {
    let request = manager.request(None, |_| None);
    let session = request.default_session().await.expect("session");
    for (key, value) in values(keys) {
        session.insert(key, value).expect("insert");
    }
    let headers = manager.save_request(request).await.expect("finish");
    let session_core::ResponseHeader::SetCookie(set_cookie) = &headers[0] else {
        panic!("expected a Set-Cookie header");
    };
    set_cookie
        .split(';')
        .next()
        .expect("name=value")
        .to_string()
}

/// What the full-request servers and the in-process request profile share.
pub mod http;
