//! [`SqlStore`]: every operation of the SQL stores, written once over a [`Dialect`].

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use session_core::{Cleanup, Delta, OwnerSession, Record, SessionId, Store, StoreError};
use sqlx::{ColumnIndex, Database, Executor, IntoArguments, Pool, Row};

use super::dialect::{Change, Column, ConnectOptions, Dialect, Statements};
use super::{
    is_storage_key, is_unique_violation, now, owner_session, pool_options, Context, DeltaColumns,
    NewRow, SqlOptions, SqlStoreError, StoredRow, Sweep,
};

/// How many times opening a store is tried when the database is busy (another process is
/// switching a new SQLite file to write-ahead logging), and the first pause between tries;
/// each pause doubles, so the tries span about five seconds.
const OPEN_TRIES: u32 = 10;
const FIRST_PAUSE: Duration = Duration::from_millis(10);

/// How many times in all a write is run when it keeps meeting a concurrent one
/// ([`Dialect::is_conflict`]), and the pause before the second run; later pauses grow with the
/// runs, and each is between half and all of its length at random, so that two writes that
/// deadlocked do not meet again in step.
const CONFLICT_TRIES: u32 = 4;
const CONFLICT_PAUSE: Duration = Duration::from_millis(10);

/// A session store in a table of the SQL database `D`: [`PostgresStore`](super::postgres::PostgresStore),
/// [`MySqlStore`](super::mysql::MySqlStore) or [`SqliteStore`](super::sqlite::SqliteStore). See
/// [the SQL stores](super) for the options, the table and what each operation does.
///
/// Cloning is cheap and shares the pool.
pub struct SqlStore<D: Dialect> {
    pool: Pool<D::Database>,
    context: Context,
    sql: Statements,
    cleanup_batch: i64,
    sweep: Arc<Sweep>,
    dialect: PhantomData<fn() -> D>,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
            context: self.context.clone(),
            sql: self.sql.clone(),
            cleanup_batch: self.cleanup_batch,
            sweep: Arc::clone(&self.sweep),
            dialect: PhantomData,
        }
    }
}

impl<D: Dialect> std::fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("engine", &D::ENGINE)
            .field("url", &self.context.url)
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::Database as Database>::Connection: Executor<'c, Database = D::Database>,
    for<'q> <D::Database as Database>::Arguments<'q>: IntoArguments<'q, D::Database>,
    usize: ColumnIndex<<D::Database as Database>::Row>,
    String: Column<D::Database>,
    i64: Column<D::Database>,
    Option<String>: Column<D::Database>,
    Option<i64>: Column<D::Database>,
    Option<D::Key>: Column<D::Database>,
{
    /// Connects to `options.url` and, when `options.create_table` is on, creates the table and
    /// its indexes if they are missing; when it is off, checks that the table is there.
    ///
    /// Fails with [`StoreError::Backend`] when the options or the URL are invalid, the database
    /// cannot be reached within `connect_timeout_ms`, or the table cannot be created or is
    /// missing ([`SqlStoreError::MissingTable`], whose message holds the statements to run).
    pub async fn connect(options: SqlOptions) -> Result<Self, StoreError> {
        let context = Context::new(D::ENGINE, &options);
        options.validate().map_err(StoreError::backend_msg)?;
        if let Some(refusal) = D::refuse_url(&options.url) {
            return Err(context.bad_url(D::URL_EXAMPLE, refusal.into()));
        }
        let connect = context.parse_url(&options.url, D::URL_SCHEMES, D::URL_EXAMPLE, |_| {
            D::connect_options(&options)
        })?;
        let mut pause = FIRST_PAUSE;
        for _ in 1..OPEN_TRIES {
            match Self::open(connect.clone(), &options).await {
                Err((_, error)) if D::is_busy(&error) => {
                    tracing::debug!(engine = D::ENGINE, "the database is busy; opening again");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                result => return Self::opened(result, context, &options),
            }
        }
        let result = Self::open(connect, &options).await;
        Self::opened(result, context, &options)
    }

    /// Opens the pool and creates or checks the table; on failure, what it was doing.
    async fn open(
        connect: ConnectOptions<D>,
        options: &SqlOptions,
    ) -> Result<Pool<D::Database>, (&'static str, sqlx::Error)> {
        let pool = pool_options::<D::Database>(options)
            .connect_with(connect)
            .await
            .map_err(|error| ("connection", error))?;
        if options.create_table {
            sqlx::raw_sql(&D::create_table(&options.table))
                .execute(&pool)
                .await
                .map_err(|error| ("table creation", error))?;
        } else {
            let probe = D::statements(&options.table).probe;
            sqlx::query(&probe)
                .execute(&pool)
                .await
                .map_err(|error| ("table check", error))?;
        }
        Ok(pool)
    }

    /// The store on a pool [`open`](Self::open) gave, or its error.
    fn opened(
        result: Result<Pool<D::Database>, (&'static str, sqlx::Error)>,
        context: Context,
        options: &SqlOptions,
    ) -> Result<Self, StoreError> {
        let pool = match result {
            Ok(pool) => pool,
            Err(("table check", sqlx::Error::Database(error))) => {
                return Err(StoreError::backend(SqlStoreError::MissingTable {
                    engine: D::ENGINE,
                    table: options.table.clone(),
                    url: context.url.clone(),
                    reason: error.message().to_string(),
                    schema: D::schema(&options.table),
                }))
            }
            Err((action, error)) => return Err(context.failed(action, error)),
        };
        Ok(SqlStore {
            pool,
            sql: D::statements(&options.table),
            cleanup_batch: i64::from(options.cleanup_batch),
            sweep: Arc::default(),
            context,
            dialect: PhantomData,
        })
    }

    /// The table sessions live in.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The underlying pool, e.g. to run migrations beside the sessions.
    pub fn pool(&self) -> &Pool<D::Database> {
        &self.pool
    }

    /// The record columns of `row`, from column `first` on, in `load`'s order.
    fn stored_row(
        &self,
        row: &<D::Database as Database>::Row,
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
            Ok::<_, sqlx::Error>((stored, row.try_get::<Option<D::Key>, _>(first + 6)?))
        })()
        .map_err(|error| self.context.failed("load", error))?;
        let owner = owner.map(|owner| D::key_text("owner", owner)).transpose()?;
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
            let key = D::key_text(
                "id",
                row.try_get::<D::Key, _>(0)
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
            let done = self
                .context
                .run(
                    "cleanup",
                    self.retrying(|| sqlx::query(&self.sql.delete).bind(&key).execute(&self.pool)),
                )
                .await?;
            removed += D::rows_affected(&done);
        }
        Ok(removed)
    }

    /// Deletes the expired row under `key`, if there is one; whether it did.
    async fn delete_dead(&self, key: &str, now: i64) -> Result<bool, sqlx::Error> {
        let done = self
            .retrying(|| {
                sqlx::query(&self.sql.delete_dead)
                    .bind(key.to_owned())
                    .bind(now)
                    .execute(&self.pool)
            })
            .await?;
        Ok(D::rows_affected(&done) > 0)
    }

    async fn insert(&self, row: &NewRow) -> Result<(), sqlx::Error> {
        self.retrying(|| {
            sqlx::query(&self.sql.insert)
                .bind(&row.id)
                .bind(&row.data)
                .bind(row.created_at)
                .bind(row.expires_at)
                .bind(row.absolute_deadline)
                .bind(row.live_until)
                .bind(row.version)
                .bind(&row.expiry)
                .bind(row.owner.as_deref().map(D::key))
                .execute(&self.pool)
        })
        .await
        .map(drop)
    }

    /// Runs `update`, or `regenerate` to `new`, for `delta`; whether a row changed.
    async fn apply(&self, change: Change<'_>) -> Result<bool, sqlx::Error> {
        let statement = if change.new.is_some() {
            &self.sql.regenerate
        } else {
            &self.sql.update
        };
        let done = self
            .retrying(|| D::apply(statement, change).execute(&self.pool))
            .await?;
        Ok(D::rows_affected(&done) > 0)
    }

    /// Refuses, before the database does with an error of its own, the value keys and owners a
    /// write would store that the database's text cannot hold ([`Dialect::can_hold`]).
    fn check_storable<'a>(
        keys: impl IntoIterator<Item = &'a str>,
        owner: Option<&str>,
    ) -> Result<(), StoreError> {
        let unstorable = |what| {
            StoreError::backend(SqlStoreError::Unstorable {
                engine: D::ENGINE,
                what,
            })
        };
        if !keys.into_iter().all(D::can_hold) {
            return Err(unstorable("value key"));
        }
        match owner {
            Some(owner) if !D::can_hold(owner) => Err(unstorable("owner")),
            _ => Ok(()),
        }
    }

    /// Runs the write `attempt` again, up to [`CONFLICT_TRIES`] times in all, while it fails
    /// only because it met a concurrent write and was undone ([`Dialect::is_conflict`]: a
    /// MySQL/MariaDB deadlock or lock wait timeout). Each write is one statement, its own
    /// transaction, so running it again does not apply it twice.
    async fn retrying<T, F, Fut>(&self, attempt: F) -> Result<T, sqlx::Error>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(error) if tries < CONFLICT_TRIES && D::is_conflict(&error) => {
                    tracing::debug!(
                        engine = D::ENGINE,
                        %error,
                        "a write met a concurrent one and was undone; running it again"
                    );
                    tokio::time::sleep(jittered(CONFLICT_PAUSE * tries)).await;
                    tries += 1;
                }
                result => return result,
            }
        }
    }

    /// Runs `attempt`; when the database refuses it because a key is taken, deletes the expired
    /// row under `key` (a live one never goes) and runs it once more. `AlreadyExists` when the
    /// key is still taken.
    async fn replacing_dead<F, Fut, T>(
        &self,
        action: &'static str,
        key: &str,
        attempt: F,
    ) -> Result<T, StoreError>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>> + Send,
        T: Send,
    {
        let now = now();
        self.context
            .run(action, async {
                match attempt().await {
                    Err(error) if is_unique_violation(&error) => {
                        if !self.delete_dead(key, now).await? {
                            return Ok(Err(StoreError::AlreadyExists));
                        }
                        match attempt().await {
                            Err(error) if is_unique_violation(&error) => {
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
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    for<'c> &'c mut <D::Database as Database>::Connection: Executor<'c, Database = D::Database>,
    for<'q> <D::Database as Database>::Arguments<'q>: IntoArguments<'q, D::Database>,
    usize: ColumnIndex<<D::Database as Database>::Row>,
    String: Column<D::Database>,
    i64: Column<D::Database>,
    Option<String>: Column<D::Database>,
    Option<i64>: Column<D::Database>,
    Option<D::Key>: Column<D::Database>,
{
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let row = self
            .context
            .run(
                "load",
                sqlx::query(&self.sql.load)
                    .bind(id.storage_key())
                    .bind(now())
                    .fetch_optional(&self.pool),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        self.stored_row(&row, 0)?.into_record(*id).map(Some)
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        Self::check_storable(
            record.data.keys().map(|key| key.as_str()),
            record.owner.as_deref(),
        )?;
        let row = NewRow::of(record)?;
        self.replacing_dead("create", &row.id, || self.insert(&row))
            .await
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        let columns = DeltaColumns::of(delta)?;
        Self::check_storable(
            delta.changed.iter().map(|(key, _)| key.as_str()),
            columns.owner.as_deref(),
        )?;
        let key = id.storage_key();
        self.context
            .run(
                "update",
                self.apply(Change {
                    id: &key,
                    delta,
                    columns: &columns,
                    now: now(),
                    new: None,
                }),
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
        Self::check_storable(
            delta.changed.iter().map(|(key, _)| key.as_str()),
            columns.owner.as_deref(),
        )?;
        let (old, new) = (old.storage_key(), new.storage_key());
        let now = now();
        self.replacing_dead("regenerate", &new, || {
            self.apply(Change {
                id: &old,
                delta,
                columns: &columns,
                now,
                new: Some(&new),
            })
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.context
            .run(
                "delete",
                self.retrying(|| {
                    sqlx::query(&self.sql.delete)
                        .bind(id.storage_key())
                        .execute(&self.pool)
                }),
            )
            .await
            .map(drop)
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        if !D::can_hold(owner) {
            return Ok(Vec::new());
        }
        let rows = self
            .context
            .run(
                "owner listing",
                sqlx::query(&self.sql.owner_sessions)
                    .bind(D::key(owner))
                    .bind(now())
                    .fetch_all(&self.pool),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let (key, created_at, expires_at, device) = (|| {
                    Ok::<_, sqlx::Error>((
                        row.try_get::<D::Key, _>(0)?,
                        row.try_get::<i64, _>(1)?,
                        row.try_get::<i64, _>(2)?,
                        row.try_get::<Option<String>, _>(3)?,
                    ))
                })()
                .map_err(|error| self.context.failed("owner listing", error))?;
                owner_session(D::key_text("id", key)?, created_at, expires_at, device)
            })
            .collect()
    }

    async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
        // A handle comes from a request: one no row can be stored under removes nothing.
        if !is_storage_key(key) || !D::can_hold(owner) {
            return Ok(false);
        }
        self.context
            .run(
                "owner session deletion",
                self.retrying(|| {
                    sqlx::query(&self.sql.delete_owned)
                        .bind(D::key(key))
                        .bind(D::key(owner))
                        .bind(now())
                        .execute(&self.pool)
                }),
            )
            .await
            .map(|done| D::rows_affected(&done) > 0)
    }

    async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        if !D::can_hold(owner) {
            return Ok(0);
        }
        // A `keep` no row can be stored under spares nothing.
        let keep = keep.filter(|keep| is_storage_key(keep));
        let now = now();
        let delete = || {
            let query = match keep {
                Some(keep) => sqlx::query(&self.sql.delete_owner_except)
                    .bind(D::key(owner))
                    .bind(now)
                    .bind(D::key(keep)),
                None => sqlx::query(&self.sql.delete_owner)
                    .bind(D::key(owner))
                    .bind(now),
            };
            query.execute(&self.pool)
        };
        self.context
            .run("owner deletion", self.retrying(delete))
            .await
            .map(|done| D::rows_affected(&done))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let row = self
            .context
            .run(
                "count",
                sqlx::query(&self.sql.count)
                    .bind(now())
                    .fetch_one(&self.pool),
            )
            .await?;
        let count: i64 = row
            .try_get(0)
            .map_err(|error| self.context.failed("count", error))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn cleanup(&self) -> Option<&dyn Cleanup> {
        Some(self)
    }
}

#[async_trait]
impl<D: Dialect> Cleanup for SqlStore<D>
where
    for<'c> &'c mut <D::Database as Database>::Connection: Executor<'c, Database = D::Database>,
    for<'q> <D::Database as Database>::Arguments<'q>: IntoArguments<'q, D::Database>,
    usize: ColumnIndex<<D::Database as Database>::Row>,
    String: Column<D::Database>,
    i64: Column<D::Database>,
    Option<String>: Column<D::Database>,
    Option<i64>: Column<D::Database>,
    Option<D::Key>: Column<D::Database>,
{
    /// Deletes expired rows, `cleanup_batch` per statement, until none is left; then sweeps
    /// the next `cleanup_batch` rows for ones that do not decode.
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = now();
        let mut removed = 0;
        loop {
            let done = self
                .context
                .run(
                    "cleanup",
                    self.retrying(|| {
                        sqlx::query(&self.sql.cleanup)
                            .bind(now)
                            .bind(self.cleanup_batch)
                            .execute(&self.pool)
                    }),
                )
                .await?;
            let batch = D::rows_affected(&done);
            removed += batch;
            if batch < self.cleanup_batch.unsigned_abs() {
                return Ok(removed + self.sweep_corrupt().await?);
            }
        }
    }
}

/// A pause of between half and all of `longest`, at random.
fn jittered(longest: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // Each `RandomState` is freshly keyed, which is all the randomness a pause needs.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = longest / 2;
    let micros = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
    half + Duration::from_micros(random % micros)
}
