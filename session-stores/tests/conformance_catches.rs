//! The conformance suite must be able to fail: stores with classic bugs are caught, with a
//! message naming the check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use session_core::{
    async_trait, now_ms, Cleanup, Delta, OwnerSession, Record, SessionId, Store, StoreError,
};

/// A map store with switchable bugs.
#[derive(Default)]
struct Flawed {
    map: Mutex<HashMap<SessionId, Record>>,
    /// Owners as they were at create: an index that rebinding and regenerating forget.
    index_at_create: Mutex<HashMap<SessionId, String>>,
    create_overwrites: bool,
    loads_expired: bool,
    cleanup_miscounts: bool,
    /// `update` loads, lets other tasks run (as a network round trip would), then writes back.
    update_is_load_apply_save: bool,
    /// `regenerate` of a gone record creates the new one from the delta alone.
    regenerate_revives: bool,
    /// `regenerate` copies the record and leaves the old id in place.
    regenerate_keeps_old: bool,
    stale_owner_index: bool,
    count_includes_expired: bool,
    /// `delete_owned` ends the session under the key whoever it is bound to.
    delete_owned_ignores_owner: bool,
    /// `delete_owner` ends the session it was asked to keep too.
    delete_owner_ignores_keep: bool,
}

impl Flawed {
    fn live(&self, id: &SessionId) -> Option<Record> {
        let record = self.map.lock().unwrap().get(id).cloned();
        record.filter(|record| self.loads_expired || !record.is_expired(now_ms()))
    }
}

#[async_trait]
impl Store for Flawed {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        Ok(self.live(id))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let mut map = self.map.lock().unwrap();
        let live = map.get(&record.id).is_some_and(|r| !r.is_expired(now_ms()));
        if live && !self.create_overwrites {
            return Err(StoreError::AlreadyExists);
        }
        map.insert(record.id, record.clone());
        if let Some(owner) = &record.owner {
            self.index_at_create
                .lock()
                .unwrap()
                .insert(record.id, owner.clone());
        }
        Ok(())
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        if self.update_is_load_apply_save {
            let Some(mut record) = self.live(id) else {
                return Ok(false);
            };
            tokio::task::yield_now().await;
            delta.apply(&mut record);
            self.map.lock().unwrap().insert(*id, record);
            return Ok(true);
        }
        let mut map = self.map.lock().unwrap();
        match map.get_mut(id).filter(|r| !r.is_expired(now_ms())) {
            Some(record) => {
                delta.apply(record);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        let mut map = self.map.lock().unwrap();
        if map.get(new).is_some_and(|r| !r.is_expired(now_ms())) {
            return Err(StoreError::AlreadyExists);
        }
        let stored = map.get(old).filter(|r| !r.is_expired(now_ms())).cloned();
        let mut record = match stored {
            Some(record) => record,
            None if self.regenerate_revives => {
                Record::new(*new, &session_core::Expiry::default(), now_ms())
            }
            None => return Ok(false),
        };
        if !self.regenerate_keeps_old {
            map.remove(old);
        }
        delta.apply(&mut record);
        record.id = *new;
        map.insert(*new, record);
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.map.lock().unwrap().remove(id);
        Ok(())
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        let now = now_ms();
        let map = self.map.lock().unwrap();
        let owned: Vec<SessionId> = if self.stale_owner_index {
            let index = self.index_at_create.lock().unwrap();
            index
                .iter()
                .filter(|(_, o)| o.as_str() == owner)
                .map(|(id, _)| *id)
                .collect()
        } else {
            map.values()
                .filter(|r| r.owner.as_deref() == Some(owner))
                .map(|r| r.id)
                .collect()
        };
        Ok(owned
            .iter()
            .filter_map(|id| map.get(id))
            .filter(|r| !r.is_expired(now))
            .map(|r| OwnerSession::of(r.id.storage_key(), r))
            .collect())
    }

    async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut map = self.map.lock().unwrap();
        let owned = map.iter().find_map(|(id, r)| {
            let mine = self.delete_owned_ignores_owner || r.owner.as_deref() == Some(owner);
            (id.storage_key() == key && mine && !r.is_expired(now)).then_some(*id)
        });
        Ok(owned.is_some_and(|id| map.remove(&id).is_some()))
    }

    async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        let now = now_ms();
        let keep = keep.filter(|_| !self.delete_owner_ignores_keep);
        let mut live = 0;
        self.map.lock().unwrap().retain(|id, r| {
            let ends = r.owner.as_deref() == Some(owner) && Some(id.storage_key().as_str()) != keep;
            live += u64::from(ends && !r.is_expired(now));
            !ends
        });
        Ok(live)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let map = self.map.lock().unwrap();
        Ok(map
            .values()
            .filter(|r| self.count_includes_expired || !r.is_expired(now))
            .count() as u64)
    }

    fn cleanup(&self) -> Option<&dyn Cleanup> {
        Some(self)
    }
}

#[async_trait]
impl Cleanup for Flawed {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut map = self.map.lock().unwrap();
        let before = map.len();
        map.retain(|_, record| !record.is_expired(now));
        let removed = (before - map.len()) as u64;
        Ok(if self.cleanup_miscounts {
            removed + 1
        } else {
            removed
        })
    }
}

async fn run(store: Flawed) {
    session_stores::conformance::run(Arc::new(store)).await;
}

/// One test per flaw: the suite, run on a store with only that flaw, panics with a message that
/// contains the text given.
macro_rules! each_flaw_is_caught {
    ($($test:ident: $flaw:ident => $message:literal,)*) => {$(
        #[tokio::test]
        #[should_panic(expected = $message)]
        async fn $test() {
            run(Flawed {
                $flaw: true,
                ..Flawed::default()
            })
            .await;
        }
    )*};
}

each_flaw_is_caught! {
    load_apply_save_updates_are_caught_losing_deltas:
        update_is_load_apply_save => "concurrent deltas",
    a_create_that_overwrites_is_caught: create_overwrites => "create never overwrites",
    loading_expired_records_is_caught: loads_expired => "expired record",
    a_miscounting_cleanup_is_caught: cleanup_miscounts => "cleanup",
    a_regenerate_that_revives_a_destroyed_session_is_caught:
        regenerate_revives => "regenerate of a gone record",
    a_regenerate_that_leaves_the_old_id_is_caught:
        regenerate_keeps_old => "the old id must be gone",
    an_owner_index_that_misses_rebinding_is_caught: stale_owner_index => "owner index",
    counting_expired_records_is_caught: count_includes_expired => "count and exists",
    ending_another_owners_session_is_caught:
        delete_owned_ignores_owner => "delete_owned: another owner's session must not be ended",
    ending_the_kept_session_is_caught: delete_owner_ignores_keep => "delete_owner with keep",
}

#[tokio::test]
async fn a_store_without_the_flaws_passes() {
    run(Flawed::default()).await;
}
