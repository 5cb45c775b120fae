//! The SQL stores: sessions in a table of PostgreSQL (module and feature `postgres`),
//! MySQL/MariaDB (`mysql`) or SQLite (`sqlite`), on [`sqlx`] with runtime queries (no database
//! is needed to build). Each feature compiles only its own driver.
//!
//! ```toml
//! [sessions.web]
//! transport = { type = "cookie", name = "id" }
//! store = { type = "postgres", url = "postgres://app:secret@127.0.0.1:5432/app", table = "sessions", pool_size = 8 }
//! # store = { type = "mysql", url = "mysql://app:secret@127.0.0.1:3306/app" }
//! # store = { type = "sqlite", url = "sqlite://sessions.db" }
//! ```
//!
//! Every option but `url` has a default ([`SqlOptions`]):
//!
//! | option               | default    | meaning                                                      |
//! |----------------------|------------|--------------------------------------------------------------|
//! | `url`                | (required) | the database; a password goes in the URL, and never in logs  |
//! | `table`              | `sessions` | the table, an identifier: `[A-Za-z_][A-Za-z0-9_]*`, at most 63 |
//! | `pool_size`          | 8          | most connections, 1 to 256                                   |
//! | `connect_timeout_ms` | 2000       | to wait for a connection before failing                      |
//! | `timeout_ms`         | 5000       | to wait for one operation before failing                     |
//! | `create_table`       | `true`     | create the table and its indexes at start-up when missing    |
//! | `cleanup_batch`      | 1000       | expired rows deleted per statement by cleanup                |
//!
//! # Layout
//!
//! One row per session, keyed by [`SessionId::storage_key`](session_core::SessionId::storage_key) (a SHA-256 of the id: a dump of the
//! table holds no live tokens, and no request chooses a key):
//!
//! | column              | holds                                                        |
//! |---------------------|--------------------------------------------------------------|
//! | `id`                | the storage key (primary key)                                |
//! | `data`              | the values, a JSON object of key to the value's JSON *text*  |
//! | `created_at`        | ms since the epoch                                           |
//! | `expires_at`        | the idle deadline (ms)                                       |
//! | `absolute_deadline` | the absolute deadline (ms), or `NULL`                        |
//! | `live_until`        | the earlier of the two: the row is live while it is in the future (indexed) |
//! | `version`           | bumped by every write                                        |
//! | `expiry`            | the per-session expiry override (JSON), or `NULL`            |
//! | `owner`             | the owner, or `NULL` (indexed)                               |
//!
//! Values are stored as JSON strings holding their text (`{"cart":"{\"items\":[1]}"}`) because
//! the databases normalize JSON they parse (PostgreSQL's `jsonb` reorders keys and drops spaces),
//! and a session value must come back byte for byte.
//!
//! # One statement per operation
//!
//! Nothing is read, changed in the application and written back: every operation is one
//! statement, so concurrent requests changing different keys of one session all persist (for
//! the same key, the last writer wins).
//!
//! - `load`, `count`, `owner_sessions` and `delete_owner` filter on `live_until > now`: an
//!   expired row is never returned or counted, whether or not cleanup has run (cleanup removes
//!   it later).
//! - `update` is one `UPDATE ... WHERE id = ? AND live_until > now` that applies the delta to the
//!   stored JSON: PostgreSQL `(data - removed) || changed`, MySQL/MariaDB `JSON_MERGE_PATCH`,
//!   SQLite `json_patch`. A merge patch (RFC 7396: a key set to `null` is removed) carries every
//!   change of the delta in one bound parameter, so the statement text never changes (one prepared
//!   statement) and no application key is ever spelled as a JSON path. Values are never `null` in
//!   the patch, since they are stored as strings.
//! - `regenerate` is the same `UPDATE` that also sets `id` to the new key: it moves the row only
//!   while the old one is live, and a live row under the new key is a unique violation
//!   ([`StoreError::AlreadyExists`]).
//! - `create` is one `INSERT`; when the key is taken by an *expired* row, that row is deleted
//!   (`DELETE ... WHERE id = ? AND live_until <= now`, which cannot touch a live one) and the
//!   `INSERT` is tried once more. `regenerate` does the same for an expired row under its new key.
//! - `owner_sessions` is one `SELECT` by the owner index that also reads each session's device
//!   record out of `data` (the value under [`DEVICE_KEY`](session_core::DEVICE_KEY)): PostgreSQL
//!   `data -> key`, MySQL/MariaDB `JSON_EXTRACT`, SQLite `->`. A row whose `data` is not JSON, or
//!   whose value there is no device record, is listed without one.
//! - `delete_owned` is one `DELETE ... WHERE id = ? AND owner = ? AND live_until > now`, and
//!   `delete_owner` one `DELETE ... WHERE owner = ? AND live_until > now`, `AND id <> ?` to keep
//!   one: a regenerate running meanwhile either moved its row before the `DELETE` reached it
//!   (which then finds it under the new key) or finds no row to move. A handle that is not a
//!   storage key matches nothing and is not sent.
//! - On MySQL/MariaDB, InnoDB resolves some of these races (a regenerate meeting a
//!   `delete_owner` on the owner index) by failing one statement with a deadlock (1213) or a
//!   lock wait timeout (1205), undoing it whole. The store runs such a write again, up to four
//!   times in all, after a short random pause, within `timeout_ms`.
//! - Cleanup ([`Store::cleanup`](session_core::Store::cleanup)) deletes expired rows
//!   `cleanup_batch` at a time (by the `live_until` index), so no statement holds locks on a
//!   large part of the table. Each pass then reads the next `cleanup_batch` rows in key order,
//!   resuming where the last pass stopped, and deletes those that do not decode: a table of up to
//!   `cleanup_batch` rows is swept whole every pass, a larger one over several. (The manager also
//!   deletes an undecodable row as soon as a request loads it.)
//!
//! # Failures
//!
//! A database that cannot be reached at start-up fails the store's `connect` (and so
//! `SessionManager::from_config`) with a message naming the database. Later failures (a refused
//! connection, a timeout, a server error) are [`StoreError::Backend`], which adapters answer with
//! 500; the pool drops broken connections and opens new ones, so service comes back by itself
//! once the database does. A row that is there but does not decode is [`StoreError::Corrupt`].
//!
//! Deadlines and versions are `BIGINT`s: times past `i64::MAX` ms (a "never" deadline) are
//! stored as `i64::MAX`.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use session_core::{now_ms, Data, Delta, Expiry, OwnerSession, RawJson, Record, StoreError};

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

mod dialect;
mod store;

use crate::options::{at_least, debug_hiding, redacted, within};
use dialect::DeltaColumns;
pub use dialect::{ConnectOptions, Dialect};
pub use store::SqlStore;

/// Options of the SQL stores (`store = { type = "postgres" | "mysql" | "sqlite", ... }`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlOptions {
    /// The database: `postgres://user:password@host:5432/database`,
    /// `mysql://user:password@host:3306/database` or `sqlite://path/to/file.db`. Required.
    pub url: String,
    /// The table sessions live in: an identifier (`[A-Za-z_][A-Za-z0-9_]*`, at most 63
    /// characters), never taken from a request. Default `sessions`.
    pub table: String,
    /// Most connections the store opens, 1 to 256. Default 8.
    pub pool_size: u32,
    /// Milliseconds to wait for a connection before failing. Default 2000.
    pub connect_timeout_ms: u64,
    /// Milliseconds to wait for one operation before failing. Default 5000.
    pub timeout_ms: u64,
    /// Whether to create the table and its indexes at start-up when they are missing.
    /// Default `true`.
    pub create_table: bool,
    /// Expired rows deleted per statement by cleanup, 1 to 1 000 000. Default 1000.
    pub cleanup_batch: u32,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            url: String::new(),
            table: "sessions".into(),
            pool_size: 8,
            connect_timeout_ms: 2000,
            timeout_ms: 5000,
            create_table: true,
            cleanup_batch: 1000,
        }
    }
}

debug_hiding! {
    /// Hides a password in the URL.
    SqlOptions {
        url => redacted,
        table,
        pool_size,
        connect_timeout_ms,
        timeout_ms,
        create_table,
        cleanup_batch,
    }
}

/// The pool settings every store shares.
pub(crate) fn pool_options<DB: sqlx::Database>(
    options: &SqlOptions,
) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(options.pool_size)
        .acquire_timeout(options.connect_timeout())
        // The pool already tests a connection when it is returned; testing it again before
        // every use would cost each operation a second round trip.
        .test_before_acquire(false)
}

/// Most connections a store opens.
const MAX_POOL: u32 = 256;
/// Most rows one cleanup statement deletes.
const MAX_BATCH: u32 = 1_000_000;
/// Longest owner the stores index, in bytes (MySQL's index keeps at most 3072 bytes).
pub const MAX_OWNER_BYTES: usize = 1024;

impl crate::ServerOptions for SqlOptions {
    fn check(&self) -> Result<(), String> {
        self.validate()
    }
}

impl SqlOptions {
    /// Checks the options; the error names the field and says what to change. The URL itself
    /// is checked by each store's `connect`, which knows its scheme.
    pub fn validate(&self) -> Result<(), String> {
        if self.url.is_empty() {
            return Err(
                "`url` must name the database, e.g. postgres://user:password@host/db, \
                 mysql://user:password@host/db or sqlite://sessions.db"
                    .into(),
            );
        }
        if !is_identifier(&self.table) {
            return Err(format!(
                "`table` must be 1 to 63 letters, digits and underscores, not starting with a \
                 digit; got {:?}",
                self.table
            ));
        }
        within("pool_size", self.pool_size, 1..=MAX_POOL)?;
        at_least("connect_timeout_ms", self.connect_timeout_ms, 1)?;
        at_least("timeout_ms", self.timeout_ms, 1)?;
        within("cleanup_batch", self.cleanup_batch, 1..=MAX_BATCH)
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.max(1))
    }
}

/// `^[A-Za-z_][A-Za-z0-9_]{0,62}$`: safe to put in a statement (and quoted there anyway).
fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_'))
        && name.len() <= 63
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// Longest table name whose index names are the table's name and a suffix; a longer one's
/// would pass the 63-character identifier limit.
const PLAIN_INDEX_TABLE: usize = 50;

/// The statements that create the table `table` and its indexes when missing, for the
/// databases that quote identifiers with `"` and index only the rows that have an owner
/// (PostgreSQL and SQLite, which differ only in their column types: `id` with its key
/// constraint, `data`, and `integer` for the deadlines, the creation time and the version).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
fn quoted_schema(table: &str, id: &str, data: &str, integer: &str) -> String {
    let owner = index_name(table, "owner");
    let live_until = index_name(table, "live_until");
    format!(
        "CREATE TABLE IF NOT EXISTS \"{table}\" (\n    \
             id {id}, data {data} NOT NULL, created_at {integer} NOT NULL,\n    \
             expires_at {integer} NOT NULL, absolute_deadline {integer}, \
             live_until {integer} NOT NULL,\n    \
             version {integer} NOT NULL, expiry TEXT, owner TEXT);\n\
         CREATE INDEX IF NOT EXISTS \"{owner}\" ON \"{table}\" (owner) WHERE owner IS NOT NULL;\n\
         CREATE INDEX IF NOT EXISTS \"{live_until}\" ON \"{table}\" (live_until);\n"
    )
}

/// An index name for `table`, unique per table: `<table>_<suffix>` for a table name of up to 50
/// characters, else the name's first 30 characters, 16 hex digits of its SHA-256 and the suffix
/// (cutting alone would give two tables with a long shared prefix one index name, and the second
/// table no index).
fn index_name(table: &str, suffix: &str) -> String {
    if table.len() <= PLAIN_INDEX_TABLE {
        return format!("{table}_{suffix}");
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(table.as_bytes());
    let hash: String = digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    // Identifiers are ASCII (`is_identifier`), so any byte offset is a character boundary.
    format!("{}_{hash}_{suffix}", &table[..30])
}

/// What went wrong talking to the database, as the source of a [`StoreError::Backend`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlStoreError {
    /// The database refused or failed an operation.
    #[error(
        "{engine} {action} failed at {url}: {source}; check that the server is up and reachable"
    )]
    Database {
        /// PostgreSQL, MySQL or SQLite.
        engine: &'static str,
        /// What the store was doing.
        action: &'static str,
        /// The database, without its password.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// An operation took longer than `timeout_ms`.
    #[error("{engine} {action} at {url} took longer than {timeout_ms} ms (`timeout_ms`); check the server's load and the network")]
    TimedOut {
        /// PostgreSQL, MySQL or SQLite.
        engine: &'static str,
        /// What the store was doing.
        action: &'static str,
        /// The database, without its password.
        url: String,
        /// The limit that passed.
        timeout_ms: u64,
    },
    /// The URL does not parse.
    #[error("`url` is not a {engine} URL ({reason}); write it like {example}")]
    Url {
        /// PostgreSQL, MySQL or SQLite.
        engine: &'static str,
        /// A URL of the right shape.
        example: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `create_table` is off and the table is missing or lacks a column.
    #[error(
        "{engine} table `{table}` at {url} is missing or incomplete ({reason}) and \
         `create_table` is off; create it by running:\n{schema}\nor set `create_table = true`"
    )]
    MissingTable {
        /// PostgreSQL, MySQL or SQLite.
        engine: &'static str,
        /// The table of the options.
        table: String,
        /// The database, without its password.
        url: String,
        /// What the database answered.
        reason: String,
        /// The statements that create the table and its indexes.
        schema: String,
    },
    /// A session value's key or an owner holds a character the database's text cannot (NUL, for
    /// PostgreSQL); refused before it reaches the server.
    #[error(
        "{engine} cannot store a session {what} containing the NUL character; \
         the application must not use such {what}s"
    )]
    Unstorable {
        /// PostgreSQL.
        engine: &'static str,
        /// `value key` or `owner`.
        what: &'static str,
    },
    /// An owner too long for the index.
    #[error("a session owner is {0} bytes; the SQL stores index owners of at most {MAX_OWNER_BYTES} bytes")]
    OwnerTooLong(usize),
}

/// What every SQL store shares: how to name its database in errors, and its time limit.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    engine: &'static str,
    url: String,
    timeout_ms: u64,
}

impl Context {
    pub(crate) fn new(engine: &'static str, options: &SqlOptions) -> Self {
        Context {
            engine,
            url: redacted(&options.url),
            timeout_ms: options.timeout_ms.max(1),
        }
    }

    /// Parses `url` with `parse` when it starts with one of `schemes`.
    pub(crate) fn parse_url<T>(
        &self,
        url: &str,
        schemes: &[&str],
        example: &'static str,
        parse: impl FnOnce(&str) -> Result<T, sqlx::Error>,
    ) -> Result<T, StoreError> {
        let bad = |reason: String| self.bad_url(example, reason);
        if !schemes.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(bad(format!("it must start with {}", schemes.join(" or "))));
        }
        parse(url).map_err(|error| bad(error.to_string()))
    }

    /// The store error for a URL that cannot serve, for `reason`.
    pub(crate) fn bad_url(&self, example: &'static str, reason: String) -> StoreError {
        StoreError::backend(SqlStoreError::Url {
            engine: self.engine,
            example,
            reason,
        })
    }

    /// The store error for a driver error: a row that does not decode is corrupt, anything
    /// else a backend failure.
    pub(crate) fn failed(&self, action: &'static str, source: sqlx::Error) -> StoreError {
        match source {
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => {
                StoreError::corrupt(source)
            }
            source => StoreError::backend(SqlStoreError::Database {
                engine: self.engine,
                action,
                url: self.url.clone(),
                source,
            }),
        }
    }

    /// Runs one operation within `timeout_ms`, mapping its errors.
    pub(crate) async fn run<T>(
        &self,
        action: &'static str,
        operation: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(Duration::from_millis(self.timeout_ms), operation).await {
            Ok(result) => result.map_err(|source| self.failed(action, source)),
            Err(_) => Err(StoreError::backend(SqlStoreError::TimedOut {
                engine: self.engine,
                action,
                url: self.url.clone(),
                timeout_ms: self.timeout_ms,
            })),
        }
    }
}

/// Where cleanup's sweep for undecodable rows resumes: the last key it read, `""` for the start.
#[derive(Debug, Default)]
pub(crate) struct Sweep(std::sync::Mutex<String>);

impl Sweep {
    /// The key to resume after.
    pub(crate) fn start(&self) -> String {
        self.0.lock().map(|key| key.clone()).unwrap_or_default()
    }

    /// Records where the next sweep resumes: after `last`, or from the start when `None` (the
    /// sweep reached the end of the table).
    pub(crate) fn finish(&self, last: Option<String>) {
        if let Ok(mut key) = self.0.lock() {
            *key = last.unwrap_or_default();
        }
    }
}

/// Whether the database refused a row because its key is taken.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database) if database.is_unique_violation())
}

/// A time or counter as a `BIGINT`, capped at `i64::MAX`.
pub(crate) fn bigint(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Now, as a `BIGINT`.
pub(crate) fn now() -> i64 {
    bigint(now_ms())
}

/// The values as stored: an object of key to the value's JSON text.
pub(crate) fn encode_data(data: &Data) -> String {
    let text: BTreeMap<&str, &str> = data.iter().map(|(k, v)| (k.as_str(), v.get())).collect();
    // A map of strings always serializes.
    serde_json::to_string(&text).unwrap_or_else(|_| "{}".into())
}

/// A delta's value changes as a JSON merge patch of the stored object: removed keys `null`,
/// changed keys their JSON text. A key both removed and set ends up set, as in
/// [`Delta::apply`].
#[cfg(any(feature = "mysql", feature = "sqlite", test))]
pub(crate) fn merge_patch(delta: &Delta) -> String {
    let mut patch: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    for key in &delta.removed {
        patch.insert(key, None);
    }
    for (key, value) in &delta.changed {
        patch.insert(key, Some(value.get()));
    }
    serde_json::to_string(&patch).unwrap_or_else(|_| "{}".into())
}

/// A delta's changed keys as an object of key to JSON text (PostgreSQL's `||` operand).
#[cfg(feature = "postgres")]
pub(crate) fn changed_object(delta: &Delta) -> String {
    let changed: BTreeMap<&str, &str> = delta
        .changed
        .iter()
        .map(|(k, v)| (k.as_str(), v.get()))
        .collect();
    serde_json::to_string(&changed).unwrap_or_else(|_| "{}".into())
}

/// The `expiry` column of a per-session expiry override.
pub(crate) fn encode_expiry(expiry: Option<&Expiry>) -> Result<Option<String>, StoreError> {
    expiry
        .map(serde_json::to_string)
        .transpose()
        .map_err(StoreError::backend)
}

/// Refuses owners longer than the index holds.
pub(crate) fn check_owner(owner: Option<&str>) -> Result<(), StoreError> {
    match owner {
        Some(owner) if owner.len() > MAX_OWNER_BYTES => Err(StoreError::backend(
            SqlStoreError::OwnerTooLong(owner.len()),
        )),
        _ => Ok(()),
    }
}

/// The moment a record stops being live, as a `BIGINT`.
pub(crate) fn live_until(expires_at: u64, absolute_deadline: Option<u64>) -> i64 {
    bigint(absolute_deadline.map_or(expires_at, |absolute| absolute.min(expires_at)))
}

/// A record as its row's columns, ready to bind.
pub(crate) struct NewRow {
    pub(crate) id: String,
    pub(crate) data: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) absolute_deadline: Option<i64>,
    pub(crate) live_until: i64,
    pub(crate) version: i64,
    pub(crate) expiry: Option<String>,
    pub(crate) owner: Option<String>,
}

impl NewRow {
    pub(crate) fn of(record: &Record) -> Result<Self, StoreError> {
        check_owner(record.owner.as_deref())?;
        Ok(NewRow {
            id: record.id.storage_key(),
            data: encode_data(&record.data),
            created_at: bigint(record.created_at),
            expires_at: bigint(record.expires_at),
            absolute_deadline: record.absolute_deadline.map(bigint),
            live_until: live_until(record.expires_at, record.absolute_deadline),
            version: bigint(record.version),
            expiry: encode_expiry(record.expiry.as_ref())?,
            owner: record.owner.clone(),
        })
    }
}

impl DeltaColumns {
    pub(crate) fn of(delta: &Delta) -> Result<Self, StoreError> {
        let owner = delta.owner.clone().flatten();
        check_owner(owner.as_deref())?;
        Ok(DeltaColumns {
            expires_at: bigint(delta.expires_at),
            absolute_deadline: delta.absolute_deadline.map(bigint),
            live_until: live_until(delta.expires_at, delta.absolute_deadline),
            expiry: encode_expiry(delta.expiry.as_ref())?,
            set_owner: delta.owner.is_some(),
            owner,
        })
    }
}

/// A loaded row's columns.
pub(crate) struct StoredRow {
    pub(crate) data: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) absolute_deadline: Option<i64>,
    pub(crate) version: i64,
    pub(crate) expiry: Option<String>,
    pub(crate) owner: Option<String>,
}

fn corrupt(message: impl Into<String>) -> StoreError {
    StoreError::corrupt(message.into())
}

fn unsigned(column: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(format!("column `{column}` is negative: {value}")))
}

impl StoredRow {
    /// The record this row holds, under `id`; [`StoreError::Corrupt`] when it does not decode.
    pub(crate) fn into_record(self, id: session_core::SessionId) -> Result<Record, StoreError> {
        let text: BTreeMap<String, String> = serde_json::from_str(&self.data).map_err(|error| {
            corrupt(format!(
                "column `data` is not an object of strings: {error}"
            ))
        })?;
        let mut data = Data::new();
        for (key, value) in text {
            let value = RawJson::from_string(value)
                .map_err(|error| corrupt(format!("the value of `{key}` is not JSON: {error}")))?;
            data.insert(key.into(), value);
        }
        let expiry = self
            .expiry
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|error| corrupt(format!("column `expiry`: {error}")))?;
        Ok(Record {
            id,
            data,
            created_at: unsigned("created_at", self.created_at)?,
            expires_at: unsigned("expires_at", self.expires_at)?,
            absolute_deadline: self
                .absolute_deadline
                .map(|value| unsigned("absolute_deadline", value))
                .transpose()?,
            version: unsigned("version", self.version)?,
            expiry,
            owner: self.owner,
        })
    }
}

/// An owner's session as listed from its row; `device` is the JSON text of the value under
/// [`DEVICE_KEY`](session_core::DEVICE_KEY), a JSON string holding the record's own JSON text.
/// A value that is not a string is no device record: it was not written by this library, and
/// one session must not fail its owner's listing.
pub(crate) fn owner_session(
    key: String,
    created_at: i64,
    expires_at: i64,
    device: Option<String>,
) -> Result<OwnerSession, StoreError> {
    let device = device.and_then(|json| serde_json::from_str::<String>(&json).ok());
    Ok(OwnerSession::from_parts(
        key,
        unsigned("created_at", created_at)?,
        unsigned("expires_at", expires_at)?,
        device.as_deref(),
    ))
}

/// Whether `key` has the shape of a [`SessionId::storage_key`](session_core::SessionId::storage_key)
/// (43 characters of unpadded base64url), the only keys rows are stored under. A handle from a
/// request that is anything else matches no row, and is never sent to the database.
pub(crate) fn is_storage_key(key: &str) -> bool {
    // The base64url of a 32-byte SHA-256 digest, unpadded.
    const STORAGE_KEY_LEN: usize = 43;
    key.len() == STORAGE_KEY_LEN
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Text a `BINARY` column holds, as a string ([`StoreError::Corrupt`] when it is not UTF-8).
#[cfg(feature = "mysql")]
pub(crate) fn utf8(column: &str, bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| corrupt(format!("column `{column}` is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::SessionId;

    fn raw(json: &str) -> RawJson {
        RawJson::from_string(json.to_string()).unwrap()
    }

    #[test]
    fn table_names_are_identifiers() {
        for good in ["sessions", "_s", "S2", &"a".repeat(63)] {
            assert!(is_identifier(good), "{good}");
        }
        for bad in [
            "",
            "2s",
            "s-s",
            "s s",
            "s;drop",
            "s\"",
            "é",
            &"a".repeat(64),
        ] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn index_names_are_unique_per_table_and_fit_an_identifier() {
        let long = "a".repeat(55);
        let tables = [
            "sessions".to_string(),
            format!("{long}_one"),
            format!("{long}_two"),
            "b".repeat(63),
        ];
        let mut names = std::collections::BTreeSet::new();
        for table in &tables {
            for suffix in ["owner", "live_until"] {
                let name = index_name(table, suffix);
                assert!(is_identifier(&name), "{name}");
                assert!(names.insert(name.clone()), "{name} given twice");
            }
        }
        // Existing deployments keep their index names.
        assert_eq!(index_name("sessions", "owner"), "sessions_owner");
    }

    #[test]
    fn options_are_validated_with_field_names() {
        let valid = SqlOptions {
            url: "sqlite://x.db".into(),
            ..SqlOptions::default()
        };
        crate::options::assert_each_refused(
            &valid,
            SqlOptions::validate,
            &[
                ("`url`", |o| o.url = String::new()),
                ("`table`", |o| o.table = "a;b".into()),
                ("`pool_size`", |o| o.pool_size = 0),
                ("`connect_timeout_ms`", |o| o.connect_timeout_ms = 0),
                ("`timeout_ms`", |o| o.timeout_ms = 0),
                ("`cleanup_batch`", |o| o.cleanup_batch = 0),
            ],
        );
    }

    #[test]
    fn passwords_are_redacted() {
        let options = SqlOptions {
            url: "postgres://app:hunter2@db:5432/app".into(),
            ..SqlOptions::default()
        };
        let printed = format!("{options:?}");
        assert!(
            !printed.contains("hunter2") && printed.contains("db:5432"),
            "{printed}"
        );
    }

    #[test]
    fn values_come_back_as_written() {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), 1_000);
        for (key, value) in [
            ("spaced", r#"{ "b" : 1,"a":[1.0, 1e2] }"#),
            ("s", r#""é \"q\"""#),
        ] {
            record.data.insert(key.into(), raw(value));
        }
        record.owner = Some("alice".into());
        let row = NewRow::of(&record).unwrap();
        let stored = StoredRow {
            data: row.data,
            created_at: row.created_at,
            expires_at: row.expires_at,
            absolute_deadline: row.absolute_deadline,
            version: row.version,
            expiry: row.expiry,
            owner: row.owner,
        };
        assert_eq!(stored.into_record(record.id).unwrap(), record);
    }

    #[test]
    fn a_merge_patch_removes_then_sets() {
        let delta = Delta {
            changed: vec![("a".into(), raw("null")), ("b".into(), raw("1"))],
            removed: vec!["b".into(), "c".into()],
            ..Delta::default()
        };
        assert_eq!(merge_patch(&delta), r#"{"a":"null","b":"1","c":null}"#);
    }

    #[test]
    fn undecodable_rows_are_corrupt() {
        let row = |data: &str, created_at| StoredRow {
            data: data.into(),
            created_at,
            expires_at: 1,
            absolute_deadline: None,
            version: 0,
            expiry: None,
            owner: None,
        };
        for bad in [
            row("{\"a\":1}", 0),
            row("{\"a\":\"{\"}", 0),
            row("[]", 0),
            row("{}", -1),
        ] {
            let error = bad.into_record(SessionId::generate()).unwrap_err();
            assert!(matches!(error, StoreError::Corrupt(_)), "{error}");
        }
    }
}
