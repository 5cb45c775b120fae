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

use session_core::RawJson;
use session_core::{now_ms, Delta, Expiry, Record, SessionId, Store, StoreError};

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
}

impl std::fmt::Debug for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suite")
            .field("backend_expires_records", &self.backend_expires_records)
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
        }
    }

    /// For backends that remove expired records by themselves (a server-side TTL): the cleanup
    /// check then expects [`Store::cleanup`] to find nothing left to remove.
    pub fn backend_expires_records(mut self) -> Self {
        self.backend_expires_records = true;
        self
    }

    /// Runs every check, panicking on the first failure.
    pub async fn run(self) {
        self.round_trip().await;
        self.save_replaces_the_whole_record().await;
        self.create_never_overwrites().await;
        self.concurrent_creates_of_one_id_store_one_record().await;
        self.expired_records_are_not_loaded().await;
        self.update_applies_deltas().await;
        self.update_of_a_missing_or_expired_record_is_false().await;
        self.delete_removes_the_record().await;
        self.cleanup_counts_what_it_removed().await;
        self.hostile_ids_never_reach_the_store();
        self.concurrent_deltas_lose_nothing().await;
    }

    async fn load(&self, id: &SessionId, check: &str) -> Option<Record> {
        match self.store.load(id).await {
            Ok(record) => record,
            Err(error) => panic!("store conformance: {check}: load failed: {error}"),
        }
    }

    async fn save(&self, record: &Record, check: &str) {
        if let Err(error) = self.store.save(record).await {
            panic!("store conformance: {check}: save failed: {error}");
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
        match self.store.cleanup().await {
            Ok(removed) => removed,
            Err(error) => panic!("store conformance: {check}: cleanup failed: {error}"),
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
        self.save(&saved, check).await;
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

    /// `save` replaces every value, not just the ones it names.
    pub async fn save_replaces_the_whole_record(&self) {
        let check = "save replaces";
        let first = sample();
        self.save(&first, check).await;
        let mut second = first.clone();
        second.data.clear();
        second.data.insert("only".into(), raw("1"));
        second.version += 1;
        self.save(&second, check).await;
        assert_eq!(
            self.load(&first.id, check).await.as_ref(),
            Some(&second),
            "store conformance: {check}: a second save must replace the whole record"
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
        self.save(&idle, check).await;
        assert_eq!(
            self.load(&idle.id, check).await,
            None,
            "store conformance: {check}: a record whose expires_at has passed must not load"
        );

        let mut absolute = sample();
        absolute.absolute_deadline = Some(now.saturating_sub(1_000));
        self.save(&absolute, check).await;
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
        self.save(&expired, check).await;
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
            self.save(record, check).await;
        }

        let removed = self.cleanup(check).await;
        let expected = if self.backend_expires_records { 0 } else { 3 };
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
}
