//! The conformance suite must be able to fail: stores with classic bugs are caught, with a
//! message naming the check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use session_core::{async_trait, now_ms, Record, SessionId, Store, StoreError};

/// A map store with switchable bugs. Its `update` is the trait's default: load, apply, save.
#[derive(Default)]
struct Flawed {
    map: Mutex<HashMap<SessionId, Record>>,
    create_overwrites: bool,
    loads_expired: bool,
    cleanup_miscounts: bool,
    /// Lets other tasks run between reading and returning a record, as a network store would.
    slow_load: bool,
}

#[async_trait]
impl Store for Flawed {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let record = self.map.lock().unwrap().get(id).cloned();
        if self.slow_load {
            tokio::task::yield_now().await;
        }
        Ok(record.filter(|record| self.loads_expired || !record.is_expired(now_ms())))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let mut map = self.map.lock().unwrap();
        let live = map.get(&record.id).is_some_and(|r| !r.is_expired(now_ms()));
        if live && !self.create_overwrites {
            return Err(StoreError::AlreadyExists);
        }
        map.insert(record.id, record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<(), StoreError> {
        self.map.lock().unwrap().insert(record.id, record.clone());
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.map.lock().unwrap().remove(id);
        Ok(())
    }

    async fn cleanup(&self) -> Result<u64, StoreError> {
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

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "concurrent deltas")]
async fn load_apply_save_updates_are_caught_losing_deltas() {
    run(Flawed {
        slow_load: true,
        ..Flawed::default()
    })
    .await;
}

#[tokio::test]
#[should_panic(expected = "create never overwrites")]
async fn a_create_that_overwrites_is_caught() {
    run(Flawed {
        create_overwrites: true,
        ..Flawed::default()
    })
    .await;
}

#[tokio::test]
#[should_panic(expected = "expiry")]
async fn loading_expired_records_is_caught() {
    run(Flawed {
        loads_expired: true,
        ..Flawed::default()
    })
    .await;
}

#[tokio::test]
#[should_panic(expected = "cleanup")]
async fn a_miscounting_cleanup_is_caught() {
    run(Flawed {
        cleanup_miscounts: true,
        ..Flawed::default()
    })
    .await;
}
