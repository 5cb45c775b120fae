//! The MySQL/MariaDB store (feature `mysql`): sessions in an InnoDB table, values changed in
//! place by `JSON_MERGE_PATCH`.
//!
//! ```toml
//! store = { type = "mysql", url = "mysql://app:secret@127.0.0.1:3306/app", table = "sessions" }
//! ```
//!
//! See [the SQL stores](super) for the options, the table and what each operation does. The
//! table, as [`schema`] gives it and `create_table` creates it:
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

use session_core::{StoreError, DEVICE_KEY};
use sqlx::mysql::{MySqlArguments, MySqlConnectOptions, MySqlDatabaseError, MySqlQueryResult};
use sqlx::query::Query;

use super::dialect::{BindChange, Change, Dialect, Specific, Statements};
use super::SqlOptions;

/// `ER_LOCK_DEADLOCK`: InnoDB chose the statement as a deadlock's victim and rolled back its
/// transaction.
const DEADLOCK: u16 = 1213;
/// `ER_LOCK_WAIT_TIMEOUT`: a lock wait passed `innodb_lock_wait_timeout`; the statement is
/// rolled back, and with it the transaction, since every statement of the store is its own.
const LOCK_WAIT_TIMEOUT: u16 = 1205;

/// A session store on MySQL or MariaDB. See the [module documentation](self).
pub type MySqlStore = super::SqlStore<MySql>;

/// The MySQL/MariaDB [`Dialect`]: text values changed by `JSON_MERGE_PATCH`, binary keys.
#[derive(Debug, Clone, Copy)]
pub struct MySql;

/// The statement that creates the table `table` and its indexes when missing, as
/// `create_table` runs it; `table` must be an identifier, as [`SqlOptions::validate`] checks.
pub fn schema(table: &str) -> String {
    let owner = super::index_name(table, "owner");
    let live_until = super::index_name(table, "live_until");
    format!(
        "CREATE TABLE IF NOT EXISTS `{table}` (\n    \
             id VARBINARY(64) NOT NULL PRIMARY KEY,\n    \
             data LONGTEXT CHARACTER SET utf8mb4 NOT NULL,\n    \
             created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, absolute_deadline BIGINT NULL,\n    \
             live_until BIGINT NOT NULL, version BIGINT NOT NULL,\n    \
             expiry TEXT CHARACTER SET utf8mb4 NULL, owner VARBINARY({max_owner}) NULL,\n    \
             INDEX `{owner}` (owner), INDEX `{live_until}` (live_until)\n\
         ) ENGINE = InnoDB;\n",
        max_owner = super::MAX_OWNER_BYTES
    )
}

impl Dialect for MySql {
    type Database = sqlx::MySql;
    /// Binary strings, which hold UTF-8 text.
    type Key = Vec<u8>;
    const ENGINE: &'static str = "MySQL";
    const URL_SCHEMES: &'static [&'static str] = &["mysql://", "mariadb://"];
    const URL_EXAMPLE: &'static str = "mysql://user:password@host:3306/database";

    fn schema(table: &str) -> String {
        schema(table)
    }

    fn statements(table: &str) -> Statements {
        let t = format!("`{table}`");
        // Parameters: the merge patch, expires_at, absolute_deadline, live_until, expiry,
        // whether to rebind the owner, the owner; then the id and now. MySQL assigns left to
        // right, and no assignment reads a column assigned before it.
        let apply = "data = JSON_MERGE_PATCH(data, ?), expires_at = ?, absolute_deadline = ?, \
                     live_until = ?, expiry = ?, owner = IF(?, ?, owner), version = version + 1";
        let specific = Specific {
            // The key is quoted in the path: unquoted, a path key must be an identifier, and
            // the servers differ on which are. `data` that is not JSON is an error on MySQL
            // (a warning and NULL on MariaDB), which would fail the whole listing. The cast
            // makes the result text on both (MySQL's JSON type is not).
            device: format!(
                "CASE WHEN JSON_VALID(data) \
                 THEN CAST(JSON_EXTRACT(data, '$.\"{DEVICE_KEY}\"') AS CHAR) END"
            ),
            load: format!(
                "SELECT data, created_at, expires_at, absolute_deadline, version, expiry, owner \
                 FROM {t} WHERE id = ? AND live_until > ?"
            ),
            insert: format!(
                "INSERT INTO {t} (id, data, created_at, expires_at, absolute_deadline, \
                 live_until, version, expiry, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            update: format!("UPDATE {t} SET {apply} WHERE id = ? AND live_until > ?"),
            regenerate: format!("UPDATE {t} SET id = ?, {apply} WHERE id = ? AND live_until > ?"),
            cleanup: format!("DELETE FROM {t} WHERE live_until <= ? LIMIT ?"),
            sweep: format!(
                "SELECT id, data, created_at, expires_at, absolute_deadline, version, expiry, \
                 owner FROM {t} WHERE id > ? ORDER BY id LIMIT ?"
            ),
        };
        Statements::new(table, &t, |_| "?".to_string(), specific)
    }

    fn connect_options(options: &SqlOptions) -> Result<MySqlConnectOptions, sqlx::Error> {
        Ok(MySqlConnectOptions::from_str(&options.url)?.charset("utf8mb4"))
    }

    fn key(text: &str) -> Vec<u8> {
        text.as_bytes().to_vec()
    }

    fn key_text(column: &str, key: Vec<u8>) -> Result<String, StoreError> {
        super::utf8(column, key)
    }

    fn apply<'q>(statement: &'q str, change: Change<'q>) -> Query<'q, sqlx::MySql, MySqlArguments> {
        let query = match change.new {
            Some(new) => sqlx::query(statement).bind(new),
            None => sqlx::query(statement),
        };
        query
            .bind(super::merge_patch(change.delta))
            .bind_columns(change.columns)
            .bind(change.columns.owner.as_deref().map(str::as_bytes))
            .bind(change.id)
            .bind(change.now)
    }

    fn rows_affected(done: &MySqlQueryResult) -> u64 {
        done.rows_affected()
    }

    /// A deadlock or a lock wait timeout. InnoDB takes next-key locks on the owner index, so a
    /// regenerate (which moves a row to a new key) can deadlock with a `delete_owner` of the
    /// same owner; either way the loser's statement is undone whole.
    fn is_conflict(error: &sqlx::Error) -> bool {
        error
            .as_database_error()
            .and_then(|error| error.try_downcast_ref::<MySqlDatabaseError>())
            .is_some_and(|error| matches!(error.number(), DEADLOCK | LOCK_WAIT_TIMEOUT))
    }
}
