//! The store conformance suite: what every [`Store`] must do, as one call a store's tests make.
//!
//! Every store in this crate passes it, and a third-party store should too. Enable the
//! `conformance` feature in your dev-dependencies and call [`run`] from a Tokio test with a fresh,
//! empty store of your own:
//!
//! ```toml
//! [dev-dependencies]
//! session-stores = { version = "0.1", default-features = false, features = ["conformance"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! ```
//! use std::sync::Arc;
//! use session_stores::memory::{MemoryOptions, MemoryStore};
//!
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() {
//! // In your crate: #[tokio::test(flavor = "multi_thread")] async fn my_store_conforms() { ... }
//! let store = MemoryStore::new(MemoryOptions::default()); // your store here
//! session_stores::conformance::run(Arc::new(store)).await;
//! # }
//! ```
//!
//! The suite panics with a message saying which check failed and how, so a failure reads like a
//! failed assertion in your own test. It covers:
//!
//! - **round trip**: values (nested JSON, unicode, numbers), created-at, both deadlines, the
//!   version and a per-session expiry override come back exactly as created;
//! - **create never overwrites**: a second `create` of an id, even by concurrent tasks, is
//!   [`StoreError::AlreadyExists`] and leaves the first record;
//! - **expiry**: a record whose idle deadline, or whose absolute deadline, has passed is not loaded
//!   and cannot be updated;
//! - **update**: a [`Delta`] sets and removes keys, moves the deadlines, bumps the version, and
//!   returns `false` (writing nothing) for a missing record;
//! - **delete**, including of a missing record;
//! - **cleanup** returns exactly how many expired records it removed and keeps the live ones;
//! - **hostile ids** (path separators, `..`, NUL, very long, non-base64, padded) are rejected by
//!   [`SessionId::from_str`](std::str::FromStr) and by `Record` deserialization, so a store only
//!   ever sees validated ids, whose storage keys are safe as file names and keys;
//! - **devices**: device records (the value under [`DEVICE_KEY`](session_core::DEVICE_KEY))
//!   come back with an owner's listing; [`Store::delete_owned`] ends an owner's live session and
//!   nothing for another owner's key, a made-up key or an expired session;
//!   [`Store::delete_owner`] spares exactly the session it is asked to keep;
//! - **interleavings** through the manager: a regenerate racing a destroy, an update, or another
//!   regenerate; ending the other devices, or one device, racing a regenerate or an update of a
//!   session they end;
//! - **concurrency**: 50 tasks each applying a delta that sets a different key of one session,
//!   concurrently; all 50 values must be present (the default load-apply-save
//!   [`Store::update`] fails this: override it atomically).
//!
//! The store must not be cleaned by anyone else while the suite runs (a background cleanup
//! interval of a minute or more is fine), and must be empty of expired records or at least not
//! shared with other tests, since the cleanup check counts. A backend that expires records by
//! itself (Redis, with a TTL from `expires_at`) removes expired records before `cleanup` sees
//! them: run it with [`Suite::backend_expires_records`], which expects `cleanup` to count 0.

use std::sync::Arc;

mod devices;
mod interleavings;
mod operators;
mod owners;
mod records;
mod regenerate;
mod updates;

use session_core::{now_ms, Delta, Expiry, OwnerSession, Record, SessionId, Store, StoreError};
use session_core::{DataKey, RawJson};

/// Runs the whole suite against `store`, panicking on the first failure.
///
/// Must be called inside a Tokio runtime (it spawns tasks); a multi-threaded one exercises the
/// concurrency check best.
pub async fn run(store: Arc<dyn Store>) {
    Suite::new(store).run().await;
}

/// The suite, for stores that need to adjust it. [`run`] is `Suite::new(store).run()`.
#[derive(Clone)]
pub struct Suite {
    store: Arc<dyn Store>,
    backend_expires_records: bool,
    corrupter: Option<Corrupter>,
}

type Corrupter = Arc<
    dyn Fn(SessionId) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

impl std::fmt::Debug for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suite")
            .field("backend_expires_records", &self.backend_expires_records)
            .field("corrupter", &self.corrupter.is_some())
            .finish_non_exhaustive()
    }
}

const HOUR_MS: u64 = 60 * 60 * 1000;

fn raw(json: &str) -> RawJson {
    match RawJson::from_string(json.to_string()) {
        Ok(value) => value,
        Err(error) => panic!("store conformance: bad test value {json}: {error}"),
    }
}

/// A live record with a few values, expiring in an hour.
fn sample() -> Record {
    let now = now_ms();
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now);
    record.expires_at = now + HOUR_MS;
    record.absolute_deadline = Some(now + 24 * HOUR_MS);
    record.data.insert("user".into(), raw(r#""alice""#));
    record.data.insert(
        "cart".into(),
        raw(r#"{"items":[{"sku":"a-1","qty":2}],"total":12.5}"#),
    );
    record
        .data
        .insert("greeting".into(), raw(r#""héllo, 世界 \"quoted\"""#));
    record.data.insert("count".into(), raw("-42"));
    record.data.insert("flag".into(), raw("true"));
    record.data.insert("nothing".into(), raw("null"));
    record
}

fn set(key: &str, json: &str) -> (DataKey, RawJson) {
    (key.into(), raw(json))
}

impl Suite {
    /// The suite for `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Suite {
            store,
            backend_expires_records: false,
            corrupter: None,
        }
    }

    /// For backends that remove expired records by themselves (a server-side TTL): the cleanup
    /// check then expects [`Store::cleanup`] to find nothing left to remove.
    pub fn backend_expires_records(mut self) -> Self {
        self.backend_expires_records = true;
        self
    }

    /// Lets the suite check corrupt records: `corrupt` makes the stored record under an id
    /// undecodable (truncates its file, drops a field, writes junk into its row). Without it
    /// the corrupt-record check is skipped.
    pub fn with_corrupter<F, Fut>(mut self, corrupt: F) -> Self
    where
        F: Fn(SessionId) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.corrupter = Some(Arc::new(move |id| Box::pin(corrupt(id))));
        self
    }

    /// Runs every check, panicking on the first failure.
    pub async fn run(self) {
        self.round_trip().await;
        self.create_never_overwrites().await;
        self.regenerate_moves_the_stored_record().await;
        self.regenerate_of_a_gone_record_moves_nothing().await;
        self.regenerate_onto_a_live_id_is_refused().await;
        self.concurrent_regenerates_leave_one_session().await;
        self.owner_index_follows_every_write().await;
        self.device_records_are_listed_with_their_sessions().await;
        self.delete_owned_ends_only_the_owners_live_session().await;
        self.delete_owner_spares_the_kept_session().await;
        self.count_and_exists_see_live_records_only().await;
        self.corrupt_records_are_reported_and_removable().await;
        self.concurrent_creates_of_one_id_store_one_record().await;
        self.expired_records_are_not_loaded().await;
        self.update_applies_deltas().await;
        self.update_of_a_missing_or_expired_record_is_false().await;
        self.delete_removes_the_record().await;
        self.cleanup_counts_what_it_removed().await;
        self.hostile_ids_never_reach_the_store();
        self.concurrent_deltas_lose_nothing().await;
        interleavings::run(&self.store).await;
    }

    async fn load(&self, id: &SessionId, check: &str) -> Option<Record> {
        match self.store.load(id).await {
            Ok(record) => record,
            Err(error) => panic!("store conformance: {check}: load failed: {error}"),
        }
    }

    /// Asserts that `id` loads as nothing; `why` says why it must not.
    async fn expect_gone(&self, id: &SessionId, check: &str, why: &str) {
        assert_eq!(
            self.load(id, check).await,
            None,
            "store conformance: {check}: {why}"
        );
    }

    /// Asserts that a write with nothing to write (`what`: the write and its record) returned
    /// `false` (`wrote`) and left nothing under `id`: no record made, none brought back.
    async fn expect_no_write(&self, wrote: bool, id: &SessionId, check: &str, what: &str) {
        assert!(
            !wrote,
            "store conformance: {check}: {what} must return false"
        );
        self.expect_gone(
            id,
            check,
            &format!("{what} must leave no record under the id"),
        )
        .await;
    }

    async fn create(&self, record: &Record, check: &str) {
        if let Err(error) = self.store.create(record).await {
            panic!("store conformance: {check}: create failed: {error}");
        }
    }

    async fn delete(&self, id: &SessionId, check: &str) {
        if let Err(error) = self.store.delete(id).await {
            panic!("store conformance: {check}: delete failed: {error}");
        }
    }

    /// Creates a sample record whose idle deadline passed a second ago.
    async fn create_expired(&self, check: &str) -> Record {
        let mut expired = sample();
        expired.expires_at = now_ms().saturating_sub(1_000);
        self.create(&expired, check).await;
        expired
    }

    async fn update(&self, id: &SessionId, delta: &Delta, check: &str) -> bool {
        match self.store.update(id, delta).await {
            Ok(found) => found,
            Err(error) => panic!("store conformance: {check}: update failed: {error}"),
        }
    }

    async fn cleanup(&self, check: &str) -> u64 {
        let Some(cleanup) = self.store.cleanup() else {
            return 0;
        };
        match cleanup.delete_expired().await {
            Ok(removed) => removed,
            Err(error) => panic!("store conformance: {check}: cleanup failed: {error}"),
        }
    }

    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
        check: &str,
    ) -> bool {
        match self.store.regenerate(old, new, delta).await {
            Ok(moved) => moved,
            Err(error) => panic!("store conformance: {check}: regenerate failed: {error}"),
        }
    }

    async fn owned(&self, owner: &str, check: &str) -> Vec<OwnerSession> {
        match self.store.owner_sessions(owner).await {
            Ok(mut sessions) => {
                sessions.sort_by(|a, b| a.handle.cmp(&b.handle));
                sessions
            }
            Err(error) => panic!("store conformance: {check}: owner_sessions failed: {error}"),
        }
    }

    async fn count(&self, check: &str) -> u64 {
        match self.store.count().await {
            Ok(count) => count,
            Err(error) => panic!("store conformance: {check}: count failed: {error}"),
        }
    }

    async fn exists(&self, id: &SessionId, check: &str) -> bool {
        match self.store.exists(id).await {
            Ok(exists) => exists,
            Err(error) => panic!("store conformance: {check}: exists failed: {error}"),
        }
    }

    fn delta_setting(&self, record: &Record, key: &str, json: &str) -> Delta {
        Delta {
            changed: vec![set(key, json)],
            expires_at: record.expires_at,
            absolute_deadline: record.absolute_deadline,
            ..Delta::default()
        }
    }
}
