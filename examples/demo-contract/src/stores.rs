//! Test managers for the scenarios: the demos' registry plus a store that counts what reaches
//! it and one that always fails (both `session_stores::testing`), and configuration variants of
//! [`DEFAULT_CONFIG`].

use std::sync::Arc;

use session_core::{Backend, KeyRing, SessionManager, SessionsConfig, StoreRegistry};
use session_stores::testing::TestStore;

use crate::startup::{registry, DEFAULT_CONFIG};

/// The demos' registry plus two test store types, both [`TestStore`]s: `counting` (`{ type =
/// "counting" }`, a new empty store for each session that uses it, every one counting into
/// `counts`, and failing while it fails) and `failing` (every call fails with
/// [`FAILURE_DETAIL`](session_stores::testing::FAILURE_DETAIL)).
pub fn test_registry(counts: TestStore) -> StoreRegistry {
    let mut test = registry();
    test.register("counting", move |_| {
        let store = counts.sibling();
        async move { Ok(Backend::Server(Arc::new(store))) }
    });
    test.register("failing", |_| async {
        Ok(Backend::Server(Arc::new(TestStore::failing())))
    });
    test
}

/// A manager for `config` (TOML) with `keys`, stores from [`test_registry`]. Panics with the
/// configuration error.
pub async fn test_manager(config: &str, keys: KeyRing, counts: TestStore) -> SessionManager {
    let parsed = SessionsConfig::from_toml(config)
        .unwrap_or_else(|error| panic!("invalid test configuration: {error}\n{config}"));
    // As the demos start: the recorder before the manager, and the audit log.
    crate::install_metrics();
    let manager = SessionManager::from_config(&parsed, &test_registry(counts), keys)
        .await
        .unwrap_or_else(|error| panic!("could not build the test manager: {error}\n{config}"));
    crate::audit_log(&manager);
    manager
}

/// [`DEFAULT_CONFIG`] with the `store = ...` line of session `session` replaced by
/// `store = <store>`, e.g. `config_with_store("app", "{ type = \"file\", dir = 'sessions' }")`.
pub fn config_with_store(session: &str, store: &str) -> String {
    config_with_stores(&[(session, store)])
}

/// [`DEFAULT_CONFIG`] with the store of each `(session, store)` pair replaced.
pub fn config_with_stores(stores: &[(&str, &str)]) -> String {
    let mut section = String::new();
    let mut replaced = vec![0; stores.len()];
    let mut out = String::with_capacity(DEFAULT_CONFIG.len() + 64 * stores.len());
    for line in DEFAULT_CONFIG.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_string();
        }
        let target = stores
            .iter()
            .position(|(session, _)| section == format!("[sessions.{session}]"));
        match target {
            Some(index) if trimmed.starts_with("store =") => {
                out.push_str(&format!("store = {}\n", stores[index].1));
                replaced[index] += 1;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for ((session, _), count) in stores.iter().zip(replaced) {
        assert_eq!(
            count, 1,
            "DEFAULT_CONFIG has no single store line for session `{session}`"
        );
    }
    out
}

/// A TOML string literal for `text` (a path or URL).
pub fn toml_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// The Redis server of the tests. Panics when `REDIS_URL` is unset: the tests that need Redis
/// run through `bash scripts/test.sh`, which starts a private server.
pub fn redis_url() -> String {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "REDIS_URL is not set: run the tests with `bash scripts/test.sh`, which starts a private redis-server and sets it"
        ),
    }
}

/// The store configurations the scenarios run their flows on, as the text of a `store = ...`
/// line. The ones on a server the test command started panic, saying how to run the tests,
/// when its variable is unset.
pub(crate) mod on {
    use std::path::Path;

    use super::{redis_url, toml_string};

    /// A store a flow runs on, by kind.
    #[derive(Debug, Clone, Copy)]
    pub(crate) enum Store {
        Memory,
        File,
        Redis,
        RedisCluster,
        Postgres,
        Mysql,
        Sqlite,
    }

    impl Store {
        /// The `store = ...` text of this store (an SQL server's table named `<prefix>_…`),
        /// with the temporary directory a file or SQLite store lives in, which must outlive
        /// the flow.
        pub(crate) fn config(self, prefix: &str) -> (String, Option<tempfile::TempDir>) {
            match self {
                Store::Memory => (r#"{ type = "memory" }"#.to_string(), None),
                Store::File => {
                    let dir = temp_dir();
                    (file(dir.path()), Some(dir))
                }
                Store::Sqlite => {
                    let dir = temp_dir();
                    (sqlite(dir.path()), Some(dir))
                }
                Store::Redis => (redis(), None),
                Store::RedisCluster => (redis_cluster(), None),
                Store::Postgres => (sql_server("postgres", "POSTGRES_URL", prefix), None),
                Store::Mysql => (sql_server("mysql", "MYSQL_URL", prefix), None),
            }
        }
    }

    /// Defines one public scenario per `name => Store` that runs `flow` (an
    /// `async fn(&A, &str)` taking the `store = ...` text) on that store.
    macro_rules! flow_on_stores {
        ($flow:ident, $prefix:literal, $what:literal: $($name:ident => $store:ident,)*) => {
            $(
                #[doc = concat!($what, " on the `", stringify!($store), "` store (`on::Store`).")]
                pub async fn $name<A: DemoApp + ?Sized>(app: &A) {
                    let (store, _dir) = on::Store::$store.config($prefix);
                    $flow(app, &store).await;
                }
            )*
        };
    }
    pub(crate) use flow_on_stores;

    /// A temporary directory for a file or SQLite store, removed when dropped.
    pub(crate) fn temp_dir() -> tempfile::TempDir {
        tempfile::tempdir()
            .unwrap_or_else(|error| panic!("could not create a temporary directory: {error}"))
    }

    /// The file store in `dir`.
    pub(crate) fn file(dir: &Path) -> String {
        format!(
            "{{ type = \"file\", dir = {} }}",
            toml_string(&dir.display().to_string())
        )
    }

    /// SQLite, in a file of `dir`.
    pub(crate) fn sqlite(dir: &Path) -> String {
        let url = format!("sqlite://{}", dir.join("sessions.db").display());
        format!("{{ type = \"sqlite\", url = {} }}", toml_string(&url))
    }

    /// Redis (`REDIS_URL`).
    pub(crate) fn redis() -> String {
        format!(
            "{{ type = \"redis\", url = {} }}",
            toml_string(&redis_url())
        )
    }

    /// A Redis Cluster (`REDIS_CLUSTER_URLS`, comma-separated).
    pub(crate) fn redis_cluster() -> String {
        let urls = std::env::var("REDIS_CLUSTER_URLS").unwrap_or_else(|_| {
            panic!("REDIS_CLUSTER_URLS is not set: run the tests with `bash scripts/test.sh`, which starts a private Redis Cluster and sets it")
        });
        let list: Vec<String> = urls.split(',').map(toml_string).collect();
        format!(
            "{{ type = \"redis\", cluster = true, urls = [{}] }}",
            list.join(", ")
        )
    }

    /// An SQL store of type `kind` on the server at `$<variable>`, in a table of its own named
    /// `<prefix>_<random>`, so that concurrent scenarios never race to create one.
    pub(crate) fn sql_server(kind: &str, variable: &str, prefix: &str) -> String {
        let url = std::env::var(variable).unwrap_or_else(|_| {
            panic!("{variable} is not set: run the tests with `bash scripts/test.sh`, which starts the server and sets it")
        });
        let table = session_core::SessionId::generate().storage_key()[..12]
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
        format!(
            "{{ type = \"{kind}\", url = {}, table = \"{prefix}_{table}\" }}",
            toml_string(&url)
        )
    }
}
