//! The Redis store on a primary watched by Redis Sentinel (a primary, a replica, three
//! sentinels, each with passwords): the contract checks and the conformance suite pass there
//! too. Run through `bash scripts/test.sh`, which starts the private setup and sets
//! `REDIS_SENTINEL_URLS`, `REDIS_SENTINEL_MASTER` and `REDIS_SENTINEL_PRIMARY_PASSWORD`.

#![cfg(feature = "redis")]

#[macro_use]
mod redis_checks;
#[macro_use]
mod redis_servers;

use redis::aio::MultiplexedConnection;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis_servers::{sentinel_setup, unique_prefix, SentinelSetup};
use session_stores::redis::{RedisOptions, RedisStore, SentinelOptions};

fn options(setup: &SentinelSetup, test: &str) -> RedisOptions {
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

async fn store(setup: &SentinelSetup, test: &str) -> RedisStore {
    RedisStore::connect(options(setup, test)).await.unwrap()
}

/// A connection of the test's own to the primary of the moment, found through the sentinels.
async fn raw_connection(setup: &SentinelSetup) -> MultiplexedConnection {
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

// The store of each test on the private setup, and a connection of the test's own to its
// primary.
topology_tests!(|test| {
    let setup = sentinel_setup()?;
    Some((store(&setup, test).await, raw_connection(&setup).await))
});

/// The sentinels and the primary have different passwords: each is used where it belongs, and
/// neither shows in `Debug` output or in an error.
#[tokio::test]
async fn sentinel_and_primary_passwords_differ_and_never_show() {
    let setup = require!(sentinel_setup());
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
    let setup = require!(sentinel_setup());
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
        let error = redis_checks::configuration_error(store).await;
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
    let setup = require!(sentinel_setup());
    let user = redis_checks::closer_name();
    let mut primary = raw_connection(&setup).await;
    redis_checks::add_closer(&mut primary, &user).await;
    let mut options = options(&setup, "closed");
    if let Some(sentinel) = options.sentinel.as_mut() {
        sentinel.primary_username = Some(user.clone());
        sentinel.primary_password = Some("closer-secret".into());
    }
    let store = RedisStore::connect(options).await.unwrap();
    let records = redis_checks::created_records(&store).await;
    let closed = redis_checks::close_connections_of(&mut primary, &user).await;
    // Two at least: the pool's, and the one that checked the primary's `ROLE` if the server
    // has not seen it close yet.
    assert!(
        closed >= 2,
        "the store's pool of two connections was closed: {closed}"
    );
    redis_checks::closed_connections_cost_no_operation(&store, &records).await;
}
