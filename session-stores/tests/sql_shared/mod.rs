//! Checks every SQL store passes, beside the conformance suite: exact values, deltas, the
//! owner index, regeneration and its races, cleanup in batches, and corrupt rows.

#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use session_core::{
    now_ms, ClientInfo, ConfigError, Delta, Device, Expiry, RawJson, Record, SessionId, Store,
    StoreConfig, StoreError, DEVICE_KEY,
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

/// `$body` with `$store` bound to the store of whichever dialect `$sql_store` holds: the three
/// stores (and their pools) have different types, so one closure cannot take each of them.
macro_rules! each_dialect {
    ($sql_store:expr, $store:ident => $body:expr) => {
        match $sql_store {
            SqlStore::Postgres($store) => $body,
            SqlStore::MySql($store) => $body,
            SqlStore::Sqlite($store) => $body,
        }
    };
}

impl SqlStore {
    pub fn shared(&self) -> Arc<dyn Store> {
        each_dialect!(self, store => Arc::new(store.clone()))
    }

    /// The store's table name, quoted in its dialect.
    fn quoted_table(&self) -> String {
        match self {
            SqlStore::MySql(store) => format!("`{}`", store.table()),
            SqlStore::Postgres(store) => format!("\"{}\"", store.table()),
            SqlStore::Sqlite(store) => format!("\"{}\"", store.table()),
        }
    }

    /// The dialect's placeholders for a statement's first and second parameters.
    fn parameters(&self) -> [&'static str; 2] {
        match self {
            SqlStore::Postgres(_) => ["$1", "$2"],
            SqlStore::MySql(_) => ["?", "?"],
            SqlStore::Sqlite(_) => ["?1", "?2"],
        }
    }

    /// Makes the row under a key of the store's table undecodable: a value that is not JSON
    /// text.
    pub fn corrupter(&self) -> Corrupt {
        let statement = format!(
            "UPDATE {} SET data = '{{\"a\":1}}' WHERE id = {}",
            self.quoted_table(),
            self.parameters()[0]
        );
        each_dialect!(self, store => corrupter_on(store.pool().clone(), statement))
    }

    /// Sets the `data` column of the row under a storage key to a text, as is.
    pub fn data_setter(
        &self,
    ) -> impl Fn(String, String) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let store = self.clone();
        let [data, id] = self.parameters();
        // PostgreSQL's column is `jsonb`, which a text parameter does not fill by itself.
        let cast = if matches!(self, SqlStore::Postgres(_)) {
            "::jsonb"
        } else {
            ""
        };
        let statement = format!(
            "UPDATE {} SET data = {data}{cast} WHERE id = {id}",
            self.quoted_table()
        );
        move |key: String, text: String| {
            let (store, statement) = (store.clone(), statement.clone());
            Box::pin(async move {
                each_dialect!(&store, store => sqlx::query(&statement)
                    .bind(text)
                    .bind(key)
                    .execute(store.pool())
                    .await
                    .map(drop))
                .unwrap()
            }) as Pin<Box<dyn Future<Output = ()> + Send>>
        }
    }

    /// The names of the indexes of the store's table.
    pub async fn indexes(&self) -> Vec<String> {
        let query = match self {
            SqlStore::Postgres(_) => "SELECT indexname::text FROM pg_indexes WHERE tablename = $1",
            SqlStore::MySql(_) => {
                "SELECT DISTINCT CAST(index_name AS CHAR) FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND table_name = ?"
            }
            SqlStore::Sqlite(_) => {
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 \
                 AND sql IS NOT NULL"
            }
        };
        each_dialect!(self, store => sqlx::query_scalar::<_, String>(query)
            .bind(store.table())
            .fetch_all(store.pool())
            .await)
        .unwrap()
    }

    /// Runs `statement`, written in the store's dialect, on its database.
    pub async fn execute(&self, statement: &str) {
        each_dialect!(self, store => sqlx::raw_sql(statement)
            .execute(store.pool())
            .await
            .map(drop))
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
            .map(|(k, v)| (k.to_string().into(), raw(v)))
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

/// Creates each of `records` in `store`.
pub async fn create_all(store: &dyn Store, records: impl IntoIterator<Item = &Record>) {
    for record in records {
        store.create(record).await.unwrap();
    }
}

/// Whether `delete_owned` of `record`'s handle for `owner` ends a session.
async fn ends(store: &dyn Store, owner: &str, record: &Record) -> bool {
    let handle = record.id.storage_key();
    store.delete_owned(owner, &handle).await.unwrap()
}

/// How many sessions `delete_owner` of `owner` keeping `keep` ends.
async fn delete_owner_keeping(store: &dyn Store, owner: &str, keep: &Record) -> u64 {
    let keep = keep.id.storage_key();
    store.delete_owner(owner, Some(&keep)).await.unwrap()
}

pub async fn load(store: &dyn Store, id: &SessionId) -> Option<Record> {
    store.load(id).await.unwrap()
}

/// Runs each of the checks named, in turn, on `$store`.
macro_rules! in_turn {
    ($store:expr; $($check:ident),* $(,)?) => {
        $($check($store).await;)*
    };
}

/// Runs every check on `store`, a fresh one on an empty table. `corrupt(storage_key)` must
/// make the stored row under that key undecodable.
pub async fn run<F, Fut>(store: Arc<dyn Store>, corrupt: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    in_turn!(
        &*store;
        values_come_back_byte_for_byte,
        create_never_overwrites_a_live_record_but_replaces_an_expired_one,
        updates_touch_only_their_keys,
        expired_records_are_neither_loaded_updated_nor_moved,
        regenerate_moves_the_stored_record_with_the_delta,
        regenerate_onto_a_live_id_is_already_exists,
    );
    regenerate_racing_delete_never_resurrects(store.clone()).await;
    in_turn!(
        &*store;
        the_owner_index_follows_creates_rebinds_and_deletes,
        device_records_round_trip_through_owner_sessions,
        delete_owned_ends_only_that_owners_live_session,
        delete_owner_with_keep_spares_exactly_that_one,
        inputs_no_row_can_hold_match_nothing,
        count_sees_only_live_records,
    );
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
    let keys: Vec<_> = loaded.data.keys().map(|key| key.as_str()).collect();
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
    let keys: Vec<_> = moved.data.keys().map(|key| key.as_str()).collect();
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
    create_all(store, [&first, &second, &expired, &lookalike, &upper]).await;
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

    assert!(store.delete_owner(&owner, None).await.unwrap() >= 1);
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
        assert_eq!(
            loaded.data[format!("key-{i}").as_str()].get(),
            i.to_string()
        );
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

/// An owner no other check uses.
fn owner() -> String {
    format!("user-{}", &SessionId::generate().storage_key()[..8])
}

/// A live record bound to `owner`, with a device record.
fn owned(owner: &str, device: &Device) -> Record {
    let mut saved = record();
    saved.owner = Some(owner.to_string());
    saved.data.insert(DEVICE_KEY.into(), device.to_value());
    saved
}

/// The owner's listed sessions, by handle.
async fn listed(store: &dyn Store, owner: &str) -> Vec<session_core::OwnerSession> {
    let mut sessions = store.owner_sessions(owner).await.unwrap();
    sessions.sort_by(|a, b| a.handle.cmp(&b.handle));
    sessions
}

async fn handles(store: &dyn Store, owner: &str) -> Vec<String> {
    listed(store, owner)
        .await
        .into_iter()
        .map(|session| session.handle)
        .collect()
}

fn sorted_keys(records: &[&Record]) -> Vec<String> {
    let mut keys: Vec<_> = records.iter().map(|saved| saved.id.storage_key()).collect();
    keys.sort();
    keys
}

async fn device_records_round_trip_through_owner_sessions(store: &dyn Store) {
    let owner = owner();
    // Text each database escapes its own way in JSON: quotes, a backslash, non-ASCII, a path.
    let client = ClientInfo {
        user_agent: Some(r#"Mozilla/5.0 ("X11"; \ héllo 世界 $.a[0] 'q' 😀)"#.into()),
        ip: Some("2001:db8::1".into()),
    };
    let device = Device::at_login(now_ms() - 5_000, &client, true);
    let with_device = owned(&owner, &device);
    let mut without = record();
    without.owner = Some(owner.clone());
    // A value under the reserved key that is no device record (not written by this library).
    let mut foreign = record();
    foreign.owner = Some(owner.clone());
    foreign.data.insert(DEVICE_KEY.into(), raw(r#"{"l":"x"}"#));
    create_all(store, [&with_device, &without, &foreign]).await;
    let expected = |saved: &Record| session_core::OwnerSession::of(saved.id.storage_key(), saved);
    let mut all = vec![
        expected(&with_device),
        expected(&without),
        expected(&foreign),
    ];
    all.sort_by(|a, b| a.handle.cmp(&b.handle));
    assert_eq!(listed(store, &owner).await, all);
    let entry = all
        .iter()
        .find(|session| session.handle == with_device.id.storage_key())
        .unwrap();
    assert_eq!(entry.device.as_ref(), Some(&device));
    assert!(all
        .iter()
        .filter(|session| session.handle != with_device.id.storage_key())
        .all(|session| session.device.is_none()));

    // A delta moving `last_seen_at` reaches the listing, through an update and a regenerate
    // (each database rewrites the stored JSON its own way).
    let seen = Device {
        last_seen_at: now_ms(),
        ..device.clone()
    };
    let touch = Delta {
        changed: vec![(DEVICE_KEY.into(), seen.to_value())],
        ..delta(&[("cart", "[1]")])
    };
    assert!(store.update(&with_device.id, &touch).await.unwrap());
    let moved = SessionId::generate();
    assert!(store
        .regenerate(&with_device.id, &moved, &delta(&[("other", "2")]))
        .await
        .unwrap());
    let entry = listed(store, &owner)
        .await
        .into_iter()
        .find(|session| session.handle == moved.storage_key())
        .unwrap();
    assert_eq!(entry.device, Some(seen));

    assert_eq!(store.delete_owner(&owner, None).await.unwrap(), 3);
}

/// A row of `owner` whose `data` is `text` (which need not be JSON where the column is text)
/// leaves the owner's listing readable: it is listed without a device record, beside the others.
pub async fn a_row_whose_data_is_odd_leaves_its_owners_listing_readable<F, Fut>(
    store: &dyn Store,
    set_data: F,
    text: &str,
) where
    F: Fn(String, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let owner = owner();
    let device = Device::at_login(now_ms(), &ClientInfo::default(), false);
    let (good, odd) = (owned(&owner, &device), owned(&owner, &device));
    store.create(&good).await.unwrap();
    store.create(&odd).await.unwrap();
    set_data(odd.id.storage_key(), text.to_string()).await;
    let sessions = listed(store, &owner).await;
    assert_eq!(
        sessions
            .iter()
            .map(|session| (session.handle.clone(), session.device.is_some()))
            .collect::<Vec<_>>(),
        {
            let mut expected = vec![(good.id.storage_key(), true), (odd.id.storage_key(), false)];
            expected.sort();
            expected
        },
        "{text}"
    );
}

async fn delete_owned_ends_only_that_owners_live_session(store: &dyn Store) {
    let (owner, other) = (owner(), owner());
    let device = Device::at_login(now_ms(), &ClientInfo::default(), false);
    let (mine, also_mine, theirs) = (
        owned(&owner, &device),
        owned(&owner, &device),
        owned(&other, &device),
    );
    let mut expired = owned(&owner, &device);
    expired.expires_at = now_ms() - 1;
    create_all(store, [&mine, &also_mine, &theirs, &expired]).await;
    // Another owner's session, an expired one, and handles no session has.
    for key in [
        theirs.id.storage_key(),
        expired.id.storage_key(),
        SessionId::generate().storage_key(),
        mine.id.to_string(),
        String::new(),
        "not a handle".into(),
        format!("{}\0", &mine.id.storage_key()[..42]),
        format!("{}'", &mine.id.storage_key()[..42]),
    ] {
        assert!(
            !store.delete_owned(&owner, &key).await.unwrap(),
            "{key:?} is not one of the owner's sessions"
        );
    }
    assert!(load(store, &theirs.id).await.is_some());
    assert_eq!(
        handles(store, &owner).await,
        sorted_keys(&[&mine, &also_mine])
    );
    // The owner's own session, once.
    assert!(ends(store, &owner, &mine).await);
    assert!(!ends(store, &owner, &mine).await);
    assert_eq!(load(store, &mine.id).await, None);
    assert_eq!(handles(store, &owner).await, sorted_keys(&[&also_mine]));
    // The other owner's, by its owner.
    assert!(ends(store, &other, &theirs).await);
    assert_eq!(load(store, &theirs.id).await, None);
    store.delete_owner(&owner, None).await.unwrap();
}

async fn delete_owner_with_keep_spares_exactly_that_one(store: &dyn Store) {
    let (owner, other) = (owner(), owner());
    let device = Device::at_login(now_ms(), &ClientInfo::default(), false);
    let sessions: Vec<Record> = (0..4).map(|_| owned(&owner, &device)).collect();
    let theirs = owned(&other, &device);
    create_all(store, sessions.iter().chain([&theirs])).await;
    let keep = &sessions[1];
    assert_eq!(delete_owner_keeping(store, &owner, keep).await, 3);
    assert_eq!(handles(store, &owner).await, sorted_keys(&[keep]));
    assert!(load(store, &keep.id).await.is_some());
    for gone in sessions.iter().filter(|saved| saved.id != keep.id) {
        assert_eq!(load(store, &gone.id).await, None);
    }
    assert!(load(store, &theirs.id).await.is_some());

    // Keeping another owner's session keeps none of this owner's and ends none of theirs.
    let more: Vec<Record> = (0..2).map(|_| owned(&owner, &device)).collect();
    create_all(store, &more).await;
    assert_eq!(delete_owner_keeping(store, &owner, &theirs).await, 3);
    assert!(handles(store, &owner).await.is_empty());
    assert!(load(store, &theirs.id).await.is_some());

    // A `keep` no session has spares nothing.
    let last: Vec<Record> = (0..2).map(|_| owned(&owner, &device)).collect();
    create_all(store, &last).await;
    assert_eq!(
        store.delete_owner(&owner, Some("made-up")).await.unwrap(),
        2
    );
    assert!(handles(store, &owner).await.is_empty());
    store.delete_owner(&other, None).await.unwrap();
}

/// Sessions per owner, rounds and moves per session of
/// [`regenerates_racing_delete_owner_leave_no_survivors`].
const RACE_SESSIONS: usize = 12;
const RACE_ROUNDS: usize = 25;
const RACE_MOVES: usize = 3;

/// Regenerates of an owner's sessions (each moved up to three times in a row) race
/// `delete_owner`, with and without a session to keep, `RACE_ROUNDS` times each: afterwards no
/// session of the owner is live under any id but the kept one, and no call failed (MariaDB
/// resolves the lock conflicts of such races by failing one side, which the store must absorb).
pub async fn regenerates_racing_delete_owner_leave_no_survivors(store: Arc<dyn Store>) {
    let device = Device::at_login(now_ms(), &ClientInfo::default(), false);
    let mut errors = Vec::new();
    for round in 0..RACE_ROUNDS {
        for keep in [false, true] {
            let owner = owner();
            let sessions: Vec<Record> =
                (0..RACE_SESSIONS).map(|_| owned(&owner, &device)).collect();
            create_all(&*store, &sessions).await;
            // The kept session is the caller's own: the request asking is not regenerating it.
            let kept = keep.then(|| sessions[0].id);
            let movers: Vec<_> = sessions
                .iter()
                .filter(|saved| Some(saved.id) != kept)
                .map(|saved| {
                    let (store, mut id) = (store.clone(), saved.id);
                    tokio::spawn(async move {
                        let mut ids = vec![id];
                        for _ in 0..RACE_MOVES {
                            let new = SessionId::generate();
                            match store.regenerate(&id, &new, &delta(&[("moved", "1")])).await {
                                Ok(true) => {
                                    id = new;
                                    ids.push(new);
                                }
                                Ok(false) => break,
                                Err(error) => return (ids, Some(error)),
                            }
                        }
                        (ids, None)
                    })
                })
                .collect();
            let revoke = {
                let (store, owner) = (store.clone(), owner.clone());
                let keep = kept.map(|id| id.storage_key());
                tokio::spawn(async move { store.delete_owner(&owner, keep.as_deref()).await })
            };
            if let Err(error) = revoke.await.unwrap() {
                errors.push(format!("round {round}, keep {keep}: delete_owner: {error}"));
            }
            let mut every_id = Vec::new();
            for mover in movers {
                let (ids, error) = mover.await.unwrap();
                if let Some(error) = error {
                    errors.push(format!("round {round}, keep {keep}: regenerate: {error}"));
                }
                every_id.extend(ids);
            }
            let mut survivors = Vec::new();
            for id in &every_id {
                if load(&*store, id).await.is_some() {
                    survivors.push(id.storage_key());
                }
            }
            let kept_key = kept.map(|id| id.storage_key());
            let listed: Vec<_> = handles(&*store, &owner)
                .await
                .into_iter()
                .filter(|handle| Some(handle) != kept_key.as_ref())
                .collect();
            assert!(
                survivors.is_empty() && listed.is_empty(),
                "round {round}, keep {keep}: sessions survived delete_owner: {survivors:?}, \
                 listed {listed:?}"
            );
            if let Some(kept) = kept {
                assert!(
                    load(&*store, &kept).await.is_some(),
                    "round {round}: the kept session was ended"
                );
                store.delete_owner(&owner, None).await.unwrap();
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{} calls failed: {errors:#?}",
        errors.len()
    );
}

/// A NUL (which PostgreSQL text cannot hold) in an owner or a handle is no match, never a
/// database error.
async fn inputs_no_row_can_hold_match_nothing(store: &dyn Store) {
    let owner = owner();
    let device = Device::at_login(now_ms(), &ClientInfo::default(), false);
    let saved = owned(&owner, &device);
    store.create(&saved).await.unwrap();
    let nul_owner = format!("{owner}\0");
    assert!(store.owner_sessions(&nul_owner).await.unwrap().is_empty());
    assert!(!ends(store, &nul_owner, &saved).await);
    assert!(!store.delete_owned(&owner, "\0").await.unwrap());
    assert_eq!(store.delete_owner(&nul_owner, None).await.unwrap(), 0);
    assert_eq!(
        store
            .delete_owner(&nul_owner, Some(&saved.id.storage_key()))
            .await
            .unwrap(),
        0
    );
    assert!(load(store, &saved.id).await.is_some());
    assert_eq!(
        store.delete_owner(&owner, Some("\0")).await.unwrap(),
        1,
        "a keep no session has spares nothing"
    );
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
    create_all(store, &records).await;
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
