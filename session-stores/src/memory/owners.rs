//! The owner index: which sessions are bound to each owner, kept true by every write. The owner
//! itself is read from the compact record, so the index costs no bytes per session beyond its
//! own entries.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use session_core::{now_ms, OwnerSession, SessionId, StoreError};

use super::{read, write, Inner};

/// Owner to the ids bound to it. Locked only while a shard's write lock is held (or alone),
/// never the other way round.
#[derive(Default)]
pub(super) struct OwnerIndex(Mutex<HashMap<Box<str>, HashSet<SessionId>>>);

impl OwnerIndex {
    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, HashSet<SessionId>>> {
        // Every change is one map operation, so a panic elsewhere cannot leave it half-changed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `id` is bound to `owner` (nothing when there is no owner).
    pub(super) fn add(&self, owner: Option<&str>, id: SessionId) {
        if let Some(owner) = owner {
            self.lock().entry(owner.into()).or_default().insert(id);
        }
    }

    /// Forgets that `id` is bound to `owner`.
    pub(super) fn remove(&self, owner: Option<&str>, id: &SessionId) {
        let Some(owner) = owner else { return };
        let mut owners = self.lock();
        if let Some(ids) = owners.get_mut(owner) {
            ids.remove(id);
            if ids.is_empty() {
                owners.remove(owner);
            }
        }
    }

    /// The ids the index holds for `owner`.
    pub(super) fn ids(&self, owner: &str) -> Vec<SessionId> {
        self.lock()
            .get(owner)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Whether the index holds no owner at all.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

impl Inner {
    pub(super) fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        let now = now_ms();
        let mut sessions = Vec::new();
        for id in self.owners.ids(owner) {
            let map = read(self.shard(&id));
            let Some(entry) = map.get(&id) else { continue };
            if entry.is_expired(now) || entry.owner() != Some(owner) {
                continue;
            }
            sessions.push(OwnerSession::of(id.storage_key(), &entry.decode(id)?));
        }
        Ok(sessions)
    }

    /// Removes the live session of `owner` stored under `key`; whether there was one.
    pub(super) fn delete_owned(&self, owner: &str, key: &str) -> bool {
        let now = now_ms();
        let Some(id) = self
            .owners
            .ids(owner)
            .into_iter()
            .find(|id| id.storage_key() == key)
        else {
            return false;
        };
        let mut map = write(self.shard(&id));
        if map
            .get(&id)
            .is_none_or(|entry| entry.owner() != Some(owner) || entry.is_expired(now))
        {
            return false;
        }
        self.take(&mut map, &id).is_some()
    }

    pub(super) fn delete_owner(&self, owner: &str, keep: Option<&str>) -> u64 {
        let now = now_ms();
        let mut removed = 0;
        for id in self.owners.ids(owner) {
            if keep.is_some_and(|keep| id.storage_key() == keep) {
                continue;
            }
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
}

#[cfg(test)]
mod tests {
    use super::super::entry::{Entry, ENTRY_OVERHEAD};
    use super::super::read;
    use super::super::tests_support::{one_shard, record_expiring_in};
    use session_core::{SessionId, Store};

    #[tokio::test]
    async fn counters_and_the_owner_index_follow_every_removal() {
        let store = one_shard(2);
        let mut owned = record_expiring_in(60_000);
        owned.owner = Some("alice".into());
        store.create(&owned).await.unwrap();
        let bytes_after_first = store.bytes();
        assert!(bytes_after_first > ENTRY_OVERHEAD);
        // Evicted by two later logins: its index entry goes with it.
        for owner in ["bob", "carol"] {
            let mut later = record_expiring_in(600_000);
            later.owner = Some(owner.into());
            store.create(&later).await.unwrap();
        }
        assert!(store.owner_sessions("alice").await.unwrap().is_empty());
        assert!(store.inner.owners.ids("alice").is_empty());
        assert_eq!(store.len(), 2);
        store.inner.cleanup().await;
        let held: Vec<SessionId> = read(&store.inner.shards[0]).iter().map(Entry::id).collect();
        for id in held {
            store.delete(&id).await.unwrap();
        }
        assert!(store.inner.owners.is_empty());
        assert_eq!((store.len(), store.bytes()), (0, 0));
    }
}
