//! The PostgreSQL store (feature `postgres`): sessions in a table, values in a `jsonb` column
//! changed in place by `jsonb`'s `-` and `||` operators.
//!
//! ```toml
//! store = { type = "postgres", url = "postgres://app:secret@127.0.0.1:5432/app", table = "sessions" }
//! ```
//!
//! See [the SQL stores](super) for the options, the table and what each operation does.
//! PostgreSQL text cannot hold the NUL character, so a session key or owner containing one is
//! refused with a [`StoreError::Backend`] (values are unaffected: NUL in JSON text is always the
//! escape `\u0000`). The table, created when `create_table` is on:
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

use session_core::{Delta, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPool};

use super::text_keys::{key_text, owner_param, Key};
use super::{Context, DeltaColumns, SqlOptions, Statements, Sweep};

const ENGINE: &str = "PostgreSQL";
const EXAMPLE: &str = "postgres://user:password@host:5432/database";

/// Serializes concurrent schema creation from several application servers (PostgreSQL's
/// `CREATE TABLE IF NOT EXISTS` can fail when two run at once).
const SCHEMA_LOCK: i64 = 0x5e55_1011_5c4e_3a00;

/// A session store on PostgreSQL. See the [module documentation](self).
///
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    context: Context,
    sql: Statements,
    cleanup_batch: i64,
    sweep: std::sync::Arc<Sweep>,
}

sql_store!(PostgresStore, sqlx::postgres::PgRow, PgConnectOptions);

fn statements(table: &str) -> Statements {
    let t = format!("\"{table}\"");
    // $1 id, then the delta: $2 removed keys, $3 changed keys, $4 expires_at,
    // $5 absolute_deadline, $6 live_until, $7 expiry, $8 whether to rebind the owner, $9 owner,
    // $10 now; regenerate's new id is $11.
    let apply = "data = (data - $2::text[]) || $3::jsonb, expires_at = $4, \
                 absolute_deadline = $5, live_until = $6, expiry = $7, \
                 owner = CASE WHEN $8 THEN $9 ELSE owner END, version = version + 1";
    Statements {
        load: format!(
            "SELECT data::text, created_at, expires_at, absolute_deadline, version, expiry, \
             owner FROM {t} WHERE id = $1 AND live_until > $2"
        ),
        insert: format!(
            "INSERT INTO {t} (id, data, created_at, expires_at, absolute_deadline, \
             live_until, version, expiry, owner) \
             VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, $9)"
        ),
        delete_dead: format!("DELETE FROM {t} WHERE id = $1 AND live_until <= $2"),
        update: format!("UPDATE {t} SET {apply} WHERE id = $1 AND live_until > $10"),
        regenerate: format!("UPDATE {t} SET id = $11, {apply} WHERE id = $1 AND live_until > $10"),
        delete: format!("DELETE FROM {t} WHERE id = $1"),
        owner_sessions: format!(
            "SELECT id, created_at, expires_at FROM {t} WHERE owner = $1 AND live_until > $2"
        ),
        delete_owner: format!("DELETE FROM {t} WHERE owner = $1 AND live_until > $2"),
        count: format!("SELECT COUNT(*) FROM {t} WHERE live_until > $1"),
        cleanup: format!(
            "DELETE FROM {t} WHERE id IN \
             (SELECT id FROM {t} WHERE live_until <= $1 LIMIT $2)"
        ),
        sweep: format!(
            "SELECT id, data::text, created_at, expires_at, absolute_deadline, version, expiry, \
             owner FROM {t} WHERE id > $1 ORDER BY id LIMIT $2"
        ),
        table: table.to_string(),
    }
}

/// The table and indexes: one simple query, which PostgreSQL runs as one transaction, under an
/// advisory lock.
fn schema(table: &str) -> String {
    let owner = super::index_name(table, "owner");
    let live_until = super::index_name(table, "live_until");
    format!(
        "SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); \
         CREATE TABLE IF NOT EXISTS \"{table}\" (\
             id TEXT COLLATE \"C\" PRIMARY KEY, data JSONB NOT NULL, created_at BIGINT NOT NULL, \
             expires_at BIGINT NOT NULL, absolute_deadline BIGINT, \
             live_until BIGINT NOT NULL, version BIGINT NOT NULL, expiry TEXT, owner TEXT); \
         CREATE INDEX IF NOT EXISTS \"{owner}\" ON \"{table}\" (owner) \
             WHERE owner IS NOT NULL; \
         CREATE INDEX IF NOT EXISTS \"{live_until}\" ON \"{table}\" (live_until);"
    )
}

impl PostgresStore {
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
                &["postgres://", "postgresql://"],
                EXAMPLE,
                PgConnectOptions::from_str,
            )?
            .application_name("session-stores");
        Self::open(connect, "connection", context, &options).await
    }

    /// The underlying pool, e.g. to run migrations beside the sessions.
    pub fn pool(&self) -> &PgPool {
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
            .bind(&delta.removed)
            .bind(super::changed_object(delta))
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
