//! The SQLite store (feature `sqlite`): sessions in a table of a database file, values changed in
//! place by `json_patch`. SQLite is compiled in; no system library is needed.
//!
//! ```toml
//! store = { type = "sqlite", url = "sqlite://sessions.db", table = "sessions" }
//! ```
//!
//! See [the SQL stores](super) for the options, the table and what each operation does. The file
//! is created when missing and put in write-ahead-log mode, so loads do not wait for writes;
//! writes wait for each other up to `timeout_ms`. Several processes on one machine may share the
//! file. The table, created when `create_table` is on:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "sessions" (
//!     id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL,
//!     expires_at INTEGER NOT NULL, absolute_deadline INTEGER, live_until INTEGER NOT NULL,
//!     version INTEGER NOT NULL, expiry TEXT, owner TEXT);
//! CREATE INDEX IF NOT EXISTS "sessions_owner" ON "sessions" (owner) WHERE owner IS NOT NULL;
//! CREATE INDEX IF NOT EXISTS "sessions_live_until" ON "sessions" (live_until);
//! ```

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use session_core::{Cleanup, Delta, OwnerSession, Record, SessionId, Store, StoreError};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row as _;

use super::{Context, DeltaColumns, NewRow, SqlOptions, StoredRow, Sweep};

const ENGINE: &str = "SQLite";
const EXAMPLE: &str = "sqlite://path/to/sessions.db";

/// A session store in an SQLite database. See the [module documentation](self).
///
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    context: Context,
    sql: Statements,
    cleanup_batch: i64,
    sweep: Arc<Sweep>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
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
        let t = format!("\"{table}\"");
        // ?1 id, ?2 the merge patch, ?3 expires_at, ?4 absolute_deadline, ?5 live_until,
        // ?6 expiry, ?7 whether to rebind the owner, ?8 owner, ?9 now; regenerate's new id ?10.
        let apply = "data = json_patch(data, ?2), expires_at = ?3, absolute_deadline = ?4, \
                     live_until = ?5, expiry = ?6, owner = CASE WHEN ?7 THEN ?8 ELSE owner END, \
                     version = version + 1";
        Statements {
            load: format!(
                "SELECT data, created_at, expires_at, absolute_deadline, version, expiry, owner \
                 FROM {t} WHERE id = ?1 AND live_until > ?2"
            ),
            insert: format!(
                "INSERT INTO {t} (id, data, created_at, expires_at, absolute_deadline, \
                 live_until, version, expiry, owner) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            delete_dead: format!("DELETE FROM {t} WHERE id = ?1 AND live_until <= ?2"),
            update: format!("UPDATE {t} SET {apply} WHERE id = ?1 AND live_until > ?9"),
            regenerate: format!(
                "UPDATE {t} SET id = ?10, {apply} WHERE id = ?1 AND live_until > ?9"
            ),
            delete: format!("DELETE FROM {t} WHERE id = ?1"),
            owner_sessions: format!(
                "SELECT id, created_at, expires_at FROM {t} WHERE owner = ?1 AND live_until > ?2"
            ),
            delete_owner: format!("DELETE FROM {t} WHERE owner = ?1 AND live_until > ?2"),
            count: format!("SELECT COUNT(*) FROM {t} WHERE live_until > ?1"),
            cleanup: format!(
                "DELETE FROM {t} WHERE rowid IN \
                 (SELECT rowid FROM {t} WHERE live_until <= ?1 LIMIT ?2)"
            ),
            sweep: format!(
                "SELECT id, data, created_at, expires_at, absolute_deadline, version, expiry, \
                 owner FROM {t} WHERE id > ?1 ORDER BY id LIMIT ?2"
            ),
            table: table.to_string(),
        }
    }

    fn schema(&self) -> String {
        let table = &self.table;
        let owner = super::index_name(table, "owner");
        let live_until = super::index_name(table, "live_until");
        format!(
            "CREATE TABLE IF NOT EXISTS \"{table}\" (\
                 id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL, \
                 expires_at INTEGER NOT NULL, absolute_deadline INTEGER, \
                 live_until INTEGER NOT NULL, version INTEGER NOT NULL, expiry TEXT, owner TEXT); \
             CREATE INDEX IF NOT EXISTS \"{owner}\" ON \"{table}\" (owner) \
                 WHERE owner IS NOT NULL; \
             CREATE INDEX IF NOT EXISTS \"{live_until}\" ON \"{table}\" (live_until);"
        )
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database file of `options.url` and, when
    /// `options.create_table` is on, creates the table and its indexes if they are missing.
    ///
    /// Fails with [`StoreError::Backend`] when the URL is invalid, the file cannot be opened, or
    /// the table cannot be created.
    pub async fn connect(options: SqlOptions) -> Result<Self, StoreError> {
        let context = Context::new(ENGINE, &options);
        options.validate().map_err(StoreError::backend_msg)?;
        let connect = context
            .parse_url(
                &options.url,
                &["sqlite:"],
                EXAMPLE,
                SqliteConnectOptions::from_str,
            )?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With a write-ahead log, NORMAL loses no committed write on a crash of the
            // process, only possibly the last ones on a power loss.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_millis(options.timeout_ms.max(1)));
        let pool = SqlitePoolOptions::new()
            .max_connections(options.pool_size)
            .acquire_timeout(options.connect_timeout())
            .test_before_acquire(false)
            .connect_with(connect)
            .await
            .map_err(|error| context.failed("open", error))?;
        let store = SqliteStore {
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
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The record columns of `row`, from column `first` on, in `load`'s order.
    fn stored_row(
        &self,
        row: &sqlx::sqlite::SqliteRow,
        first: usize,
    ) -> Result<StoredRow, StoreError> {
        (|| {
            Ok::<_, sqlx::Error>(StoredRow {
                data: row.try_get(first)?,
                created_at: row.try_get(first + 1)?,
                expires_at: row.try_get(first + 2)?,
                absolute_deadline: row.try_get(first + 3)?,
                version: row.try_get(first + 4)?,
                expiry: row.try_get(first + 5)?,
                owner: row.try_get(first + 6)?,
            })
        })()
        .map_err(|error| self.context.failed("load", error))
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
            let key: String = row
                .try_get::<String, _>(0)
                .map_err(|error| self.context.failed("cleanup", error))?;
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
            .bind(&row.owner)
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
        let statement = if new.is_some() {
            &self.sql.regenerate
        } else {
            &self.sql.update
        };
        let mut query = sqlx::query(statement)
            .bind(id)
            .bind(super::merge_patch(delta))
            .bind(columns.expires_at)
            .bind(columns.absolute_deadline)
            .bind(columns.live_until)
            .bind(&columns.expiry)
            .bind(columns.set_owner)
            .bind(&columns.owner)
            .bind(now);
        if let Some(new) = new {
            query = query.bind(new);
        }
        Ok(query.execute(&self.pool).await?.rows_affected() > 0)
    }
}

#[async_trait]
impl Store for SqliteStore {
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
                sqlx::query_as::<_, (String, i64, i64)>(&self.sql.owner_sessions)
                    .bind(owner)
                    .bind(super::now())
                    .fetch_all(&self.pool),
            )
            .await?;
        rows.into_iter()
            .map(|(key, created_at, expires_at)| super::owner_session(key, created_at, expires_at))
            .collect()
    }

    async fn delete_owner(&self, owner: &str) -> Result<u64, StoreError> {
        self.context
            .run(
                "owner deletion",
                sqlx::query(&self.sql.delete_owner)
                    .bind(owner)
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
impl Cleanup for SqliteStore {
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
