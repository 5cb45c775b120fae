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
//!   bytes plus [`ENTRY_OVERHEAD`]), the store drops the expired records of the written
//!   session's shard, then that shard's soonest-expiring sessions, then (when that shard holds
//!   nothing else) the soonest-expiring session of the whole store, until it is within both
//!   bounds again. The session just written is never the one evicted. Eviction costs a scan of
//!   one shard (`max_sessions / shards` entries); raise `shards` for very large bounds. The
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
//!   owner itself is read from the compact record, so it costs no bytes per session.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use hashbrown::hash_table::{Entry as Slot, HashTable};
use serde::{Deserialize, Serialize};
use session_core::ID_BYTES;
use session_core::{now_ms, Cleanup, Delta, OwnerSession, Record, SessionId, Store, StoreError};

use crate::codec;

/// Options of the memory store (`store = { type = "memory", ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryOptions {
    /// The most sessions held at once; at the bound the soonest-expiring is evicted.
    /// Default 1,000,000.
    pub max_sessions: usize,
    /// The most bytes the sessions may take (each encoded record plus [`ENTRY_OVERHEAD`]); at
    /// the bound the soonest-expiring are evicted. Default 1 GiB.
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
        if self.max_sessions == 0 {
            return Err("`max_sessions` must be at least 1".into());
        }
        if self.max_bytes < 4096 {
            return Err("`max_bytes` must be at least 4096".into());
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

/// Bytes one stored session costs beyond its allocation (the 32-byte id and the encoded
/// record), as counted by `max_bytes`: the table slot (the deadline and the boxed slice's
/// pointer and length, 24 bytes) and its control byte at the table's lowest load factor (7/16,
/// just after it doubled: at most 58 bytes a session), plus the allocator's header and rounding
/// (at most 24 bytes).
pub const ENTRY_OVERHEAD: usize = 82;

/// One stored session: when it stops loading (kept in the slot, so that an eviction scan reads
/// no allocation), and one allocation of exactly its size holding the id's bytes, then the
/// record in its compact form. Built only by [`Entry::new`] and [`Entry::updated`], so the
/// allocation always starts with a whole id.
struct Entry {
    deadline: u64,
    bytes: Box<[u8]>,
}

impl Entry {
    fn new(record: &Record) -> Self {
        Entry {
            deadline: codec::deadline(record),
            bytes: record
                .to_compact_bytes_after(record.id.as_bytes())
                .into_boxed_slice(),
        }
    }

    /// The record of `self` after `delta`, stored under `id`.
    fn updated(&self, id: &SessionId, delta: &Delta) -> Result<Self, StoreError> {
        let bytes = delta
            .apply_to_compact_bytes_after(id.as_bytes(), self.record())
            .map_err(StoreError::corrupt)?;
        Ok(Entry {
            deadline: codec::deadline_after(delta),
            bytes: bytes.into_boxed_slice(),
        })
    }

    fn id_bytes(&self) -> &[u8] {
        self.bytes.get(..ID_BYTES).unwrap_or_default()
    }

    fn id(&self) -> SessionId {
        SessionId::from_bytes(self.id_bytes().try_into().unwrap_or([0; ID_BYTES]))
    }

    /// Whether this is the session `id`.
    fn is(&self, id: &SessionId) -> bool {
        self.id_bytes() == id.as_bytes()
    }

    fn record(&self) -> &[u8] {
        self.bytes.get(ID_BYTES..).unwrap_or_default()
    }

    fn decode(&self, id: SessionId) -> Result<Record, StoreError> {
        Record::from_compact_bytes(id, self.record()).map_err(StoreError::corrupt)
    }

    fn is_expired(&self, now: u64) -> bool {
        now >= self.deadline
    }

    fn cost(&self) -> usize {
        self.bytes.len() + ENTRY_OVERHEAD
    }

    fn owner(&self) -> Option<&str> {
        Record::owner_of_compact_bytes(self.record()).ok().flatten()
    }
}

/// One shard's sessions: a hash table of entries that hold their own ids, hashed with the
/// shard's keyed hasher.
struct Map {
    table: HashTable<Entry>,
    hasher: RandomState,
}

impl Map {
    fn new() -> Self {
        Map {
            table: HashTable::new(),
            hasher: RandomState::new(),
        }
    }

    fn hash(&self, id: &[u8]) -> u64 {
        self.hasher.hash_one(id)
    }

    fn get(&self, id: &SessionId) -> Option<&Entry> {
        self.table
            .find(self.hash(id.as_bytes()), |entry| entry.is(id))
    }

    fn get_mut(&mut self, id: &SessionId) -> Option<&mut Entry> {
        let hash = self.hash(id.as_bytes());
        self.table.find_mut(hash, |entry| entry.is(id))
    }

    /// Adds `entry`, replacing the entry of the same id; gives back the entry now held and the
    /// one replaced.
    fn insert(&mut self, entry: Entry) -> (&Entry, Option<Entry>) {
        let hash = self.hash(entry.id_bytes());
        let hasher = &self.hasher;
        let slot = self.table.entry(
            hash,
            |held| held.id_bytes() == entry.id_bytes(),
            |held| hasher.hash_one(held.id_bytes()),
        );
        match slot {
            Slot::Occupied(mut held) => {
                let old = std::mem::replace(held.get_mut(), entry);
                (held.into_mut(), Some(old))
            }
            Slot::Vacant(vacant) => (vacant.insert(entry).into_mut(), None),
        }
    }

    fn remove(&mut self, id: &SessionId) -> Option<Entry> {
        let hash = self.hash(id.as_bytes());
        let held = self.table.find_entry(hash, |entry| entry.is(id)).ok()?;
        Some(held.remove().0)
    }

    fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
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
    /// Owner to the ids bound to it. Locked only while a shard's write lock is held (or alone),
    /// never the other way round.
    owners: Mutex<HashMap<Box<str>, HashSet<SessionId>>>,
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
                owners: Mutex::new(HashMap::new()),
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

    fn owners(&self) -> MutexGuard<'_, HashMap<Box<str>, HashSet<SessionId>>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn index(&self, owner: Option<&str>, id: SessionId) {
        if let Some(owner) = owner {
            self.owners().entry(owner.into()).or_default().insert(id);
        }
    }

    fn unindex(&self, owner: Option<&str>, id: &SessionId) {
        let Some(owner) = owner else { return };
        let mut owners = self.owners();
        if let Some(ids) = owners.get_mut(owner) {
            ids.remove(id);
            if ids.is_empty() {
                owners.remove(owner);
            }
        }
    }

    /// Adds `entry` to `map` (the shard of its id, write-locked), replacing what was there
    /// under that id, and keeps the counters and the owner index true.
    fn put(&self, map: &mut Map, entry: Entry) {
        match map.insert(entry) {
            (held, Some(old)) => self.replaced(held, &old),
            (held, None) => {
                self.len.fetch_add(1, Ordering::AcqRel);
                self.bytes.fetch_add(held.cost(), Ordering::AcqRel);
                self.index(held.owner(), held.id());
            }
        }
    }

    /// Keeps the counters and the owner index true after `held` replaced `old` (same id).
    fn replaced(&self, held: &Entry, old: &Entry) {
        self.bytes.fetch_add(held.cost(), Ordering::AcqRel);
        self.index(held.owner(), held.id());
        self.forget(old, held.owner());
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
            self.unindex(owner, &old.id());
        }
    }

    fn over_bound(&self) -> bool {
        self.len.load(Ordering::Acquire) > self.max_sessions
            || self.bytes.load(Ordering::Acquire) > self.max_bytes
    }

    /// Evicts until the store is within its bounds again: first the expired records of the
    /// shard `home` (where a record was just written), then its soonest-expiring one, then,
    /// when `home` holds nothing else, the soonest-expiring record of the whole store. `keep`
    /// (the record just written) is never evicted.
    fn shrink(&self, home: usize, keep: &SessionId) {
        let now = now_ms();
        while self.over_bound() {
            let mut map = write(&self.shards[home]);
            let expired: Vec<SessionId> = map
                .iter()
                .filter(|entry| entry.is_expired(now) && !entry.is(keep))
                .map(Entry::id)
                .collect();
            if !expired.is_empty() {
                for id in &expired {
                    self.take(&mut map, id);
                }
                continue;
            }
            // `keep` is told apart by its slot, so that the scan reads no allocation.
            let kept = map.get(keep);
            let soonest = map
                .iter()
                .filter(|entry| kept.is_none_or(|kept| !std::ptr::eq(*entry, kept)))
                .min_by_key(|entry| entry.deadline)
                .map(Entry::id);
            if let Some(id) = soonest {
                self.take(&mut map, &id);
                continue;
            }
            drop(map);
            if !self.evict_elsewhere(home) {
                // Only `keep` is left: a single session larger than `max_bytes`.
                break;
            }
        }
    }

    /// Evicts the soonest-expiring record outside the shard `home`; `false` when there is none.
    fn evict_elsewhere(&self, home: usize) -> bool {
        let victim = self
            .shards
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != home)
            .filter_map(|(index, shard)| {
                read(shard)
                    .iter()
                    .min_by_key(|entry| entry.deadline)
                    .map(|entry| (entry.deadline, index, entry.id()))
            })
            .min_by_key(|(deadline, index, _)| (*deadline, *index));
        let Some((_, index, id)) = victim else {
            return false;
        };
        // It may have gone meanwhile; the caller's loop checks the bound again either way.
        self.take(&mut write(&self.shards[index]), &id);
        true
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
            self.replaced(held, &old);
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
            self.take(source, old);
        }
        self.shrink(to, new);
        Ok(true)
    }

    fn delete(&self, id: &SessionId) {
        self.take(&mut write(self.shard(id)), id);
    }

    /// The ids the index holds for `owner`.
    fn owned(&self, owner: &str) -> Vec<SessionId> {
        self.owners()
            .get(owner)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        let now = now_ms();
        let mut sessions = Vec::new();
        for id in self.owned(owner) {
            let map = read(self.shard(&id));
            let Some(entry) = map.get(&id) else { continue };
            if entry.is_expired(now) || entry.owner() != Some(owner) {
                continue;
            }
            sessions.push(OwnerSession::of(id.storage_key(), &entry.decode(id)?));
        }
        Ok(sessions)
    }

    fn delete_owner(&self, owner: &str) -> u64 {
        let now = now_ms();
        let mut removed = 0;
        for id in self.owned(owner) {
            let mut map = write(self.shard(&id));
            if map
                .get(&id)
                .is_none_or(|entry| entry.owner() != Some(owner))
            {
                continue;
            }
            if let Some(entry) = self.take(&mut map, &id) {
                removed += u64::from(!entry.is_expired(now));
            }
        }
        removed
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
        self.inner.regenerate(old, new, delta)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.delete(id);
        Ok(())
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        self.inner.owner_sessions(owner)
    }

    async fn delete_owner(&self, owner: &str) -> Result<u64, StoreError> {
        Ok(self.inner.delete_owner(owner))
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
        store.create(&live).await.unwrap();
        store.create(&expired).await.unwrap();

        store.create(&record_expiring_in(600_000)).await.unwrap();

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
    async fn updating_a_session_does_not_count_twice_or_evict() {
        let store = one_shard(2);
        let first = record_expiring_in(60_000);
        let second = record_expiring_in(60_000);
        store.create(&first).await.unwrap();
        store.create(&second).await.unwrap();
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
        let store = MemoryStore::new(MemoryOptions {
            cleanup_interval_secs: 30,
            ..MemoryOptions::default()
        });
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
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(MemoryOptions {
            cleanup_interval_secs: 1,
            ..MemoryOptions::default()
        }));
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

    fn record_of_bytes(value_len: usize, expires_in: u64) -> Record {
        let mut record = record_expiring_in(expires_in);
        record.data.insert(
            "blob".into(),
            session_core::RawJson::to_json(&"x".repeat(value_len)).unwrap(),
        );
        record
    }

    #[tokio::test]
    async fn the_byte_bound_evicts_the_soonest_expiring_sessions() {
        let store = MemoryStore::new(MemoryOptions {
            max_bytes: 10_000,
            shards: 1,
            ..MemoryOptions::default()
        });
        let mut kept = Vec::new();
        for n in 0..30u64 {
            let record = record_of_bytes(1_000, 60_000 + n * 1_000);
            store.create(&record).await.unwrap();
            assert!(store.bytes() <= 10_000, "over the bound: {}", store.bytes());
            kept.push(record);
        }
        // The latest-expiring survive, the soonest went.
        assert!(store.load(&kept[29].id).await.unwrap().is_some());
        assert!(store.load(&kept[0].id).await.unwrap().is_none());
        let held = store.len();
        assert!(
            (8..=9).contains(&held),
            "{held} sessions of ~1.1 KB in 10 KB"
        );
    }

    #[tokio::test]
    async fn growing_a_session_by_update_respects_the_byte_bound() {
        let store = MemoryStore::new(MemoryOptions {
            max_bytes: 8_000,
            shards: 4,
            ..MemoryOptions::default()
        });
        let small: Vec<Record> = (0..5).map(|n| record_of_bytes(100, 60_000 + n)).collect();
        for record in &small {
            store.create(record).await.unwrap();
        }
        let grower = record_of_bytes(10, 3_600_000);
        store.create(&grower).await.unwrap();
        let delta = Delta {
            changed: vec![(
                "big".into(),
                session_core::RawJson::to_json(&"y".repeat(7_000)).unwrap(),
            )],
            expires_at: grower.expires_at,
            absolute_deadline: grower.absolute_deadline,
            ..Delta::default()
        };
        assert!(store.update(&grower.id, &delta).await.unwrap());
        assert!(store.bytes() <= 8_000, "{}", store.bytes());
        assert!(store.load(&grower.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn counters_and_the_owner_index_follow_every_removal() {
        let store = one_shard(2);
        let mut owned = record_expiring_in(60_000);
        owned.owner = Some("alice".into());
        store.create(&owned).await.unwrap();
        let bytes_after_first = store.bytes();
        assert!(bytes_after_first > ENTRY_OVERHEAD);
        // Evicted by two later sessions: its index entry goes with it.
        store.create(&record_expiring_in(600_000)).await.unwrap();
        store.create(&record_expiring_in(600_000)).await.unwrap();
        assert!(store.owner_sessions("alice").await.unwrap().is_empty());
        assert!(store.inner.owners().is_empty());
        assert_eq!(store.len(), 2);
        store.inner.cleanup().await;
        let held: Vec<SessionId> = read(&store.inner.shards[0]).iter().map(Entry::id).collect();
        for id in held {
            store.delete(&id).await.unwrap();
        }
        assert_eq!((store.len(), store.bytes()), (0, 0));
    }

    #[tokio::test]
    async fn ids_that_differ_in_one_byte_are_different_sessions() {
        let store = one_shard(100);
        let first = record_of_bytes(10, 60_000);
        let mut bytes = *first.id.as_bytes();
        let mut twins = Vec::new();
        for at in [0, 15, 16, ID_BYTES - 1] {
            bytes[at] ^= 1;
            let mut twin = record_of_bytes(20 + at, 60_000);
            twin.id = SessionId::from_bytes(bytes);
            twins.push(twin);
        }
        store.create(&first).await.unwrap();
        for twin in &twins {
            store.create(twin).await.unwrap();
        }
        assert_eq!(store.len(), 5);
        store.delete(&twins[1].id).await.unwrap();
        assert_eq!(store.load(&first.id).await.unwrap().as_ref(), Some(&first));
        assert_eq!(store.load(&twins[1].id).await.unwrap(), None);
        for twin in [&twins[0], &twins[2], &twins[3]] {
            assert_eq!(store.load(&twin.id).await.unwrap().as_ref(), Some(twin));
        }
    }

    #[tokio::test]
    async fn each_session_costs_its_id_its_compact_record_and_the_overhead() {
        let store = one_shard(100);
        let mut expected = 0;
        for n in 0..10 {
            let record = record_of_bytes(n * 30, 60_000);
            expected += ID_BYTES + record.to_compact_bytes().len() + ENTRY_OVERHEAD;
            store.create(&record).await.unwrap();
        }
        assert_eq!(store.bytes(), expected);
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

    #[test]
    fn options_are_validated_with_field_names() {
        let zero = MemoryOptions {
            max_sessions: 0,
            ..MemoryOptions::default()
        };
        assert!(zero.validate().unwrap_err().contains("max_sessions"));
        let bytes = MemoryOptions {
            max_bytes: 100,
            ..MemoryOptions::default()
        };
        assert!(bytes.validate().unwrap_err().contains("max_bytes"));
        let shards = MemoryOptions {
            shards: 0,
            ..MemoryOptions::default()
        };
        assert!(shards.validate().unwrap_err().contains("shards"));
        assert!(MemoryOptions::default().validate().is_ok());
    }
}
