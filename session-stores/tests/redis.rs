//! The Redis store against a real server: the conformance suite, server-side TTLs, key prefixes
//! and outages. Run through `bash scripts/test.sh`, which starts a private redis-server and sets
//! `REDIS_URL`.

#![cfg(feature = "redis")]

#[macro_use]
mod redis_checks;
#[macro_use]
mod redis_servers;

use redis_servers::{connect, servers, unique_prefix};
use session_core::{now_ms, Delta, Expiry, Record, SessionId, Store, StoreError};
use session_stores::redis::{RedisOptions, RedisStore};

/// The private server of `scripts/test.sh`, or `None` (the test is skipped, saying so) when
/// `REDIS_URL` is unset.
fn redis_url() -> Option<String> {
    servers(&["REDIS_URL"], "a private redis-server").map(|mut urls| urls.remove(0))
}

async fn store(url: &str, test: &str) -> RedisStore {
    RedisStore::connect(RedisOptions {
        url: url.to_string(),
        key_prefix: unique_prefix(test),
        pool_size: 2,
        ..RedisOptions::default()
    })
    .await
    .unwrap()
}

// The store of each test on the private server, and a connection of the test's own to it.
topology_tests!(|test| {
    let url = redis_url()?;
    Some((store(&url, test).await, connect(&url).await))
});

/// A store of test `test` holding one new record, and a connection of the test's own to the
/// server.
async fn one_stored_record(
    test: &str,
) -> Option<(RedisStore, Record, redis::aio::MultiplexedConnection)> {
    let url = redis_url()?;
    let store = store(&url, test).await;
    let record = record();
    store.create(&record).await.unwrap();
    Some((store, record, connect(&url).await))
}

/// Runs a command whose reply does not matter.
async fn run(redis: &mut redis::aio::MultiplexedConnection, args: &[&str]) {
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    command.query_async::<()>(redis).await.unwrap();
}

/// Has the server's `SLOWLOG` record every command from now on (up to 100,000 of them).
async fn log_every_command(redis: &mut redis::aio::MultiplexedConnection) {
    run(redis, &["CONFIG", "SET", "slowlog-max-len", "100000"]).await;
    run(redis, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]).await;
}

/// Ends [`log_every_command`] (back to logging commands over 10 ms, the server's default) and
/// returns the `SLOWLOG`'s entries.
async fn logged_commands(redis: &mut redis::aio::MultiplexedConnection) -> Vec<redis::Value> {
    run(
        redis,
        &["CONFIG", "SET", "slowlog-log-slower-than", "10000"],
    )
    .await;
    redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(-1)
        .query_async(redis)
        .await
        .unwrap()
}

/// Creates `sessions` new sessions bound to `owner`, 16 at a time.
async fn create_owned(store: &RedisStore, owner: &str, sessions: usize) {
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            let (store, owner) = (store.clone(), owner.to_string());
            tokio::spawn(async move {
                for _ in (writer..sessions).step_by(16) {
                    let mut owned = record();
                    owned.owner = Some(owner.clone());
                    store.create(&owned).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
}

async fn key_exists(redis: &mut redis::aio::MultiplexedConnection, key: &str) -> bool {
    let exists: i64 = redis::cmd("EXISTS")
        .arg(key)
        .query_async(redis)
        .await
        .unwrap();
    exists == 1
}

/// The key's remaining time to live in milliseconds (`PTTL`).
async fn ttl_ms(redis: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(redis)
        .await
        .unwrap()
}

fn record() -> Record {
    Record::new(SessionId::generate(), &Expiry::default(), now_ms())
}

/// A new record whose deadline is `ms` from now.
fn expiring_in(ms: u64) -> Record {
    let mut record = record();
    record.expires_at = now_ms() + ms;
    record
}

#[tokio::test]
async fn the_server_keeps_the_ttl() {
    let url = require!(redis_url());
    let store = store(&url, "ttl").await;
    let mut record = expiring_in(60_000);
    record.absolute_deadline = Some(now_ms() + 3_600_000);
    store.create(&record).await.unwrap();
    let mut redis = connect(&url).await;
    let ttl = ttl_ms(&mut redis, &store.key_of(&record.id)).await;
    assert!(ttl > 0 && ttl <= 60_000, "PTTL after create was {ttl}");

    // An update moves it; the absolute deadline caps it.
    let delta = Delta {
        expires_at: now_ms() + 7_200_000,
        absolute_deadline: Some(now_ms() + 120_000),
        ..Delta::default()
    };
    assert!(store.update(&record.id, &delta).await.unwrap());
    let ttl = ttl_ms(&mut redis, &store.key_of(&record.id)).await;
    assert!(
        ttl > 60_000 && ttl <= 120_000,
        "PTTL after update was {ttl}"
    );
}

/// A deadline past what `PEXPIREAT` accepts (`i64::MAX` ms), as a huge per-session expiry makes,
/// is a key that lives as long as Redis allows, not an error.
#[tokio::test]
async fn a_never_deadline_is_capped_not_refused() {
    let url = require!(redis_url());
    let store = store(&url, "never").await;
    let mut record = record();
    record.expires_at = u64::MAX;
    record.absolute_deadline = None;
    store.create(&record).await.unwrap();
    assert_eq!(store.load(&record.id).await.unwrap(), Some(record.clone()));

    let delta = Delta {
        changed: vec![("k".into(), json("1".into()))],
        expires_at: u64::MAX,
        ..Delta::default()
    };
    assert!(store.update(&record.id, &delta).await.unwrap());
    delta.apply(&mut record);
    assert_eq!(store.load(&record.id).await.unwrap(), Some(record.clone()));
    let mut redis = connect(&url).await;
    let ttl = ttl_ms(&mut redis, &store.key_of(&record.id)).await;
    assert!(ttl > 1 << 62, "PTTL was {ttl}");
}

#[tokio::test]
async fn keys_are_the_prefix_and_the_storage_key_never_the_id() {
    let url = require!(redis_url());
    let prefix = unique_prefix("prefix");
    let store = RedisStore::connect(RedisOptions {
        url: url.clone(),
        key_prefix: prefix.clone(),
        ..RedisOptions::default()
    })
    .await
    .unwrap();
    let record = record();
    store.create(&record).await.unwrap();

    let mut redis = connect(&url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(keys, [format!("{prefix}{}", record.id.storage_key())]);
    let fields: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(&keys[0])
        .query_async(&mut redis)
        .await
        .unwrap();
    let id = record.id.to_string();
    assert!(fields
        .iter()
        .all(|(f, v)| !f.contains(&id) && !v.contains(&id)));
}

fn json(text: String) -> session_core::RawJson {
    session_core::RawJson::from_string(text).unwrap()
}

/// The scripts spread fields over variadic `HSET`/`HDEL` calls, in batches: Lua's `unpack` cannot
/// spread more than about 8000 values at once.
#[tokio::test]
async fn records_and_deltas_with_thousands_of_keys_are_written_whole() {
    let url = require!(redis_url());
    let store = store(&url, "thousands").await;
    let mut record = record();
    for key in 0..6_000 {
        record
            .data
            .insert(format!("key{key}").into(), json(format!("\"value {key}\"")));
    }
    store.create(&record).await.unwrap();
    assert_eq!(
        store.load(&record.id).await.unwrap().as_ref(),
        Some(&record)
    );

    let delta = Delta {
        changed: (3_000..9_000)
            .map(|key| (format!("key{key}").into(), json(key.to_string())))
            .collect(),
        removed: (0..4_500).map(|key| format!("key{key}").into()).collect(),
        expires_at: now_ms() + 60_000,
        absolute_deadline: record.absolute_deadline,
        expiry: None,
        owner: None,
    };
    assert!(store.update(&record.id, &delta).await.unwrap());
    delta.apply(&mut record);
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.data.len(), 6_000);
    assert_eq!(loaded, record);
}

#[tokio::test]
async fn update_of_a_session_whose_ttl_ran_out_is_false() {
    let url = require!(redis_url());
    let store = store(&url, "ran-out").await;
    let record = expiring_in(100);
    store.create(&record).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let delta = Delta {
        changed: vec![("k".into(), json("1".into()))],
        expires_at: now_ms() + 60_000,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    };
    assert!(!store.update(&record.id, &delta).await.unwrap());
    let mut redis = connect(&url).await;
    assert!(
        !key_exists(&mut redis, &store.key_of(&record.id)).await,
        "update must not revive an expired session"
    );
}

/// `update` goes by the key's TTL, which Redis enforces with its own clock, not by comparing the
/// stored deadlines with the application's clock. Here the stored idle deadline has passed (as an
/// application whose clock runs ahead of the server's would see it) while the TTL still runs.
#[tokio::test]
async fn update_goes_by_the_servers_ttl_not_the_stored_deadline() {
    let (store, record, mut redis) = require!(one_stored_record("server-clock").await);
    let key = store.key_of(&record.id);
    run(
        &mut redis,
        &["HSET", &key, "@e", &(now_ms() - 1_000).to_string()],
    )
    .await;
    assert_eq!(store.load(&record.id).await.unwrap(), None);

    let delta = Delta {
        changed: vec![("k".into(), json("1".into()))],
        expires_at: now_ms() + 60_000,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    };
    assert!(store.update(&record.id, &delta).await.unwrap());
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.expires_at, delta.expires_at);
    assert_eq!(loaded.version, record.version + 1);
}

/// The scripts run by hash (`EVALSHA`); a server that lost them (a restart, `SCRIPT FLUSH`) is
/// sent their body again.
#[tokio::test]
async fn scripts_are_loaded_again_after_a_script_flush() {
    let (store, record, mut redis) = require!(one_stored_record("flush").await);
    run(&mut redis, &["SCRIPT", "FLUSH"]).await;
    let delta = Delta {
        changed: vec![("k".into(), json("1".into()))],
        expires_at: record.expires_at,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    };
    assert!(store.update(&record.id, &delta).await.unwrap());
    run(&mut redis, &["SCRIPT", "FLUSH"]).await;
    let other = self::record();
    store.create(&other).await.unwrap();
    assert!(matches!(
        store.create(&other).await,
        Err(StoreError::AlreadyExists)
    ));
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.data.get("k").map(|v| v.get()), Some("1"));
}

#[tokio::test]
async fn update_of_a_session_deleted_behind_the_stores_back_is_false() {
    let (store, record, mut redis) = require!(one_stored_record("vanished").await);
    run(&mut redis, &["DEL", &store.key_of(&record.id)]).await;
    let delta = Delta {
        changed: vec![(
            "k".into(),
            session_core::RawJson::from_string("1".into()).unwrap(),
        )],
        expires_at: record.expires_at,
        ..Delta::default()
    };
    assert!(!store.update(&record.id, &delta).await.unwrap());
    assert!(
        !key_exists(&mut redis, &store.key_of(&record.id)).await,
        "update must not recreate a vanished session"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_backend_error_not_a_panic() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = RedisStore::connect(RedisOptions {
        url: format!("redis://127.0.0.1:{port}/"),
        timeout_ms: 500,
        ..RedisOptions::default()
    })
    .await;
    match result {
        Err(StoreError::Backend(source)) => {
            assert!(
                source.to_string().contains("check that the server is up"),
                "{source}"
            );
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_registry_builds_a_redis_store_from_configuration() {
    let url = require!(redis_url());
    redis_checks::a_configured_store_writes_a_session(&format!(
        "{{ type = \"redis\", url = {url:?}, key_prefix = {:?} }}",
        unique_prefix("registry"),
    ))
    .await;
}

#[tokio::test]
async fn bad_redis_options_name_the_session_and_field() {
    let error = redis_checks::configuration_error("{ type = \"redis\", pool_size = 0 }").await;
    assert!(
        error.contains("`app`") && error.contains("pool_size"),
        "{error}"
    );
}

/// A TCP relay to the real server, which the test can cut to simulate an outage.
struct Relay {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(url: &str, port: u16) -> Relay {
        let target = url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Relay { port, task }
    }

    /// Closes the listener and every relayed connection.
    async fn cut(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_a_backend_error_and_the_store_recovers() {
    let url = require!(redis_url());
    let relay = Relay::start(&url, 0).await;
    let port = relay.port;
    let store = RedisStore::connect(RedisOptions {
        url: format!("redis://127.0.0.1:{port}/"),
        key_prefix: unique_prefix("outage"),
        pool_size: 1,
        timeout_ms: 500,
        ..RedisOptions::default()
    })
    .await
    .unwrap();
    let record = record();
    store.create(&record).await.unwrap();

    relay.cut().await;
    for _ in 0..3 {
        match store.load(&record.id).await {
            Err(StoreError::Backend(_)) => {}
            other => panic!("expected a backend error during the outage, got {other:?}"),
        }
    }

    // The server comes back on the same address: the store reconnects by itself.
    let relay = Relay::start(&url, port).await;
    let mut recovered = None;
    for _ in 0..100 {
        if let Ok(loaded) = store.load(&record.id).await {
            recovered = Some(loaded);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(recovered, Some(Some(record)), "the store did not reconnect");
    relay.cut().await;
}

/// A redis-server of the test's own, with its data in a temp dir (append-only file, so a restart
/// keeps the sessions), on a port that was free a moment ago.
struct OwnServer {
    port: u16,
    dir: tempfile::TempDir,
    process: std::process::Child,
}

impl OwnServer {
    async fn start(port: u16, dir: tempfile::TempDir) -> OwnServer {
        let process = std::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test.sh installs it)");
        let url = format!("redis://127.0.0.1:{port}/");
        for _ in 0..100 {
            if let Ok(client) = redis::Client::open(url.as_str()) {
                if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
                    if redis::cmd("PING")
                        .query_async::<String>(&mut connection)
                        .await
                        .is_ok()
                    {
                        return OwnServer { port, dir, process };
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut process = process;
        let _ = process.kill();
        let _ = process.wait();
        panic!("redis-server on port {port} did not start");
    }

    /// Shuts the server down (writing its data) and starts it again on the same port.
    async fn restart(mut self) -> OwnServer {
        let mut connection = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _ = redis::cmd("SHUTDOWN")
            .query_async::<()>(&mut connection)
            .await;
        self.process.wait().unwrap();
        let (port, dir) = (
            self.port,
            std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()),
        );
        OwnServer::start(port, dir).await
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// After a restart, every pooled connection is dead; each command on one is sent again on its
/// replacement, so not one operation fails once the server answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_costs_no_operation() {
    let _ = require!(redis_url());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = OwnServer::start(port, tempfile::tempdir().unwrap()).await;
    let pool_size = 4;
    let store = RedisStore::connect(RedisOptions {
        url: format!("redis://127.0.0.1:{port}/"),
        key_prefix: unique_prefix("restart"),
        pool_size,
        ..RedisOptions::default()
    })
    .await
    .unwrap();
    let sessions: Vec<Record> = (0..2 * pool_size).map(|_| record()).collect();
    for session in &sessions {
        store.create(session).await.unwrap();
    }

    let server = server.restart().await;

    // Every kind of operation, more of them than there are pooled connections.
    for session in &sessions {
        let loaded = store.load(&session.id).await;
        assert!(
            matches!(loaded, Ok(Some(_))),
            "load after the restart: {loaded:?}"
        );
    }
    for session in &sessions {
        let delta = Delta {
            changed: vec![("k".into(), json("1".into()))],
            expires_at: session.expires_at,
            absolute_deadline: session.absolute_deadline,
            ..Delta::default()
        };
        let updated = store.update(&session.id, &delta).await;
        assert!(
            matches!(updated, Ok(true)),
            "update after the restart: {updated:?}"
        );
    }
    let server = server.restart().await;
    for session in &sessions {
        let new = SessionId::generate();
        let moved = store
            .regenerate(
                &session.id,
                &new,
                &Delta {
                    expires_at: session.expires_at,
                    absolute_deadline: session.absolute_deadline,
                    ..Delta::default()
                },
            )
            .await;
        assert!(
            matches!(moved, Ok(true)),
            "regenerate after the restart: {moved:?}"
        );
        let deleted = store.delete(&new).await;
        assert!(deleted.is_ok(), "delete after the restart: {deleted:?}");
    }
    let server = server.restart().await;
    for _ in 0..2 * pool_size {
        let created = store.create(&record()).await;
        assert!(created.is_ok(), "create after the restart: {created:?}");
    }
    assert_eq!(store.count().await.unwrap(), 2 * pool_size as u64);
    drop(server);
}

/// One owner with many sessions never makes one long script: listing and revoking them run one
/// script per batch of the owner's set (seen in the server's `SLOWLOG`, which records every
/// command while the test runs), so other users' operations interleave between batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owners_many_sessions_are_listed_and_revoked_in_batches() {
    const SESSIONS: usize = 1000;
    let url = require!(redis_url());
    let store = store(&url, "batches").await;
    let mut redis = connect(&url).await;
    let owner = format!("many-{}", &SessionId::generate().storage_key()[..8]);
    create_owned(&store, &owner, SESSIONS).await;
    log_every_command(&mut redis).await;
    let listed = store.owner_sessions(&owner).await.unwrap().len();
    let revoked = store.delete_owner(&owner, None).await.unwrap();
    let entries = logged_commands(&mut redis).await;
    assert_eq!((listed, revoked), (SESSIONS, SESSIONS as u64));
    let scripts = entries
        .into_iter()
        .filter_map(|entry| match entry {
            redis::Value::Array(fields) => fields.into_iter().nth(3),
            _ => None,
        })
        .filter_map(|args| redis::from_redis_value::<Vec<Vec<u8>>>(args).ok())
        .filter(|args| {
            args.first().is_some_and(|name| name.starts_with(b"EVAL"))
                && args.iter().any(|arg| arg.as_slice() == owner.as_bytes())
        })
        .count();
    // 1000 members in batches of about 200: at least five scripts to list, five to revoke.
    assert!(
        scripts >= 10,
        "{scripts} scripts listed and revoked {SESSIONS} sessions"
    );
}

/// Server time (the `SLOWLOG`'s microseconds, summed, and the longest single command) of
/// listing and revoking one owner's 10, 1,000 and 100,000 sessions. Prints the figures of
/// `BENCHMARKS.md`; run with `--ignored --nocapture` through `scripts/with-redis.sh`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn owner_listing_and_revocation_server_time() {
    let url = require!(redis_url());
    let store = store(&url, "owner-time").await;
    // The slow log of 100,000 sessions' batches takes a while to read back.
    let mut redis = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection_with_config(
            &redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(std::time::Duration::from_secs(120))),
        )
        .await
        .unwrap();
    for sessions in [10usize, 1_000, 100_000] {
        let owner = format!(
            "time-{sessions}-{}",
            &SessionId::generate().storage_key()[..8]
        );
        create_owned(&store, &owner, sessions).await;
        for what in ["list", "revoke"] {
            run(&mut redis, &["SLOWLOG", "RESET"]).await;
            log_every_command(&mut redis).await;
            if what == "list" {
                assert_eq!(store.owner_sessions(&owner).await.unwrap().len(), sessions);
            } else {
                assert_eq!(
                    store.delete_owner(&owner, None).await.unwrap(),
                    sessions as u64
                );
            }
            let entries = logged_commands(&mut redis).await;
            let (mut total, mut longest, mut commands) = (0i64, 0i64, 0);
            for entry in entries {
                let redis::Value::Array(fields) = entry else {
                    continue;
                };
                let micros = match fields.get(2) {
                    Some(redis::Value::Int(micros)) => *micros,
                    _ => continue,
                };
                let args = fields
                    .get(3)
                    .cloned()
                    .and_then(|args| redis::from_redis_value::<Vec<Vec<u8>>>(args).ok())
                    .unwrap_or_default();
                if args.iter().any(|arg| {
                    arg.windows(owner.len())
                        .any(|window| window == owner.as_bytes())
                }) {
                    total += micros;
                    longest = longest.max(micros);
                    commands += 1;
                }
            }
            println!(
                "{what} {sessions} sessions: {commands} commands, {total} us of Redis time in all, \
                 longest {longest} us"
            );
        }
    }
}
