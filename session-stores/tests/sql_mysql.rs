//! The MySQL/MariaDB store against a real server: the conformance suite, the shared SQL checks,
//! cleanup in batches, configuration through the registry. `scripts/test.sh` starts a private
//! server and sets `MYSQL_URL`; without it these tests say so and pass.

#![cfg(feature = "mysql")]

mod sql_shared;

use std::sync::Arc;

use session_stores::sql::mysql::MySqlStore;
use session_stores::sql::SqlOptions;

fn mysql_url() -> Option<String> {
    let url = std::env::var("MYSQL_URL").ok();
    if url.is_none() {
        eprintln!("skipped: MYSQL_URL is not set (scripts/test.sh starts a private server)");
    }
    url
}

async fn store(url: &str, options: impl FnOnce(SqlOptions) -> SqlOptions) -> MySqlStore {
    let table = sql_shared::unique_table("my");
    MySqlStore::connect(options(sql_shared::options(url, &table)))
        .await
        .unwrap()
}

/// Makes the row under a key of `store`'s table undecodable: a value that is not JSON text.
fn corrupter(store: &MySqlStore) -> sql_shared::Corrupt {
    let pool = store.pool().clone();
    let statement = format!(
        "UPDATE `{}` SET data = '{{\"a\":1}}' WHERE id = ?",
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
async fn mysql_store_passes_the_conformance_suite() {
    let Some(url) = mysql_url() else { return };
    let store = store(&url, |options| options).await;
    sql_shared::conformance(Arc::new(store.clone()), corrupter(&store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_store_passes_the_sql_checks() {
    let Some(url) = mysql_url() else { return };
    let store = store(&url, |options| options).await;
    sql_shared::run(Arc::new(store.clone()), &*corrupter(&store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_cleanup_deletes_expired_rows_in_batches() {
    let Some(url) = mysql_url() else { return };
    let store = store(&url, sql_shared::batches_of_two).await;
    sql_shared::cleanup_deletes_expired_rows_in_batches(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_cleanup_sweeps_undecodable_rows_a_batch_per_pass() {
    let Some(url) = mysql_url() else { return };
    let store = store(&url, sql_shared::batches_of_two).await;
    sql_shared::cleanup_sweeps_undecodable_rows_a_batch_per_pass(&store, &*corrupter(&store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_starting_at_once_create_the_table_once() {
    let Some(url) = mysql_url() else { return };
    let table = sql_shared::unique_table("my_once");
    sql_shared::stores_starting_at_once_create_the_table_once(|| {
        MySqlStore::connect(sql_shared::options(&url, &table))
    })
    .await;
}

#[tokio::test]
async fn bad_options_name_the_session_and_the_field() {
    let url = mysql_url().unwrap_or_else(|| "mysql://127.0.0.1/db".into());
    sql_shared::bad_options_name_the_session_and_the_field(
        "mysql",
        vec![
            (
                "table",
                serde_json::json!({ "url": url, "table": "sessions`; DROP TABLE x; --" }),
            ),
            ("url", serde_json::json!({})),
            (
                "timeout_ms",
                serde_json::json!({ "url": url, "timeout_ms": 0 }),
            ),
            (
                "url",
                serde_json::json!({ "url": "postgres://127.0.0.1/db" }),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_server_that_is_down_at_start_up_is_a_clear_error() {
    sql_shared::a_server_that_is_down_at_start_up_is_a_clear_error("mysql", "MySQL").await;
}
