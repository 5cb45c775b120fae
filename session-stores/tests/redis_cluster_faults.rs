//! A regenerate on the private Redis Cluster whose new key's node fails half-way: write-paused
//! (briefly, then longer than every attempt to settle it), out of memory. Whatever the fault,
//! the request's changes never appear under the old id, a session never lives under both ids,
//! and the session is ended, never restored: the new key is settled before the error returns,
//! or, when its node never answered, left to a create that may still run there, indexed under
//! its owner so that "log out everywhere" ends it too. Its own test binary, since it pauses and starves
//! nodes: the cluster's other tests never run beside it. Run through `bash scripts/test.sh`
//! (`REDIS_CLUSTER_URLS`).

#![cfg(feature = "redis")]

mod redis_servers;

use redis::aio::MultiplexedConnection;
use redis_servers::{cluster_urls, node, port_of, unique_prefix};
use session_core::{now_ms, Delta, Expiry, RawJson, Record, SessionId, Store, StoreError};
use session_stores::redis::{RedisOptions, RedisStore};

/// The store's timeout: short, so that a pause of a few of them outlasts a command.
const TIMEOUT_MS: u64 = 300;

async fn store(urls: &[String], test: &str) -> RedisStore {
    RedisStore::connect(RedisOptions {
        cluster: true,
        urls: urls.to_vec(),
        key_prefix: unique_prefix(test),
        timeout_ms: TIMEOUT_MS,
        ..RedisOptions::default()
    })
    .await
    .unwrap()
}

/// The port of the primary that serves `key`, from `CLUSTER NODES` of the node at `seed`.
async fn primary_of(seed: u16, key: &str) -> u16 {
    let mut seed = node(seed).await;
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut seed)
        .await
        .unwrap();
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut seed)
        .await
        .unwrap();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !fields[2].contains("master") || fields[2].contains("fail") {
            continue;
        }
        let serves = fields[8..]
            .iter()
            .filter(|range| !range.starts_with('['))
            .any(|range| {
                let (low, high) = range.split_once('-').unwrap_or((range, range));
                (low.parse::<u16>().unwrap()..=high.parse::<u16>().unwrap()).contains(&slot)
            });
        if serves {
            return fields[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
        }
    }
    panic!("no primary serves slot {slot}");
}

async fn run(connection: &mut MultiplexedConnection, args: &[&str]) {
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    let _: redis::Value = command.query_async(connection).await.unwrap();
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Writes paused for a few timeouts: the create times out, a later attempt to settle the
    /// new key is answered.
    BriefWritePause,
    /// Writes paused for longer than every attempt to settle the new key.
    LongWritePause,
    /// `maxmemory` tiny with `noeviction`: the create is refused.
    OutOfMemory,
}

impl Fault {
    async fn apply(self, node: &mut MultiplexedConnection) {
        match self {
            Fault::BriefWritePause => {
                run(
                    node,
                    &["CLIENT", "PAUSE", &(TIMEOUT_MS * 3).to_string(), "WRITE"],
                )
                .await
            }
            Fault::LongWritePause => run(node, &["CLIENT", "PAUSE", "60000", "WRITE"]).await,
            Fault::OutOfMemory => {
                run(node, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]).await;
                run(node, &["CONFIG", "SET", "maxmemory", "1"]).await;
            }
        }
    }

    async fn lift(self, node: &mut MultiplexedConnection) {
        match self {
            Fault::BriefWritePause | Fault::LongWritePause => {
                run(node, &["CLIENT", "UNPAUSE"]).await
            }
            Fault::OutOfMemory => run(node, &["CONFIG", "SET", "maxmemory", "0"]).await,
        }
    }
}

/// A new id whose key is served by another primary than `old`'s and the owner's set's (so that
/// the fault meets the create of the new key), and that primary's port.
async fn id_on_another_primary(
    store: &RedisStore,
    seed: u16,
    old: &SessionId,
    owner: &str,
) -> (SessionId, u16) {
    let old_primary = primary_of(seed, &store.key_of(old)).await;
    let index_primary = primary_of(seed, &store.owner_key_of(owner)).await;
    loop {
        let new = SessionId::generate();
        let primary = primary_of(seed, &store.key_of(&new)).await;
        if primary != old_primary && primary != index_primary {
            return (new, primary);
        }
    }
}

async fn regenerate_under(fault: Fault) {
    let Some(urls) = cluster_urls() else {
        return;
    };
    let store = store(&urls, &format!("{fault:?}")).await;
    let seed = port_of(&urls[0]);
    let owner = format!("victim-{}", &SessionId::generate().storage_key()[..8]);
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
    record.owner = Some(owner.clone());
    store.create(&record).await.unwrap();
    let (new, new_primary) = id_on_another_primary(&store, seed, &record.id, &owner).await;
    let login = Delta {
        changed: vec![(
            "user".into(),
            RawJson::from_string("\"victim\"".into()).unwrap(),
        )],
        expires_at: record.expires_at,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    };

    let mut new_node = node(new_primary).await;
    fault.apply(&mut new_node).await;
    let outcome = store.regenerate(&record.id, &new, &login).await;
    fault.lift(&mut new_node).await;

    // Whatever the new key's node does, the old id never opens the post-login record.
    assert_eq!(
        store.load(&record.id).await.unwrap(),
        None,
        "{fault:?}: the old id is live after a failed regenerate ({outcome:?})"
    );
    match outcome {
        // The fault let the create through after all: the one session is under the new id.
        Ok(true) => {
            let moved = store.load(&new).await.unwrap().unwrap();
            assert_eq!(moved.data.get("user").map(|v| v.get()), Some("\"victim\""));
        }
        Ok(false) => panic!("{fault:?}: a live session was reported gone"),
        Err(StoreError::Backend(error)) => {
            assert!(
                error.to_string().contains("the session was ended"),
                "{fault:?}: the error does not say the session is gone: {error}"
            );
            if error.to_string().contains("did not answer") {
                // Unsettled: a create the node still held may have run since, under an id no
                // client was given; it is indexed, so "log out everywhere" ends it.
                store.delete_owner(&owner, None).await.unwrap();
            }
            assert_eq!(
                store.load(&new).await.unwrap(),
                None,
                "{fault:?}: the new id is live after a failed regenerate ({error})"
            );
            assert_eq!(store.load(&record.id).await.unwrap(), None);
            assert!(store.owner_sessions(&owner).await.unwrap().is_empty());
        }
        Err(error) => panic!("{fault:?}: unexpected error {error:?}"),
    }
}

/// One test, the faults in turn: each disturbs a whole node, which no other regenerate may meet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regenerate_whose_new_node_fails_ends_the_session_under_both_ids() {
    for fault in [
        Fault::OutOfMemory,
        Fault::BriefWritePause,
        Fault::LongWritePause,
    ] {
        regenerate_under(fault).await;
    }
}
