//! The Redis store: sessions on a Redis server, a primary watched by Redis Sentinel, or a Redis
//! Cluster, shared by any number of application servers.
//!
//! ```toml
//! store = { type = "redis", url = "redis://127.0.0.1:6379/", pool_size = 4, key_prefix = "session:" }
//! # or, on a cluster (any reachable nodes will do as seeds):
//! store = { type = "redis", cluster = true, urls = ["redis://10.0.0.1:6379/", "redis://10.0.0.2:6379/"] }
//! # or, on a primary watched by Sentinel (the sentinels' password in their URLs, the primary's apart):
//! store = { type = "redis", sentinel = { master = "mymaster", urls = ["redis://:s3cret@10.0.0.1:26379/", "redis://:s3cret@10.0.0.2:26379/"], primary_password = "other" } }
//! ```
//!
//! ```no_run
//! use session_stores::redis::{RedisOptions, RedisStore};
//!
//! # async fn example() -> Result<(), session_core::StoreError> {
//! let store = RedisStore::connect(RedisOptions {
//!     url: "redis://127.0.0.1:6379/".into(),
//!     ..RedisOptions::default()
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! A session is one Redis hash under `key_prefix + storage_key`, where the storage key is
//! [`SessionId::storage_key`] (a SHA-256 of the id: `KEYS *` or a dump does not reveal live
//! tokens, and no request can choose a key). Its fields:
//!
//! | field      | holds                                                     |
//! |------------|-----------------------------------------------------------|
//! | `@c`       | created-at (ms since the epoch)                           |
//! | `@e`       | idle deadline, `expires_at` (ms)                          |
//! | `@a`       | absolute deadline (ms), when there is one                 |
//! | `@v`       | version                                                   |
//! | `@x`       | per-session expiry override (JSON), if set                |
//! | `@o`       | the owner, when the session is bound to one               |
//! | `@t`       | until when the owner's set is known to live (ms)          |
//! | `@z`       | alone: the tombstone of a failed cluster regenerate       |
//! | `d:<key>`  | the value of session key `<key>` (raw JSON); `d:__device`: the device record |
//!
//! Every record has `@c`, and a hash without it is no session to any reader: `load` and
//! `exists` find none, `update` and `regenerate` find it gone (`false`), `create` writes over it.
//! Such a hash is what an update of a gone session leaves behind for a moment (see below). A
//! hash without `@e`, or with a field that does not decode, is [`StoreError::Corrupt`] to `load`
//! (and to an `update` whose version bump it refuses): the manager deletes it and starts a new
//! session. So is a key of another type than a hash under a session's name (Redis's
//! `WRONGTYPE`), to every operation that reads it. An owner's set of the wrong type is refused
//! (`Corrupt`) before a script writes anything, so `create` never leaves a hash without a
//! deadline behind.
//!
//! The key's TTL is kept by Redis itself: every write sets `PEXPIREAT` to the record's idle
//! deadline capped by its absolute one (and by `i64::MAX` ms, the latest time Redis accepts), so
//! expired sessions vanish without any cleanup ([`Store::cleanup`] is `None`).
//!
//! **The owner index** is a set per owner, `key_prefix + "owner:" + owner`, of its sessions'
//! storage keys. The scripts that write sessions keep it (with the store's help after an update):
//! a record bound to an owner is in the owner's set, and the set lives at least a day past that record's deadline (extended when the
//! deadline comes within half a day of it, so a sliding session costs one extension a day).
//! Members are never trusted: listing and revoking check each member's `@o`, and members whose
//! record is gone (deleted, expired, moved by a regenerate, rebound) are pruned when the set is
//! read. A set outlives its last member by at most a day.
//!
//! [`count`](Store::count) is a `SCAN` of the keys under `key_prefix` that are hashes (owner
//! sets are not): it costs time in proportion to every key of the database (of every primary, on
//! a cluster), so it is for operators, not for requests. Other hashes an application keeps under
//! the same prefix would be counted too, and so would, for the moment it lives, what an update
//! of a gone session leaves.
//!
//! # One round trip, atomically (single server)
//!
//! - `load` is one `HGETALL`; `exists` one `HMGET` of the deadlines; `delete` one `DEL`.
//! - `create` is one Lua script that writes only if the key does not exist, so it never
//!   overwrites ([`StoreError::AlreadyExists`] otherwise), and adds the record to its owner's set.
//! - `update` is one `MULTI`/`EXEC` of native commands, which costs Redis about what a `SET` of
//!   the record would, where a script costs it several times that: it bumps the version, `HDEL`s
//!   the removed keys, `HSET`s the changed ones and the deadlines, reads `@c` and the owner
//!   fields back and moves the TTL. A transaction cannot be conditional, so the check comes in
//!   the same `EXEC`: no `@c` means the key was gone (deleted, expired, moved away), the store
//!   deletes the few fields the transaction wrote there (unless a record took the key
//!   meanwhile) and returns `false`. Until then those fields are no session to anyone (see the
//!   layout above), and they expire with the delta's deadline in any case. An owner's set due
//!   its daily extension is extended right after. An update that binds or unbinds the owner is
//!   one Lua script instead, which checks the key exists first and changes the index with the
//!   record. Concurrent requests changing different keys of one session all persist; for the
//!   same key the last writer wins.
//! - `regenerate` is one Lua script: only while the old key exists (and the new one does not), it
//!   applies the delta to the *stored* hash, `RENAME`s it to the new key, sets its TTL and adds
//!   the new key to the owner's set.
//! - `owner_sessions` and `delete_owner` work in batches, so that one owner with many sessions
//!   never holds Redis up for everyone else: an `SSCAN` of the owner's set with a `COUNT` of 200,
//!   then one script over the members it returned (the listing reads each member's times and
//!   its device record, `d:__device`). No command or script handles more than a batch (`SSCAN`
//!   may return a few more than its `COUNT`), whatever the size of the set.
//!   `delete_owner` first marks the owner (a small hash under the owner set's key plus
//!   `~revoking`, with an entry per revocation under way, living a minute unless the last
//!   revocation ends first); while it is there, the regenerate script deletes a session of that
//!   owner instead of moving it (`false`), so a regenerate between two batches cannot move a
//!   session to a key the revocation does not see. One that ran before the mark has its new key
//!   in the set for the whole scan, which `SSCAN` returns.
//! - **Keeping one session** (`delete_owner` with `keep`, "log out my other devices"): the mark
//!   also records, per revocation, the session keys it keeps, first the one it was given. A
//!   regenerate of a marked owner's session moves it as usual only when *every* revocation under
//!   way keeps its key, and the mark then keeps its new key too (in the same script); each batch
//!   spares the members whose key its revocation keeps. So the caller's own session is not
//!   logged out because another of its requests regenerated it meanwhile, while a concurrent
//!   "log out everywhere" (which keeps nothing) still ends it. The kept key is the one the caller
//!   names: a regenerate that finished before the revocation began had already moved the
//!   session away from it, and that session ends like the others.
//! - `delete_owned` is one script on the session's key: it deletes the hash only when `@o` is
//!   the owner and the record is live (by the application's clock, as `load` judges), and
//!   removes it from the owner's set in the same step. A handle that is not a storage key (43
//!   characters of base64url) names no session and is refused before any command.
//!
//! On a single server the scripts touch the owner's set under a name they derive from the stored
//! owner, which a cluster would refuse (a script may only touch keys of its own slot).
//!
//! Scripts are sent with `EVALSHA`; a server that does not have them (after a restart, a
//! failover or `SCRIPT FLUSH`) answers `NOSCRIPT`, and the store sends the script's body.
//!
//! # Redis Cluster
//!
//! With `cluster = true` the store uses the `redis` crate's cluster client: `urls` are seeds (one
//! reachable node is enough; it learns the rest), each command goes to the primary of its key's
//! slot, and `MOVED`/`ASK` redirections and slot-map changes after a failover are followed by the
//! client. `pool_size` does not apply: the client keeps one multiplexed connection per node.
//!
//! A session is one key, so every operation on one session (`load`, `create`, `update`,
//! `delete`, `exists`) stays one atomic script, transaction or command in the session's slot,
//! exactly as on a single server. Two things span slots, and no hash tag can bring them together: the new key of a
//! regenerate is random (it must be derivable from the new id alone, so it cannot share a tag with
//! the old one), and an owner's sessions are spread over the whole cluster. So:
//!
//! - **`regenerate` is atomic for every observer of the old session**: the store first adds the
//!   new key to the owner's set (the owner the delta binds, or the stored one), unless the
//!   owner's sessions are being revoked (see below: the session then ends, `false`). Then one
//!   script on the old key's slot checks it exists, applies the delta to the stored hash, deletes
//!   it and returns it; a concurrent update, destroy or second regenerate runs wholly before it
//!   (and is carried over) or after it (and finds the session gone). A second script creates the
//!   new key (never overwriting, never over a tombstone). Each step is atomic on its node, and a
//!   crash between two leaves at most the old record untouched or at most the new one, never both
//!   and never the delta under the old id (a member of the owner's set whose key holds nothing
//!   is pruned later). Between the take and the create, neither key holds the session; nobody
//!   can observe that, since only this request knows the new id. **A failure after the take
//!   ends the session**, and the error says so: the record is never put back under the old id
//!   (which could carry the request's changes, a login, to the pre-login id, or undo a logout
//!   that ran meanwhile). Before the error returns, the store settles the new key: a script
//!   deletes whatever the create left there and leaves a tombstone (a hash of only `@z`, no
//!   record to any reader, for ten minutes) that a create still queued on the node (a paused or
//!   busy node, a timeout) finds taken. If that node answers none of four attempts, the error
//!   says so; a create it still holds may run later, under an id no client was given, indexed
//!   under its owner, so "log out everywhere" ends it, and it expires with its deadline.
//!   `tests/redis_cluster_faults.rs` checks this with the new key's node write-paused (briefly
//!   and for longer than the attempts) and out of memory.
//! - **The owner index is eventually consistent, and never misses a session**: the set is in the
//!   owner's slot, so it is written by a separate command, ordered so that a live session bound to
//!   an owner is always in the owner's set once the write that bound it has answered (a rebind
//!   adds to the set before writing `@o`; a regenerate's new key is added before it is created;
//!   a new session is added right after it is created, and is deleted again if that fails). The
//!   set may hold members that are gone or rebound, which listing skips. A member whose key
//!   holds no record is *fenced* (a tombstone, as above) before it is pruned, since it may be a
//!   regenerate's new key between its steps: that regenerate then finds the session gone
//!   (`false`). Rebound members are not pruned (they could be bound back concurrently).
//! - **"Log out everywhere" leaves no session of the owner behind, whatever runs meanwhile**: it
//!   first marks the owner (a hash, as on one server, under a key with a hash tag that puts it in
//!   the owner set's slot, living a minute unless the revocation ends first), then deletes each
//!   member that still names the owner and fences each whose key holds no record. A regenerate that
//!   indexed its new key before the mark is in the set it reads (deleted, or fenced before its
//!   create); one that comes after the mark is refused and ends its session. A login that binds the
//!   owner while it runs may survive it, as on any store. With `keep`, the mark records the kept
//!   keys as on a single server, and the step that indexes a regenerate's new key (in the set's
//!   slot, with the mark) moves them along: the revocation reads the kept keys after the owner's
//!   set and spares those members. A regenerate of the kept session that indexed its new key before
//!   the mark (its steps still running when the revocation began) is treated as one that moved the
//!   session before: its new key is fenced or deleted, and it ends (`false`).
//! - **`delete_owned`** deletes the session on its own node, only when it is live and the
//!   owner's, as above; then the member leaves the owner's set (a separate command in the set's
//!   slot). It needs no fence: the key cannot hold a session again, since a new session's key
//!   and a regenerate's new key are random.
//! - **`count`** scans every primary in turn, so it is a moving total while slots migrate.
//!
//! Replication between a primary and its replicas is asynchronous: a write acknowledged by a
//! primary that dies before its replica received it is lost when the replica takes over (Redis
//! documents this window; `WAIT` would narrow it at the price of a round trip to the replicas on
//! every write, which the store does not pay).
//!
//! A key prefix with a hash tag (`{sessions}:`) would put every key in one slot, and so on one
//! primary: it gains nothing over a single server and is not recommended.
//!
//! # Redis Sentinel
//!
//! With `sentinel = { master, urls }` the store asks the sentinels (`urls`, in order, up to three
//! at once, through the `redis` crate's Sentinel client) for the primary monitored as `master`,
//! checks with `ROLE` that it is one, and opens `pool_size` multiplexed connections to it. There
//! is one primary, so every operation is exactly the single server's: the same scripts and
//! transactions, the same atomicity, the owner index kept by the scripts.
//!
//! The store follows the primary without a restart. It asks the sentinels again:
//!
//! - when a connection dies (the primary stopped, or a sentinel closed its clients' connections
//!   while demoting it, as Sentinel does), or a write is refused as `READONLY` (a transaction's
//!   `EXECABORT` over one) or `MASTERDOWN` (the server is a replica now): the command is sent
//!   again to the primary the sentinels name, at most twice;
//! - after an operation timed out (a primary lost in a network partition never answers again),
//!   before the next one;
//! - every second while the store is used, without holding any operation up: a sentinel
//!   demotes a live primary (a switchover, or an old primary that comes back) only after it
//!   promoted the replica, and meanwhile the old primary still takes writes.
//!
//! Operations that fail at once share one lookup, and a lookup that failed is not repeated for
//! 100 ms (operations meanwhile fail at once), so a failover does not turn into a flood of
//! questions to the sentinels. A lookup runs as a task of its own, bounded at 10 s, and each
//! command the store sends takes at most `timeout_ms` in all, the lookups and the second send
//! included: until the sentinels name a new primary, operations fail quickly with
//! [`StoreError::Backend`].
//!
//! The sentinels and the primary authenticate separately: a sentinel's password (and
//! `rediss://`) is in its URL, the primary's in `primary_username`, `primary_password`,
//! `primary_db` and `primary_tls` (TLS needs one of the `redis` crate's TLS features), which hold
//! for whichever server is promoted. [`RedisOptions`]' and the store's `Debug` hide both.
//!
//! What a failover costs, measured by `tests/redis_sentinel_failover.rs` on the private setup of
//! `scripts/with-redis-sentinel.sh` (sentinels with a 1 s `down-after-milliseconds`), operations
//! 50 ms apart with a 500 ms `timeout_ms`:
//!
//! - **The primary killed** (SIGKILL): about 45 operations failed, all with a backend error, and
//!   service was back 3.4 s after the kill, on the promoted replica, with no error after; 0 of
//!   60 sessions acknowledged just before the kill were lost (on loopback the replica keeps up;
//!   replication is asynchronous, so over a slower link the writes of its last moments are).
//!   The test's stated bound is 400 operations.
//! - **A switchover** (`SENTINEL FAILOVER`, the old primary alive): no operation failed, but
//!   the writes the old primary took between the replica's promotion and the store following
//!   (the sentinels publish the promotion only once the replica reports it, then the store's
//!   next check) were lost when the old primary was demoted: 15 to 36 sessions in runs here,
//!   one to two seconds of writes. Redis's `min-replicas-to-write` makes a primary cut off
//!   from its replicas refuse writes instead, which narrows this window on the server side.
//! - **The primary silent** (SIGSTOP, as a network partition looks): 6 operations failed, on
//!   their timeout, before the store followed the replica the sentinels promoted meanwhile.
//!
//! The check every second costs a question to a sentinel and a short connection to the primary
//! (for its `ROLE`), in a task of its own.
//!
//! # Deadlines and clocks
//!
//! `load` compares the record's deadlines with the application's clock and returns `None` once
//! either has passed. `update` does not read the deadlines: the key exists exactly until the
//! record's deadline by the Redis server's clock (its `PEXPIREAT`), so a missing key already means
//! "deleted or expired". With clocks in sync the two agree. If the application's clock runs ahead
//! of the server's, an update that arrives less than that difference after the deadline (by the
//! application's clock) still applies and, as any update, slides the idle deadline. The session
//! manager only updates a session that was live by the application's clock when the request
//! loaded (or last wrote) it, so this only concerns a request still running when the deadline
//! passed. The absolute deadline still holds: the new deadline is capped by it, and `load` refuses
//! a record past it.
//!
//! # Failures and reconnects
//!
//! Every Redis failure (refused connection, timeout, server error) is a
//! [`StoreError::Backend`], never a panic; adapters answer it with a 500. Connections are
//! multiplexed ([`redis::aio::ConnectionManager`]), `pool_size` of them used round-robin, and
//! reconnect by themselves after an outage (under Sentinel, to the primary the sentinels name:
//! see above). A command sent on a connection that turns out to be
//! dead (the server restarted) is sent once more on its fresh replacement, so once the server
//! answers again no request fails. [`RedisStore::connect`] fails when the server cannot be
//! reached at start-up.

mod cluster;
mod layout;
mod link;
mod options;
mod scripts;
mod sentinel;
mod update;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, RedisWrite, ToRedisArgs, Value};
use session_core::{now_ms, Delta, OwnerSession, Record, SessionId, Store, StoreError};

use self::layout::is_storage_key;
use self::layout::{
    data_bytes, expire_at, push_changed, push_fields, push_removed, record_bytes, record_from,
    removed_count, Key, ABSOLUTE, CREATED, EXPIRES, INDEX_SLACK_MS, OWNER_BATCH, OWNER_INFIX,
};
use self::link::{glob_literal, Link, Script};
use self::options::{redacted, MAX_POOL};
pub use self::options::{RedisOptions, SentinelOptions};
use self::sentinel::SentinelLink;
use crate::codec;
use crate::options::redacted_all;

/// What went wrong talking to Redis, as the source of a [`StoreError::Backend`].
#[derive(Debug, thiserror::Error)]
#[error(
    "Redis {action} failed at {url}: {source}; check that the server is up and reachable, and that \
     no other data is kept under the store's key prefix"
)]
pub struct RedisStoreError {
    action: &'static str,
    url: String,
    source: redis::RedisError,
}

/// A session store on a Redis server or cluster. See the [module documentation](self).
///
/// Cloning is cheap and shares the connections.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    key_prefix: String,
    /// `key_prefix` + `owner:` on a single server, where the scripts maintain the owner sets;
    /// empty on a cluster, where the store does.
    script_index_prefix: String,
    url: String,
    scripts: Scripts,
}

struct Scripts {
    create: Script,
    update: Script,
    regenerate: Script,
    take: Script,
    abandon: Script,
    index_add: Script,
    touch_index: Script,
    list_owner: Script,
    revoke_owner: Script,
    delete_if_owned: Script,
    delete_owned: Script,
    fence_gone: Script,
    index_add_unless_revoking: Script,
    mark_revoking: Script,
    unmark_revoking: Script,
    delete_stray: Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            create: Script::new(scripts::with_prelude(scripts::CREATE)),
            update: Script::new(scripts::with_prelude(scripts::UPDATE)),
            regenerate: Script::new(scripts::with_prelude(scripts::REGENERATE)),
            take: Script::new(scripts::with_prelude(scripts::TAKE)),
            abandon: Script::new(scripts::ABANDON.into()),
            index_add: Script::new(scripts::INDEX_ADD.into()),
            touch_index: Script::new(scripts::TOUCH_INDEX.into()),
            list_owner: Script::new(scripts::LIST_OWNER.into()),
            revoke_owner: Script::new(scripts::REVOKE_OWNER.into()),
            delete_if_owned: Script::new(scripts::with_prelude(scripts::DELETE_IF_OWNED)),
            delete_owned: Script::new(scripts::DELETE_OWNED.into()),
            fence_gone: Script::new(scripts::with_prelude(scripts::FENCE_GONE)),
            index_add_unless_revoking: Script::new(scripts::index_add_unless_revoking()),
            mark_revoking: Script::new(scripts::MARK_REVOKING.into()),
            unmark_revoking: Script::new(scripts::UNMARK_REVOKING.into()),
            delete_stray: Script::new(scripts::DELETE_STRAY.into()),
        }
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("RedisStore");
        debug
            .field("url", &self.inner.url)
            .field("cluster", &self.is_cluster());
        if let Link::Sentinel(link) = &self.inner.link {
            debug.field("primary", &link.primary_address());
        }
        debug.field("key_prefix", &self.inner.key_prefix).finish()
    }
}

/// How a write changes the stored owner (ARGV[6] of the writing scripts).
#[derive(Clone, Copy)]
enum OwnerChange<'a> {
    Keep,
    Unbind,
    Bind(&'a str),
}

impl<'a> OwnerChange<'a> {
    fn of(delta: &'a Delta) -> Self {
        match &delta.owner {
            None => OwnerChange::Keep,
            Some(None) => OwnerChange::Unbind,
            Some(Some(owner)) => OwnerChange::Bind(owner),
        }
    }

    fn of_record(owner: Option<&'a str>) -> Self {
        owner.map_or(OwnerChange::Unbind, OwnerChange::Bind)
    }
}

impl ToRedisArgs for OwnerChange<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        match self {
            OwnerChange::Keep => out.write_arg(b""),
            OwnerChange::Unbind => out.write_arg(b"-"),
            OwnerChange::Bind(owner) => {
                let mut arg = out.writer_for_next_arg();
                let _ = std::io::Write::write_all(&mut arg, b"=");
                let _ = std::io::Write::write_all(&mut arg, owner.as_bytes());
            }
        }
    }
}

/// How long a revocation's mark lives unless the revocation ends first: longer than any runs.
const REVOCATION_MARK_MS: u64 = 60 * 1000;

/// How many characters of a random storage key number a revocation in its owner's mark (96
/// bits).
const REVOCATION_TOKEN_CHARS: usize = 16;

/// A revocation of an owner's sessions under way, as [`RedisStore::mark_revocation`] started
/// it.
pub(super) struct Revocation<'k> {
    /// The owner's revocation mark.
    mark: String,
    /// The storage key of the session it spares.
    keep: Option<&'k str>,
    /// Its number in the mark.
    token: String,
}

/// The error code of a command on a key of the wrong type.
const WRONG_TYPE: &str = "WRONGTYPE";

/// Until when an owner's set must live to cover a record with this deadline.
fn index_cover(deadline: u64) -> u64 {
    expire_at(deadline.saturating_add(INDEX_SLACK_MS))
}

fn backend_reply(action: &str, reply: &Value) -> StoreError {
    StoreError::backend_msg(format!("Redis {action}: unexpected reply {reply:?}"))
}

impl RedisStore {
    /// Connects to `options.url` (`pool_size` multiplexed connections), with `sentinel` to the
    /// primary the sentinels name (`pool_size` connections), or with `cluster` to the cluster
    /// `options.urls` (or `url`) belong to.
    ///
    /// Fails with [`StoreError::Backend`] when a URL is invalid or the server cannot be reached
    /// (after two quick retries).
    pub async fn connect(options: RedisOptions) -> Result<Self, StoreError> {
        let seeds = options.seeds();
        let url = match &options.sentinel {
            Some(sentinel) => format!(
                "primary {:?} of sentinels {}",
                sentinel.master,
                redacted_all(&sentinel.urls).join(",")
            ),
            None => seeds
                .iter()
                .map(|(_, url)| redacted(url))
                .collect::<Vec<_>>()
                .join(","),
        };
        let failed = |action: &'static str, url: &str| {
            let url = url.to_string();
            move |source| {
                StoreError::backend(RedisStoreError {
                    action,
                    url,
                    source,
                })
            }
        };
        let timeout = Duration::from_millis(options.timeout_ms.max(1));
        let link = if let Some(sentinel) = &options.sentinel {
            let pool_size = options.pool_size.clamp(1, MAX_POOL);
            Link::Sentinel(
                SentinelLink::connect(sentinel, pool_size, timeout)
                    .await
                    .map_err(failed("connection", &url))?,
            )
        } else if options.cluster {
            let client = redis::cluster::ClusterClientBuilder::new(
                seeds.iter().map(|(_, url)| url.to_string()),
            )
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(6)
            .min_retry_wait(10)
            .max_retry_wait(500)
            .retry_wait_formula(20, 2)
            .build()
            .map_err(failed("configuration (invalid URL)", &url))?;
            Link::Cluster(
                client
                    .get_async_connection()
                    .await
                    .map_err(failed("connection", &url))?,
            )
        } else {
            let client = redis::Client::open(options.url.as_str())
                .map_err(failed("configuration (invalid URL)", &url))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(2)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_secs(2));
            let mut pool = Vec::with_capacity(options.pool_size);
            for _ in 0..options.pool_size.clamp(1, MAX_POOL) {
                let connection = ConnectionManager::new_with_config(client.clone(), config.clone())
                    .await
                    .map_err(failed("connection", &url))?;
                pool.push(connection);
            }
            Link::Single {
                pool: pool.into_boxed_slice(),
                next: AtomicUsize::new(0),
            }
        };
        let script_index_prefix = if options.cluster {
            String::new()
        } else {
            format!("{}{OWNER_INFIX}", options.key_prefix)
        };
        Ok(RedisStore {
            inner: Arc::new(Inner {
                link,
                key_prefix: options.key_prefix,
                script_index_prefix,
                url,
                scripts: Scripts::new(),
            }),
        })
    }

    /// The Redis key of a session: `key_prefix` followed by its storage key.
    pub fn key_of(&self, id: &SessionId) -> String {
        format!("{}{}", self.inner.key_prefix, id.storage_key())
    }

    /// The Redis key of an owner's set of sessions: `key_prefix`, `owner:`, the owner.
    pub fn owner_key_of(&self, owner: &str) -> String {
        format!("{}{OWNER_INFIX}{owner}", self.inner.key_prefix)
    }

    fn is_cluster(&self) -> bool {
        matches!(self.inner.link, Link::Cluster(_))
    }

    fn session_key<'a>(&'a self, storage_key: &'a str) -> Key<'a> {
        Key {
            prefix: &self.inner.key_prefix,
            infix: "",
            name: storage_key,
        }
    }

    fn owner_key<'a>(&'a self, owner: &'a str) -> Key<'a> {
        Key {
            prefix: &self.inner.key_prefix,
            infix: OWNER_INFIX,
            name: owner,
        }
    }

    /// Appends the arguments every writing script starts with (see [`scripts`]).
    fn push_header(&self, command: &mut Cmd, deadline: u64, member: &str, owner: OwnerChange) {
        command
            .arg(&self.inner.script_index_prefix)
            .arg(expire_at(deadline))
            .arg(member)
            .arg(index_cover(deadline))
            .arg(expire_at(deadline.saturating_add(INDEX_SLACK_MS / 2)))
            .arg(owner);
    }

    /// Appends a delta's removed fields (counted first) and its field, value pairs.
    fn push_delta(&self, command: &mut Cmd, delta: &Delta) -> Result<(), StoreError> {
        command.arg(removed_count(delta));
        push_removed(command, delta);
        push_changed(command, delta)
    }

    /// A script invocation sized for `delta`, with `keys` keys still to append.
    fn delta_command(&self, script: &Script, keys: usize, delta: &Delta) -> Cmd {
        let bytes = data_bytes(delta.changed.iter().map(|(k, v)| (k.as_str(), v.get())))
            + data_bytes(delta.removed.iter().map(|k| (k.as_str(), "")))
            + 320
            + self.inner.key_prefix.len() * 3;
        script.command(
            keys,
            12 + delta.removed.len() + 2 * delta.changed.len(),
            bytes,
        )
    }

    async fn eval(
        &self,
        script: &Script,
        command: &Cmd,
        action: &'static str,
    ) -> Result<Value, StoreError> {
        self.inner
            .link
            .eval(script, command)
            .await
            .map_err(self.failed(action))
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        command: &Cmd,
        action: &'static str,
    ) -> Result<T, StoreError> {
        self.inner
            .link
            .query(command)
            .await
            .map_err(self.failed(action))
    }

    /// Wraps a Redis error: a key of the wrong type under the store's prefix (`WRONGTYPE`) is
    /// [`StoreError::Corrupt`], which the manager answers by deleting it, not a backend failure
    /// on every request.
    fn failed(&self, action: &'static str) -> impl FnOnce(redis::RedisError) -> StoreError + '_ {
        move |source| {
            if source.code() == Some(WRONG_TYPE) {
                return StoreError::corrupt(RedisStoreError {
                    action,
                    url: self.inner.url.clone(),
                    source,
                });
            }
            StoreError::backend(RedisStoreError {
                action,
                url: self.inner.url.clone(),
                source,
            })
        }
    }

    /// Makes `owner`'s set outlive `deadline` and records that in the session's `@t`, after a
    /// write that found the extension due. A failure leaves `@t` as it was, so the next update
    /// tries again, half a day before it matters.
    async fn extend_owner_index(&self, owner: &str, member: &str, deadline: u64) {
        let cover = index_cover(deadline);
        let extended = match self.index_add(owner, member, cover).await {
            Ok(()) => {
                let script = &self.inner.scripts.touch_index;
                let mut touch = script.command(1, 2, owner.len() + member.len() + 64);
                touch.arg(self.session_key(member)).arg(owner).arg(cover);
                self.eval(script, &touch, "owner index").await.map(drop)
            }
            Err(error) => Err(error),
        };
        if let Err(error) = extended {
            tracing::warn!(%error, "owner index not extended; retried on the next update");
        }
    }

    /// One `SSCAN` batch of `owner`'s set from `cursor`: the next cursor (0 at the end) and the
    /// members.
    async fn owner_batch(
        &self,
        owner: &str,
        cursor: u64,
    ) -> Result<(u64, Vec<String>), StoreError> {
        let mut command = redis::cmd("SSCAN");
        command
            .arg(self.owner_key(owner))
            .arg(cursor)
            .arg("COUNT")
            .arg(OWNER_BATCH);
        self.query(&command, "owner sessions").await
    }

    /// Starts a revocation of an owner's sessions that spares the session under `keep`: marks
    /// it in `mark` (see [`MARK_REVOKING`](scripts::MARK_REVOKING)) under the revocation's
    /// number, random so that it is never another revocation's.
    async fn mark_revocation<'k>(
        &self,
        mark: String,
        keep: Option<&'k str>,
    ) -> Result<Revocation<'k>, StoreError> {
        let token = SessionId::generate().storage_key()[..REVOCATION_TOKEN_CHARS].to_string();
        let script = &self.inner.scripts.mark_revoking;
        let mut command = script.command(1, 3, mark.len() + self.inner.key_prefix.len() + 128);
        command.arg(&mark).arg(REVOCATION_MARK_MS).arg(&token);
        match keep {
            Some(keep) => command.arg(self.session_key(keep)),
            None => command.arg(""),
        };
        self.eval(script, &command, "delete owner").await?;
        Ok(Revocation { mark, keep, token })
    }

    /// Ends `revocation`'s part of its mark; a failure only leaves the mark until it expires.
    async fn unmark_revocation(&self, revocation: &Revocation<'_>) {
        let script = &self.inner.scripts.unmark_revoking;
        let mut command = script.command(1, 1, revocation.mark.len() + 64);
        command.arg(&revocation.mark).arg(&revocation.token);
        if let Err(error) = self.eval(script, &command, "delete owner").await {
            tracing::warn!(%error, "an owner's revocation mark stays until it expires");
        }
    }

    async fn delete_owner_in_batches(
        &self,
        owner: &str,
        revocation: &Revocation<'_>,
    ) -> Result<u64, StoreError> {
        let Revocation { mark, keep, token } = revocation;
        let script = &self.inner.scripts.revoke_owner;
        let kept_prefix = format!("k{token}:");
        let mut removed = 0;
        let batch = |members: &[String]| {
            let mut command = script.command(
                2,
                4 + members.len(),
                owner.len() * 2 + mark.len() + 160 + 64 * (members.len() + 1),
            );
            command
                .arg(self.owner_key(owner))
                .arg(mark)
                .arg(&self.inner.key_prefix)
                .arg(owner);
            match keep {
                Some(keep) => command.arg(self.session_key(keep)),
                None => command.arg(""),
            };
            command.arg(&kept_prefix).arg(members);
            command
        };
        self.each_owner_batch(owner, script, "delete owner", batch, |reply| match reply {
            Value::Int(batch) => {
                removed += batch.max(0) as u64;
                Ok(())
            }
            reply => Err(backend_reply("delete owner", &reply)),
        })
        .await?;
        Ok(removed)
    }

    /// Runs `script` on each batch of `owner`'s set (single server), with the command `batch`
    /// makes of the batch's members, and hands each reply to `reply`.
    async fn each_owner_batch(
        &self,
        owner: &str,
        script: &Script,
        action: &'static str,
        batch: impl Fn(&[String]) -> Cmd,
        mut reply: impl FnMut(Value) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut cursor = 0;
        loop {
            let (next, members) = self.owner_batch(owner, cursor).await?;
            if !members.is_empty() {
                reply(self.eval(script, &batch(&members), action).await?)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Deletes the session under `key` if it is live and `owner`'s, with its member of the
    /// owner's set on a single server (on a cluster the set is in another slot: the caller
    /// prunes it).
    async fn delete_if_live_and_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
        let script = &self.inner.scripts.delete_owned;
        let cluster = self.is_cluster();
        let keys = if cluster { 1 } else { 2 };
        let mut command = script.command(keys, 3, owner.len() * 2 + key.len() * 2 + 96);
        command.arg(self.session_key(key));
        if !cluster {
            command.arg(self.owner_key(owner));
        }
        command.arg(owner).arg(now_ms()).arg(key);
        match self.eval(script, &command, "delete owned").await? {
            Value::Int(deleted) => Ok(deleted == 1),
            reply => Err(backend_reply("delete owned", &reply)),
        }
    }

    async fn delete_key(&self, member: &str) -> Result<(), StoreError> {
        let mut command = redis::cmd("DEL");
        command.arg(self.session_key(member));
        self.query(&command, "delete").await
    }
}

/// An owner's session from its stored times and device record (empty when it has none);
/// `None` (logged) when the times do not decode, and `None` when it has expired by `now`.
fn owner_session(
    key: String,
    created: &[u8],
    expires: &[u8],
    absolute: &[u8],
    device: &[u8],
    now: u64,
) -> Option<OwnerSession> {
    let number = |bytes: &[u8]| std::str::from_utf8(bytes).ok()?.parse::<u64>().ok();
    let (Some(created_at), Some(expires_at)) = (number(created), number(expires)) else {
        tracing::warn!("a session in an owner's index does not decode; skipped");
        return None;
    };
    let absolute = number(absolute);
    let live = now < expires_at && absolute.is_none_or(|deadline| now < deadline);
    // A device record that is not text is no record, as one that is not JSON is.
    let device = std::str::from_utf8(device)
        .ok()
        .filter(|json| !json.is_empty());
    live.then(|| OwnerSession::from_parts(key, created_at, expires_at, device))
}

#[async_trait]
impl Store for RedisStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let mut command = redis::cmd("HGETALL");
        command.arg(self.session_key(&id.storage_key()));
        let hash: Vec<(Vec<u8>, Vec<u8>)> = self.query(&command, "load").await?;
        let Some(record) = record_from(*id, hash)? else {
            return Ok(None);
        };
        Ok((!record.is_expired(now_ms())).then_some(record))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let script = &self.inner.scripts.create;
        let member = record.id.storage_key();
        let deadline = codec::deadline(record);
        let mut command = script.command(
            1,
            10 + 2 * record.data.len(),
            record_bytes(record) + 256 + self.inner.key_prefix.len() * 2,
        );
        command.arg(self.session_key(&member));
        let owner = record.owner.as_deref();
        self.push_header(
            &mut command,
            deadline,
            &member,
            OwnerChange::of_record(owner),
        );
        push_fields(&mut command, record)?;
        // 0: a record has the key; -1: a tombstone (only a cluster's regenerate or revocation
        // leaves one, under a random id no new session is given but by chance).
        if let Value::Int(0 | -1) = self.eval(script, &command, "create").await? {
            return Err(StoreError::AlreadyExists);
        }
        if let (Some(owner), true) = (owner, self.is_cluster()) {
            if let Err(error) = self.index_add(owner, &member, index_cover(deadline)).await {
                // Unindexed, the session would survive "log out everywhere": take it back.
                if let Err(delete_error) = self.delete_key(&member).await {
                    tracing::warn!(%delete_error, "a new session could not be indexed nor removed");
                }
                return Err(error);
            }
        }
        Ok(())
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        let change = OwnerChange::of(delta);
        if let OwnerChange::Keep = change {
            return self.update_keeping_owner(id, delta).await;
        }
        let script = &self.inner.scripts.update;
        let member = id.storage_key();
        let deadline = codec::deadline_after(delta);
        if let (OwnerChange::Bind(owner), true) = (change, self.is_cluster()) {
            // Indexed before the record names its owner, so the index never misses it.
            self.index_add(owner, &member, index_cover(deadline))
                .await?;
        }
        let mut command = self.delta_command(script, 1, delta);
        command.arg(self.session_key(&member));
        self.push_header(&mut command, deadline, &member, change);
        self.push_delta(&mut command, delta)?;
        match self.eval(script, &command, "update").await? {
            Value::Int(0) => Ok(false),
            Value::Int(_) => Ok(true),
            Value::BulkString(owner) => {
                let owner = String::from_utf8_lossy(&owner);
                self.extend_owner_index(&owner, &member, deadline).await;
                Ok(true)
            }
            reply => Err(backend_reply("update", &reply)),
        }
    }

    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        if self.is_cluster() {
            return self.regenerate_across_slots(old, new, delta).await;
        }
        let script = &self.inner.scripts.regenerate;
        let new_member = new.storage_key();
        let mut command = self.delta_command(script, 2, delta);
        command
            .arg(self.session_key(&old.storage_key()))
            .arg(self.session_key(&new_member));
        let deadline = codec::deadline_after(delta);
        self.push_header(&mut command, deadline, &new_member, OwnerChange::of(delta));
        self.push_delta(&mut command, delta)?;
        match self.eval(script, &command, "regenerate").await? {
            Value::Int(-1) => Err(StoreError::AlreadyExists),
            Value::Int(0) => Ok(false),
            Value::Int(_) => Ok(true),
            reply => Err(backend_reply("regenerate", &reply)),
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.delete_key(&id.storage_key()).await
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        if self.is_cluster() {
            return self.owner_sessions_across_slots(owner).await;
        }
        let script = &self.inner.scripts.list_owner;
        let now = now_ms();
        let mut sessions = Vec::new();
        let batch = |members: &[String]| {
            let mut command = script.command(
                1,
                2 + members.len(),
                owner.len() * 2 + 64 * (members.len() + 1),
            );
            command
                .arg(self.owner_key(owner))
                .arg(&self.inner.key_prefix)
                .arg(owner)
                .arg(members);
            command
        };
        self.each_owner_batch(owner, script, "owner sessions", batch, |reply| {
            let fields: Vec<Vec<u8>> = redis::from_redis_value(reply).map_err(|error| {
                StoreError::backend_msg(format!("Redis owner sessions: {error}"))
            })?;
            sessions.extend(fields.chunks_exact(5).filter_map(|entry| {
                let key = String::from_utf8_lossy(&entry[0]).into_owned();
                owner_session(key, &entry[1], &entry[2], &entry[3], &entry[4], now)
            }));
            Ok(())
        })
        .await?;
        // `SSCAN` may return a member twice.
        sessions.sort_by(|a, b| a.handle.cmp(&b.handle));
        sessions.dedup_by(|a, b| a.handle == b.handle);
        Ok(sessions)
    }

    async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
        // A handle is a storage key; anything else (another of the store's keys, an owner's
        // set, a key of another slot by its hash tag) names no session.
        if !is_storage_key(key) {
            return Ok(false);
        }
        let deleted = self.delete_if_live_and_owned(owner, key).await?;
        if deleted && self.is_cluster() {
            // The key cannot hold a session again (a new session or a regenerate's new key is
            // random), so it needs no fence before it leaves the set.
            self.prune(owner, &[key.to_string()]).await;
        }
        Ok(deleted)
    }

    async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        let keep = keep.filter(|keep| is_storage_key(keep));
        if self.is_cluster() {
            return self.delete_owner_across_slots(owner, keep).await;
        }
        // Marked first: a regenerate of the owner's sessions that starts later ends the session
        // instead of moving it to a key this revocation's batches might not see, unless it is
        // the kept one (its new key is then kept too).
        let mark = format!("{}~revoking", self.owner_key_of(owner));
        let revocation = self.mark_revocation(mark, keep).await?;
        let revoked = self.delete_owner_in_batches(owner, &revocation).await;
        self.unmark_revocation(&revocation).await;
        revoked
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let pattern = format!("{}*", glob_literal(&self.inner.key_prefix));
        self.inner
            .link
            .count_hashes(&pattern)
            .await
            .map_err(self.failed("count"))
    }

    async fn exists(&self, id: &SessionId) -> Result<bool, StoreError> {
        let mut command = redis::cmd("HMGET");
        command
            .arg(self.session_key(&id.storage_key()))
            .arg(CREATED)
            .arg(EXPIRES)
            .arg(ABSOLUTE);
        let (created, expires, absolute): (Option<Vec<u8>>, Option<String>, Option<String>) =
            self.query(&command, "exists").await?;
        // Without `@c` it is no record (see the `update` module).
        let (Some(_), Some(expires)) = (created, expires) else {
            return Ok(false);
        };
        let number = |text: &str, field: &str| {
            text.parse::<u64>().map_err(|_| {
                StoreError::corrupt(format!("field `{field}` is not a number: {text:?}"))
            })
        };
        let now = now_ms();
        let absolute = absolute.map(|a| number(&a, ABSOLUTE)).transpose()?;
        Ok(now < number(&expires, EXPIRES)? && absolute.is_none_or(|deadline| now < deadline))
    }
}
