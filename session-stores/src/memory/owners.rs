//! The owner index: which sessions are bound to each owner, kept true by every write. The owner
//! itself is read from the compact record, so the index costs no bytes per session beyond its
//! own entries.
//!
//! It also holds the revocations under way ("log out everywhere"): `delete_owner` ends the ids
//! the index holds when it starts, and a regenerate of one of those sessions meanwhile would move
//! it to an id that list does not hold. So a regenerate that finds its session's owner being
//! revoked ends the session instead (see the store's `regenerate`).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use session_core::{now_ms, OwnerSession, SessionId, StoreError};

use super::{read, write, Inner};

/// Owner to the ids bound to it, and the revocations of owners under way. Locked only while a
/// shard's write lock is held (or alone), never the other way round.
#[derive(Default)]
pub(super) struct OwnerIndex(Mutex<Owners>);

#[derive(Default)]
struct Owners {
    ids: HashMap<Box<str>, HashSet<SessionId>>,
    /// Per owner, the revocations under way: each one's number and the storage key it spares.
    revoking: HashMap<Box<str>, Vec<UnderWay>>,
    /// The number of the next revocation.
    next: u64,
}

/// A revocation under way: its number, and the storage key of the session it spares.
type UnderWay = (u64, Option<Box<str>>);

/// A revocation of one owner's sessions under way, from [`OwnerIndex::revoke`] until dropped: the
/// ids bound to the owner when it began.
pub(super) struct Revocation<'a> {
    index: &'a OwnerIndex,
    owner: Box<str>,
    number: u64,
    pub(super) ids: Vec<SessionId>,
}

impl Drop for Revocation<'_> {
    fn drop(&mut self) {
        let mut owners = self.index.lock();
        if let Some(under_way) = owners.revoking.get_mut(&self.owner) {
            under_way.retain(|(number, _)| *number != self.number);
            if under_way.is_empty() {
                owners.revoking.remove(&self.owner);
            }
        }
    }
}

impl OwnerIndex {
    fn lock(&self) -> MutexGuard<'_, Owners> {
        // Every change is one map operation, so a panic elsewhere cannot leave it half-changed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `id` is bound to `owner` (nothing when there is no owner).
    pub(super) fn add(&self, owner: Option<&str>, id: SessionId) {
        if let Some(owner) = owner {
            self.lock().ids.entry(owner.into()).or_default().insert(id);
        }
    }

    /// Forgets that `id` is bound to `owner`.
    pub(super) fn remove(&self, owner: Option<&str>, id: &SessionId) {
        let Some(owner) = owner else { return };
        let mut owners = self.lock();
        if let Some(ids) = owners.ids.get_mut(owner) {
            ids.remove(id);
            if ids.is_empty() {
                owners.ids.remove(owner);
            }
        }
    }

    /// The ids the index holds for `owner`.
    pub(super) fn ids(&self, owner: &str) -> Vec<SessionId> {
        self.lock()
            .ids
            .get(owner)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Starts revoking `owner`'s sessions but the one stored under `keep`: in one step, the ids
    /// bound to the owner now, and the mark a regenerate checks until the revocation is dropped.
    pub(super) fn revoke(&self, owner: &str, keep: Option<&str>) -> Revocation<'_> {
        let mut owners = self.lock();
        let number = owners.next;
        owners.next += 1;
        owners
            .revoking
            .entry(owner.into())
            .or_default()
            .push((number, keep.map(Into::into)));
        let ids = owners
            .ids
            .get(owner)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        Revocation {
            index: self,
            owner: owner.into(),
            number,
            ids,
        }
    }

    /// Whether a revocation of `owner` under way ends the session that was stored under `id`
    /// (every one does, but for the session it spares).
    pub(super) fn is_revoked(&self, owner: &str, id: &SessionId) -> bool {
        let owners = self.lock();
        let Some(under_way) = owners.revoking.get(owner) else {
            return false;
        };
        let key = id.storage_key();
        under_way
            .iter()
            .any(|(_, keep)| keep.as_deref() != Some(key.as_str()))
    }

    /// Whether the index holds no owner and no revocation at all.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        let owners = self.lock();
        owners.ids.is_empty() && owners.revoking.is_empty()
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
        super::between_steps();
        let mut map = write(self.shard(&id));
        if map
            .get(&id)
            .is_none_or(|entry| entry.owner() != Some(owner) || entry.is_expired(now))
        {
            return false;
        }
        self.take(&mut map, &id).is_some()
    }

    /// Ends every session of `owner` but the one stored under `keep`. The ids come from the
    /// index as the revocation starts; a session moved to another id meanwhile is ended by its
    /// regenerate, which sees the revocation.
    pub(super) fn delete_owner(&self, owner: &str, keep: Option<&str>) -> u64 {
        let revocation = self.owners.revoke(owner, keep);
        self.end_revoked(&revocation, keep)
    }

    /// Ends the sessions a revocation started with, but the one stored under `keep`.
    pub(super) fn end_revoked(&self, revocation: &Revocation<'_>, keep: Option<&str>) -> u64 {
        let now = now_ms();
        let mut removed = 0;
        for id in &revocation.ids {
            super::between_steps();
            if keep.is_some_and(|keep| id.storage_key() == keep) {
                continue;
            }
            let mut map = write(self.shard(id));
            if map
                .get(id)
                .is_none_or(|entry| entry.owner() != Some(&*revocation.owner))
            {
                continue;
            }
            if let Some(entry) = self.take(&mut map, id) {
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
    use session_core::{Delta, SessionId, Store};

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

    /// The interleaving a revocation must survive, step by step: its ids are taken, then a
    /// regenerate moves one of them, then it ends what it holds.
    #[tokio::test]
    async fn a_regenerate_during_a_revocation_ends_the_session_except_the_kept_one() {
        let store = one_shard(100);
        let owned = || {
            let mut record = record_expiring_in(60_000);
            record.owner = Some("alice".into());
            record
        };
        let (other, kept, theirs) = (owned(), owned(), record_expiring_in(60_000));
        for record in [&other, &kept, &theirs] {
            store.create(record).await.unwrap();
        }
        let keep = kept.id.storage_key();
        let delta = Delta {
            expires_at: other.expires_at,
            ..Delta::default()
        };

        let revocation = store.inner.owners.revoke("alice", Some(&keep));
        let (escaped, kept_moved) = (SessionId::generate(), SessionId::generate());
        assert!(
            !store.regenerate(&other.id, &escaped, &delta).await.unwrap(),
            "a revoked session must not move"
        );
        assert_eq!(store.load(&escaped).await.unwrap(), None);
        assert_eq!(store.load(&other.id).await.unwrap(), None);
        // An anonymous session and the kept one move as ever.
        let anonymous = SessionId::generate();
        assert!(store
            .regenerate(&theirs.id, &anonymous, &delta)
            .await
            .unwrap());
        assert!(store
            .regenerate(&kept.id, &kept_moved, &delta)
            .await
            .unwrap());
        assert_eq!(store.inner.end_revoked(&revocation, Some(&keep)), 0);
        drop(revocation);

        let left: Vec<_> = store.owner_sessions("alice").await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].handle, kept_moved.storage_key());
        // Once the revocation is over, the owner's sessions move again.
        let later = SessionId::generate();
        assert!(store.regenerate(&kept_moved, &later, &delta).await.unwrap());
        store.delete(&later).await.unwrap();
        store.delete(&anonymous).await.unwrap();
        assert!(store.inner.owners.is_empty());
        assert_eq!((store.len(), store.bytes()), (0, 0));
    }
}
