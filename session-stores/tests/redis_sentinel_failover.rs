//! The primary of the private Redis Sentinel setup dies (SIGKILL) under a steady stream of
//! session operations: the operations that fail fail cleanly, the sentinels promote the replica,
//! and the store follows it by itself. Then a switchover (`SENTINEL FAILOVER`) demotes a live
//! primary, and the store follows that too; and a primary that falls silent (SIGSTOP, as in a
//! network partition) is left after a timeout. Its own test binary, since it takes the primary
//! down: the setup's other tests never run beside it. Run through `bash scripts/test.sh`
//! (`REDIS_SENTINEL_URLS`, `REDIS_SENTINEL_MASTER`, `REDIS_SENTINEL_PRIMARY_PASSWORD`,
//! `REDIS_SENTINEL_DIR`).

#![cfg(feature = "redis")]

mod redis_servers;

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis_servers::{connect, sentinel_setup, servers, step, SentinelSetup};
use session_core::{Record, SessionId, Store, StoreError};
use session_stores::redis::{RedisOptions, RedisStore, SentinelOptions};

/// The stated bound: service is back within this many operations after the kill. Operations
/// are paced 50 ms apart and each is bounded by the store's 500 ms timeout, so this is at most
/// 44 s, and at least 20 s, several times what the sentinels need (the primary is down after
/// their 1 s `down-after-milliseconds`, then they elect a leader and promote the replica). Runs
/// here measured 44 failed operations and service back 3.4 s after the kill.
const MAX_OPERATIONS_AFTER_KILL: usize = 400;
/// Service is back once this many operations in a row succeed.
const RESUMED_AFTER: usize = 20;
/// After that, this many more must all succeed: the errors have stopped.
const CLEAN_AFTER_RESUMING: usize = 40;
/// Operations are this far apart, so the bounds above are bounds in time as well.
const PACE: Duration = Duration::from_millis(50);

/// The private setup, and the directory of its servers (`REDIS_SENTINEL_DIR`).
fn setup() -> Option<(SentinelSetup, String)> {
    let dir = servers(&["REDIS_SENTINEL_DIR"], "a private Redis Sentinel setup")?;
    Some((sentinel_setup()?, dir[0].clone()))
}

/// The port of the primary the sentinels name now.
async fn primary_port(sentinel: &mut MultiplexedConnection, master: &str) -> u16 {
    let (_, port): (String, u16) = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(master)
        .query_async(sentinel)
        .await
        .unwrap();
    port
}

/// What a stream of steps saw.
#[derive(Default)]
struct Stream {
    acknowledged: Vec<Record>,
    failures: usize,
    in_a_row: usize,
}

impl Stream {
    /// Steps, `PACE` apart and `MAX_OPERATIONS_AFTER_KILL` times at most, until service has
    /// resumed on the server on `port`: whether it did.
    async fn follow(&mut self, store: &RedisStore, port: u16) -> bool {
        for _ in 0..MAX_OPERATIONS_AFTER_KILL {
            let resumed = self.step(store).await;
            if resumed && format!("{store:?}").contains(&format!(":{port}")) {
                return true;
            }
            tokio::time::sleep(PACE).await;
        }
        false
    }

    /// One step; `Ok(true)` once `RESUMED_AFTER` steps in a row succeeded.
    async fn step(&mut self, store: &RedisStore) -> bool {
        match step(store).await {
            Ok(record) => {
                self.acknowledged.push(record);
                self.in_a_row += 1;
            }
            Err(StoreError::Backend(_)) => {
                self.failures += 1;
                self.in_a_row = 0;
            }
            Err(other) => panic!("a failover must fail with backend errors only, got {other:?}"),
        }
        self.in_a_row >= RESUMED_AFTER
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_the_primary_through_a_kill_a_switchover_and_a_partition() {
    let Some((setup, dir)) = setup() else { return };
    let store = RedisStore::connect(RedisOptions {
        sentinel: Some(SentinelOptions {
            master: setup.master.clone(),
            urls: setup.urls.clone(),
            primary_password: Some(setup.password.clone()),
            ..SentinelOptions::default()
        }),
        key_prefix: format!("failover:{}:", &SessionId::generate().storage_key()[..8]),
        timeout_ms: 500,
        pool_size: 2,
        ..RedisOptions::default()
    })
    .await
    .unwrap();
    let mut sentinel = connect(&setup.urls[0]).await;

    let mut before = Stream::default();
    for _ in 0..60 {
        before.step(&store).await;
    }
    assert_eq!(before.failures, 0, "the primary serves before the kill");

    // Kill the primary, without a save or a goodbye.
    let victim = primary_port(&mut sentinel, &setup.master).await;
    let pid = std::fs::read_to_string(format!("{}/{victim}/redis.pid", dir)).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    assert!(
        killed.success(),
        "the primary's process could not be killed"
    );
    let since_kill = Instant::now();

    let mut after = Stream::default();
    let mut resumed = None;
    for _ in 0..MAX_OPERATIONS_AFTER_KILL {
        if after.step(&store).await {
            resumed = Some(since_kill.elapsed());
            break;
        }
        tokio::time::sleep(PACE).await;
    }
    let resumed = resumed.unwrap_or_else(|| {
        panic!(
            "service did not resume within {MAX_OPERATIONS_AFTER_KILL} operations after the \
             primary on port {victim} died ({} failed)",
            after.failures
        )
    });
    let failed_during_failover = after.failures;
    for _ in 0..CLEAN_AFTER_RESUMING {
        after.step(&store).await;
    }
    assert_eq!(
        after.failures, failed_during_failover,
        "operations failed after service resumed"
    );
    let promoted = primary_port(&mut sentinel, &setup.master).await;
    assert_ne!(promoted, victim, "the sentinels promoted the replica");
    assert!(
        format!("{store:?}").contains(&format!(":{promoted}")),
        "the store follows the promoted replica: {store:?}"
    );

    // Every session acknowledged after the kill survives; of those before it, the ones Redis's
    // asynchronous replication had not carried to the replica yet are lost.
    for record in &after.acknowledged {
        assert_eq!(store.load(&record.id).await.unwrap().as_ref(), Some(record));
    }
    let mut lost = 0;
    for record in &before.acknowledged {
        match store.load(&record.id).await.unwrap() {
            Some(loaded) => assert_eq!(&loaded, record),
            None => lost += 1,
        }
    }
    eprintln!(
        "failover: primary on port {victim} killed; {failed_during_failover} operations failed; \
         service resumed after {resumed:?} on port {promoted}; {lost} of {} sessions \
         acknowledged before the kill lost, none of {} after it",
        before.acknowledged.len(),
        after.acknowledged.len()
    );

    // The killed server comes back; the sentinels make it a replica of the new primary.
    let status = std::process::Command::new("redis-server")
        .arg(format!("{}/{victim}/redis.conf", dir))
        .status()
        .unwrap();
    assert!(status.success(), "the killed server did not start again");
    let old = format!("redis://:{}@127.0.0.1:{victim}/", setup.password);
    let mut replicating = false;
    for _ in 0..300 {
        if let Ok(client) = redis::Client::open(old.as_str()) {
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
                let info: Result<String, _> = redis::cmd("INFO")
                    .arg("REPLICATION")
                    .query_async(&mut connection)
                    .await;
                if info.is_ok_and(|info| {
                    info.contains("role:slave") && info.contains("master_link_status:up")
                }) {
                    replicating = true;
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        replicating,
        "the killed server did not come back as a replica"
    );

    // A switchover: the sentinels promote the replica, then demote the live primary (closing
    // its clients' connections); the store follows by its periodic check, or by the closed
    // connections or a `READONLY` refusal, whichever comes first.
    let mut switched = false;
    for _ in 0..100 {
        let reply: Result<(), _> = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(&setup.master)
            .query_async(&mut sentinel)
            .await;
        if reply.is_ok() {
            switched = true;
            break;
        }
        // NOGOODSLAVE until the sentinels have seen the new replica in sync.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(switched, "the sentinels refused the switchover");
    let mut during = Stream::default();
    let followed = during.follow(&store, victim).await;
    assert!(
        followed,
        "the store did not follow the switchover to port {victim} within \
         {MAX_OPERATIONS_AFTER_KILL} operations ({} failed)",
        during.failures
    );
    // Writes the demoted primary took before the store followed (at most a second of them,
    // see `CHECK_EVERY`) are gone with its demotion.
    let mut lost_in_switchover = 0;
    for record in &during.acknowledged {
        if store.load(&record.id).await.unwrap().is_none() {
            lost_in_switchover += 1;
        }
    }
    let record = step(&store).await.unwrap();
    let mut new_primary = connect(&old).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(store.key_of(&record.id))
        .query_async(&mut new_primary)
        .await
        .unwrap();
    assert_eq!(exists, 1, "the store writes to the primary of the moment");
    eprintln!(
        "switchover: back to port {victim}; {} operations failed; {lost_in_switchover} of {} \
         sessions acknowledged during it lost",
        during.failures,
        during.acknowledged.len()
    );

    // The primary stops answering without closing anything (SIGSTOP, as a network partition
    // would look): operations time out, the store asks the sentinels again after a timeout,
    // and it follows the promoted replica while the old primary is still silent.
    let silent = Stopped::stop(&dir, victim);
    let mut partitioned = Stream::default();
    let followed = partitioned.follow(&store, promoted).await;
    assert!(
        followed,
        "the store did not follow the replica promoted while the primary on port {victim} was \
         silent, within {MAX_OPERATIONS_AFTER_KILL} operations ({} failed)",
        partitioned.failures
    );
    drop(silent);
    eprintln!(
        "partition: primary on port {victim} silent; {} operations failed before the store \
         followed port {promoted}",
        partitioned.failures
    );
}

/// A server stopped with SIGSTOP, continued when this is dropped (also when the test fails), so
/// that the setup's script can stop it.
struct Stopped {
    pid: String,
}

impl Stopped {
    fn stop(dir: &str, port: u16) -> Stopped {
        let pid = std::fs::read_to_string(format!("{dir}/{port}/redis.pid"))
            .unwrap()
            .trim()
            .to_string();
        let stopped = Stopped { pid };
        stopped.signal("-STOP");
        stopped
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.pid])
            .status();
        assert!(
            matches!(status, Ok(status) if status.success()),
            "kill {signal} {} failed",
            self.pid
        );
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.pid])
            .status();
    }
}
