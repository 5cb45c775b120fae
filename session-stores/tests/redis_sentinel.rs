//! The Redis store on a primary watched by Redis Sentinel (a primary, a replica, three
//! sentinels, each with passwords): the contract checks and the conformance suite pass there
//! too. Run through `bash scripts/test.sh`, which starts the private setup and sets
//! `REDIS_SENTINEL_URLS`, `REDIS_SENTINEL_MASTER` and `REDIS_SENTINEL_PRIMARY_PASSWORD`.

#![cfg(feature = "redis")]

#[macro_use]
mod redis_checks;

use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use session_core::SessionId;
use session_stores::redis::{RedisOptions, RedisStore, SentinelOptions};

/// The private setup of `scripts/test.sh`.
struct Setup {
    urls: Vec<String>,
    master: String,
    password: String,
}

/// The private setup, or `None` (the test is skipped, saying so) when its variables are unset.
fn setup() -> Option<Setup> {
    match (
        std::env::var("REDIS_SENTINEL_URLS"),
        std::env::var("REDIS_SENTINEL_MASTER"),
        std::env::var("REDIS_SENTINEL_PRIMARY_PASSWORD"),
    ) {
        (Ok(urls), Ok(master), Ok(password)) => Some(Setup {
            urls: urls.split(',').map(str::to_string).collect(),
            master,
            password,
        }),
        _ => {
            eprintln!(
                "skipped: REDIS_SENTINEL_URLS is not set; run the tests with `bash \
                 scripts/test.sh`, which starts a private Redis Sentinel setup for them"
            );
            None
        }
    }
}

macro_rules! require_sentinel {
    () => {
        match setup() {
            Some(setup) => setup,
            None => return,
        }
    };
}

fn unique_prefix(test: &str) -> String {
    format!("test:{test}:{}:", &SessionId::generate().storage_key()[..8])
}

fn options(setup: &Setup, test: &str) -> RedisOptions {
    RedisOptions {
        sentinel: Some(SentinelOptions {
            master: setup.master.clone(),
            urls: setup.urls.clone(),
            primary_password: Some(setup.password.clone()),
            ..SentinelOptions::default()
        }),
        key_prefix: unique_prefix(test),
        pool_size: 2,
        ..RedisOptions::default()
    }
}

async fn store(setup: &Setup, test: &str) -> RedisStore {
    RedisStore::connect(options(setup, test)).await.unwrap()
}

/// A connection of the test's own to the primary of the moment, found through the sentinels.
async fn raw_connection(setup: &Setup) -> MultiplexedConnection {
    let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(
        redis::RedisConnectionInfo::default().set_password(&setup.password),
    );
    Sentinel::build(setup.urls.clone())
        .unwrap()
        .async_master_for(&setup.master, Some(&node))
        .await
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// One test per contract check of `redis_checks`, each on a store of its own prefix.
macro_rules! contract_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let setup = require_sentinel!();
            let store = store(&setup, stringify!($check)).await;
            let mut redis = raw_connection(&setup).await;
            redis_checks::$check(&store, &mut redis).await;
        }
    )*};
}

for_each_contract_check!(contract_checks);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_passes_the_conformance_suite_under_sentinel() {
    let setup = require_sentinel!();
    let store = store(&setup, "conformance").await;
    let corrupter = store.clone();
    let raw = Arc::new(tokio::sync::Mutex::new(raw_connection(&setup).await));
    session_stores::conformance::Suite::new(Arc::new(store))
        .backend_expires_records()
        .with_corrupter(move |id| {
            let (key, raw) = (corrupter.key_of(&id), raw.clone());
            async move {
                let mut redis = raw.lock().await;
                let _: i64 = redis_checks::raw(&mut *redis, &["HSET", &key, "@e", "soon"]).await;
            }
        })
        .run()
        .await;
}

/// The sentinels and the primary have different passwords: each is used where it belongs, and
/// neither shows in `Debug` output or in an error.
#[tokio::test]
async fn sentinel_and_primary_passwords_differ_and_never_show() {
    let setup = require_sentinel!();
    let options = options(&setup, "passwords");
    let sentinel_password = setup.urls[0]
        .split_once(":")
        .and_then(|(_, rest)| rest.trim_start_matches("//:").split_once('@'))
        .map(|(password, _)| password.to_string())
        .unwrap();
    assert_ne!(sentinel_password, setup.password);
    let store = RedisStore::connect(options.clone()).await.unwrap();
    for printed in [format!("{options:?}"), format!("{store:?}")] {
        assert!(
            !printed.contains(&sentinel_password) && !printed.contains(&setup.password),
            "{printed}"
        );
    }
    let record = redis_checks::record();
    session_core::Store::create(&store, &record).await.unwrap();
    assert!(session_core::Store::exists(&store, &record.id)
        .await
        .unwrap());

    // The primary's password is not the sentinels': the primary refuses the store.
    let mut wrong = options.clone();
    if let Some(sentinel) = wrong.sentinel.as_mut() {
        sentinel.primary_password = Some(sentinel_password.clone());
    }
    let error = RedisStore::connect(wrong).await.unwrap_err().to_string();
    assert!(
        !error.contains(&sentinel_password) && !error.contains(&setup.password),
        "{error}"
    );
}

#[tokio::test]
async fn the_registry_builds_a_sentinel_store_from_configuration() {
    let setup = require_sentinel!();
    let urls = setup
        .urls
        .iter()
        .map(|url| format!("{url:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    redis_checks::a_configured_store_writes_a_session(&format!(
        "{{ type = \"redis\", key_prefix = {:?}, sentinel = {{ master = {:?}, \
         urls = [{urls}], primary_password = {:?} }} }}",
        unique_prefix("registry"),
        setup.master,
        setup.password,
    ))
    .await;
}

/// Runs without servers: conflicting or incomplete Sentinel options are refused before any
/// connection, naming the session and the field.
#[tokio::test]
async fn bad_sentinel_options_name_the_session_and_field() {
    for (store, field) in [
        (
            "{ type = \"redis\", cluster = true, sentinel = { master = \"m\", urls = [\"redis://127.0.0.1:1/\"] } }",
            "cluster = true",
        ),
        (
            "{ type = \"redis\", url = \"redis://10.0.0.1/\", sentinel = { master = \"m\", urls = [\"redis://127.0.0.1:1/\"] } }",
            "`url`",
        ),
        (
            "{ type = \"redis\", sentinel = { urls = [\"redis://127.0.0.1:1/\"] } }",
            "sentinel.master",
        ),
        (
            "{ type = \"redis\", sentinel = { master = \"m\" } }",
            "sentinel.urls",
        ),
        (
            "{ type = \"redis\", sentinel = { master = \"m\", urls = [\"nope\"] } }",
            "sentinel.urls",
        ),
    ] {
        let config = session_core::SessionsConfig::from_toml(&format!(
            "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"app\" }}\nstore = {store}\n"
        ))
        .unwrap();
        let error = session_core::SessionManager::from_config(
            &config,
            &session_stores::registry(),
            session_core::KeyRing::generate(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("`app`") && error.contains(field),
            "{store}: {error}"
        );
    }
}

/// The primary closes every connection of the store (as a sentinel does when it demotes a
/// primary): each operation after it still succeeds, on fresh connections to the primary the
/// sentinels name. The store logs in as a user of its own, so that only its connections close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_closed_by_the_primary_cost_no_operation() {
    let setup = require_sentinel!();
    let user =
        format!("closer{}", &SessionId::generate().storage_key()[..8]).replace(['-', '_'], "x");
    let mut primary = raw_connection(&setup).await;
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(">closer-secret")
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .query_async(&mut primary)
        .await
        .unwrap();
    let mut options = options(&setup, "closed");
    if let Some(sentinel) = options.sentinel.as_mut() {
        sentinel.primary_username = Some(user.clone());
        sentinel.primary_password = Some("closer-secret".into());
    }
    let store = RedisStore::connect(options).await.unwrap();
    let records: Vec<_> = (0..12).map(|_| redis_checks::record()).collect();
    for record in &records {
        session_core::Store::create(&store, record).await.unwrap();
    }
    let closed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("USER")
        .arg(&user)
        .query_async(&mut primary)
        .await
        .unwrap();
    // Two at least: the pool's, and the one that checked the primary's `ROLE` if the server
    // has not seen it close yet.
    assert!(
        closed >= 2,
        "the store's pool of two connections was closed: {closed}"
    );
    for record in &records {
        let loaded = session_core::Store::load(&store, &record.id).await;
        assert!(
            matches!(loaded, Ok(Some(_))),
            "load after the connections closed: {loaded:?}"
        );
        let delta = redis_checks::delta(record, &[("k", "1")]);
        let updated = session_core::Store::update(&store, &record.id, &delta).await;
        assert!(
            matches!(updated, Ok(true)),
            "update after the connections closed: {updated:?}"
        );
    }
}
