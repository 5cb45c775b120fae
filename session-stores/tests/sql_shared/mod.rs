//! Checks every SQL store passes, beside the conformance suite: exact values, deltas, the
//! owner index, regeneration and its races, cleanup in batches, and corrupt rows.

#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use session_core::{
    now_ms, ConfigError, Delta, Expiry, RawJson, Record, SessionId, Store, StoreConfig, StoreError,
};
use session_stores::sql::mysql::{MySql, MySqlStore};
use session_stores::sql::postgres::{Postgres, PostgresStore};
use session_stores::sql::sqlite::{Sqlite, SqliteStore};
use session_stores::sql::{Dialect, SqlOptions};

const HOUR_MS: u64 = 3_600_000;

pub fn raw(json: &str) -> RawJson {
    RawJson::from_string(json.to_string()).unwrap()
}

/// A table no other test uses.
pub fn unique_table(test: &str) -> String {
    let suffix: String = SessionId::generate()
        .storage_key()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    format!("t_{test}_{suffix}")
}

pub fn options(url: &str, table: &str) -> SqlOptions {
    SqlOptions {
        url: url.to_string(),
        table: table.to_string(),
        pool_size: 4,
        ..SqlOptions::default()
    }
}

/// Makes the stored row under a storage key undecodable.
pub type Corrupt = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A database the SQL stores' tests run on.
pub enum Server {
    Postgres(String),
    MySql(String),
    /// A directory for the database file.
    Sqlite(tempfile::TempDir),
}

/// A store of each dialect.
#[derive(Clone)]
pub enum SqlStore {
    Postgres(PostgresStore),
    MySql(MySqlStore),
    Sqlite(SqliteStore),
}

impl Server {
    /// The databases of this run: SQLite always, PostgreSQL and MariaDB when their URLs are set
    /// (`scripts/test.sh` starts private servers); a missing one is said, not failed.
    pub fn available() -> Vec<Server> {
        let mut servers = Vec::new();
        for (variable, server) in [
            ("POSTGRES_URL", Server::Postgres as fn(String) -> Server),
            ("MYSQL_URL", Server::MySql),
        ] {
            match std::env::var(variable) {
                Ok(url) => servers.push(server(url)),
                Err(_) => eprintln!(
                    "skipped: {variable} is not set (scripts/test.sh starts a private server)"
                ),
            }
        }
        servers.push(Server::Sqlite(tempfile::tempdir().unwrap()));
        servers
    }

    /// The servers of [`available`](Self::available) that run on a network.
    pub fn networked() -> Vec<Server> {
        Self::available()
            .into_iter()
            .filter(|server| !matches!(server, Server::Sqlite(_)))
            .collect()
    }

    /// The store type of the registry.
    pub fn kind(&self) -> &'static str {
        match self {
            Server::Postgres(_) => "postgres",
            Server::MySql(_) => "mysql",
            Server::Sqlite(_) => "sqlite",
        }
    }

    /// The database's name in messages.
    pub fn engine(&self) -> &'static str {
        match self {
            Server::Postgres(_) => Postgres::ENGINE,
            Server::MySql(_) => MySql::ENGINE,
            Server::Sqlite(_) => Sqlite::ENGINE,
        }
    }

    pub fn url(&self) -> String {
        match self {
            Server::Postgres(url) | Server::MySql(url) => url.clone(),
            Server::Sqlite(dir) => format!("sqlite://{}", dir.path().join("sessions.db").display()),
        }
    }

    /// The statements that create `table`, in this server's dialect.
    pub fn schema(&self, table: &str) -> String {
        match self {
            Server::Postgres(_) => session_stores::sql::postgres::schema(table),
            Server::MySql(_) => session_stores::sql::mysql::schema(table),
            Server::Sqlite(_) => session_stores::sql::sqlite::schema(table),
        }
    }

    pub async fn connect(&self, options: SqlOptions) -> Result<SqlStore, StoreError> {
        eprintln!("on {}", self.engine());
        Ok(match self {
            Server::Postgres(_) => SqlStore::Postgres(PostgresStore::connect(options).await?),
            Server::MySql(_) => SqlStore::MySql(MySqlStore::connect(options).await?),
            Server::Sqlite(_) => SqlStore::Sqlite(SqliteStore::connect(options).await?),
        })
    }

    /// A store on a table no other test uses, with `options` changed by `change`.
    pub async fn store(&self, change: impl FnOnce(SqlOptions) -> SqlOptions) -> SqlStore {
        let table = unique_table(self.kind());
        self.connect(change(options(&self.url(), &table)))
            .await
            .unwrap()
    }
}

impl SqlStore {
    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            SqlStore::Postgres(store) => Arc::new(store.clone()),
            SqlStore::MySql(store) => Arc::new(store.clone()),
            SqlStore::Sqlite(store) => Arc::new(store.clone()),
        }
    }

    /// Makes the row under a key of the store's table undecodable: a value that is not JSON
    /// text.
    pub fn corrupter(&self) -> Corrupt {
        let set = "SET data = '{\"a\":1}'";
        match self {
            SqlStore::Postgres(store) => corrupter_on(
                store.pool().clone(),
                format!("UPDATE \"{}\" {set} WHERE id = $1", store.table()),
            ),
            SqlStore::MySql(store) => corrupter_on(
                store.pool().clone(),
                format!("UPDATE `{}` {set} WHERE id = ?", store.table()),
            ),
            SqlStore::Sqlite(store) => corrupter_on(
                store.pool().clone(),
                format!("UPDATE \"{}\" {set} WHERE id = ?1", store.table()),
            ),
        }
    }

    /// The names of the indexes of the store's table.
    pub async fn indexes(&self) -> Vec<String> {
        match self {
            SqlStore::Postgres(store) => {
                sqlx::query_scalar("SELECT indexname::text FROM pg_indexes WHERE tablename = $1")
                    .bind(store.table())
                    .fetch_all(store.pool())
                    .await
            }
            SqlStore::MySql(store) => {
                sqlx::query_scalar(
                    "SELECT DISTINCT CAST(index_name AS CHAR) FROM information_schema.statistics \
                     WHERE table_schema = DATABASE() AND table_name = ?",
                )
                .bind(store.table())
                .fetch_all(store.pool())
                .await
            }
            SqlStore::Sqlite(store) => {
                sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 \
                     AND sql IS NOT NULL",
                )
                .bind(store.table())
                .fetch_all(store.pool())
                .await
            }
        }
        .unwrap()
    }

    /// Runs `statement`, written in the store's dialect, on its database.
    pub async fn execute(&self, statement: &str) {
        match self {
            SqlStore::Postgres(store) => sqlx::raw_sql(statement)
                .execute(store.pool())
                .await
                .map(drop),
            SqlStore::MySql(store) => sqlx::raw_sql(statement)
                .execute(store.pool())
                .await
                .map(drop),
            SqlStore::Sqlite(store) => sqlx::raw_sql(statement)
                .execute(store.pool())
                .await
                .map(drop),
        }
        .unwrap()
    }
}

/// A [`Corrupt`] that runs `statement` (one parameter: the storage key) on `pool`.
fn corrupter_on<DB>(pool: sqlx::Pool<DB>, statement: String) -> Corrupt
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    Arc::new(move |key| {
        let (pool, statement) = (pool.clone(), statement.clone());
        Box::pin(async move {
            sqlx::query(&statement)
                .bind(key)
                .execute(&pool)
                .await
                .unwrap();
        }) as Pin<Box<dyn Future<Output = ()> + Send>>
    })
}

/// Options for the cleanup checks, which need batches smaller than their rows.
pub fn batches_of_two(options: SqlOptions) -> SqlOptions {
    SqlOptions {
        cleanup_batch: 2,
        ..options
    }
}

/// The conformance suite on `store`.
pub async fn conformance(store: &SqlStore) {
    let corrupt = store.corrupter();
    session_stores::conformance::Suite::new(store.shared())
        .with_corrupter(move |id: SessionId| corrupt(id.storage_key()))
        .run()
        .await;
}

/// Several stores starting at once on one new table all start (and so create it once).
pub async fn stores_starting_at_once_create_the_table_once<S, Fut>(connect: impl Fn() -> Fut)
where
    Fut: Future<Output = Result<S, StoreError>> + Send + 'static,
    S: Send + 'static,
{
    let starts: Vec<_> = (0..4).map(|_| tokio::spawn(connect())).collect();
    for start in starts {
        start.await.unwrap().unwrap();
    }
}

/// The registry configuration of a `kind` store with `options` (a JSON object).
pub fn config(kind: &str, options: serde_json::Value) -> StoreConfig {
    let serde_json::Value::Object(options) = options else {
        unreachable!()
    };
    StoreConfig {
        kind: kind.into(),
        options,
    }
}

/// The registry refuses every `(field, options)` of `cases` for `kind`, naming the session and
/// the field.
pub async fn bad_options_name_the_session_and_the_field(
    kind: &str,
    cases: Vec<(&str, serde_json::Value)>,
) {
    for (field, options) in cases {
        let error = session_stores::registry()
            .build("app", &config(kind, options))
            .await
            .err()
            .unwrap_or_else(|| panic!("{field}: accepted"));
        let message = error.to_string();
        assert!(matches!(error, ConfigError::Store { .. }), "{message}");
        assert!(
            message.contains("`app`") && message.contains(field),
            "{field}: {message}"
        );
    }
}

/// A `kind` server (`postgres`, `mysql`) that is down at start-up fails the registry's build with
/// a message naming the session, `engine` and the address, and not the password.
pub async fn a_server_that_is_down_at_start_up_is_a_clear_error(kind: &str, engine: &str) {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("{kind}://app:hunter2@127.0.0.1:{port}/sessions");
    let Err(error) = session_stores::registry()
        .build(
            "app",
            &config(
                kind,
                serde_json::json!({ "url": url, "connect_timeout_ms": 500 }),
            ),
        )
        .await
    else {
        panic!("nothing listens there");
    };
    let message = error.to_string();
    assert!(
        message.contains("`app`") && message.contains(engine),
        "{message}"
    );
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && !message.contains("hunter2"),
        "{message}"
    );
}

/// A live record expiring in an hour.
pub fn record() -> Record {
    let now = now_ms();
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now);
    record.expires_at = now + HOUR_MS;
    record
}

/// A delta that keeps the deadlines an hour ahead and sets `changes`.
pub fn delta(changes: &[(&str, &str)]) -> Delta {
    Delta {
        changed: changes
            .iter()
            .map(|(k, v)| (k.to_string(), raw(v)))
            .collect(),
        expires_at: now_ms() + HOUR_MS,
        ..Delta::default()
    }
}

/// A new record created through `writer` loads, as it was, through `reader`.
pub async fn created_through_loads_through(writer: &dyn Store, reader: &dyn Store) {
    let record = record();
    writer.create(&record).await.unwrap();
    assert_eq!(reader.load(&record.id).await.unwrap(), Some(record));
}

/// The message of the error the registry refuses a SQLite store on `url` with at start-up, for
/// the `app` session; panics when the store starts.
pub async fn sqlite_start_up_error(url: &str) -> String {
    let built = session_stores::registry()
        .build("app", &config("sqlite", serde_json::json!({ "url": url })))
        .await;
    match built {
        Ok(_) => panic!("{url}: accepted"),
        Err(error) => error.to_string(),
    }
}

pub async fn load(store: &dyn Store, id: &SessionId) -> Option<Record> {
    store.load(id).await.unwrap()
}

/// Runs every check on `store`, a fresh one on an empty table. `corrupt(storage_key)` must
/// make the stored row under that key undecodable.
pub async fn run<F, Fut>(store: Arc<dyn Store>, corrupt: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    values_come_back_byte_for_byte(&*store).await;
    create_never_overwrites_a_live_record_but_replaces_an_expired_one(&*store).await;
    updates_touch_only_their_keys(&*store).await;
    expired_records_are_neither_loaded_updated_nor_moved(&*store).await;
    regenerate_moves_the_stored_record_with_the_delta(&*store).await;
    regenerate_onto_a_live_id_is_already_exists(&*store).await;
    regenerate_racing_delete_never_resurrects(store.clone()).await;
    the_owner_index_follows_creates_rebinds_and_deletes(&*store).await;
    count_sees_only_live_records(&*store).await;
    concurrent_deltas_to_distinct_keys_lose_nothing(store.clone()).await;
    undecodable_rows_are_corrupt(&*store, corrupt).await;
}

async fn values_come_back_byte_for_byte(store: &dyn Store) {
    let mut saved = record();
    for (key, value) in [
        ("spaced", r#"{ "b" : 1,  "a" : [1.0, 1e2, -0] }"#),
        ("unicode", r#""héllo, 世界 \"quoted\" \u00e9""#),
        ("big", "123456789012345678901234567890"),
        ("null", "null"),
        ("key with \"quotes\" and $.path[0]", "true"),
        ("", "\"empty key\""),
    ] {
        saved.data.insert(key.into(), raw(value));
    }
    saved.absolute_deadline = Some(saved.expires_at + HOUR_MS);
    saved.version = 7;
    saved.expiry = Some(Expiry::persistent(Duration::from_secs(86_400)));
    saved.owner = Some("Alice ".into());
    store.create(&saved).await.unwrap();
    assert_eq!(load(store, &saved.id).await, Some(saved.clone()));
    let mut updated = saved.clone();
    let changes = delta(&[("spaced", r#"[ 1 , 2 ]"#), ("new", r#"{"k" :"v"}"#)]);
    let changes = Delta {
        removed: vec!["key with \"quotes\" and $.path[0]".into()],
        absolute_deadline: saved.absolute_deadline,
        expiry: saved.expiry.clone(),
        ..changes
    };
    assert!(store.update(&saved.id, &changes).await.unwrap());
    changes.apply(&mut updated);
    assert_eq!(load(store, &saved.id).await, Some(updated));
}

async fn create_never_overwrites_a_live_record_but_replaces_an_expired_one(store: &dyn Store) {
    let first = record();
    store.create(&first).await.unwrap();
    let mut second = first.clone();
    second.data.insert("other".into(), raw("1"));
    assert!(matches!(
        store.create(&second).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(load(store, &first.id).await, Some(first.clone()));

    let mut expired = record();
    expired.expires_at = now_ms() - 1;
    store.create(&expired).await.unwrap();
    assert_eq!(load(store, &expired.id).await, None);
    let mut fresh = expired.clone();
    fresh.expires_at = now_ms() + HOUR_MS;
    store.create(&fresh).await.unwrap();
    assert_eq!(load(store, &fresh.id).await, Some(fresh));
}

async fn updates_touch_only_their_keys(store: &dyn Store) {
    let mut saved = record();
    saved.data.insert("keep".into(), raw("1"));
    saved.data.insert("drop".into(), raw("2"));
    store.create(&saved).await.unwrap();
    let changes = Delta {
        removed: vec!["drop".into(), "never-there".into()],
        ..delta(&[("added", "3"), ("keep", "1")])
    };
    assert!(store.update(&saved.id, &changes).await.unwrap());
    let loaded = load(store, &saved.id).await.unwrap();
    let keys: Vec<_> = loaded.data.keys().map(String::as_str).collect();
    assert_eq!(keys, ["added", "keep"]);
    assert_eq!(loaded.version, saved.version + 1);
    assert_eq!(loaded.expires_at, changes.expires_at);
    assert!(!store
        .update(&SessionId::generate(), &changes)
        .await
        .unwrap());
}

async fn expired_records_are_neither_loaded_updated_nor_moved(store: &dyn Store) {
    let mut idle = record();
    idle.expires_at = now_ms() - 1;
    let mut absolute = record();
    absolute.absolute_deadline = Some(now_ms() - 1);
    for expired in [idle, absolute] {
        store.create(&expired).await.unwrap();
        assert_eq!(load(store, &expired.id).await, None);
        assert!(!store.exists(&expired.id).await.unwrap());
        assert!(!store
            .update(&expired.id, &delta(&[("a", "1")]))
            .await
            .unwrap());
        let new = SessionId::generate();
        assert!(!store
            .regenerate(&expired.id, &new, &delta(&[]))
            .await
            .unwrap());
        assert_eq!(load(store, &new).await, None);
    }
}

async fn regenerate_moves_the_stored_record_with_the_delta(store: &dyn Store) {
    let mut saved = record();
    saved.data.insert("user".into(), raw("\"alice\""));
    store.create(&saved).await.unwrap();
    // A concurrent request's update reached the store first: the move keeps it.
    assert!(store
        .update(&saved.id, &delta(&[("cart", "[1]")]))
        .await
        .unwrap());
    let new = SessionId::generate();
    let login = Delta {
        owner: Some(Some("alice".into())),
        ..delta(&[("login", "true")])
    };
    assert!(store.regenerate(&saved.id, &new, &login).await.unwrap());
    assert_eq!(load(store, &saved.id).await, None);
    let moved = load(store, &new).await.unwrap();
    assert_eq!(moved.id, new);
    let keys: Vec<_> = moved.data.keys().map(String::as_str).collect();
    assert_eq!(keys, ["cart", "login", "user"]);
    assert_eq!(moved.owner.as_deref(), Some("alice"));
    assert_eq!(moved.created_at, saved.created_at);
    // Once moved, the old id moves nowhere.
    let again = SessionId::generate();
    assert!(!store.regenerate(&saved.id, &again, &login).await.unwrap());
    assert_eq!(load(store, &again).await, None);
}

async fn regenerate_onto_a_live_id_is_already_exists(store: &dyn Store) {
    let (old, taken) = (record(), record());
    store.create(&old).await.unwrap();
    store.create(&taken).await.unwrap();
    assert!(matches!(
        store.regenerate(&old.id, &taken.id, &delta(&[])).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(load(store, &old.id).await, Some(old.clone()));
    assert_eq!(load(store, &taken.id).await, Some(taken));

    // An expired record under the new id is no obstacle.
    let mut dead = record();
    dead.expires_at = now_ms() - 1;
    store.create(&dead).await.unwrap();
    assert!(store
        .regenerate(&old.id, &dead.id, &delta(&[]))
        .await
        .unwrap());
    assert_eq!(load(store, &dead.id).await.unwrap().data, old.data);
}

async fn regenerate_racing_delete_never_resurrects(store: Arc<dyn Store>) {
    // Delete first: the move finds nothing and writes nothing.
    let gone = record();
    store.create(&gone).await.unwrap();
    store.delete(&gone.id).await.unwrap();
    let new = SessionId::generate();
    assert!(!store.regenerate(&gone.id, &new, &delta(&[])).await.unwrap());
    assert_eq!(load(&*store, &new).await, None);

    // Move first: deleting the old id afterwards leaves the moved record.
    let moved = record();
    store.create(&moved).await.unwrap();
    let new = SessionId::generate();
    assert!(store
        .regenerate(&moved.id, &new, &delta(&[]))
        .await
        .unwrap());
    store.delete(&moved.id).await.unwrap();
    assert!(load(&*store, &new).await.is_some());

    // At once, many times: either the move won (the record lives under the new id only) or the
    // delete did (nothing anywhere).
    for _ in 0..20 {
        let old = record();
        store.create(&old).await.unwrap();
        let new = SessionId::generate();
        let (mover, deleter) = (store.clone(), store.clone());
        let regenerate =
            tokio::spawn(async move { mover.regenerate(&old.id, &new, &delta(&[])).await });
        let delete = tokio::spawn(async move { deleter.delete(&old.id).await });
        let moved = regenerate.await.unwrap().unwrap();
        delete.await.unwrap().unwrap();
        assert_eq!(load(&*store, &old.id).await, None);
        assert_eq!(load(&*store, &new).await.is_some(), moved);
    }
}

async fn the_owner_index_follows_creates_rebinds_and_deletes(store: &dyn Store) {
    let owner = format!("user-{}", &SessionId::generate().storage_key()[..8]);
    let mut first = record();
    first.owner = Some(owner.clone());
    let mut second = record();
    second.owner = Some(owner.clone());
    let mut expired = record();
    expired.owner = Some(owner.clone());
    expired.expires_at = now_ms() - 1;
    let mut lookalike = record();
    lookalike.owner = Some(format!("{owner} "));
    let mut upper = record();
    upper.owner = Some(owner.to_uppercase());
    for record in [&first, &second, &expired, &lookalike, &upper] {
        store.create(record).await.unwrap();
    }
    let listed = session_stores::testing::owner_keys(store, &owner)
        .await
        .unwrap();
    let mut expected = vec![first.id.storage_key(), second.id.storage_key()];
    expected.sort();
    assert_eq!(listed, expected, "only the owner's live sessions, exactly");
    let entry = &store.owner_sessions(&owner).await.unwrap()[0];
    assert!(entry.created_at == first.created_at || entry.created_at == second.created_at);

    // A delta without an owner keeps it; one with an owner rebinds it.
    assert!(store
        .update(&first.id, &delta(&[("a", "1")]))
        .await
        .unwrap());
    assert_eq!(store.owner_sessions(&owner).await.unwrap().len(), 2);
    let unbind = Delta {
        owner: Some(None),
        ..delta(&[])
    };
    assert!(store.update(&second.id, &unbind).await.unwrap());
    assert_eq!(load(store, &second.id).await.unwrap().owner, None);
    assert_eq!(store.owner_sessions(&owner).await.unwrap().len(), 1);

    assert!(store.delete_owner(&owner).await.unwrap() >= 1);
    assert_eq!(load(store, &first.id).await, None);
    assert!(store.owner_sessions(&owner).await.unwrap().is_empty());
    assert!(load(store, &lookalike.id).await.is_some());
    assert!(load(store, &upper.id).await.is_some());
    assert!(load(store, &second.id).await.is_some());

    let mut too_long = record();
    too_long.owner = Some("x".repeat(session_stores::sql::MAX_OWNER_BYTES + 1));
    assert!(matches!(
        store.create(&too_long).await,
        Err(StoreError::Backend(_))
    ));
}

async fn count_sees_only_live_records(store: &dyn Store) {
    let before = store.count().await.unwrap();
    let live = record();
    let mut dead = record();
    dead.expires_at = now_ms() - 1;
    store.create(&live).await.unwrap();
    store.create(&dead).await.unwrap();
    assert_eq!(store.count().await.unwrap(), before + 1);
    store.delete(&live.id).await.unwrap();
    assert_eq!(store.count().await.unwrap(), before);
}

async fn concurrent_deltas_to_distinct_keys_lose_nothing(store: Arc<dyn Store>) {
    let saved = record();
    store.create(&saved).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            let id = saved.id;
            tokio::spawn(async move {
                let key = format!("key-{i}");
                store.update(&id, &delta(&[(&key, &i.to_string())])).await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap());
    }
    let loaded = load(&*store, &saved.id).await.unwrap();
    assert_eq!(loaded.data.len(), 50);
    for i in 0..50 {
        assert_eq!(loaded.data[&format!("key-{i}")].get(), i.to_string());
    }
    assert_eq!(loaded.version, 50);
}

async fn undecodable_rows_are_corrupt<F, Fut>(store: &dyn Store, corrupt: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let saved = record();
    store.create(&saved).await.unwrap();
    corrupt(saved.id.storage_key()).await;
    assert!(matches!(
        store.load(&saved.id).await,
        Err(StoreError::Corrupt(_))
    ));
    store.delete(&saved.id).await.unwrap();
    assert_eq!(load(store, &saved.id).await, None);
}

/// Cleanup removes exactly the expired rows, in batches smaller than their number. `store` must
/// have `cleanup_batch` 2 and an empty table.
pub async fn cleanup_deletes_expired_rows_in_batches(store: &dyn Store) {
    let mut live = Vec::new();
    for i in 0..7 {
        let mut saved = record();
        if i < 5 {
            saved.expires_at = now_ms() - 1;
        } else {
            live.push(saved.id);
        }
        store.create(&saved).await.unwrap();
    }
    let cleanup = store.cleanup().expect("SQL stores clean up");
    assert_eq!(cleanup.delete_expired().await.unwrap(), 5);
    assert_eq!(cleanup.delete_expired().await.unwrap(), 0);
    assert_eq!(store.count().await.unwrap(), 2);
    for id in live {
        assert!(load(store, &id).await.is_some());
    }
}

/// Cleanup's sweep for undecodable rows reads `cleanup_batch` rows per pass and resumes where
/// it stopped. `store` must have `cleanup_batch` 2 and an empty table.
pub async fn cleanup_sweeps_undecodable_rows_a_batch_per_pass<F, Fut>(store: &dyn Store, corrupt: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut records: Vec<Record> = (0..5).map(|_| record()).collect();
    for saved in &records {
        store.create(saved).await.unwrap();
    }
    // The last in key order: only the third pass reaches it.
    records.sort_by_key(|saved| saved.id.storage_key());
    let broken = records.pop().unwrap();
    corrupt(broken.id.storage_key()).await;
    let cleanup = store.cleanup().expect("SQL stores clean up");
    assert_eq!(cleanup.delete_expired().await.unwrap(), 0, "first two rows");
    assert_eq!(cleanup.delete_expired().await.unwrap(), 0, "next two rows");
    assert_eq!(cleanup.delete_expired().await.unwrap(), 1, "the last row");
    assert!(matches!(store.load(&broken.id).await, Ok(None)));
    for saved in &records {
        assert_eq!(load(store, &saved.id).await.as_ref(), Some(saved));
    }
}
