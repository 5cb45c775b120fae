//! Every SQL store against its database: SQLite on a file in a temporary directory, PostgreSQL
//! and MariaDB on the private servers `scripts/test.sh` starts (`POSTGRES_URL`, `MYSQL_URL`;
//! without them those two are skipped, saying so). Each test runs on every available database:
//! the conformance suite, the shared SQL checks, cleanup in batches, start-up and configuration
//! through the registry, and what only one database has.

mod sql_shared;

use session_core::StoreError;
use session_stores::sql::SqlOptions;
use sql_shared::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_sql_store_passes_the_conformance_suite() {
    for server in Server::available() {
        sql_shared::conformance(&server.store(|options| options).await).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_sql_store_passes_the_sql_checks() {
    for server in Server::available() {
        let store = server.store(|options| options).await;
        sql_shared::run(store.shared(), &*store.corrupter()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_deletes_expired_rows_in_batches() {
    for server in Server::available() {
        let store = server.store(sql_shared::batches_of_two).await;
        sql_shared::cleanup_deletes_expired_rows_in_batches(&*store.shared()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_sweeps_undecodable_rows_a_batch_per_pass() {
    for server in Server::available() {
        let store = server.store(sql_shared::batches_of_two).await;
        sql_shared::cleanup_sweeps_undecodable_rows_a_batch_per_pass(
            &*store.shared(),
            &*store.corrupter(),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_starting_at_once_create_the_table_once() {
    for server in Server::available() {
        let options = sql_shared::options(&server.url(), &sql_shared::unique_table("once"));
        let starts: Vec<_> = (0..4).map(|_| server.connect(options.clone())).collect();
        for started in join_all(starts).await {
            started.unwrap();
        }
    }
}

/// Runs `futures` at once, in this task, and gives their outputs in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(done) => *output = Some(done),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[tokio::test]
async fn the_registry_builds_every_sql_store_from_configuration() {
    for server in Server::available() {
        let config = sql_shared::config(
            server.kind(),
            serde_json::json!({ "url": server.url(), "table": sql_shared::unique_table("reg") }),
        );
        let backend = session_stores::registry()
            .build("app", &config)
            .await
            .unwrap();
        assert!(matches!(backend, session_core::Backend::Server(_)));
    }
}

#[tokio::test]
async fn bad_options_name_the_session_and_the_field() {
    for server in Server::available() {
        let url = server.url();
        let other_scheme = match server {
            Server::Postgres(_) => "mysql://127.0.0.1/db",
            _ => "postgres://127.0.0.1/db",
        };
        sql_shared::bad_options_name_the_session_and_the_field(
            server.kind(),
            vec![
                (
                    "table",
                    serde_json::json!({ "url": url, "table": "s\"; DROP TABLE x; --" }),
                ),
                (
                    "table",
                    serde_json::json!({ "url": url, "table": "s`; DROP TABLE x; --" }),
                ),
                ("table", serde_json::json!({ "url": url, "table": "" })),
                ("url", serde_json::json!({})),
                ("url", serde_json::json!({ "url": other_scheme })),
                (
                    "timeout_ms",
                    serde_json::json!({ "url": url, "timeout_ms": 0 }),
                ),
                (
                    "pool_size",
                    serde_json::json!({ "url": url, "pool_size": 0 }),
                ),
                ("tabel", serde_json::json!({ "url": url, "tabel": "t" })),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn a_server_that_is_down_at_start_up_is_a_clear_error() {
    for (kind, engine) in [("postgres", "PostgreSQL"), ("mysql", "MySQL")] {
        sql_shared::a_server_that_is_down_at_start_up_is_a_clear_error(kind, engine).await;
    }
}

#[tokio::test]
async fn an_unopenable_sqlite_file_is_a_clear_error_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}/no/such/dir/s.db", dir.path().display());
    let message = sql_shared::sqlite_start_up_error(&missing).await;
    assert!(
        message.contains("`app`") && message.contains("SQLite"),
        "{message}"
    );
}

#[tokio::test]
async fn two_sqlite_stores_on_one_file_share_sessions() {
    let server = Server::Sqlite(tempfile::tempdir().unwrap());
    let options = sql_shared::options(&server.url(), "shared");
    let first = server.connect(options.clone()).await.unwrap().shared();
    let second = server.connect(options).await.unwrap().shared();
    sql_shared::created_through_loads_through(&*first, &*second).await;
}

#[tokio::test]
async fn postgres_refuses_nul_in_keys_and_keeps_it_as_an_escape_in_values() {
    for server in Server::networked() {
        let Server::Postgres(_) = server else {
            continue;
        };
        let store = server.store(|options| options).await.shared();
        let mut escaped = sql_shared::record();
        escaped
            .data
            .insert("v".into(), sql_shared::raw(r#""a\u0000b""#));
        store.create(&escaped).await.unwrap();
        assert_eq!(store.load(&escaped.id).await.unwrap(), Some(escaped));

        let mut nul_key = sql_shared::record();
        nul_key.data.insert("a\0b".into(), sql_shared::raw("1"));
        assert!(matches!(
            store.create(&nul_key).await,
            Err(StoreError::Backend(_))
        ));
    }
}

#[tokio::test]
async fn two_tables_with_a_long_shared_prefix_each_get_their_indexes() {
    for server in Server::available() {
        let prefix = format!("{}_{}", sql_shared::unique_table("idx"), "x".repeat(40));
        for table in [format!("{prefix}_one"), format!("{prefix}_two")] {
            let store = server
                .connect(sql_shared::options(&server.url(), &table))
                .await
                .unwrap();
            let indexes = store.indexes().await;
            for suffix in ["_owner", "_live_until"] {
                assert!(
                    indexes.iter().any(|index| index.ends_with(suffix)),
                    "{}: {table} has no {suffix} index: {indexes:?}",
                    server.engine()
                );
            }
        }
    }
}

#[tokio::test]
async fn a_missing_table_without_create_table_fails_at_start_up_saying_what_to_run() {
    for server in Server::available() {
        let table = sql_shared::unique_table("absent");
        let options = SqlOptions {
            create_table: false,
            ..sql_shared::options(&server.url(), &table)
        };
        let Err(error) = server.connect(options.clone()).await else {
            panic!("{}: started without its table", server.engine());
        };
        let message = error.to_string();
        assert!(
            message.contains(&table)
                && message.contains("create_table")
                && message.contains(&server.schema(&table)),
            "{}: {message}",
            server.engine()
        );

        // The schema the message gives is what makes the store start.
        let other = server.store(|options| options).await;
        other.execute(&server.schema(&table)).await;
        let store = server.connect(options).await.unwrap().shared();
        sql_shared::created_through_loads_through(&*store, &*store).await;
    }
}

#[tokio::test]
async fn an_in_memory_sqlite_database_is_refused_at_start_up() {
    for url in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite://file.db?mode=memory",
    ] {
        let message = sql_shared::sqlite_start_up_error(url).await;
        assert!(
            message.contains("`app`") && message.contains("type = \"memory\""),
            "{url}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_stores_starting_at_once_on_a_new_file_all_start() {
    for round in 0..10 {
        let server = Server::Sqlite(tempfile::tempdir().unwrap());
        let options = sql_shared::options(&server.url(), "sessions");
        let starts: Vec<_> = (0..8)
            .map(|_| {
                let options = options.clone();
                tokio::spawn(session_stores::sql::sqlite::SqliteStore::connect(options))
            })
            .collect();
        for start in starts {
            if let Err(error) = start.await.unwrap() {
                panic!("round {round}: {error}");
            }
        }
    }
}
