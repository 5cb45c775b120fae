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
use std::time::Duration;

use session_core::{Delta, StoreError};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};

use super::text_keys::{key_text, owner_param, Key};
use super::{Context, DeltaColumns, SqlOptions, Statements, Sweep};

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
    sweep: std::sync::Arc<Sweep>,
}

sql_store!(SqliteStore, sqlx::sqlite::SqliteRow, SqliteConnectOptions);

fn statements(table: &str) -> Statements {
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
        regenerate: format!("UPDATE {t} SET id = ?10, {apply} WHERE id = ?1 AND live_until > ?9"),
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

/// The table and its indexes.
fn schema(table: &str) -> String {
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
        Self::open(connect, "open", context, &options).await
    }

    /// The underlying pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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
