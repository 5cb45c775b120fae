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
