//! The Redis store: sessions on a Redis server, shared by any number of application servers.
//!
//! ```toml
//! store = { type = "redis", url = "redis://127.0.0.1:6379/", pool_size = 4, key_prefix = "session:" }
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
//! | field      | holds                                        |
//! |------------|----------------------------------------------|
//! | `@c`       | created-at (ms since the epoch)              |
//! | `@e`       | idle deadline, `expires_at` (ms)              |
//! | `@a`       | absolute deadline (ms), when there is one    |
//! | `@v`       | version                                      |
//! | `@x`       | per-session expiry override (JSON), if set   |
//! | `d:<key>`  | the value of session key `<key>` (raw JSON)  |
//!
//! The key's TTL is kept by Redis itself: every write sets `PEXPIREAT` to the record's idle
//! deadline capped by its absolute one (and by `i64::MAX` ms, the latest time Redis accepts), so
//! expired sessions vanish without any cleanup ([`Store::cleanup`] returns 0).
//!
//! # One round trip, atomically
//!
//! - `load` is one `HGETALL`.
//! - `save` is one `MULTI`/`DEL`/`HSET`/`PEXPIREAT`/`EXEC` pipeline.
//! - `create` is one Lua script that writes only if the key does not exist, so it never
//!   overwrites ([`StoreError::AlreadyExists`] otherwise).
//! - `update` is one Lua script that checks the session's key exists (returning `false` and
//!   writing nothing otherwise), then bumps the version, `HDEL`s the removed keys, `HSET`s the
//!   changed ones and the deadlines, and moves the TTL. Concurrent requests changing different
//!   keys of one session all persist; for the same key the last writer wins.
//!
//! The scripts write all fields with one variadic `HSET` (and `HDEL`). They are sent with
//! `EVALSHA`; a server that does not have them (after a restart or `SCRIPT FLUSH`) answers
//! `NOSCRIPT`, and the store loads the script and sends it again.
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
//! # Failures
//!
//! Every Redis failure (refused connection, timeout, server error) is a
//! [`StoreError::Backend`], never a panic; adapters answer it with a 500. Connections are
//! multiplexed ([`redis::aio::ConnectionManager`]), `pool_size` of them used round-robin, and
//! reconnect by themselves after an outage. [`RedisStore::connect`] fails when the server cannot
//! be reached at start-up.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, RedisWrite, ServerErrorKind, ToRedisArgs};
use serde::{Deserialize, Serialize};
use session_core::{now_ms, Data, Delta, Expiry, RawJson, Record, SessionId, Store, StoreError};

use crate::codec;

/// Options of the Redis store (`store = { type = "redis", ... }`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisOptions {
    /// The server, as a `redis://` (or `rediss://` if the `redis` crate has TLS enabled) URL;
    /// a password goes in the URL (`redis://:secret@host/`). Default `redis://127.0.0.1:6379/`.
    pub url: String,
    /// How many multiplexed connections to spread requests over, 1 to 64. Default 4.
    pub pool_size: usize,
    /// Prefix of every session key. Default `session:`.
    pub key_prefix: String,
    /// Milliseconds to wait for a connection or a reply before failing. Default 2000.
    pub timeout_ms: u64,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            url: "redis://127.0.0.1:6379/".into(),
            pool_size: 4,
            key_prefix: "session:".into(),
            timeout_ms: 2000,
        }
    }
}

impl std::fmt::Debug for RedisOptions {
    /// Hides a password in the URL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redacted(&self.url))
            .field("pool_size", &self.pool_size)
            .field("key_prefix", &self.key_prefix)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Most connections a store opens.
const MAX_POOL: usize = 64;

impl RedisOptions {
    /// Checks the options; the error names the field and says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_POOL).contains(&self.pool_size) {
            return Err(format!(
                "`pool_size` must be 1 to {MAX_POOL}, got {}",
                self.pool_size
            ));
        }
        if self.timeout_ms == 0 {
            return Err("`timeout_ms` must be at least 1".into());
        }
        if let Err(error) = redis::Client::open(self.url.as_str()) {
            return Err(format!(
                "`url` is not a Redis URL ({error}); write it like redis://host:6379/"
            ));
        }
        Ok(())
    }
}

/// The URL with any password replaced, for messages and logs.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// What went wrong talking to Redis, as the source of a [`StoreError::Backend`].
#[derive(Debug, thiserror::Error)]
#[error("Redis {action} failed at {url}: {source}; check that the server is up and reachable")]
pub struct RedisStoreError {
    action: &'static str,
    url: String,
    source: redis::RedisError,
}

/// A session store on a Redis server. See the [module documentation](self).
///
/// Cloning is cheap and shares the connections.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    connections: Box<[ConnectionManager]>,
    next: AtomicUsize,
    key_prefix: String,
    url: String,
    create: redis::Script,
    update: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.url)
            .field("pool_size", &self.inner.connections.len())
            .field("key_prefix", &self.inner.key_prefix)
            .finish()
    }
}

/// Creates the hash only if the key is free. KEYS[1]: the key. ARGV[1]: the deadline (ms);
/// then field, value pairs.
///
/// Both scripts write with variadic `HSET`/`HDEL`, one call per 1000 arguments (even, so pairs stay
/// together): Lua's `unpack` cannot spread more than about 8000 values, so a huge record or delta
/// is written in batches, still within one script.
const CREATE_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
for i = 2, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
";

/// Applies a delta to a live hash. KEYS[1]: the key. ARGV[1]: the new deadline (ms); ARGV[2]:
/// how many fields to delete; then those fields; then field, value pairs.
///
/// A live session is one whose key exists: every write sets the key's `PEXPIREAT` to the record's
/// deadline, so Redis deletes it then (see "Deadlines and clocks" in the module documentation).
///
/// Redis does not roll back a script that fails half-way, so the version goes first: `HINCRBY` is
/// the write that can fail on a stored hash (a version that is not an integer), and failing
/// before the other writes leaves the record as it was. Its increment is the string `'1'`: Redis
/// would format a Lua number argument with `snprintf` on every call.
const UPDATE_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HINCRBY', KEYS[1], '@v', '1')
local removed = 2 + tonumber(ARGV[2])
for i = 3, removed, 1000 do
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, removed)))
end
for i = removed + 1, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
";

const CREATED: &str = "@c";
const EXPIRES: &str = "@e";
const ABSOLUTE: &str = "@a";
const VERSION: &str = "@v";
const EXPIRY: &str = "@x";
const DATA_PREFIX: &str = "d:";

/// The hash field of session key `key`, `d:<key>`, written straight into a command's buffer.
struct DataField<'a>(&'a str);

impl ToRedisArgs for DataField<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        // Writes into an in-memory command buffer, which cannot fail.
        let _ = arg.write_all(DATA_PREFIX.as_bytes());
        let _ = arg.write_all(self.0.as_bytes());
    }
}

/// The Redis key of a session, `key_prefix` then its storage key, written straight into a
/// command's buffer.
struct SessionKey<'a> {
    prefix: &'a str,
    id: &'a SessionId,
}

impl ToRedisArgs for SessionKey<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        let _ = arg.write_all(self.prefix.as_bytes());
        let _ = arg.write_all(self.id.storage_key().as_bytes());
    }
}

/// The `PEXPIREAT` argument for a deadline: Redis refuses times past `i64::MAX` ms (a
/// "never" deadline, e.g. from a huge per-session expiry), so those are capped there.
fn expire_at(deadline: u64) -> u64 {
    deadline.min(i64::MAX as u64)
}

fn expiry_json(expiry: &Expiry) -> Result<String, StoreError> {
    serde_json::to_string(expiry).map_err(StoreError::backend)
}

/// Bytes that a record's fields and values take in a command, for sizing its buffer.
fn data_bytes<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> usize {
    pairs
        .map(|(key, value)| DATA_PREFIX.len() + key.len() + value.len())
        .sum()
}

/// Appends the hash fields of a whole record to `cmd`, as field, value arguments.
fn push_fields(cmd: &mut Cmd, record: &Record) -> Result<(), StoreError> {
    cmd.arg(CREATED)
        .arg(record.created_at)
        .arg(EXPIRES)
        .arg(record.expires_at)
        .arg(VERSION)
        .arg(record.version);
    if let Some(absolute) = record.absolute_deadline {
        cmd.arg(ABSOLUTE).arg(absolute);
    }
    if let Some(expiry) = &record.expiry {
        cmd.arg(EXPIRY).arg(expiry_json(expiry)?);
    }
    for (key, value) in &record.data {
        cmd.arg(DataField(key)).arg(value.get());
    }
    Ok(())
}

/// A command with room for a whole record's fields, plus `extra_args` short arguments.
fn command_for(record: &Record, extra_args: usize) -> Cmd {
    let data = data_bytes(record.data.iter().map(|(k, v)| (k.as_str(), v.get())));
    Cmd::with_capacity(
        extra_args + 10 + 2 * record.data.len(),
        data + 128 + 20 * extra_args,
    )
}

/// Rebuilds a record from `HGETALL` output.
fn record_from(id: SessionId, hash: Vec<(String, String)>) -> Result<Record, StoreError> {
    fn corrupt(message: impl Into<String>) -> StoreError {
        StoreError::Corrupt(message.into().into())
    }
    fn number(field: &str, text: &str) -> Result<u64, StoreError> {
        text.parse()
            .map_err(|_| corrupt(format!("field `{field}` is not a number: {text:?}")))
    }
    let (mut created_at, mut expires_at, mut absolute_deadline) = (None, None, None);
    let (mut version, mut expiry) = (0, None);
    let mut data = Data::new();
    for (mut field, value) in hash {
        match field.as_str() {
            CREATED => created_at = Some(number(CREATED, &value)?),
            EXPIRES => expires_at = Some(number(EXPIRES, &value)?),
            ABSOLUTE => absolute_deadline = Some(number(ABSOLUTE, &value)?),
            VERSION => version = number(VERSION, &value)?,
            EXPIRY => {
                expiry = Some(
                    serde_json::from_str(&value)
                        .map_err(|error| corrupt(format!("field `{EXPIRY}`: {error}")))?,
                )
            }
            _ if field.starts_with(DATA_PREFIX) => {
                // The field, minus its prefix, becomes the key: no new String.
                field.drain(..DATA_PREFIX.len());
                let value = RawJson::from_string(value)
                    .map_err(|error| corrupt(format!("value of `{field}`: {error}")))?;
                data.insert(field, value);
            }
            _ => {}
        }
    }
    Ok(Record {
        id,
        data,
        created_at: created_at.ok_or_else(|| corrupt("field `@c` is missing"))?,
        expires_at: expires_at.ok_or_else(|| corrupt("field `@e` is missing"))?,
        absolute_deadline,
        version,
        expiry,
        owner: None,
    })
}

impl RedisStore {
    /// Connects `options.pool_size` multiplexed connections to `options.url`.
    ///
    /// Fails with [`StoreError::Backend`] when the URL is invalid or the server cannot be
    /// reached (after two quick retries).
    pub async fn connect(options: RedisOptions) -> Result<Self, StoreError> {
        let url = redacted(&options.url);
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
        let client = redis::Client::open(options.url.as_str())
            .map_err(failed("configuration (invalid URL)", &url))?;
        let timeout = Duration::from_millis(options.timeout_ms.max(1));
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2));
        let mut connections = Vec::with_capacity(options.pool_size);
        for _ in 0..options.pool_size.clamp(1, MAX_POOL) {
            let connection = ConnectionManager::new_with_config(client.clone(), config.clone())
                .await
                .map_err(failed("connection", &url))?;
            connections.push(connection);
        }
        Ok(RedisStore {
            inner: Arc::new(Inner {
                connections: connections.into_boxed_slice(),
                next: AtomicUsize::new(0),
                key_prefix: options.key_prefix,
                url,
                create: redis::Script::new(CREATE_SCRIPT),
                update: redis::Script::new(UPDATE_SCRIPT),
            }),
        })
    }

    /// The Redis key of a session: `key_prefix` followed by its storage key.
    pub fn key_of(&self, id: &SessionId) -> String {
        format!("{}{}", self.inner.key_prefix, id.storage_key())
    }

    fn key<'a>(&'a self, id: &'a SessionId) -> SessionKey<'a> {
        SessionKey {
            prefix: &self.inner.key_prefix,
            id,
        }
    }

    /// `EVALSHA` of `script` with one key, ready for its arguments.
    fn script_command(&self, script: &redis::Script, id: &SessionId, mut command: Cmd) -> Cmd {
        command
            .arg("EVALSHA")
            .arg(script.get_hash())
            .arg(1)
            .arg(self.key(id));
        command
    }

    /// Runs an `EVALSHA` command built by [`script_command`](Self::script_command); when the
    /// server does not have the script (a restart, `SCRIPT FLUSH`), loads it and runs it again.
    async fn run_script(
        &self,
        script: &redis::Script,
        command: &Cmd,
        action: &'static str,
    ) -> Result<i64, StoreError> {
        let mut connection = self.connection();
        let result = match command.query_async(&mut connection).await {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                match script.load_async(&mut connection).await {
                    Ok(_) => command.query_async(&mut connection).await,
                    Err(error) => Err(error),
                }
            }
            result => result,
        };
        result.map_err(self.failed(action))
    }

    fn connection(&self) -> ConnectionManager {
        let connections = &self.inner.connections;
        let index = self.inner.next.fetch_add(1, Ordering::Relaxed) % connections.len();
        connections[index].clone()
    }

    fn failed(&self, action: &'static str) -> impl FnOnce(redis::RedisError) -> StoreError + '_ {
        move |source| {
            StoreError::backend(RedisStoreError {
                action,
                url: self.inner.url.clone(),
                source,
            })
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let hash: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.key(id))
            .query_async(&mut self.connection())
            .await
            .map_err(self.failed("load"))?;
        if hash.is_empty() {
            return Ok(None);
        }
        let record = record_from(*id, hash)?;
        Ok((!record.is_expired(now_ms())).then_some(record))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let script = &self.inner.create;
        let mut command = self.script_command(script, &record.id, command_for(record, 5));
        command.arg(expire_at(codec::deadline(record)));
        push_fields(&mut command, record)?;
        if self.run_script(script, &command, "create").await? == 1 {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        let expiry = delta.expiry.as_ref().map(expiry_json).transpose()?;
        let removed = delta.removed.len()
            + usize::from(delta.absolute_deadline.is_none())
            + usize::from(expiry.is_none());
        let changed = delta.changed.len() + 1 + usize::from(delta.absolute_deadline.is_some());
        let bytes = data_bytes(delta.changed.iter().map(|(k, v)| (k.as_str(), v.get())))
            + data_bytes(delta.removed.iter().map(|k| (k.as_str(), "")))
            + expiry.as_ref().map_or(0, String::len)
            + 160;
        let script = &self.inner.update;
        let mut command = self.script_command(
            script,
            id,
            Cmd::with_capacity(6 + removed + 2 * changed + 2, bytes),
        );
        command
            .arg(expire_at(codec::deadline_after(delta)))
            .arg(removed);
        for key in &delta.removed {
            command.arg(DataField(key));
        }
        if delta.absolute_deadline.is_none() {
            command.arg(ABSOLUTE);
        }
        if expiry.is_none() {
            command.arg(EXPIRY);
        }
        for (key, value) in &delta.changed {
            command.arg(DataField(key)).arg(value.get());
        }
        command.arg(EXPIRES).arg(delta.expires_at);
        if let Some(absolute) = delta.absolute_deadline {
            command.arg(ABSOLUTE).arg(absolute);
        }
        if let Some(expiry) = &expiry {
            command.arg(EXPIRY).arg(expiry);
        }
        Ok(self.run_script(script, &command, "update").await? == 1)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        redis::cmd("DEL")
            .arg(self.key(id))
            .query_async::<()>(&mut self.connection())
            .await
            .map_err(self.failed("delete"))
    }

    async fn regenerate(
        &self,
        _old: &SessionId,
        _new: &SessionId,
        _delta: &Delta,
    ) -> Result<bool, StoreError> {
        Err(StoreError::backend_msg(
            "regenerate: being ported to the v2 contract",
        ))
    }

    async fn owner_sessions(
        &self,
        _owner: &str,
    ) -> Result<Vec<session_core::OwnerSession>, StoreError> {
        Err(StoreError::backend_msg(
            "owner_sessions: being ported to the v2 contract",
        ))
    }

    async fn delete_owner(&self, _owner: &str) -> Result<u64, StoreError> {
        Err(StoreError::backend_msg(
            "delete_owner: being ported to the v2 contract",
        ))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Err(StoreError::backend_msg(
            "count: being ported to the v2 contract",
        ))
    }

    fn cleanup(&self) -> Option<&dyn session_core::Cleanup> {
        Some(self)
    }
}

#[async_trait]
impl session_core::Cleanup for RedisStore {
    /// Redis expires sessions by itself (each key's TTL is its deadline): nothing to do.
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

impl RedisStore {
    /// Replaces the whole record (tests only, until the port is done).
    pub async fn save(&self, record: &Record) -> Result<(), StoreError> {
        let key = self.key_of(&record.id);
        let mut hset = command_for(record, 2);
        hset.arg("HSET").arg(&key);
        push_fields(&mut hset, record)?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(&key)
            .ignore()
            .add_command(hset)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(expire_at(codec::deadline(record)))
            .ignore();
        pipe.query_async::<()>(&mut self.connection())
            .await
            .map_err(self.failed("save"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redacted("redis://:hunter2@db.example:6379/0"),
            "redis://***@db.example:6379/0"
        );
        assert_eq!(redacted("redis://127.0.0.1/"), "redis://127.0.0.1/");
        let options = RedisOptions {
            url: "redis://user:hunter2@db/".into(),
            ..RedisOptions::default()
        };
        assert!(!format!("{options:?}").contains("hunter2"));
    }

    #[test]
    fn a_record_survives_the_hash_layout() {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
        record.data.insert(
            "@e".into(),
            RawJson::from_string("\"not metadata\"".into()).unwrap(),
        );
        record.expiry = Some(Expiry::persistent(Duration::from_secs(60)));
        record.version = 9;
        let mut command = Cmd::new();
        push_fields(&mut command, &record).unwrap();
        let args: Vec<String> = command
            .args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
                _ => panic!("only simple arguments"),
            })
            .collect();
        let hash = args
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect();
        let back = record_from(record.id, hash).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn a_hash_without_deadlines_is_corrupt() {
        let error = record_from(SessionId::generate(), vec![("d:a".into(), "1".into())]);
        assert!(matches!(error, Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn options_are_validated_with_field_names() {
        let pool = RedisOptions {
            pool_size: 0,
            ..RedisOptions::default()
        };
        assert!(pool.validate().unwrap_err().contains("pool_size"));
        let url = RedisOptions {
            url: "http://nope".into(),
            ..RedisOptions::default()
        };
        assert!(url.validate().unwrap_err().contains("url"));
        assert!(RedisOptions::default().validate().is_ok());
    }
}
