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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regenerates_racing_delete_owner_leave_no_survivors_and_no_errors() {
    for server in Server::available() {
        let store = server.store(|options| options).await;
        sql_shared::regenerates_racing_delete_owner_leave_no_survivors(store.shared()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_runs_a_write_again_after_a_lock_wait_timeout() {
    use sqlx::Connection;
    for server in Server::networked() {
        let Server::MySql(url) = &server else {
            continue;
        };
        let mut locker = sqlx::mysql::MySqlConnection::connect(url).await.unwrap();
        let before: u64 = sqlx::query_scalar("SELECT @@GLOBAL.innodb_lock_wait_timeout")
            .fetch_one(&mut locker)
            .await
            .unwrap();
        // The store's one connection, opened now, waits at most a second for a lock. (Other
        // tests' connections opened in the same moment wait a second too, which they survive.)
        sqlx::raw_sql("SET GLOBAL innodb_lock_wait_timeout = 1")
            .execute(&mut locker)
            .await
            .unwrap();
        let store = server
            .store(|options| SqlOptions {
                pool_size: 1,
                ..options
            })
            .await;
        let saved = sql_shared::record();
        let created = store.shared().create(&saved).await;
        sqlx::raw_sql(&format!("SET GLOBAL innodb_lock_wait_timeout = {before}"))
            .execute(&mut locker)
            .await
            .unwrap();
        created.unwrap();
        let sql_shared::SqlStore::MySql(mysql) = &store else {
            unreachable!()
        };

        // Another transaction holds the row for a second and a half: the update's first wait
        // times out (1205, the statement undone), and it is run again.
        sqlx::raw_sql("BEGIN").execute(&mut locker).await.unwrap();
        sqlx::query(&format!(
            "SELECT id FROM `{}` WHERE id = ? FOR UPDATE",
            mysql.table()
        ))
        .bind(saved.id.storage_key())
        .fetch_all(&mut locker)
        .await
        .unwrap();
        let update = {
            let (store, id) = (store.shared(), saved.id);
            tokio::spawn(async move { store.update(&id, &sql_shared::delta(&[("a", "1")])).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();
        assert!(update.await.unwrap().unwrap());
        let loaded = store.shared().load(&saved.id).await.unwrap().unwrap();
        assert_eq!(loaded.data["a"].get(), "1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_data_is_odd_leaves_its_owners_listing_readable() {
    for server in Server::available() {
        let store = server.store(|options| options).await;
        let mut odd = vec![
            r#"{"__device":5}"#,
            r#"{"__device":{"l":1,"s":2}}"#,
            r#"{"__device":"not json"}"#,
            "[]",
        ];
        // PostgreSQL's `jsonb` holds only JSON; the others' text columns hold anything.
        if !matches!(server, Server::Postgres(_)) {
            odd.extend(["not json", "{\"__device\":", ""]);
        }
        for text in odd {
            sql_shared::a_row_whose_data_is_odd_leaves_its_owners_listing_readable(
                &*store.shared(),
                store.data_setter(),
                text,
            )
            .await;
        }
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
async fn postgres_refuses_nul_in_keys_itself_and_keeps_it_as_an_escape_in_values() {
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
        assert_eq!(
            store.load(&escaped.id).await.unwrap(),
            Some(escaped.clone())
        );

        // Refused by the store, saying why, rather than sent for the server to fail.
        let refused = |result: Result<(), StoreError>, what: &str| {
            let Err(StoreError::Backend(error)) = result else {
                panic!("{what}: {result:?}");
            };
            let message = error.to_string();
            assert!(
                message.contains("NUL") && !message.contains("returned from database"),
                "{what}: {message}"
            );
        };
        let mut nul_key = sql_shared::record();
        nul_key.data.insert("a\0b".into(), sql_shared::raw("1"));
        refused(store.create(&nul_key).await, "a value's key");
        let mut nul_owner = sql_shared::record();
        nul_owner.owner = Some("a\0b".into());
        refused(store.create(&nul_owner).await, "an owner");
        let set = sql_shared::delta(&[("a\0b", "1")]);
        refused(
            store.update(&escaped.id, &set).await.map(drop),
            "an update's key",
        );
        let new = session_core::SessionId::generate();
        refused(
            store.regenerate(&escaped.id, &new, &set).await.map(drop),
            "a regenerate's key",
        );
        let bind = session_core::Delta {
            owner: Some(Some("a\0b".into())),
            ..sql_shared::delta(&[])
        };
        refused(
            store.update(&escaped.id, &bind).await.map(drop),
            "an update's owner",
        );
        assert_eq!(
            store.load(&escaped.id).await.unwrap(),
            Some(escaped.clone())
        );
        // A key no value can have is removed by doing nothing.
        let remove = session_core::Delta {
            removed: vec!["a\0b".into()],
            ..sql_shared::delta(&[])
        };
        assert!(store.update(&escaped.id, &remove).await.unwrap());
        assert_eq!(
            store
                .load(&escaped.id)
                .await
                .unwrap()
                .map(|saved| saved.data),
            Some(escaped.data)
        );
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
