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

use session_core::{Delta, StoreError};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};

use super::{Context, DeltaColumns, SqlOptions, Statements, Sweep};

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
    sweep: std::sync::Arc<Sweep>,
}

sql_store!(MySqlStore, sqlx::mysql::MySqlRow, MySqlConnectOptions);

fn statements(table: &str) -> Statements {
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

/// The table and its indexes.
fn schema(table: &str) -> String {
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

/// Keys and owners are binary strings, which hold UTF-8 text.
type Key = Vec<u8>;

fn key_text(column: &str, key: Key) -> Result<String, StoreError> {
    super::utf8(column, key)
}

fn owner_param(owner: &str) -> &[u8] {
    owner.as_bytes()
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
        Self::open(connect, "connection", context, &options).await
    }

    /// The underlying pool.
    pub fn pool(&self) -> &MySqlPool {
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
            .bind(columns.owner.as_deref().map(owner_param))
            .bind(id)
            .bind(now);
        Ok(query.execute(&self.pool).await?.rows_affected() > 0)
    }
}
