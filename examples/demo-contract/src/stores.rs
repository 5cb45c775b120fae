//! Test stores and managers for the scenarios: a store that counts what reaches it, one that
//! always fails, and configuration variants of [`DEFAULT_CONFIG`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use session_core::{
    Backend, Cleanup, Delta, KeyRing, OwnerSession, Record, SessionId, SessionManager,
    SessionsConfig, Store, StoreConfig, StoreError, StoreRegistry,
};

use crate::startup::{registry, DEFAULT_CONFIG};

/// How many calls of each kind reached the `counting` stores of a manager.
#[derive(Debug, Default)]
pub struct StoreCounts {
    loads: AtomicU64,
    creates: AtomicU64,
    regenerates: AtomicU64,
    updates: AtomicU64,
    deletes: AtomicU64,
    cleanups: AtomicU64,
}

impl StoreCounts {
    /// `load` calls.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::SeqCst)
    }

    /// `create` calls.
    pub fn creates(&self) -> u64 {
        self.creates.load(Ordering::SeqCst)
    }

    /// `regenerate` calls.
    pub fn regenerates(&self) -> u64 {
        self.regenerates.load(Ordering::SeqCst)
    }

    /// `update` calls.
    pub fn updates(&self) -> u64 {
        self.updates.load(Ordering::SeqCst)
    }

    /// `delete` calls.
    pub fn deletes(&self) -> u64 {
        self.deletes.load(Ordering::SeqCst)
    }

    /// Every call of any kind.
    pub fn total(&self) -> u64 {
        self.loads()
            + self.creates()
            + self.regenerates()
            + self.updates()
            + self.deletes()
            + self.cleanups.load(Ordering::SeqCst)
    }
}

/// Wraps a server-side store and counts the calls reaching it.
struct CountingStore {
    inner: Arc<dyn Store>,
    counts: Arc<StoreCounts>,
}

#[async_trait]
impl Store for CountingStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.counts.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(id).await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.counts.creates.fetch_add(1, Ordering::SeqCst);
        self.inner.create(record).await
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        self.counts.updates.fetch_add(1, Ordering::SeqCst);
        self.inner.update(id, delta).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.counts.deletes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(id).await
    }

    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        self.counts.regenerates.fetch_add(1, Ordering::SeqCst);
        self.inner.regenerate(old, new, delta).await
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        self.counts.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.owner_sessions(owner).await
    }

    async fn delete_owner(&self, owner: &str) -> Result<u64, StoreError> {
        self.counts.deletes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_owner(owner).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.counts.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.count().await
    }

    fn cleanup(&self) -> Option<&dyn Cleanup> {
        self.inner.cleanup().is_some().then_some(self)
    }
}

#[async_trait]
impl Cleanup for CountingStore {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.counts.cleanups.fetch_add(1, Ordering::SeqCst);
        match self.inner.cleanup() {
            Some(cleanup) => cleanup.delete_expired().await,
            None => Ok(0),
        }
    }
}

/// A store whose every call fails, as an unreachable database would.
struct FailingStore;

fn down() -> StoreError {
    StoreError::backend_msg("the failing test store is down (secret detail: 10.0.0.7:6379)")
}

#[async_trait]
impl Store for FailingStore {
    async fn load(&self, _: &SessionId) -> Result<Option<Record>, StoreError> {
        Err(down())
    }

    async fn create(&self, _: &Record) -> Result<(), StoreError> {
        Err(down())
    }

    async fn update(&self, _: &SessionId, _: &Delta) -> Result<bool, StoreError> {
        Err(down())
    }

    async fn regenerate(
        &self,
        _: &SessionId,
        _: &SessionId,
        _: &Delta,
    ) -> Result<bool, StoreError> {
        Err(down())
    }

    async fn delete(&self, _: &SessionId) -> Result<(), StoreError> {
        Err(down())
    }

    async fn owner_sessions(&self, _: &str) -> Result<Vec<OwnerSession>, StoreError> {
        Err(down())
    }

    async fn delete_owner(&self, _: &str) -> Result<u64, StoreError> {
        Err(down())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Err(down())
    }
}

/// The text the failing store of the scenarios puts in its errors; no response may contain it.
pub const FAILING_STORE_DETAIL: &str = "10.0.0.7";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountingOptions {
    inner: StoreConfig,
}

/// The demos' registry plus two test store types: `counting` (`{ type = "counting", inner = {
/// type = "memory" } }` counts the calls into `counts`) and `failing` (every call fails).
pub fn test_registry(counts: Arc<StoreCounts>) -> StoreRegistry {
    let mut test = registry();
    let base = registry();
    test.register("counting", move |options| {
        let base = base.clone();
        let counts = Arc::clone(&counts);
        async move {
            let CountingOptions { inner } = options.parse()?;
            match base.build(&options.session, &inner).await? {
                Backend::Server(store) => Ok(Backend::Server(Arc::new(CountingStore {
                    inner: store,
                    counts,
                }))),
                Backend::Cookie(_) => {
                    Err(options.error("the counting store wraps server-side stores only"))
                }
            }
        }
    });
    test.register("failing", |_| async {
        Ok(Backend::Server(Arc::new(FailingStore)))
    });
    test
}

/// A manager for `config` (TOML) with `keys`, stores from [`test_registry`]. Panics with the
/// configuration error.
pub async fn test_manager(config: &str, keys: KeyRing, counts: Arc<StoreCounts>) -> SessionManager {
    let parsed = SessionsConfig::from_toml(config)
        .unwrap_or_else(|error| panic!("invalid test configuration: {error}\n{config}"));
    SessionManager::from_config(&parsed, &test_registry(counts), keys)
        .await
        .unwrap_or_else(|error| panic!("could not build the test manager: {error}\n{config}"))
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
