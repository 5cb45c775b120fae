//! The PostgreSQL store (feature `postgres`): sessions in a table, values in a `jsonb` column
//! changed in place by `jsonb`'s `-` and `||` operators.
//!
//! ```toml
//! store = { type = "postgres", url = "postgres://app:secret@127.0.0.1:5432/app", table = "sessions" }
//! ```
//!
//! See [the SQL stores](super) for the options, the table and what each operation does.
//! PostgreSQL text cannot hold the NUL character. Writing a session value's key or an owner that
//! contains one is refused by the store itself, before the server sees it, with a
//! [`StoreError::Backend`] ([`SqlStoreError::Unstorable`](super::SqlStoreError::Unstorable));
//! removing such a key does nothing, and an owner or handle containing one in a lookup
//! (`owner_sessions`, `delete_owned`, `delete_owner`) matches nothing. Values are unaffected: NUL
//! in JSON text is always the escape `\u0000`. The table, as [`schema`] gives it and
//! `create_table` creates it:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "sessions" (
//!     id TEXT COLLATE "C" PRIMARY KEY, data JSONB NOT NULL, created_at BIGINT NOT NULL,
//!     expires_at BIGINT NOT NULL, absolute_deadline BIGINT, live_until BIGINT NOT NULL,
//!     version BIGINT NOT NULL, expiry TEXT, owner TEXT);
//! CREATE INDEX IF NOT EXISTS "sessions_owner" ON "sessions" (owner) WHERE owner IS NOT NULL;
//! CREATE INDEX IF NOT EXISTS "sessions_live_until" ON "sessions" (live_until);
//! ```

use std::str::FromStr;

use session_core::{StoreError, DEVICE_KEY};
use sqlx::postgres::{PgConnectOptions, PgQueryResult};
use sqlx::query::Query;

use super::dialect::{BindChange, Change, Dialect, Specific, Statements};
use super::SqlOptions;

/// Serializes concurrent schema creation from several application servers (PostgreSQL's
/// `CREATE TABLE IF NOT EXISTS` can fail when two run at once).
const SCHEMA_LOCK: i64 = 0x5e55_1011_5c4e_3a00;

/// A session store on PostgreSQL. See the [module documentation](self).
pub type PostgresStore = super::SqlStore<Postgres>;

/// The PostgreSQL [`Dialect`]: `jsonb` values changed by `-` and `||`.
#[derive(Debug, Clone, Copy)]
pub struct Postgres;

/// The statements that create the table `table` and its indexes when missing, as
/// `create_table` runs them (under an advisory lock); `table` must be an identifier, as
/// [`SqlOptions::validate`] checks.
pub fn schema(table: &str) -> String {
    super::quoted_schema(table, "TEXT COLLATE \"C\" PRIMARY KEY", "JSONB", "BIGINT")
}

impl Dialect for Postgres {
    type Database = sqlx::Postgres;
    type Key = String;
    const ENGINE: &'static str = "PostgreSQL";
    const URL_SCHEMES: &'static [&'static str] = &["postgres://", "postgresql://"];
    const URL_EXAMPLE: &'static str = "postgres://user:password@host:5432/database";

    fn schema(table: &str) -> String {
        schema(table)
    }

    /// One simple query, which PostgreSQL runs as one transaction, under an advisory lock.
    fn create_table(table: &str) -> String {
        format!(
            "SELECT pg_advisory_xact_lock({SCHEMA_LOCK});\n{}",
            schema(table)
        )
    }

    fn statements(table: &str) -> Statements {
        let t = format!("\"{table}\"");
        // $1 id, then the delta: $2 removed keys, $3 changed keys, $4 expires_at,
        // $5 absolute_deadline, $6 live_until, $7 expiry, $8 whether to rebind the owner,
        // $9 owner, $10 now; regenerate's new id is $11.
        let apply = "data = (data - $2::text[]) || $3::jsonb, expires_at = $4, \
                     absolute_deadline = $5, live_until = $6, expiry = $7, \
                     owner = CASE WHEN $8 THEN $9 ELSE owner END, version = version + 1";
        let specific = Specific {
            // `->` gives the stored string as `jsonb`, whose text is the string quoted.
            device: format!("(data -> '{DEVICE_KEY}')::text"),
            load: format!(
                "SELECT data::text, created_at, expires_at, absolute_deadline, version, expiry, \
                 owner FROM {t} WHERE id = $1 AND live_until > $2"
            ),
            insert: format!(
                "INSERT INTO {t} (id, data, created_at, expires_at, absolute_deadline, \
                 live_until, version, expiry, owner) \
                 VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, $9)"
            ),
            update: format!("UPDATE {t} SET {apply} WHERE id = $1 AND live_until > $10"),
            regenerate: format!(
                "UPDATE {t} SET id = $11, {apply} WHERE id = $1 AND live_until > $10"
            ),
            cleanup: format!(
                "DELETE FROM {t} WHERE id IN \
                 (SELECT id FROM {t} WHERE live_until <= $1 LIMIT $2)"
            ),
            sweep: format!(
                "SELECT id, data::text, created_at, expires_at, absolute_deadline, version, \
                 expiry, owner FROM {t} WHERE id > $1 ORDER BY id LIMIT $2"
            ),
        };
        Statements::new(table, &t, |n| format!("${n}"), specific)
    }

    fn connect_options(options: &SqlOptions) -> Result<PgConnectOptions, sqlx::Error> {
        Ok(PgConnectOptions::from_str(&options.url)?.application_name("session-stores"))
    }

    fn key(text: &str) -> String {
        text.to_string()
    }

    fn key_text(_column: &str, key: String) -> Result<String, StoreError> {
        Ok(key)
    }

    /// PostgreSQL text cannot hold NUL.
    fn can_hold(text: &str) -> bool {
        !text.contains('\0')
    }

    fn apply<'q>(
        statement: &'q str,
        change: Change<'q>,
    ) -> Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        // A key text cannot hold is in no stored value: removing it is nothing to do.
        let removed: Vec<&str> = change
            .delta
            .removed
            .iter()
            .map(|key| key.as_str())
            .filter(|key| Self::can_hold(key))
            .collect();
        let query = sqlx::query(statement)
            .bind(change.id)
            .bind(removed)
            .bind(super::changed_object(change.delta));
        query.bind_numbered(change)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}
