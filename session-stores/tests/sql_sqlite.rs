//! The SQLite store on a database file in a temp dir: the conformance suite, the shared SQL
//! checks, cleanup in batches, configuration through the registry.

#![cfg(feature = "sqlite")]

mod sql_shared;

use std::sync::Arc;

use session_core::{Store, StoreConfig};
use session_stores::sql::sqlite::SqliteStore;
use session_stores::sql::SqlOptions;

fn url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("sessions.db").display())
}

async fn store(
    dir: &tempfile::TempDir,
    options: impl FnOnce(SqlOptions) -> SqlOptions,
) -> SqliteStore {
    let table = sql_shared::unique_table("sqlite");
    SqliteStore::connect(options(sql_shared::options(&url(dir), &table)))
        .await
        .unwrap()
}

/// Makes the row under a key of `store`'s table undecodable: a value that is not JSON text.
fn corrupter(store: &SqliteStore) -> sql_shared::Corrupt {
    let pool = store.pool().clone();
    let statement = format!(
        "UPDATE \"{}\" SET data = '{{\"a\":1}}' WHERE id = ?1",
        store.table()
    );
    sql_shared::corrupter(move |key| {
        let (pool, statement) = (pool.clone(), statement.clone());
        async move {
            sqlx::query(&statement)
                .bind(key)
                .execute(&pool)
                .await
                .unwrap();
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, |options| options).await;
    sql_shared::conformance(Arc::new(store.clone()), corrupter(&store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_passes_the_sql_checks() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, |options| options).await;
    sql_shared::run(Arc::new(store.clone()), &*corrupter(&store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cleanup_deletes_expired_rows_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, sql_shared::batches_of_two).await;
    sql_shared::cleanup_deletes_expired_rows_in_batches(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cleanup_sweeps_undecodable_rows_a_batch_per_pass() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, sql_shared::batches_of_two).await;
    sql_shared::cleanup_sweeps_undecodable_rows_a_batch_per_pass(&store, &*corrupter(&store)).await;
}

#[tokio::test]
async fn two_stores_on_one_file_share_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let options = sql_shared::options(&url(&dir), "shared");
    let first = SqliteStore::connect(options.clone()).await.unwrap();
    let second = SqliteStore::connect(options).await.unwrap();
    let record = sql_shared::record();
    first.create(&record).await.unwrap();
    assert_eq!(second.load(&record.id).await.unwrap(), Some(record));
}

fn config(options: serde_json::Value) -> StoreConfig {
    sql_shared::config("sqlite", options)
}

#[tokio::test]
async fn the_registry_builds_a_sqlite_store_from_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let backend = session_stores::registry()
        .build(
            "app",
            &config(serde_json::json!({ "url": url(&dir), "table": "app_sessions" })),
        )
        .await
        .unwrap();
    assert!(matches!(backend, session_core::Backend::Server(_)));
}

#[tokio::test]
async fn bad_options_name_the_session_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    sql_shared::bad_options_name_the_session_and_the_field(
        "sqlite",
        vec![
            (
                "table",
                serde_json::json!({ "url": url(&dir), "table": "x; DROP TABLE y" }),
            ),
            (
                "table",
                serde_json::json!({ "url": url(&dir), "table": "" }),
            ),
            ("url", serde_json::json!({ "table": "t" })),
            (
                "pool_size",
                serde_json::json!({ "url": url(&dir), "pool_size": 0 }),
            ),
            (
                "tabel",
                serde_json::json!({ "url": url(&dir), "tabel": "t" }),
            ),
            ("url", serde_json::json!({ "url": "postgres://nope/db" })),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_unopenable_file_is_a_clear_error_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}/no/such/dir/s.db", dir.path().display());
    let Err(error) = session_stores::registry()
        .build("app", &config(serde_json::json!({ "url": missing })))
        .await
    else {
        panic!("a file in a missing directory cannot be opened");
    };
    let message = error.to_string();
    assert!(
        message.contains("`app`") && message.contains("SQLite"),
        "{message}"
    );
}
