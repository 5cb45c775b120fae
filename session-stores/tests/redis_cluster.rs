//! The Redis store on a real Redis Cluster (3 primaries + 3 replicas): the contract checks and
//! the conformance suite pass there too. Run through `bash scripts/test.sh`, which starts a
//! private cluster and sets `REDIS_CLUSTER_URLS`.

#![cfg(feature = "redis")]

#[macro_use]
mod redis_checks;
#[macro_use]
mod redis_servers;

use redis_servers::{cluster_urls, connect, unique_prefix};
use session_core::SessionId;
use session_stores::redis::{RedisOptions, RedisStore};

async fn store(urls: &[String], test: &str) -> RedisStore {
    RedisStore::connect(RedisOptions {
        cluster: true,
        urls: urls.to_vec(),
        key_prefix: unique_prefix(test),
        ..RedisOptions::default()
    })
    .await
    .unwrap()
}

async fn raw_connection(urls: &[String]) -> redis::cluster_async::ClusterConnection {
    redis::cluster::ClusterClient::new(urls.to_vec())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_checks_pass_on_the_cluster() {
    let urls = require!(cluster_urls());
    let store = store(&urls, "checks").await;
    let mut redis = raw_connection(&urls).await;
    redis_checks::all(&store, &mut redis).await;

    let counted = self::store(&urls, "count").await;
    redis_checks::count_and_exists_follow_the_records(&counted, &mut redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_passes_the_conformance_suite_on_the_cluster() {
    let urls = require!(cluster_urls());
    let store = store(&urls, "conformance").await;
    redis_checks::conformance_suite(store, raw_connection(&urls).await).await;
}

/// A regenerate moves sessions between slots (the new key is random): over many moves, both
/// keys land on different primaries most of the time, and every move keeps the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_moves_sessions_between_slots() {
    let urls = require!(cluster_urls());
    let store = store(&urls, "slots").await;
    let mut redis = raw_connection(&urls).await;
    let mut record = redis_checks::owned("mallory");
    record
        .data
        .insert("cart".into(), redis_checks::json("[1,2,3]"));
    redis_checks::regenerate_onto_a_live_id_is_already_exists(&store, &mut redis).await;
    session_core::Store::create(&store, &record).await.unwrap();
    let mut slots = std::collections::HashSet::new();
    let mut id = record.id;
    for _ in 0..20 {
        let new = SessionId::generate();
        let delta = redis_checks::delta(&record, &[]);
        assert!(session_core::Store::regenerate(&store, &id, &new, &delta)
            .await
            .unwrap());
        let slot: i64 =
            redis_checks::raw(&mut redis, &["CLUSTER", "KEYSLOT", &store.key_of(&new)]).await;
        slots.insert(slot);
        id = new;
    }
    assert!(slots.len() > 1, "twenty random keys in one slot");
    let moved = session_core::Store::load(&store, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.data, record.data);
    assert_eq!(moved.version, record.version + 20);
    let listed = session_core::Store::owner_sessions(&store, "mallory")
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|s| s.handle.clone()).collect::<Vec<_>>(),
        [id.storage_key()]
    );
}

/// Every node closes every connection of the store (as a restart of the whole cluster would):
/// each operation after it still succeeds, on fresh connections. The store logs in as a user of
/// its own, so that only its connections are closed, not those of the tests beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_closed_by_every_node_cost_no_operation() {
    let urls = require!(cluster_urls());
    let user = redis_checks::closer_name();
    for url in &urls {
        let mut node = connect(url).await;
        redis_checks::add_closer(&mut node, &user).await;
    }
    let store = RedisStore::connect(RedisOptions {
        cluster: true,
        urls: urls
            .iter()
            .map(|url| url.replace("redis://", &format!("redis://{user}:closer-secret@")))
            .collect(),
        key_prefix: unique_prefix("closed"),
        ..RedisOptions::default()
    })
    .await
    .unwrap();
    let records = redis_checks::created_records(&store).await;
    let mut closed = 0;
    for url in &urls {
        closed += redis_checks::close_connections_of(&mut connect(url).await, &user).await;
    }
    assert!(
        closed >= 3,
        "the store had a connection to each primary; {closed} closed"
    );
    redis_checks::closed_connections_cost_no_operation(&store, &records).await;
}
