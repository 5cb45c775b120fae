//! One stored session ([`Entry`]) and one shard's table of them ([`Map`]).

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry as Slot, HashTable};
use hashbrown::DefaultHashBuilder;
use session_core::ID_BYTES;
use session_core::{Delta, Record, SessionId, StoreError};

use crate::codec;

/// Bytes one stored session costs beyond its allocation (the 32-byte id and the encoded
/// record), as counted by `max_bytes`: the table slot (the eviction rank and the boxed slice's
/// pointer and length, 24 bytes) and its control byte at the table's lowest load factor (7/16,
/// just after it doubled: at most 58 bytes a session), plus the allocator's header and rounding
/// (at most 24 bytes).
pub const ENTRY_OVERHEAD: usize = 82;

/// The bit of [`Entry::rank`] set for a session bound to an owner. Deadlines are milliseconds
/// since the epoch, far below it (a "never" deadline is capped just under it).
pub(super) const OWNED: u64 = 1 << 63;

/// One stored session: its eviction rank (kept in the slot, so that an eviction scan reads no
/// allocation), and one allocation of exactly its size holding the id's bytes, then the record
/// in its compact form. Built only by [`Entry::new`] and [`Entry::updated`], so the allocation
/// always starts with a whole id.
pub(super) struct Entry {
    rank: u64,
    bytes: Box<[u8]>,
}

/// The rank of a session with `deadline`, bound to an owner or not.
fn rank(deadline: u64, owned: bool) -> u64 {
    deadline.min(OWNED - 1) | if owned { OWNED } else { 0 }
}

impl Entry {
    pub(super) fn new(record: &Record) -> Self {
        Entry {
            rank: rank(codec::deadline(record), record.owner.is_some()),
            bytes: record
                .to_compact_bytes_after(record.id.as_bytes())
                .into_boxed_slice(),
        }
    }

    /// The record of `self` after `delta`, stored under `id`.
    pub(super) fn updated(&self, id: &SessionId, delta: &Delta) -> Result<Self, StoreError> {
        let bytes = delta
            .apply_to_compact_bytes_after(id.as_bytes(), self.record())
            .map_err(StoreError::corrupt)?;
        let owned = match &delta.owner {
            Some(owner) => owner.is_some(),
            None => self.is_owned(),
        };
        Ok(Entry {
            rank: rank(codec::deadline_after(delta), owned),
            bytes: bytes.into_boxed_slice(),
        })
    }

    /// The order of eviction: anonymous sessions before those bound to an owner, and within
    /// each the soonest-expiring first.
    pub(super) fn rank(&self) -> u64 {
        self.rank
    }

    /// When the session stops loading.
    pub(super) fn deadline(&self) -> u64 {
        self.rank & !OWNED
    }

    /// Whether the session is bound to an owner.
    pub(super) fn is_owned(&self) -> bool {
        self.rank & OWNED != 0
    }

    fn id_bytes(&self) -> &[u8] {
        self.bytes.get(..ID_BYTES).unwrap_or_default()
    }

    pub(super) fn id(&self) -> SessionId {
        SessionId::from_bytes(self.id_bytes().try_into().unwrap_or([0; ID_BYTES]))
    }

    /// Whether this is the session `id`.
    pub(super) fn is(&self, id: &SessionId) -> bool {
        self.id_bytes() == id.as_bytes()
    }

    fn record(&self) -> &[u8] {
        self.bytes.get(ID_BYTES..).unwrap_or_default()
    }

    pub(super) fn decode(&self, id: SessionId) -> Result<Record, StoreError> {
        Record::from_compact_bytes(id, self.record()).map_err(StoreError::corrupt)
    }

    pub(super) fn is_expired(&self, now: u64) -> bool {
        now >= self.deadline()
    }

    pub(super) fn cost(&self) -> usize {
        self.bytes.len() + ENTRY_OVERHEAD
    }

    pub(super) fn owner(&self) -> Option<&str> {
        Record::owner_of_compact_bytes(self.record()).ok().flatten()
    }
}

/// One shard's sessions: a hash table of entries that hold their own ids, hashed with the
/// shard's randomly seeded hasher.
///
/// The hasher is foldhash, not std's SipHash: an id is 32 bytes from the operating system's
/// random source, and every id a request names was authenticated (signed or sealed with the
/// server's key) before it reaches the store, so no client can choose ids that collide. SipHash's
/// resistance to chosen keys buys nothing here and cost about 270 instructions per lookup,
/// twice per request.
pub(super) struct Map {
    table: HashTable<Entry>,
    hasher: DefaultHashBuilder,
    /// How many of the entries are not bound to an owner, so that eviction looks for one only
    /// in shards that hold one.
    anonymous: usize,
}

impl Map {
    pub(super) fn new() -> Self {
        Map {
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            anonymous: 0,
        }
    }

    fn hash(&self, id: &[u8]) -> u64 {
        self.hasher.hash_one(id)
    }

    pub(super) fn get(&self, id: &SessionId) -> Option<&Entry> {
        self.table
            .find(self.hash(id.as_bytes()), |entry| entry.is(id))
    }

    pub(super) fn get_mut(&mut self, id: &SessionId) -> Option<&mut Entry> {
        let hash = self.hash(id.as_bytes());
        self.table.find_mut(hash, |entry| entry.is(id))
    }

    /// Adds `entry`, replacing the entry of the same id; gives back the entry now held and the
    /// one replaced.
    pub(super) fn insert(&mut self, entry: Entry) -> (&Entry, Option<Entry>) {
        let hash = self.hash(entry.id_bytes());
        let hasher = &self.hasher;
        let slot = self.table.entry(
            hash,
            |held| held.id_bytes() == entry.id_bytes(),
            |held| hasher.hash_one(held.id_bytes()),
        );
        self.anonymous += usize::from(!entry.is_owned());
        match slot {
            Slot::Occupied(mut held) => {
                let old = std::mem::replace(held.get_mut(), entry);
                self.anonymous -= usize::from(!old.is_owned());
                (held.into_mut(), Some(old))
            }
            Slot::Vacant(vacant) => (vacant.insert(entry).into_mut(), None),
        }
    }

    /// Keeps the count of anonymous entries true after an entry changed in place (through
    /// [`Map::get_mut`]) from `old` to one bound to an owner or not (`owned`).
    pub(super) fn changed(&mut self, old: &Entry, owned: bool) {
        self.anonymous = self.anonymous + usize::from(!owned) - usize::from(!old.is_owned());
    }

    pub(super) fn remove(&mut self, id: &SessionId) -> Option<Entry> {
        let hash = self.hash(id.as_bytes());
        let held = self.table.find_entry(hash, |entry| entry.is(id)).ok()?;
        let entry = held.remove().0;
        self.anonymous -= usize::from(!entry.is_owned());
        Some(entry)
    }

    /// How many entries are not bound to an owner.
    pub(super) fn anonymous(&self) -> usize {
        self.anonymous
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::tests_support::{one_shard, record_of_bytes};
    use session_core::Store;

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
}
