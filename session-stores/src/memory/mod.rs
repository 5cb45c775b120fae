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
//! - **Small.** Each session is one heap allocation of exactly its size, holding the 32-byte id
//!   and then the record in its compact binary form ([`Record::to_compact_bytes_after`]:
//!   fixed-width deadlines, length-prefixed keys and raw JSON values), and one 24-byte slot (its
//!   deadline and the boxed slice) plus one control byte in its shard's hash table. The id is
//!   compared in the allocation, not kept in the slot; the deadline stays in the slot, so that
//!   an eviction scan reads no allocation. A million small sessions (76 bytes of JSON values)
//!   take under 200 bytes each this way, table and allocator overhead included; a record kept as
//!   a `Record` (a B-tree of boxed strings) costs several times that. The price is decoding the
//!   session on each load, which is slicing plus one allocation per value.
//! - **Expiring.** [`Store::load`] never returns a record past its idle or absolute deadline,
//!   whether or not cleanup has run yet.
//! - **Bounded, in count and in bytes.** When a write takes the store past
//!   [`MemoryOptions::max_sessions`] or [`MemoryOptions::max_bytes`] (each record's encoded
//!   bytes plus [`ENTRY_OVERHEAD`]), the store evicts until it is within both bounds again:
//!   expired sessions of the written session's shard first; then anonymous sessions (bound to no
//!   owner), the soonest-expiring of that shard, or when it has none, of the whole store; then,
//!   only for a write of a session bound to an owner, the soonest-expiring session bound to an
//!   owner, across the whole store. So sessions bound to an owner outlive anonymous ones in
//!   every shard, and an anonymous write flood logs nobody out: an anonymous write into a store
//!   holding only owners' sessions drops itself instead (its client then gets a new, empty
//!   session, as after any eviction). Among owners' sessions, a "remember me" session, which
//!   expires later, outlives an ordinary one. Otherwise the session just written is never the
//!   one evicted. Eviction usually costs a scan of one shard (`max_sessions / shards`
//!   entries); the whole store is scanned only when that shard holds no anonymous session. The
//!   per-session size limit of the configuration (`max_bytes` of a session, 16 KiB by default)
//!   keeps any one session far below the store's bound.
//! - **Cleaned in the background.** The store opts into cleanup ([`Store::cleanup`]): the
//!   manager's single cleanup loop ([`session_core::spawn_cleanup`]) removes expired records
//!   every [`MemoryOptions::cleanup_interval_secs`], one shard at a time, yielding between shards
//!   so requests never wait on a whole-store pass. Expired records are invisible either way.
//! - **Atomic.** Every operation runs under the write lock of the session's shard (a regenerate
//!   under both shards' locks, taken in order), so concurrent requests changing different keys of
//!   one session all persist, and a regenerate racing a destroy moves nothing.
//! - **Owner index.** A map from owner to the ids bound to it, kept true by every write; the
//!   owner itself is read from the compact record, so it costs no bytes per session. "Log out
//!   everywhere" ([`Store::delete_owner`]) marks the owner as being revoked while it ends the
//!   ids the index held, and a regenerate of that owner's session meanwhile (but for the session
//!   kept) ends it instead of moving it out of the revocation's reach.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use session_core::{now_ms, Cleanup, Delta, OwnerSession, Record, SessionId, Store, StoreError};

use crate::options::{at_least, within};

mod bounds;
mod entry;
#[cfg(test)]
mod model;
mod owners;

pub use entry::ENTRY_OVERHEAD;
use entry::{Entry, Map};
use owners::OwnerIndex;

/// Options of the memory store (`store = { type = "memory", ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryOptions {
    /// The most sessions held at once; at the bound an anonymous session is evicted first (see
    /// the [module documentation](self)). Default 1,000,000.
    pub max_sessions: usize,
    /// The most bytes the sessions may take (each encoded record plus [`ENTRY_OVERHEAD`]); at
    /// the bound sessions are evicted as for `max_sessions`. Default 1 GiB.
    pub max_bytes: usize,
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
            max_bytes: 1 << 30,
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
        at_least("max_sessions", self.max_sessions, 1)?;
        at_least("max_bytes", self.max_bytes, 4096)?;
        at_least("cleanup_interval_secs", self.cleanup_interval_secs, 1)?;
        within("shards", self.shards, 1..=MAX_SHARDS)
    }
}

type Shard = RwLock<Map>;

struct Inner {
    shards: Box<[Shard]>,
    /// `shards.len() - 1`; the length is a power of two.
    mask: usize,
    /// Records held (expired or not), across all shards.
    len: AtomicUsize,
    /// What the records held cost, as [`Entry::cost`] counts.
    bytes: AtomicUsize,
    max_sessions: usize,
    max_bytes: usize,
    cleanup_interval: Duration,
    owners: OwnerIndex,
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
            .field("bytes", &self.bytes())
            .field("max_sessions", &self.inner.max_sessions)
            .field("max_bytes", &self.inner.max_bytes)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(MemoryOptions::default())
    }
}

impl MemoryStore {
    /// A store with `options`.
    ///
    /// Out-of-range options are clamped rather than refused (a `max_sessions`, `max_bytes` or
    /// `cleanup_interval_secs` of 0 counts as 1, `shards` is rounded up to a power of two of at
    /// most 4096); [`MemoryOptions::validate`] reports them, and the `memory` entry of
    /// [`registry`](crate::registry) refuses them.
    pub fn new(options: MemoryOptions) -> Self {
        let shard_count = options.shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let shards = (0..shard_count)
            .map(|_| RwLock::new(Map::new()))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        MemoryStore {
            inner: Arc::new(Inner {
                shards,
                mask: shard_count - 1,
                len: AtomicUsize::new(0),
                bytes: AtomicUsize::new(0),
                max_sessions: options.max_sessions.max(1),
                max_bytes: options.max_bytes.max(1),
                cleanup_interval: Duration::from_secs(options.cleanup_interval_secs.max(1)),
                owners: OwnerIndex::default(),
            }),
        }
    }

    /// How many records the store holds, including expired ones not yet cleaned up.
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }

    /// Whether the store holds no records at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the records held cost in bytes, as `max_bytes` counts them: each encoded record
    /// plus [`ENTRY_OVERHEAD`].
    pub fn bytes(&self) -> usize {
        self.inner.bytes.load(Ordering::Relaxed)
    }
}

/// A point between two lock-holding steps of an operation, where the model-checked tests let
/// other operations run; nothing outside them.
#[cfg(not(test))]
#[inline(always)]
fn between_steps() {}

#[cfg(test)]
use model::between_steps;

fn read(shard: &Shard) -> RwLockReadGuard<'_, Map> {
    // A panic while holding the lock cannot leave the map half-changed (every change is one map
    // operation plus counters), so a poisoned lock is still safe to use.
    shard.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(shard: &Shard) -> RwLockWriteGuard<'_, Map> {
    shard.write().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn shard_index(&self, id: &SessionId) -> usize {
        let bytes = id.as_bytes();
        usize::from(u16::from_le_bytes([bytes[0], bytes[1]])) & self.mask
    }

    fn shard(&self, id: &SessionId) -> &Shard {
        &self.shards[self.shard_index(id)]
    }
    /// under that id, and keeps the counters and the owner index true.
    fn put(&self, map: &mut Map, entry: Entry) {
        match map.insert(entry) {
            (held, Some(old)) => self.replaced(held, &old),
            (held, None) => {
                self.len.fetch_add(1, Ordering::AcqRel);
                self.bytes.fetch_add(held.cost(), Ordering::AcqRel);
                self.owners.add(held.owner(), held.id());
            }
        }
    }

    /// Keeps the counters and the owner index true after `held` replaced `old` (same id).
    fn replaced(&self, held: &Entry, old: &Entry) {
        self.bytes.fetch_add(held.cost(), Ordering::AcqRel);
        let owner = held.owner();
        self.owners.add(owner, held.id());
        self.forget(old, owner);
    }

    /// Removes `id` from `map` (its shard, write-locked).
    fn take(&self, map: &mut Map, id: &SessionId) -> Option<Entry> {
        let entry = map.remove(id)?;
        self.len.fetch_sub(1, Ordering::AcqRel);
        self.forget(&entry, None);
        Some(entry)
    }

    /// Releases what a replaced or removed entry held; `still_owner` is the owner of the entry
    /// that replaced it, whose index entry stays.
    fn forget(&self, old: &Entry, still_owner: Option<&str>) {
        self.bytes.fetch_sub(old.cost(), Ordering::AcqRel);
        let owner = old.owner();
        if owner != still_owner {
            self.owners.remove(owner, &old.id());
        }
    }

    /// Stores a new record: an unexpired record under its id is [`StoreError::AlreadyExists`].
    fn create(&self, record: &Record) -> Result<(), StoreError> {
        let id = record.id;
        {
            let mut map = write(self.shard(&id));
            if map.get(&id).is_some_and(|old| !old.is_expired(now_ms())) {
                return Err(StoreError::AlreadyExists);
            }
            self.put(&mut map, Entry::new(record));
        }
        self.shrink(self.shard_index(&id), &id);
        Ok(())
    }

    fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        let now = now_ms();
        {
            let mut guard = write(self.shard(id));
            let map = &mut *guard;
            let Some(held) = map.get_mut(id) else {
                return Ok(false);
            };
            if held.is_expired(now) {
                self.take(map, id);
                return Ok(false);
            }
            // The delta is spliced into the stored bytes: no value is decoded.
            let old = std::mem::replace(held, held.updated(id, delta)?);
            let owned = held.is_owned();
            if delta.owner.is_some() {
                self.replaced(held, &old);
            } else {
                // The owner stays, and so does its index entry: only the bytes move (the common
                // update, which then reads no owner out of either record).
                let (now_held, was_held) = (held.cost(), old.cost());
                if now_held >= was_held {
                    self.bytes.fetch_add(now_held - was_held, Ordering::AcqRel);
                } else {
                    self.bytes.fetch_sub(was_held - now_held, Ordering::AcqRel);
                }
            }
            map.changed(&old, owned);
        }
        self.shrink(self.shard_index(id), id);
        Ok(true)
    }

    fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let (from, to) = (self.shard_index(old), self.shard_index(new));
        {
            // Both shards' locks, in index order, so two regenerates cannot deadlock.
            let (mut first, mut second) = if from == to {
                (write(&self.shards[from]), None)
            } else if from < to {
                let first = write(&self.shards[from]);
                (first, Some(write(&self.shards[to])))
            } else {
                let second = write(&self.shards[to]);
                (write(&self.shards[from]), Some(second))
            };
            let source: &mut Map = &mut first;
            let moved = match source.get(old) {
                None => return Ok(false),
                Some(entry) if entry.is_expired(now) => {
                    self.take(source, old);
                    return Ok(false);
                }
                Some(entry) => entry.updated(new, delta)?,
            };
            let target: &mut Map = match second.as_deref_mut() {
                Some(other) => other,
                None => &mut first,
            };
            if target.get(new).is_some_and(|entry| !entry.is_expired(now)) {
                return Err(StoreError::AlreadyExists);
            }
            self.put(target, moved);
            let source: &mut Map = &mut first;
            let left = self.take(source, old);
            // A revocation of the (old) owner under way ends the session rather than let it
            // escape to an id the revocation does not hold. Checked after the move, with the
            // index already holding `new`: a revocation that begins later takes `new` with its
            // ids.
            if left
                .as_ref()
                .and_then(Entry::owner)
                .is_some_and(|owner| self.owners.is_revoked(owner, old))
            {
                let target: &mut Map = match second.as_deref_mut() {
                    Some(other) => other,
                    None => &mut first,
                };
                self.take(target, new);
                return Ok(false);
            }
        }
        self.shrink(to, new);
        Ok(true)
    }

    fn delete(&self, id: &SessionId) {
        self.take(&mut write(self.shard(id)), id);
    }

    fn count(&self) -> u64 {
        let now = now_ms();
        self.shards
            .iter()
            .map(|shard| {
                read(shard)
                    .iter()
                    .filter(|entry| !entry.is_expired(now))
                    .count() as u64
            })
            .sum()
    }

    /// Removes every expired record, one shard at a time, yielding between shards.
    async fn cleanup(&self) -> u64 {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let now = now_ms();
            {
                let mut map = write(shard);
                let expired: Vec<SessionId> = map
                    .iter()
                    .filter(|entry| entry.is_expired(now))
                    .map(Entry::id)
                    .collect();
                for id in &expired {
                    self.take(&mut map, id);
                }
                removed += expired.len() as u64;
            }
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
        between_steps();
        self.inner.create(record)
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        self.inner.update(id, delta)
    }

    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        between_steps();
        self.inner.regenerate(old, new, delta)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.delete(id);
        Ok(())
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        between_steps();
        self.inner.owner_sessions(owner)
    }

    async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
        between_steps();
        Ok(self.inner.delete_owned(owner, key))
    }

    async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        Ok(self.inner.delete_owner(owner, keep))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.inner.count())
    }

    async fn exists(&self, id: &SessionId) -> Result<bool, StoreError> {
        let now = now_ms();
        Ok(read(self.inner.shard(id))
            .get(id)
            .is_some_and(|entry| !entry.is_expired(now)))
    }

    fn cleanup(&self) -> Option<&dyn Cleanup> {
        Some(self)
    }
}

#[async_trait]
impl Cleanup for MemoryStore {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(self.inner.cleanup().await)
    }

    fn interval(&self) -> Duration {
        self.inner.cleanup_interval
    }
}

/// What the tests of every part of the store build their sessions and stores from.
#[cfg(test)]
mod tests_support {
    use super::{MemoryOptions, MemoryStore};
    use session_core::{now_ms, Expiry, Record, SessionId, Store};

    pub(super) fn record_expiring_in(ms: u64) -> Record {
        let now = now_ms();
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), now);
        record.expires_at = now + ms;
        record.absolute_deadline = None;
        record
    }

    /// A store of the default options, changed by `change`.
    pub(super) fn store_with(change: impl FnOnce(&mut MemoryOptions)) -> MemoryStore {
        let mut options = MemoryOptions::default();
        change(&mut options);
        MemoryStore::new(options)
    }

    pub(super) fn one_shard(max_sessions: usize) -> MemoryStore {
        store_with(|o| (o.max_sessions, o.shards) = (max_sessions, 1))
    }

    /// A [`one_shard`] store holding a new session for each of `expiring_in` (ms from now),
    /// created in that order.
    pub(super) async fn one_shard_holding<const N: usize>(
        max_sessions: usize,
        expiring_in: [u64; N],
    ) -> (MemoryStore, [Record; N]) {
        let store = one_shard(max_sessions);
        let records = expiring_in.map(record_expiring_in);
        for record in &records {
            store.create(record).await.unwrap();
        }
        (store, records)
    }

    pub(super) fn record_of_bytes(value_len: usize, expires_in: u64) -> Record {
        let mut record = record_expiring_in(expires_in);
        record.data.insert(
            "blob".into(),
            session_core::RawJson::to_json(&"x".repeat(value_len)).unwrap(),
        );
        record
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{one_shard, one_shard_holding, record_expiring_in, store_with};
    use super::*;

    #[tokio::test]
    async fn updating_a_session_does_not_count_twice_or_evict() {
        let (store, [first, second]) = one_shard_holding(2, [60_000, 60_000]).await;
        let delta = Delta {
            expires_at: first.expires_at + 1_000,
            ..Delta::default()
        };
        assert!(store.update(&first.id, &delta).await.unwrap());
        assert!(matches!(
            store.create(&first).await,
            Err(StoreError::AlreadyExists)
        ));
        assert_eq!(store.len(), 2);
        assert!(store.load(&second.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn create_reuses_the_slot_of_an_expired_session_with_the_same_id() {
        let store = one_shard(10);
        let mut record = record_expiring_in(60_000);
        record.expires_at = 1;
        store.create(&record).await.unwrap();
        record.expires_at = now_ms() + 60_000;
        store.create(&record).await.unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.load(&record.id).await.unwrap(), Some(record));
    }

    #[tokio::test(start_paused = true)]
    async fn the_core_cleanup_loop_removes_expired_sessions() {
        let store = store_with(|o| o.cleanup_interval_secs = 30);
        let live = record_expiring_in(3_600_000);
        let mut expired = record_expiring_in(60_000);
        expired.expires_at = 1;
        store.create(&live).await.unwrap();
        store.create(&expired).await.unwrap();
        assert_eq!(store.len(), 2);
        let shared: Arc<dyn Store> = Arc::new(store.clone());
        assert!(session_core::spawn_cleanup(&shared).is_some());

        // The clock is paused: each sleep moves it forward at once, letting the task run.
        for _ in 0..10 {
            if store.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        assert_eq!(store.len(), 1, "the cleanup loop did not run");
        assert!(store.load(&live.id).await.unwrap().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_cleanup_loop_ends_when_the_store_is_dropped() {
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        let store: Arc<dyn Store> = Arc::new(store_with(|o| o.cleanup_interval_secs = 1));
        assert!(session_core::spawn_cleanup(&store).is_some());
        assert_eq!(metrics.num_alive_tasks(), before + 1, "no cleanup task");
        let weak = Arc::downgrade(&store);
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
            store.create(&record).await.unwrap();
            assert!(store.load(&record.id).await.unwrap().is_some());
        });
    }
}
