//! The MySQL/MariaDB store (feature `mysql`): sessions in an InnoDB table, values changed in
//! place by `JSON_MERGE_PATCH`.
//!
//! ```toml
//! store = { type = "mysql", url = "mysql://app:secret@127.0.0.1:3306/app", table = "sessions" }
//! ```
//!
//! See [the SQL stores](super) for the options, the table and what each operation does. The
//! table, created when `create_table` is on:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS `sessions` (
//!     id VARBINARY(64) NOT NULL PRIMARY KEY,
//!     data LONGTEXT CHARACTER SET utf8mb4 NOT NULL,
//!     created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, absolute_deadline BIGINT NULL,
//!     live_until BIGINT NOT NULL, version BIGINT NOT NULL,
//!     expiry TEXT CHARACTER SET utf8mb4 NULL, owner VARBINARY(1024) NULL,
//!     INDEX sessions_owner (owner), INDEX sessions_live_until (live_until)
//! ) ENGINE = InnoDB;
//! ```
//!
//! Keys and owners are binary strings: the default collations compare case-insensitively and
//! ignore trailing spaces, which would let `Alice` list `alice`'s sessions, and storage keys
//! (base64url) tell cases apart. Values are text rather than MySQL's `JSON` type, which MariaDB
//! does not have; the merge patch parses them either way.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use session_core::{Cleanup, Delta, OwnerSession, Record, SessionId, Store, StoreError};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::Row as _;

use super::{Context, DeltaColumns, NewRow, SqlOptions, StoredRow, Sweep};

const ENGINE: &str = "MySQL";
const EXAMPLE: &str = "mysql://user:password@host:3306/database";

/// A session store on MySQL or MariaDB. See the [module documentation](self).
///
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    context: Context,
    sql: Statements,
    cleanup_batch: i64,
    sweep: Arc<Sweep>,
}

impl std::fmt::Debug for MySqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlStore")
            .field("url", &self.context.url)
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Statements {
    table: String,
    load: String,
    insert: String,
    delete_dead: String,
    update: String,
    regenerate: String,
    delete: String,
    owner_sessions: String,
    delete_owner: String,
    count: String,
    cleanup: String,
    sweep: String,
}

impl Statements {
    fn new(table: &str) -> Self {
        let t = format!("`{table}`");
        // Parameters: the merge patch, expires_at, absolute_deadline, live_until, expiry, whether
        // to rebind the owner, the owner; then the id and now. MySQL assigns left to right, and
        // no assignment reads a column assigned before it.
        let apply = "data = JSON_MERGE_PATCH(data, ?), expires_at = ?, absolute_deadline = ?, \
                     live_until = ?, expiry = ?, owner = IF(?, ?, owner), version = version + 1";
        Statements {
            load: format!(
                "SELECT data, created_at, expires_at, absolute_deadline, version, expiry, owner \
                 FROM {t} WHERE id = ? AND live_until > ?"
            ),
            insert: format!(
                "INSERT INTO {t} (id, data, created_at, expires_at, absolute_deadline, \
                 live_until, version, expiry, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            delete_dead: format!("DELETE FROM {t} WHERE id = ? AND live_until <= ?"),
            update: format!("UPDATE {t} SET {apply} WHERE id = ? AND live_until > ?"),
            regenerate: format!("UPDATE {t} SET id = ?, {apply} WHERE id = ? AND live_until > ?"),
            delete: format!("DELETE FROM {t} WHERE id = ?"),
            owner_sessions: format!(
                "SELECT id, created_at, expires_at FROM {t} WHERE owner = ? AND live_until > ?"
            ),
            delete_owner: format!("DELETE FROM {t} WHERE owner = ? AND live_until > ?"),
            count: format!("SELECT COUNT(*) FROM {t} WHERE live_until > ?"),
            cleanup: format!("DELETE FROM {t} WHERE live_until <= ? LIMIT ?"),
            sweep: format!(
                "SELECT id, data, created_at, expires_at, absolute_deadline, version, expiry, \
                 owner FROM {t} WHERE id > ? ORDER BY id LIMIT ?"
            ),
            table: table.to_string(),
        }
    }

    fn schema(&self) -> String {
        let table = &self.table;
        let owner = super::index_name(table, "owner");
        let live_until = super::index_name(table, "live_until");
        format!(
            "CREATE TABLE IF NOT EXISTS `{table}` (\
                 id VARBINARY(64) NOT NULL PRIMARY KEY, \
                 data LONGTEXT CHARACTER SET utf8mb4 NOT NULL, \
                 created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, \
                 absolute_deadline BIGINT NULL, live_until BIGINT NOT NULL, \
                 version BIGINT NOT NULL, \
                 expiry TEXT CHARACTER SET utf8mb4 NULL, \
                 owner VARBINARY({max_owner}) NULL, \
                 INDEX `{owner}` (owner), INDEX `{live_until}` (live_until)\
             ) ENGINE = InnoDB",
            max_owner = super::MAX_OWNER_BYTES
        )
    }
}

impl MySqlStore {
    /// Connects to `options.url` and, when `options.create_table` is on, creates the table and
    /// its indexes if they are missing.
    ///
    /// Fails with [`StoreError::Backend`] when the URL is invalid, the server cannot be reached
    /// within `connect_timeout_ms`, or the table cannot be created.
    pub async fn connect(options: SqlOptions) -> Result<Self, StoreError> {
        let context = Context::new(ENGINE, &options);
        options.validate().map_err(StoreError::backend_msg)?;
        let connect = context
            .parse_url(
                &options.url,
                &["mysql://", "mariadb://"],
                EXAMPLE,
                MySqlConnectOptions::from_str,
            )?
            .charset("utf8mb4");
        let pool = MySqlPoolOptions::new()
            .max_connections(options.pool_size)
            .acquire_timeout(options.connect_timeout())
            // The pool already tests a connection when it is returned; testing it again before
            // every use would cost each operation a second round trip.
            .test_before_acquire(false)
            .connect_with(connect)
            .await
            .map_err(|error| context.failed("connection", error))?;
        let store = MySqlStore {
            pool,
            sql: Statements::new(&options.table),
            cleanup_batch: i64::from(options.cleanup_batch),
            sweep: Arc::default(),
            context,
        };
        if options.create_table {
            let schema = store.sql.schema();
            store
                .context
                .run(
                    "table creation",
                    sqlx::raw_sql(&schema).execute(&store.pool),
                )
                .await?;
        }
        Ok(store)
    }

    /// The table sessions live in.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The underlying pool.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The record columns of `row`, from column `first` on, in `load`'s order.
    fn stored_row(
        &self,
        row: &sqlx::mysql::MySqlRow,
        first: usize,
    ) -> Result<StoredRow, StoreError> {
        let (stored, owner) = (|| {
            let stored = StoredRow {
                data: row.try_get(first)?,
                created_at: row.try_get(first + 1)?,
                expires_at: row.try_get(first + 2)?,
                absolute_deadline: row.try_get(first + 3)?,
                version: row.try_get(first + 4)?,
                expiry: row.try_get(first + 5)?,
                owner: None,
            };
            Ok::<_, sqlx::Error>((stored, row.try_get::<Option<Vec<u8>>, _>(first + 6)?))
        })()
        .map_err(|error| self.context.failed("load", error))?;
        let owner = owner.map(|owner| super::utf8("owner", owner)).transpose()?;
        Ok(StoredRow { owner, ..stored })
    }

    /// Deletes the rows among the next `cleanup_batch` (in key order, resuming where the last
    /// sweep stopped) that do not decode; how many.
    async fn sweep_corrupt(&self) -> Result<u64, StoreError> {
        let after = self.sweep.start();
        let rows = self
            .context
            .run(
                "cleanup",
                sqlx::query(&self.sql.sweep)
                    .bind(&after)
                    .bind(self.cleanup_batch)
                    .fetch_all(&self.pool),
            )
            .await?;
        let mut corrupt = Vec::new();
        let mut last = None;
        for row in &rows {
            let key: String = super::utf8(
                "id",
                row.try_get::<Vec<u8>, _>(0)
                    .map_err(|error| self.context.failed("cleanup", error))?,
            )?;
            match self
                .stored_row(row, 1)
                .and_then(|stored| stored.into_record(SessionId::generate()))
            {
                Ok(_) => {}
                Err(StoreError::Corrupt(_)) => corrupt.push(key.clone()),
                Err(error) => return Err(error),
            }
            last = Some(key);
        }
        let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= self.cleanup_batch;
        self.sweep.finish(if full { last } else { None });
        let mut removed = 0;
        for key in corrupt {
            // Keys are hashes of random ids: the row under one is the one found corrupt.
            removed += self
                .context
                .run(
                    "cleanup",
                    sqlx::query(&self.sql.delete).bind(key).execute(&self.pool),
                )
                .await?
                .rows_affected();
        }
        Ok(removed)
    }

    /// Deletes the expired row under `key`, if there is one; whether it did.
    async fn delete_dead(&self, key: &str, now: i64) -> Result<bool, sqlx::Error> {
        let deleted = sqlx::query(&self.sql.delete_dead)
            .bind(key)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn insert(&self, row: &NewRow) -> Result<(), sqlx::Error> {
        sqlx::query(&self.sql.insert)
            .bind(&row.id)
            .bind(&row.data)
            .bind(row.created_at)
            .bind(row.expires_at)
            .bind(row.absolute_deadline)
            .bind(row.live_until)
            .bind(row.version)
            .bind(&row.expiry)
            .bind(row.owner.as_deref().map(str::as_bytes))
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// Runs `update`, or `regenerate` to `new`, for `delta`; whether a row changed.
    async fn apply(
        &self,
        id: &str,
        delta: &Delta,
        columns: &DeltaColumns,
        now: i64,
        new: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let mut query = match new {
            Some(new) => sqlx::query(&self.sql.regenerate).bind(new),
            None => sqlx::query(&self.sql.update),
        };
        query = query
            .bind(super::merge_patch(delta))
            .bind(columns.expires_at)
            .bind(columns.absolute_deadline)
            .bind(columns.live_until)
            .bind(&columns.expiry)
            .bind(columns.set_owner)
            .bind(columns.owner.as_deref().map(str::as_bytes))
            .bind(id)
            .bind(now);
        Ok(query.execute(&self.pool).await?.rows_affected() > 0)
    }
}

#[async_trait]
impl Store for MySqlStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let row = self
            .context
            .run(
                "load",
                sqlx::query(&self.sql.load)
                    .bind(id.storage_key())
                    .bind(super::now())
                    .fetch_optional(&self.pool),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        self.stored_row(&row, 0)?.into_record(*id).map(Some)
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let row = NewRow::of(record)?;
        let now = super::now();
        self.context
            .run("create", async {
                match self.insert(&row).await {
                    Err(error) if super::is_unique_violation(&error) => {
                        // An expired row may still hold the key; a live one never goes.
                        if !self.delete_dead(&row.id, now).await? {
                            return Ok(Err(StoreError::AlreadyExists));
                        }
                        match self.insert(&row).await {
                            Err(error) if super::is_unique_violation(&error) => {
                                Ok(Err(StoreError::AlreadyExists))
                            }
                            result => result.map(Ok),
                        }
                    }
                    result => result.map(Ok),
                }
            })
            .await?
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        let columns = DeltaColumns::of(delta)?;
        let key = id.storage_key();
        self.context
            .run(
                "update",
                self.apply(&key, delta, &columns, super::now(), None),
            )
            .await
    }

    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        let columns = DeltaColumns::of(delta)?;
        let (old, new) = (old.storage_key(), new.storage_key());
        let now = super::now();
        self.context
            .run("regenerate", async {
                match self.apply(&old, delta, &columns, now, Some(&new)).await {
                    Err(error) if super::is_unique_violation(&error) => {
                        if !self.delete_dead(&new, now).await? {
                            return Ok(Err(StoreError::AlreadyExists));
                        }
                        match self.apply(&old, delta, &columns, now, Some(&new)).await {
                            Err(error) if super::is_unique_violation(&error) => {
                                Ok(Err(StoreError::AlreadyExists))
                            }
                            result => result.map(Ok),
                        }
                    }
                    result => result.map(Ok),
                }
            })
            .await?
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.context
            .run(
                "delete",
                sqlx::query(&self.sql.delete)
                    .bind(id.storage_key())
                    .execute(&self.pool),
            )
            .await
            .map(drop)
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        let rows = self
            .context
            .run(
                "owner listing",
                sqlx::query_as::<_, (Vec<u8>, i64, i64)>(&self.sql.owner_sessions)
                    .bind(owner.as_bytes())
                    .bind(super::now())
                    .fetch_all(&self.pool),
            )
            .await?;
        rows.into_iter()
            .map(|(key, created_at, expires_at)| {
                super::owner_session(super::utf8("id", key)?, created_at, expires_at)
            })
            .collect()
    }

    async fn delete_owner(&self, owner: &str) -> Result<u64, StoreError> {
        self.context
            .run(
                "owner deletion",
                sqlx::query(&self.sql.delete_owner)
                    .bind(owner.as_bytes())
                    .bind(super::now())
                    .execute(&self.pool),
            )
            .await
            .map(|done| done.rows_affected())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .context
            .run(
                "count",
                sqlx::query_scalar(&self.sql.count)
                    .bind(super::now())
                    .fetch_one(&self.pool),
            )
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn cleanup(&self) -> Option<&dyn Cleanup> {
        Some(self)
    }
}

#[async_trait]
impl Cleanup for MySqlStore {
    /// Deletes expired rows, `cleanup_batch` per statement, until none is left; then sweeps the
    /// next `cleanup_batch` rows for ones that do not decode.
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = super::now();
        let mut removed = 0;
        loop {
            let batch = self
                .context
                .run(
                    "cleanup",
                    sqlx::query(&self.sql.cleanup)
                        .bind(now)
                        .bind(self.cleanup_batch)
                        .execute(&self.pool),
                )
                .await?
                .rows_affected();
            removed += batch;
            if batch < self.cleanup_batch.unsigned_abs() {
                return Ok(removed + self.sweep_corrupt().await?);
            }
        }
    }
}
