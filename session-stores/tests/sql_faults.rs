//! Outages of the SQL servers: stopped mid-run, the stores fail with typed backend errors (never a
//! panic or a hang), and serve again once the server is back, by themselves. `scripts/test.sh`
//! starts the servers and exports `POSTGRES_CTL` / `MYSQL_CTL`, which stop and start them; the
//! tests of this file are the only ones that do, so they have a binary of their own.

use std::sync::Arc;

use session_core::{Store, StoreError};
#[cfg(feature = "mysql")]
use session_stores::sql::mysql::MySqlStore;
#[cfg(feature = "postgres")]
use session_stores::sql::postgres::PostgresStore;
use session_stores::sql::SqlOptions;

mod sql_shared;

/// The server's URL and control command, or `None` (with a message) when the test run did not
/// start one.
fn server(url: &str, ctl: &str) -> Option<(String, String)> {
    match (std::env::var(url), std::env::var(ctl)) {
        (Ok(url), Ok(ctl)) => Some((url, ctl)),
        _ => {
            eprintln!(
                "skipped: {url} or {ctl} is not set (scripts/test.sh starts a private server)"
            );
            None
        }
    }
}

async fn control(ctl: &str, action: &'static str) {
    let ctl = ctl.to_string();
    let status =
        tokio::task::spawn_blocking(move || std::process::Command::new(ctl).arg(action).status())
            .await
            .unwrap()
            .unwrap();
    assert!(status.success(), "server {action} failed");
}

fn fault_options(url: &str, test: &str) -> SqlOptions {
    SqlOptions {
        pool_size: 2,
        // Refused connections fail at once; the limit only bounds a loaded machine's slow start.
        connect_timeout_ms: 3000,
        timeout_ms: 2000,
        ..sql_shared::options(url, &sql_shared::unique_table(test))
    }
}

/// The store `connect` opens, on the server the variables `(url, ctl)` name (in a table of
/// `test`'s own), survives an outage of that server; skipped without the server.
async fn survives_an_outage_of<S, Fut>(
    (url, ctl): (&str, &str),
    test: &str,
    connect: impl FnOnce(SqlOptions) -> Fut,
) where
    S: Store + 'static,
    Fut: std::future::Future<Output = Result<S, StoreError>>,
{
    let Some((url, ctl)) = server(url, ctl) else {
        return;
    };
    let options = fault_options(&url, test);
    let pool_size = options.pool_size as usize;
    let store = connect(options).await.unwrap();
    survives_an_outage(Arc::new(store), &ctl, pool_size).await;
}

async fn survives_an_outage(store: Arc<dyn Store>, ctl: &str, pool_size: usize) {
    let before = sql_shared::record();
    store.create(&before).await.unwrap();
    let ids: Vec<_> = (0..4).map(|_| sql_shared::record()).collect();
    // Every connection of the pool in use once, so the outage finds them all open.
    let warm: Vec<_> = ids
        .iter()
        .map(|record| {
            let (store, record) = (store.clone(), record.clone());
            tokio::spawn(async move { store.create(&record).await })
        })
        .collect();
    for task in warm {
        task.await.unwrap().unwrap();
    }

    control(ctl, "stop").await;
    for _ in 0..pool_size + 2 {
        let failures = [
            store.load(&before.id).await.map(drop),
            store
                .update(&before.id, &sql_shared::delta(&[("a", "1")]))
                .await
                .map(drop),
            store.create(&sql_shared::record()).await,
            store.count().await.map(drop),
        ];
        for failure in failures {
            assert!(
                matches!(failure, Err(StoreError::Backend(_))),
                "an outage is a backend error: {failure:?}"
            );
        }
    }

    control(ctl, "start").await;
    // Each pooled connection the outage broke fails once at most, then is replaced.
    let mut failures = 0;
    let loaded = loop {
        match store.load(&before.id).await {
            Ok(loaded) => break loaded,
            Err(StoreError::Backend(error)) if failures < pool_size => {
                eprintln!("after the restart: {error}");
                failures += 1;
            }
            Err(error) => panic!("the store did not recover: {error}"),
        }
    };
    assert_eq!(loaded, Some(before.clone()));
    assert!(store
        .update(&before.id, &sql_shared::delta(&[("after", "true")]))
        .await
        .unwrap());
    let fresh = sql_shared::record();
    store.create(&fresh).await.unwrap();
    assert!(store.load(&fresh.id).await.unwrap().is_some());
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_survives_a_server_outage() {
    survives_an_outage_of(
        ("POSTGRES_URL", "POSTGRES_CTL"),
        "pg_fault",
        PostgresStore::connect,
    )
    .await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mysql_store_survives_a_server_outage() {
    survives_an_outage_of(("MYSQL_URL", "MYSQL_CTL"), "my_fault", MySqlStore::connect).await;
}
