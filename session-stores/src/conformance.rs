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
//!   version and a per-session expiry override come back exactly as saved; `save` replaces the
//!   whole record;
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

mod interleavings;

use session_core::RawJson;
use session_core::{now_ms, Delta, Expiry, OwnerSession, Record, SessionId, Store, StoreError};

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

fn set(key: &str, json: &str) -> (String, RawJson) {
    (key.to_string(), raw(json))
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

    async fn create(&self, record: &Record, check: &str) {
        if let Err(error) = self.store.create(record).await {
            panic!("store conformance: {check}: create failed: {error}");
        }
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
                sessions.sort_by(|a, b| a.key.cmp(&b.key));
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

    /// Values, deadlines, version and the expiry override come back exactly.
    pub async fn round_trip(&self) {
        let check = "round trip";
        let mut saved = sample();
        saved.version = 3;
        saved.expiry = Some(Expiry::persistent(std::time::Duration::from_secs(
            30 * 86_400,
        )));
        self.create(&saved, check).await;
        assert_eq!(
            self.load(&saved.id, check).await.as_ref(),
            Some(&saved),
            "store conformance: {check}: a saved record must load back unchanged"
        );

        let mut created = sample();
        created.absolute_deadline = None;
        created.data.clear();
        self.create(&created, check).await;
        assert_eq!(
            self.load(&created.id, check).await.as_ref(),
            Some(&created),
            "store conformance: {check}: a created record (no values, no absolute deadline) must load back unchanged"
        );

        assert_eq!(
            self.load(&SessionId::generate(), check).await,
            None,
            "store conformance: {check}: an unknown id must load as None"
        );
    }

    /// `create` of an existing id is `AlreadyExists` and keeps the first record.
    pub async fn create_never_overwrites(&self) {
        let check = "create never overwrites";
        let first = sample();
        self.create(&first, check).await;
        let mut intruder = first.clone();
        intruder.data.clear();
        intruder.data.insert("user".into(), raw(r#""mallory""#));
        match self.store.create(&intruder).await {
            Err(StoreError::AlreadyExists) => {}
            other => panic!(
                "store conformance: {check}: a second create of one id must be \
                 Err(StoreError::AlreadyExists), got {other:?}"
            ),
        }
        assert_eq!(
            self.load(&first.id, check).await.as_ref(),
            Some(&first),
            "store conformance: {check}: the refused create must leave the first record"
        );
    }

    /// Of ten concurrent creates of one id, exactly one succeeds.
    pub async fn concurrent_creates_of_one_id_store_one_record(&self) {
        let check = "concurrent creates";
        let template = sample();
        let tasks: Vec<_> = (0..10)
            .map(|n| {
                let store = Arc::clone(&self.store);
                let mut record = template.clone();
                record.data.insert("writer".into(), raw(&n.to_string()));
                tokio::spawn(async move { (n, store.create(&record).await) })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await {
                Ok((n, Ok(()))) => winners.push(n),
                Ok((_, Err(StoreError::AlreadyExists))) => {}
                Ok((_, Err(error))) => panic!("store conformance: {check}: create failed: {error}"),
                Err(error) => panic!("store conformance: {check}: a task panicked: {error}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "store conformance: {check}: exactly one of ten concurrent creates of one id must succeed, {} did",
            winners.len()
        );
        let loaded = self.load(&template.id, check).await;
        let writer = loaded
            .as_ref()
            .and_then(|record| record.data.get("writer"))
            .map(|value| value.get().to_string());
        assert_eq!(
            writer,
            Some(winners[0].to_string()),
            "store conformance: {check}: the stored record must be the one whose create succeeded"
        );
    }

    /// Past its idle or its absolute deadline a record is not loaded.
    pub async fn expired_records_are_not_loaded(&self) {
        let check = "expiry";
        let now = now_ms();
        let mut idle = sample();
        idle.expires_at = now.saturating_sub(1_000);
        self.create(&idle, check).await;
        assert_eq!(
            self.load(&idle.id, check).await,
            None,
            "store conformance: {check}: a record whose expires_at has passed must not load"
        );

        let mut absolute = sample();
        absolute.absolute_deadline = Some(now.saturating_sub(1_000));
        self.create(&absolute, check).await;
        assert_eq!(
            self.load(&absolute.id, check).await,
            None,
            "store conformance: {check}: a record whose absolute deadline has passed must not load, \
             even when its expires_at is later"
        );
    }

    /// A delta sets and removes keys, moves deadlines and bumps the version.
    pub async fn update_applies_deltas(&self) {
        let check = "update";
        let mut expected = sample();
        self.create(&expected, check).await;
        let now = now_ms();
        let delta = Delta {
            changed: vec![set("user", r#""bob""#), set("new", r#"[1,2,3]"#)],
            removed: vec!["cart".into(), "absent".into()],
            expires_at: now + 2 * HOUR_MS,
            absolute_deadline: Some(now + 48 * HOUR_MS),
            expiry: Some(Expiry::persistent(std::time::Duration::from_secs(86_400))),
            owner: None,
        };
        assert!(
            self.update(&expected.id, &delta, check).await,
            "store conformance: {check}: update of a stored record must return true"
        );
        delta.apply(&mut expected);
        assert_eq!(
            self.load(&expected.id, check).await.as_ref(),
            Some(&expected),
            "store conformance: {check}: the loaded record must equal the delta applied to the \
             stored one (keys set and removed, deadlines and expiry moved, version + 1)"
        );

        let clear = Delta {
            expires_at: now + HOUR_MS,
            absolute_deadline: None,
            expiry: None,
            ..Delta::default()
        };
        assert!(self.update(&expected.id, &clear, check).await);
        clear.apply(&mut expected);
        assert_eq!(
            self.load(&expected.id, check).await.as_ref(),
            Some(&expected),
            "store conformance: {check}: a delta must be able to clear the absolute deadline and \
             the expiry override"
        );
    }

    /// Updating nothing is `false` and writes nothing.
    pub async fn update_of_a_missing_or_expired_record_is_false(&self) {
        let check = "update of a missing record";
        let missing = SessionId::generate();
        let delta = Delta {
            changed: vec![set("k", "1")],
            expires_at: now_ms() + HOUR_MS,
            ..Delta::default()
        };
        assert!(
            !self.update(&missing, &delta, check).await,
            "store conformance: {check}: update of an unknown id must return false"
        );
        assert_eq!(
            self.load(&missing, check).await,
            None,
            "store conformance: {check}: update of an unknown id must not create a record"
        );

        let mut expired = sample();
        expired.expires_at = now_ms().saturating_sub(1_000);
        self.create(&expired, check).await;
        assert!(
            !self.update(&expired.id, &delta, check).await,
            "store conformance: {check}: update of an expired record must return false"
        );
        assert_eq!(
            self.load(&expired.id, check).await,
            None,
            "store conformance: {check}: update of an expired record must not revive it"
        );
    }

    /// Delete removes; deleting nothing is fine.
    pub async fn delete_removes_the_record(&self) {
        let check = "delete";
        let record = sample();
        self.create(&record, check).await;
        if let Err(error) = self.store.delete(&record.id).await {
            panic!("store conformance: {check}: delete failed: {error}");
        }
        assert_eq!(
            self.load(&record.id, check).await,
            None,
            "store conformance: {check}: a deleted record must not load"
        );
        if let Err(error) = self.store.delete(&record.id).await {
            panic!("store conformance: {check}: deleting a missing record must succeed: {error}");
        }
        assert!(
            !self.update(&record.id, &Delta::default(), check).await,
            "store conformance: {check}: update of a deleted record must return false"
        );
    }

    /// Cleanup counts exactly the expired records it removed and keeps live ones.
    pub async fn cleanup_counts_what_it_removed(&self) {
        let check = "cleanup";
        // Earlier checks left expired records behind; start from none.
        self.cleanup(check).await;

        let now = now_ms();
        let live: Vec<Record> = (0..2).map(|_| sample()).collect();
        let mut expired: Vec<Record> = (0..3).map(|_| sample()).collect();
        expired[0].expires_at = now.saturating_sub(1_000);
        expired[1].expires_at = now.saturating_sub(60_000);
        expired[2].absolute_deadline = Some(now.saturating_sub(1_000));
        for record in live.iter().chain(&expired) {
            self.create(record, check).await;
        }

        let removed = self.cleanup(check).await;
        let expected = if self.backend_expires_records || self.store.cleanup().is_none() {
            0
        } else {
            3
        };
        assert_eq!(
            removed, expected,
            "store conformance: {check}: with 3 expired and 2 live records, cleanup must return \
             {expected}"
        );
        assert_eq!(
            self.cleanup(check).await,
            0,
            "store conformance: {check}: a second cleanup must find nothing"
        );
        for record in &live {
            assert_eq!(
                self.load(&record.id, check).await.as_ref(),
                Some(record),
                "store conformance: {check}: cleanup must keep live records"
            );
        }
    }

    /// Attacker-chosen strings never become ids, so they never reach a store.
    pub fn hostile_ids_never_reach_the_store(&self) {
        let check = "hostile ids";
        let valid = SessionId::generate().to_string();
        let hostile = [
            String::new(),
            "..".to_string(),
            "../../../../etc/passwd".to_string(),
            format!("../{}", &valid[..40]),
            format!("{}/x", &valid[..41]),
            format!("{}\\x", &valid[..41]),
            format!("{}\0", &valid[..42]),
            format!("{}=", &valid[..42]),
            format!("{valid}="),
            format!("{}==", &valid[..41]),
            format!("{}+", &valid[..42]),
            format!("{}.", &valid[..42]),
            format!("{} ", &valid[..42]),
            format!("{}*", &valid[..42]),
            format!("{}\n", &valid[..42]),
            format!("{}é", &valid[..41]),
            "A".repeat(100_000),
            valid[..42].to_string(),
            format!("{valid}A"),
            "session:*".to_string(),
        ];
        for text in &hostile {
            let shown: String = text.chars().take(60).collect();
            assert!(
                text.parse::<SessionId>().is_err(),
                "store conformance: {check}: {shown:?} must not parse as a session id"
            );
            let json = serde_json::json!({ "i": text, "c": 0, "e": 0 });
            assert!(
                serde_json::from_value::<Record>(json).is_err(),
                "store conformance: {check}: a record with id {shown:?} must not deserialize"
            );
        }
        for _ in 0..100 {
            let id = SessionId::generate();
            let key = id.storage_key();
            assert!(
                key.len() == 43
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "store conformance: {check}: storage keys must be 43 characters of base64url"
            );
            assert_eq!(
                id.to_string().parse::<SessionId>().ok(),
                Some(id),
                "store conformance: {check}: generated ids must parse back"
            );
        }
    }

    /// 50 concurrent deltas on different keys of one session all persist.
    pub async fn concurrent_deltas_lose_nothing(&self) {
        let check = "concurrent deltas";
        let record = sample();
        self.create(&record, check).await;
        let expires_at = now_ms() + HOUR_MS;
        let tasks: Vec<_> = (0..50)
            .map(|n| {
                let store = Arc::clone(&self.store);
                let id = record.id;
                let absolute_deadline = record.absolute_deadline;
                tokio::spawn(async move {
                    let delta = Delta {
                        changed: vec![set(&format!("key{n}"), &n.to_string())],
                        expires_at,
                        absolute_deadline,
                        ..Delta::default()
                    };
                    store.update(&id, &delta).await
                })
            })
            .collect();
        for task in tasks {
            match task.await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    panic!("store conformance: {check}: update of a live record returned false")
                }
                Ok(Err(error)) => panic!("store conformance: {check}: update failed: {error}"),
                Err(error) => panic!("store conformance: {check}: a task panicked: {error}"),
            }
        }
        let Some(loaded) = self.load(&record.id, check).await else {
            panic!("store conformance: {check}: the session is gone after 50 updates");
        };
        let missing: Vec<String> = (0..50)
            .filter(|n| {
                loaded.data.get(&format!("key{n}")).map(|value| value.get())
                    != Some(n.to_string().as_str())
            })
            .map(|n| format!("key{n}"))
            .collect();
        assert!(
            missing.is_empty(),
            "store conformance: {check}: 50 concurrent deltas each set one key; {} were lost: {}. \
             Store::update must be atomic (a lock, a transaction or a server-side script), not \
             load-apply-save",
            missing.len(),
            missing.join(", ")
        );
        assert_eq!(
            loaded.data.get("user").map(|value| value.get()),
            Some(r#""alice""#),
            "store conformance: {check}: keys no delta touched must survive"
        );
    }

    fn delta_setting(&self, record: &Record, key: &str, json: &str) -> Delta {
        Delta {
            changed: vec![set(key, json)],
            expires_at: record.expires_at,
            absolute_deadline: record.absolute_deadline,
            ..Delta::default()
        }
    }

    /// Regenerate moves the *stored* record (with updates other requests made) plus its own
    /// delta to the new id, and the old id is gone.
    pub async fn regenerate_moves_the_stored_record(&self) {
        let check = "regenerate";
        let mut stored = sample();
        stored.owner = Some("regen-owner".into());
        self.create(&stored, check).await;
        // Another request's update reaches the store first.
        let theirs = self.delta_setting(&stored, "theirs", "1");
        assert!(self.update(&stored.id, &theirs, check).await);
        theirs.apply(&mut stored);

        let new = SessionId::generate();
        let mut ours = self.delta_setting(&stored, "ours", "2");
        ours.removed = vec!["cart".into()];
        ours.expires_at = now_ms() + 2 * HOUR_MS;
        assert!(
            self.regenerate(&stored.id, &new, &ours, check).await,
            "store conformance: {check}: regenerate of a live record must return true"
        );
        let mut expected = stored.clone();
        ours.apply(&mut expected);
        expected.id = new;
        assert_eq!(
            self.load(&new, check).await.as_ref(),
            Some(&expected),
            "store conformance: {check}: the new id must hold the stored record (with the update \
             another request made) plus the regenerating request's delta"
        );
        assert_eq!(
            self.load(&stored.id, check).await,
            None,
            "store conformance: {check}: the old id must be gone after regenerate"
        );
        assert!(
            !self.update(&stored.id, &theirs, check).await,
            "store conformance: {check}: an update of the old id after regenerate must be false"
        );
        let listed = self.owned("regen-owner", check).await;
        assert_eq!(
            listed.iter().map(|s| s.key.clone()).collect::<Vec<_>>(),
            vec![new.storage_key()],
            "store conformance: {check}: the owner index must list the new id, not the old one"
        );
        if let Err(error) = self.store.delete_owner("regen-owner").await {
            panic!("store conformance: {check}: delete_owner failed: {error}");
        }
    }

    /// Regenerating a destroyed (or expired) record is `false` and creates nothing: a logout
    /// is never undone by a slower request.
    pub async fn regenerate_of_a_gone_record_moves_nothing(&self) {
        let check = "regenerate of a gone record";
        let record = sample();
        self.create(&record, check).await;
        if let Err(error) = self.store.delete(&record.id).await {
            panic!("store conformance: {check}: delete failed: {error}");
        }
        let new = SessionId::generate();
        let delta = self.delta_setting(&record, "k", "1");
        assert!(
            !self.regenerate(&record.id, &new, &delta, check).await,
            "store conformance: {check}: regenerate of a deleted record must return false"
        );
        assert_eq!(
            self.load(&new, check).await,
            None,
            "store conformance: {check}: regenerate of a deleted record must not create the new id"
        );

        let mut expired = sample();
        expired.expires_at = now_ms().saturating_sub(1_000);
        self.create(&expired, check).await;
        let new = SessionId::generate();
        assert!(
            !self.regenerate(&expired.id, &new, &delta, check).await,
            "store conformance: {check}: regenerate of an expired record must return false"
        );
        assert_eq!(self.load(&new, check).await, None);
    }

    /// Regenerating onto an id that holds a live record is `AlreadyExists` and changes nothing.
    pub async fn regenerate_onto_a_live_id_is_refused(&self) {
        let check = "regenerate onto a live id";
        let (old, taken) = (sample(), sample());
        self.create(&old, check).await;
        self.create(&taken, check).await;
        let delta = self.delta_setting(&old, "k", "1");
        match self.store.regenerate(&old.id, &taken.id, &delta).await {
            Err(StoreError::AlreadyExists) => {}
            other => panic!(
                "store conformance: {check}: regenerate onto a live id must be \
                 Err(StoreError::AlreadyExists), got {other:?}"
            ),
        }
        assert_eq!(self.load(&old.id, check).await.as_ref(), Some(&old));
        assert_eq!(self.load(&taken.id, check).await.as_ref(), Some(&taken));
    }

    /// Of ten concurrent regenerates of one session, exactly one moves it: one live session.
    pub async fn concurrent_regenerates_leave_one_session(&self) {
        let check = "concurrent regenerates";
        let record = sample();
        self.create(&record, check).await;
        let tasks: Vec<_> = (0..10)
            .map(|n| {
                let store = Arc::clone(&self.store);
                let old = record.id;
                let delta = self.delta_setting(&record, "winner", &n.to_string());
                tokio::spawn(async move {
                    let new = SessionId::generate();
                    (new, store.regenerate(&old, &new, &delta).await)
                })
            })
            .collect();
        let mut moved = Vec::new();
        let mut new_ids = Vec::new();
        for task in tasks {
            match task.await {
                Ok((new, Ok(true))) => {
                    moved.push(new);
                    new_ids.push(new);
                }
                Ok((new, Ok(false))) => new_ids.push(new),
                Ok((_, Err(error))) => {
                    panic!("store conformance: {check}: regenerate failed: {error}")
                }
                Err(error) => panic!("store conformance: {check}: a task panicked: {error}"),
            }
        }
        assert_eq!(
            moved.len(),
            1,
            "store conformance: {check}: exactly one of ten concurrent regenerates must move the \
             session, {} did",
            moved.len()
        );
        let mut live = 0;
        for id in &new_ids {
            if self.load(id, check).await.is_some() {
                live += 1;
            }
        }
        assert_eq!(
            live, 1,
            "store conformance: {check}: exactly one new id must hold the session"
        );
        assert_eq!(self.load(&record.id, check).await, None);
    }

    /// The owner index lists an owner's live sessions and follows create, update (rebinding),
    /// regenerate, delete and `delete_owner`.
    pub async fn owner_index_follows_every_write(&self) {
        let check = "owner index";
        let owner = format!("owner-{}", &SessionId::generate().storage_key()[..8]);
        let other = format!("{owner}-other");
        let owned = |n: usize| {
            let mut record = sample();
            record.owner = Some(owner.clone());
            record.data.insert("n".into(), raw(&n.to_string()));
            record
        };
        let (first, second) = (owned(1), owned(2));
        let mut theirs = sample();
        theirs.owner = Some(other.clone());
        let unbound = sample();
        let mut expired = owned(3);
        expired.expires_at = now_ms().saturating_sub(1_000);
        for record in [&first, &second, &theirs, &unbound, &expired] {
            self.create(record, check).await;
        }
        let keys =
            |sessions: &[OwnerSession]| sessions.iter().map(|s| s.key.clone()).collect::<Vec<_>>();
        let sorted = |mut ids: Vec<&SessionId>| {
            let mut keys: Vec<String> = ids.drain(..).map(SessionId::storage_key).collect();
            keys.sort();
            keys
        };
        let listed = self.owned(&owner, check).await;
        assert_eq!(
            keys(&listed),
            sorted(vec![&first.id, &second.id]),
            "store conformance: {check}: an owner's live sessions must be listed by storage key \
             (the expired one and other owners' not)"
        );
        let entry = listed
            .iter()
            .find(|s| s.key == first.id.storage_key())
            .cloned();
        assert_eq!(
            entry,
            Some(OwnerSession::of(first.id.storage_key(), &first)),
            "store conformance: {check}: a listed session must carry its created and expiry times"
        );
        for session in &listed {
            assert!(
                !session.key.contains(&first.id.to_string())
                    && !session.key.contains(&second.id.to_string()),
                "store conformance: {check}: a listing must never hold a session id"
            );
        }

        // Binding the unbound session by update, unbinding the first.
        let mut bind = self.delta_setting(&unbound, "k", "1");
        bind.owner = Some(Some(owner.clone()));
        assert!(self.update(&unbound.id, &bind, check).await);
        let mut unbind = self.delta_setting(&first, "k", "1");
        unbind.owner = Some(None);
        assert!(self.update(&first.id, &unbind, check).await);
        // A delta that does not rebind keeps the owner.
        let keep = self.delta_setting(&second, "k", "2");
        assert!(self.update(&second.id, &keep, check).await);
        assert_eq!(
            keys(&self.owned(&owner, check).await),
            sorted(vec![&second.id, &unbound.id]),
            "store conformance: {check}: updates that rebind must move the session in the index, \
             and updates that do not must leave it"
        );

        // Regenerate keeps the binding under the new id.
        let moved = SessionId::generate();
        assert!(self.regenerate(&second.id, &moved, &keep, check).await);
        assert_eq!(
            keys(&self.owned(&owner, check).await),
            sorted(vec![&moved, &unbound.id]),
            "store conformance: {check}: regenerate must move the index entry to the new id"
        );
        // Delete removes it from the index.
        if let Err(error) = self.store.delete(&unbound.id).await {
            panic!("store conformance: {check}: delete failed: {error}");
        }
        assert_eq!(
            keys(&self.owned(&owner, check).await),
            sorted(vec![&moved]),
            "store conformance: {check}: delete must remove the session from the index"
        );

        // Log out everywhere.
        let again = owned(4);
        self.create(&again, check).await;
        let removed = match self.store.delete_owner(&owner).await {
            Ok(removed) => removed,
            Err(error) => panic!("store conformance: {check}: delete_owner failed: {error}"),
        };
        assert_eq!(
            removed, 2,
            "store conformance: {check}: delete_owner must remove and count both live sessions"
        );
        for id in [&moved, &again.id] {
            assert_eq!(
                self.load(id, check).await,
                None,
                "store conformance: {check}: a session of a deleted owner must not load"
            );
        }
        assert!(self.owned(&owner, check).await.is_empty());
        assert_eq!(
            self.load(&theirs.id, check).await.as_ref(),
            Some(&theirs),
            "store conformance: {check}: delete_owner must leave other owners' sessions"
        );
        assert!(
            self.load(&first.id, check).await.is_some(),
            "store conformance: {check}: delete_owner must leave sessions that were unbound"
        );
    }

    /// `count` and `exists` see live records only.
    pub async fn count_and_exists_see_live_records_only(&self) {
        let check = "count and exists";
        let before = self.count(check).await;
        let live: Vec<Record> = (0..3).map(|_| sample()).collect();
        let mut expired = sample();
        expired.expires_at = now_ms().saturating_sub(1_000);
        for record in live.iter().chain([&expired]) {
            self.create(record, check).await;
        }
        assert_eq!(
            self.count(check).await,
            before + 3,
            "store conformance: {check}: three live and one expired record must add three to count"
        );
        assert!(self.exists(&live[0].id, check).await);
        for (id, what) in [
            (expired.id, "an expired"),
            (SessionId::generate(), "an unknown"),
        ] {
            assert!(
                !self.exists(&id, check).await,
                "store conformance: {check}: exists must be false for {what} record"
            );
        }
        if let Err(error) = self.store.delete(&live[0].id).await {
            panic!("store conformance: {check}: delete failed: {error}");
        }
        assert!(!self.exists(&live[0].id, check).await);
        assert_eq!(self.count(check).await, before + 2);
    }

    /// A record that no longer decodes is `Corrupt` (not a backend outage), can be deleted, and
    /// is removed by cleanup. Needs [`with_corrupter`](Self::with_corrupter).
    pub async fn corrupt_records_are_reported_and_removable(&self) {
        let check = "corrupt records";
        let Some(corrupt) = self.corrupter.clone() else {
            return;
        };
        let record = sample();
        self.create(&record, check).await;
        corrupt(record.id).await;
        match self.store.load(&record.id).await {
            Err(StoreError::Corrupt(_)) => {}
            other => panic!(
                "store conformance: {check}: loading an undecodable record must be \
                 Err(StoreError::Corrupt), got {other:?}"
            ),
        }
        if let Err(error) = self.store.delete(&record.id).await {
            panic!("store conformance: {check}: deleting a corrupt record must succeed: {error}");
        }
        assert_eq!(self.load(&record.id, check).await, None);

        if self.store.cleanup().is_some() {
            let record = sample();
            self.create(&record, check).await;
            corrupt(record.id).await;
            self.cleanup(check).await;
            assert_eq!(
                self.load(&record.id, check).await,
                None,
                "store conformance: {check}: cleanup must remove records that do not decode"
            );
        }
    }
}
