//! Where the private Redis servers of `scripts/test.sh` are, and what every Redis test binary
//! does with them: read their addresses (or skip, saying so), give each test a key prefix of its
//! own, open a connection of the test's own to one server, and drive a stream of session
//! operations through a failover.

#![allow(dead_code, unused_macros)]

use redis::aio::MultiplexedConnection;
use session_core::{now_ms, Delta, Expiry, RawJson, Record, SessionId, Store, StoreError};
use session_stores::redis::RedisStore;

/// The values of the environment variables `vars`, which name the private servers
/// `scripts/test.sh` starts (`what`), or `None` (the test is skipped, saying so) when one is
/// unset.
pub fn servers(vars: &[&str], what: &str) -> Option<Vec<String>> {
    let values: Result<Vec<String>, _> = vars.iter().map(std::env::var).collect();
    if values.is_err() {
        eprintln!(
            "skipped: {} not set; run the tests with `bash scripts/test.sh`, which starts {what} \
             for them",
            vars.join(" / ")
        );
    }
    values.ok()
}

/// A comma-separated list of addresses as a list.
pub fn split_urls(urls: &str) -> Vec<String> {
    urls.split(',').map(str::to_string).collect()
}

/// The seeds of the private Redis Cluster (`REDIS_CLUSTER_URLS`), or `None` (skipped).
pub fn cluster_urls() -> Option<Vec<String>> {
    let urls = servers(&["REDIS_CLUSTER_URLS"], "a private Redis Cluster")?;
    Some(split_urls(&urls[0]))
}

/// The private Redis Sentinel setup: its sentinels, the name they know the primary by, and the
/// password of the primary and its replica.
pub struct SentinelSetup {
    pub urls: Vec<String>,
    pub master: String,
    pub password: String,
}

/// The private Redis Sentinel setup (`REDIS_SENTINEL_URLS`, `REDIS_SENTINEL_MASTER`,
/// `REDIS_SENTINEL_PRIMARY_PASSWORD`), or `None` (skipped).
pub fn sentinel_setup() -> Option<SentinelSetup> {
    let vars = [
        "REDIS_SENTINEL_URLS",
        "REDIS_SENTINEL_MASTER",
        "REDIS_SENTINEL_PRIMARY_PASSWORD",
    ];
    let [urls, master, password] = servers(&vars, "a private Redis Sentinel setup")?
        .try_into()
        .ok()?;
    Some(SentinelSetup {
        urls: split_urls(&urls),
        master,
        password,
    })
}

/// The servers of an `Option` (see [`servers`]), or returns from the test when there are none.
macro_rules! require {
    ($servers:expr) => {
        match $servers {
            Some(servers) => servers,
            None => return,
        }
    };
}

/// A prefix no other test uses, so tests share the servers without seeing each other's keys.
pub fn unique_prefix(test: &str) -> String {
    format!("test:{test}:{}:", &SessionId::generate().storage_key()[..8])
}

/// A connection of the test's own to the one server at `url`.
pub async fn connect(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A connection of the test's own to the one local server on `port` (a cluster node).
pub async fn node(port: u16) -> MultiplexedConnection {
    connect(&format!("redis://127.0.0.1:{port}/")).await
}

/// The port of a `redis://host:port/` address.
pub fn port_of(url: &str) -> u16 {
    url.trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// One step of a stream of session operations through a failover: a new session, then an update
/// of it. Only a typed backend error may fail it.
pub async fn step(store: &RedisStore) -> Result<Record, StoreError> {
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
    store.create(&record).await?;
    let delta = Delta {
        changed: vec![("n".into(), RawJson::from_string("1".into()).unwrap())],
        expires_at: record.expires_at,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    };
    if store.update(&record.id, &delta).await? {
        delta.apply(&mut record);
    }
    Ok(record)
}
