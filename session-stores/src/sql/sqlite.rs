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
//! file. `sqlite::memory:` (or `mode=memory`) is refused at start-up: each pooled connection
//! would be its own empty database, and the pool closes idle ones; use the memory store for
//! sessions that live in the process. Processes that open a new file at once may find it busy
//! while one of them switches it to write-ahead logging; opening is then tried again, for about
//! five seconds. The table, as [`schema`] gives it and `create_table` creates it:
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

use session_core::{StoreError, DEVICE_KEY};
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqliteQueryResult, SqliteSynchronous,
};

use super::dialect::{BindChange, Change, Dialect, Specific, Statements};
use super::SqlOptions;

/// A session store in an SQLite database. See the [module documentation](self).
pub type SqliteStore = super::SqlStore<Sqlite>;

/// The SQLite [`Dialect`]: text values changed by `json_patch`.
#[derive(Debug, Clone, Copy)]
pub struct Sqlite;

/// SQLite's primary result codes for a database another connection holds (`SQLITE_BUSY`,
/// `SQLITE_LOCKED`); extended codes keep them in their low byte.
const BUSY: u32 = 5;
const LOCKED: u32 = 6;

/// The statements that create the table `table` and its indexes when missing, as
/// `create_table` runs them; `table` must be an identifier, as [`SqlOptions::validate`] checks.
pub fn schema(table: &str) -> String {
    super::quoted_schema(table, "TEXT PRIMARY KEY NOT NULL", "TEXT", "INTEGER")
}

impl Dialect for Sqlite {
    type Database = sqlx::Sqlite;
    type Key = String;
    const ENGINE: &'static str = "SQLite";
    const URL_SCHEMES: &'static [&'static str] = &["sqlite:"];
    const URL_EXAMPLE: &'static str = "sqlite://path/to/sessions.db";

    fn schema(table: &str) -> String {
        schema(table)
    }

    fn statements(table: &str) -> Statements {
        let t = format!("\"{table}\"");
        // ?1 id, ?2 the merge patch, ?3 expires_at, ?4 absolute_deadline, ?5 live_until,
        // ?6 expiry, ?7 whether to rebind the owner, ?8 owner, ?9 now; regenerate's new id ?10.
        let apply = "data = json_patch(data, ?2), expires_at = ?3, absolute_deadline = ?4, \
                     live_until = ?5, expiry = ?6, owner = CASE WHEN ?7 THEN ?8 ELSE owner END, \
                     version = version + 1";
        let specific = Specific {
            // `->` gives JSON text (the string quoted), where `json_extract` would unquote it.
            // `data` that is not JSON would fail the whole statement, not only its own row.
            device: format!("CASE WHEN json_valid(data) THEN data -> '$.\"{DEVICE_KEY}\"' END"),
            load: format!(
                "SELECT data, created_at, expires_at, absolute_deadline, version, expiry, owner \
                 FROM {t} WHERE id = ?1 AND live_until > ?2"
            ),
            insert: format!(
                "INSERT INTO {t} (id, data, created_at, expires_at, absolute_deadline, \
                 live_until, version, expiry, owner) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            update: format!("UPDATE {t} SET {apply} WHERE id = ?1 AND live_until > ?9"),
            regenerate: format!(
                "UPDATE {t} SET id = ?10, {apply} WHERE id = ?1 AND live_until > ?9"
            ),
            cleanup: format!(
                "DELETE FROM {t} WHERE rowid IN \
                 (SELECT rowid FROM {t} WHERE live_until <= ?1 LIMIT ?2)"
            ),
            sweep: format!(
                "SELECT id, data, created_at, expires_at, absolute_deadline, version, expiry, \
                 owner FROM {t} WHERE id > ?1 ORDER BY id LIMIT ?2"
            ),
        };
        Statements::new(table, &t, |n| format!("?{n}"), specific)
    }

    fn connect_options(options: &SqlOptions) -> Result<SqliteConnectOptions, sqlx::Error> {
        Ok(SqliteConnectOptions::from_str(&options.url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With a write-ahead log, NORMAL loses no committed write on a crash of the
            // process, only possibly the last ones on a power loss.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_millis(options.timeout_ms.max(1))))
    }

    fn refuse_url(url: &str) -> Option<&'static str> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        memory.then_some(
            "an in-memory SQLite database is one empty database per pooled connection, gone when \
             the pool closes it; use `type = \"memory\"` for sessions kept in the process, or a \
             file",
        )
    }

    fn key(text: &str) -> String {
        text.to_string()
    }

    fn key_text(_column: &str, key: String) -> Result<String, StoreError> {
        Ok(key)
    }

    fn apply<'q>(
        statement: &'q str,
        change: Change<'q>,
    ) -> Query<'q, sqlx::Sqlite, SqliteArguments<'q>> {
        let query = sqlx::query(statement)
            .bind(change.id)
            .bind(super::merge_patch(change.delta));
        query.bind_numbered(change)
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn is_busy(error: &sqlx::Error) -> bool {
        let sqlx::Error::Database(error) = error else {
            return false;
        };
        let code = error.code().and_then(|code| code.parse::<u32>().ok());
        code.is_some_and(|code| matches!(code & 0xff, BUSY | LOCKED))
    }
}
