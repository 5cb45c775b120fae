//! The memory store: sessions in this process's memory, sharded, bounded and expiring.
//!
//! Use it for a single server, for development and for tests. Sessions are lost when the process
//! exits and are not shared between processes; use the [file](crate::file) store or the
//! Redis store (`session_stores::redis`) for that.
//!
//! ```
//! use session_core::{Expiry, Record, SessionId, Store};
//! use session_stores::memory::{MemoryOptions, MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), session_core::StoreError> {
//! let store = MemoryStore::new(MemoryOptions { max_sessions: 10_000, ..MemoryOptions::default() });
//! let record = Record::new(SessionId::generate(), &Expiry::default(), session_core::now_ms());
//! store.create(&record).await?;
//! assert_eq!(store.load(&record.id).await?, Some(record));
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! - **Sharded.** Records live in [`MemoryOptions::shards`] independent maps, each behind its own
//!   `RwLock`, picked by the first bytes of the (random) session id. Requests for different
//!   sessions rarely touch the same lock, and no lock is ever held across an `.await`.
//! - **Small.** Each session is one map slot (the 32-byte id, its deadline) plus one heap
//!   allocation holding the record in its compact binary form without its id
//!   ([`Record::to_compact_bytes`]: fixed-width deadlines, length-prefixed keys and raw JSON
//!   values). A record kept as a `Record` (a B-tree of boxed strings) costs several times that; a
//!   million small sessions fit in a few hundred MiB this way. The price is decoding the session on
//!   each load, which is slicing plus one allocation per value.
//! - **Expiring.** [`Store::load`] never returns a record past its idle or absolute deadline,
//!   whether or not cleanup has run yet.
//! - **Bounded.** At [`MemoryOptions::max_sessions`], storing a new session first drops the
//!   expired records of its shard, and if none had expired evicts the soonest-expiring session of
//!   that shard (or, when that shard is empty, of the whole store). The bound is exact. At the
//!   bound a new session costs a scan of one shard (`max_sessions / shards` entries); raise
//!   `shards` for very large bounds.
//! - **Cleaned in the background.** [`MemoryStore::new`], called inside a Tokio runtime, spawns a
//!   task that removes expired records every [`MemoryOptions::cleanup_interval_secs`], one shard
//!   at a time, yielding between shards so requests never wait on a whole-store pass. The task
//!   holds only a weak reference and ends after the store is dropped. Outside a runtime no task is
//!   spawned; call [`Store::cleanup`] yourself (expired records are invisible either way). The
//!   runtime needs its timer enabled (`#[tokio::main]` does that).
//! - **Atomic updates.** [`Store::update`] applies a [`Delta`] under the shard's write lock, so
//!   concurrent requests changing different keys of one session all persist.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use session_core::{now_ms, Delta, Record, SessionId, Store, StoreError};

use crate::codec;

/// Options of the memory store (`store = { type = "memory", ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryOptions {
    /// The most sessions held at once; at the bound the soonest-expiring is evicted.
    /// Default 1,000,000.
    pub max_sessions: usize,
    /// Seconds between background cleanups of expired sessions. Default 60.
    pub cleanup_interval_secs: u64,
    /// Number of independently locked shards, rounded up to a power of two (at most 4096).
    /// Default 64.
    pub shards: usize,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        MemoryOptions {
            max_sessions: 1_000_000,
            cleanup_interval_secs: 60,
            shards: 64,
        }
    }
}

/// The most shards a store may have.
const MAX_SHARDS: usize = 4096;

impl MemoryOptions {
    /// Checks the options; the error names the field and says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_sessions == 0 {
            return Err("`max_sessions` must be at least 1".into());
        }
        if self.cleanup_interval_secs == 0 {
            return Err("`cleanup_interval_secs` must be at least 1".into());
        }
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            return Err(format!(
                "`shards` must be 1 to {MAX_SHARDS}, got {}",
                self.shards
            ));
        }
        Ok(())
    }
}

/// One stored session: when it stops loading, and the encoded record.
struct Entry {
    deadline: u64,
    encoded: Box<[u8]>,
}

impl Entry {
    fn new(record: &Record) -> Self {
        Entry {
            deadline: codec::deadline(record),
            encoded: record.to_compact_bytes().into_boxed_slice(),
        }
    }

    fn decode(&self, id: SessionId) -> Result<Record, StoreError> {
        Record::from_compact_bytes(id, &self.encoded)
            .map_err(|error| StoreError::Corrupt(error.into()))
    }

    fn is_expired(&self, now: u64) -> bool {
        now >= self.deadline
    }
}

type Shard = RwLock<HashMap<SessionId, Entry>>;

struct Inner {
    shards: Box<[Shard]>,
    /// `shards.len() - 1`; the length is a power of two.
    mask: usize,
    /// Records held (expired or not), across all shards.
    len: AtomicUsize,
    max_sessions: usize,
}

/// A concurrent, sharded, bounded, expiring in-memory session store. See the
/// [module documentation](self).
///
/// Cloning is cheap and shares the sessions.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.inner.shards.len())
            .field("len", &self.len())
            .field("max_sessions", &self.inner.max_sessions)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(MemoryOptions::default())
    }
}

impl MemoryStore {
    /// A store with `options`, spawning the background cleanup task when called inside a Tokio
    /// runtime.
    ///
    /// Out-of-range options are clamped rather than refused (a `max_sessions` or
    /// `cleanup_interval_secs` of 0 counts as 1, `shards` is rounded up to a power of two of at
    /// most 4096); [`MemoryOptions::validate`] reports them, and the `memory` entry of
    /// [`registry`](crate::registry) refuses them.
    pub fn new(options: MemoryOptions) -> Self {
        let shard_count = options.shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let shards = (0..shard_count)
            .map(|_| RwLock::new(HashMap::new()))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let inner = Arc::new(Inner {
            shards,
            mask: shard_count - 1,
            len: AtomicUsize::new(0),
            max_sessions: options.max_sessions.max(1),
        });
        spawn_cleanup(
            &inner,
            Duration::from_secs(options.cleanup_interval_secs.max(1)),
        );
        MemoryStore { inner }
    }

    /// How many records the store holds, including expired ones not yet cleaned up.
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }

    /// Whether the store holds no records at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Spawns the background cleanup when a Tokio runtime is present.
fn spawn_cleanup(inner: &Arc<Inner>, every: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::debug!("no Tokio runtime: the memory store's background cleanup is not running");
        return;
    };
    let weak: Weak<Inner> = Arc::downgrade(inner);
    runtime.spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once; start counting from now.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(inner) = weak.upgrade() else {
                break;
            };
            let removed = inner.cleanup().await;
            if removed > 0 {
                tracing::debug!(removed, "memory store: removed expired sessions");
            }
        }
    });
}

fn read(shard: &Shard) -> RwLockReadGuard<'_, HashMap<SessionId, Entry>> {
    // A panic while holding the lock cannot leave the map half-changed (every change is one map
    // operation), so a poisoned lock is still safe to use.
    shard.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(shard: &Shard) -> RwLockWriteGuard<'_, HashMap<SessionId, Entry>> {
    shard.write().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn shard(&self, id: &SessionId) -> &Shard {
        let bytes = id.as_bytes();
        let index = usize::from(u16::from_le_bytes([bytes[0], bytes[1]]));
        &self.shards[index & self.mask]
    }

    /// Takes one slot of the bound; `false` when the store is full.
    fn reserve(&self) -> bool {
        self.len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |len| {
                (len < self.max_sessions).then_some(len + 1)
            })
            .is_ok()
    }

    fn release(&self, count: usize) {
        if count > 0 {
            self.len.fetch_sub(count, Ordering::AcqRel);
        }
    }

    /// Makes room in `map`: drops its expired records, or if none had expired its
    /// soonest-expiring one. Returns how many records went.
    fn evict(&self, map: &mut HashMap<SessionId, Entry>, now: u64) -> usize {
        let before = map.len();
        map.retain(|_, entry| !entry.is_expired(now));
        let mut removed = before - map.len();
        if removed == 0 {
            let soonest = map
                .iter()
                .min_by_key(|(_, entry)| entry.deadline)
                .map(|(id, _)| *id);
            if let Some(id) = soonest {
                map.remove(&id);
                removed = 1;
            }
        }
        self.release(removed);
        removed
    }

    /// Evicts one record from the shard holding the soonest-expiring record of the whole store.
    /// Used when a new session's own shard is empty; takes one lock at a time.
    fn evict_elsewhere(&self, now: u64) {
        let victim = self
            .shards
            .iter()
            .enumerate()
            .filter_map(|(index, shard)| {
                read(shard)
                    .values()
                    .map(|entry| entry.deadline)
                    .min()
                    .map(|deadline| (deadline, index))
            })
            .min();
        if let Some((_, index)) = victim {
            self.evict(&mut write(&self.shards[index]), now);
        }
    }

    /// Stores `entry` under `id`. With `only_new`, an unexpired record under `id` is
    /// [`StoreError::AlreadyExists`].
    fn put(&self, id: SessionId, entry: Entry, only_new: bool) -> Result<(), StoreError> {
        let now = now_ms();
        loop {
            let mut map = write(self.shard(&id));
            if let Some(existing) = map.get_mut(&id) {
                if only_new && !existing.is_expired(now) {
                    return Err(StoreError::AlreadyExists);
                }
                *existing = entry;
                return Ok(());
            }
            if self.reserve() || self.evict(&mut map, now) > 0 && self.reserve() {
                map.insert(id, entry);
                return Ok(());
            }
            if map.is_empty() {
                drop(map);
                self.evict_elsewhere(now);
            }
            // Others took the freed slots meanwhile: try again.
        }
    }

    /// Removes every expired record, one shard at a time, yielding between shards.
    async fn cleanup(&self) -> u64 {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let now = now_ms();
            let gone = {
                let mut map = write(shard);
                let before = map.len();
                map.retain(|_, entry| !entry.is_expired(now));
                before - map.len()
            };
            self.release(gone);
            removed += gone as u64;
            tokio::task::yield_now().await;
        }
        removed
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let now = now_ms();
        let map = read(self.inner.shard(id));
        match map.get(id) {
            Some(entry) if !entry.is_expired(now) => entry.decode(*id).map(Some),
            _ => Ok(None),
        }
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.inner.put(record.id, Entry::new(record), true)
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut map = write(self.inner.shard(id));
        let Some(entry) = map.get_mut(id) else {
            return Ok(false);
        };
        if entry.is_expired(now) {
            map.remove(id);
            self.inner.release(1);
            return Ok(false);
        }
        // The delta is spliced into the stored bytes: no value is decoded or re-encoded.
        let encoded = delta
            .apply_to_compact_bytes(&entry.encoded)
            .map_err(|error| StoreError::Corrupt(error.into()))?;
        *entry = Entry {
            deadline: codec::deadline_after(delta),
            encoded: encoded.into_boxed_slice(),
        };
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        if write(self.inner.shard(id)).remove(id).is_some() {
            self.inner.release(1);
        }
        Ok(())
    }


    async fn regenerate(
        &self,
        _old: &SessionId,
        _new: &SessionId,
        _delta: &Delta,
    ) -> Result<bool, StoreError> {
        Err(StoreError::backend_msg("regenerate: being ported to the v2 contract"))
    }

    async fn owner_sessions(&self, _owner: &str) -> Result<Vec<session_core::OwnerSession>, StoreError> {
        Err(StoreError::backend_msg("owner_sessions: being ported to the v2 contract"))
    }

    async fn delete_owner(&self, _owner: &str) -> Result<u64, StoreError> {
        Err(StoreError::backend_msg("delete_owner: being ported to the v2 contract"))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Err(StoreError::backend_msg("count: being ported to the v2 contract"))
    }
}

impl MemoryStore {
    /// Replaces the whole record (tests only, until the port is done).
    pub async fn save(&self, record: &Record) -> Result<(), StoreError> {
        self.inner.put(record.id, Entry::new(record), false)
    }

    /// Removes expired records.
    pub async fn cleanup(&self) -> Result<u64, StoreError> {
        Ok(self.inner.cleanup().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::Expiry;

    fn record_expiring_in(ms: u64) -> Record {
        let now = now_ms();
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), now);
        record.expires_at = now + ms;
        record.absolute_deadline = None;
        record
    }

    fn one_shard(max_sessions: usize) -> MemoryStore {
        MemoryStore::new(MemoryOptions {
            max_sessions,
            shards: 1,
            ..MemoryOptions::default()
        })
    }

    #[tokio::test]
    async fn a_full_store_evicts_the_soonest_expiring_session() {
        let store = one_shard(3);
        let late = record_expiring_in(3_600_000);
        let soon = record_expiring_in(60_000);
        let middle = record_expiring_in(600_000);
        for record in [&late, &soon, &middle] {
            store.create(record).await.unwrap();
        }
        assert_eq!(store.len(), 3);

        let newcomer = record_expiring_in(1_800_000);
        store.create(&newcomer).await.unwrap();

        assert_eq!(store.len(), 3);
        assert!(store.load(&soon.id).await.unwrap().is_none());
        for kept in [&late, &middle, &newcomer] {
            assert!(store.load(&kept.id).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn a_full_store_drops_expired_sessions_before_evicting_live_ones() {
        let store = one_shard(2);
        let live = record_expiring_in(60_000);
        let mut expired = record_expiring_in(60_000);
        expired.expires_at = 1;
        store.save(&live).await.unwrap();
        store.save(&expired).await.unwrap();

        store.save(&record_expiring_in(600_000)).await.unwrap();

        assert_eq!(store.len(), 2);
        assert!(store.load(&live.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_bound_holds_across_shards() {
        let store = MemoryStore::new(MemoryOptions {
            max_sessions: 5,
            shards: 64,
            ..MemoryOptions::default()
        });
        let mut records = Vec::new();
        for _ in 0..50 {
            let record = record_expiring_in(60_000 + records.len() as u64);
            store.create(&record).await.unwrap();
            records.push(record);
            assert!(store.len() <= 5);
        }
        assert_eq!(store.len(), 5);
        // The most recent one always survives its own insertion.
        let last = records.last().unwrap();
        assert!(store.load(&last.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn replacing_a_session_does_not_count_twice_or_evict() {
        let store = one_shard(2);
        let first = record_expiring_in(60_000);
        let second = record_expiring_in(60_000);
        store.save(&first).await.unwrap();
        store.save(&second).await.unwrap();
        store.save(&first).await.unwrap();
        assert_eq!(store.len(), 2);
        assert!(store.load(&second.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn create_reuses_the_slot_of_an_expired_session_with_the_same_id() {
        let store = one_shard(10);
        let mut record = record_expiring_in(60_000);
        record.expires_at = 1;
        store.save(&record).await.unwrap();
        record.expires_at = now_ms() + 60_000;
        store.create(&record).await.unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.load(&record.id).await.unwrap(), Some(record));
    }

    #[tokio::test(start_paused = true)]
    async fn background_cleanup_removes_expired_sessions() {
        let store = MemoryStore::new(MemoryOptions {
            cleanup_interval_secs: 30,
            ..MemoryOptions::default()
        });
        let live = record_expiring_in(3_600_000);
        let mut expired = record_expiring_in(60_000);
        expired.expires_at = 1;
        store.save(&live).await.unwrap();
        store.save(&expired).await.unwrap();
        assert_eq!(store.len(), 2);

        // The clock is paused: each sleep moves it forward at once, letting the task run.
        for _ in 0..10 {
            if store.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        assert_eq!(store.len(), 1, "the background task did not clean up");
        assert!(store.load(&live.id).await.unwrap().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_background_task_ends_when_the_store_is_dropped() {
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        let store = MemoryStore::new(MemoryOptions {
            cleanup_interval_secs: 1,
            ..MemoryOptions::default()
        });
        assert_eq!(metrics.num_alive_tasks(), before + 1, "no cleanup task");
        let weak = Arc::downgrade(&store.inner);
        drop(store);
        assert!(weak.upgrade().is_none(), "the task keeps the store alive");
        for _ in 0..10 {
            if metrics.num_alive_tasks() == before {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert_eq!(
            metrics.num_alive_tasks(),
            before,
            "the task outlived its store"
        );
    }

    #[test]
    fn without_a_runtime_the_store_still_works() {
        let store = MemoryStore::default();
        let record = record_expiring_in(60_000);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            store.save(&record).await.unwrap();
            assert!(store.load(&record.id).await.unwrap().is_some());
        });
    }

    #[test]
    fn options_are_validated_with_field_names() {
        let zero = MemoryOptions {
            max_sessions: 0,
            ..MemoryOptions::default()
        };
        assert!(zero.validate().unwrap_err().contains("max_sessions"));
        let shards = MemoryOptions {
            shards: 0,
            ..MemoryOptions::default()
        };
        assert!(shards.validate().unwrap_err().contains("shards"));
        assert!(MemoryOptions::default().validate().is_ok());
    }
}
