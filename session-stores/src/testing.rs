//! [`TestStore`]: a store for testing adapters and applications — it counts its calls and fails
//! on demand.
//!
//! "A handler that does not extract a session touches no store" and "a store outage is a 500 that
//! leaks nothing" are claims about calls and failures, so tests need a store that can show both:
//!
//! ```
//! use std::sync::Arc;
//! use session_core::{Record, SessionId, Store, Expiry, now_ms};
//! use session_stores::testing::{StoreCalls, TestStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = Arc::new(TestStore::default());
//! let record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
//! store.create(&record).await.unwrap();
//! assert!(store.load(&record.id).await.unwrap().is_some());
//! assert_eq!(store.calls(), StoreCalls { loads: 1, writes: 1, deletes: 0 });
//!
//! store.fail();
//! let error = store.load(&record.id).await.unwrap_err();
//! assert!(error.to_string().contains(session_stores::testing::FAILURE_DETAIL));
//! # }
//! ```

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use session_core::{
    async_trait, Cleanup, Delta, OwnerSession, Record, SessionId, Store, StoreError,
};

use crate::memory::MemoryStore;

/// The detail of the error a failing [`TestStore`] returns. A response that contains it leaks
/// store internals.
pub const FAILURE_DETAIL: &str = "disk on fire at /var/lib/sessions/secret";

/// How many times each kind of store operation was called (failed calls included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCalls {
    /// `load`, `count` and `owner_sessions` calls.
    pub loads: usize,
    /// `create`, `update` and `regenerate` calls.
    pub writes: usize,
    /// `delete` and `delete_owner` calls.
    pub deletes: usize,
}

impl StoreCalls {
    /// All calls together.
    pub fn total(&self) -> usize {
        self.loads + self.writes + self.deletes
    }
}

/// A [`MemoryStore`] that counts its calls and, after [`fail`](Self::fail), fails every one
/// with a [`StoreError::Backend`] carrying [`FAILURE_DETAIL`]. Clones share everything.
#[derive(Clone, Default)]
pub struct TestStore {
    inner: MemoryStore,
    loads: Arc<AtomicUsize>,
    writes: Arc<AtomicUsize>,
    deletes: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl TestStore {
    /// The calls so far.
    pub fn calls(&self) -> StoreCalls {
        StoreCalls {
            loads: self.loads.load(Ordering::SeqCst),
            writes: self.writes.load(Ordering::SeqCst),
            deletes: self.deletes.load(Ordering::SeqCst),
        }
    }

    /// A new, empty store that counts into this store's counters and fails while this one
    /// does: one count of the calls that reach several sessions' stores, each session keeping
    /// its own records (and owner index).
    pub fn sibling(&self) -> TestStore {
        TestStore {
            inner: MemoryStore::default(),
            loads: Arc::clone(&self.loads),
            writes: Arc::clone(&self.writes),
            deletes: Arc::clone(&self.deletes),
            failing: Arc::clone(&self.failing),
        }
    }

    /// A store that fails every call from the start, as an unreachable database would.
    pub fn failing() -> TestStore {
        let store = TestStore::default();
        store.fail();
        store
    }

    /// Makes every later call fail, as an outage would.
    pub fn fail(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }

    /// Ends the outage.
    pub fn recover(&self) {
        self.failing.store(false, Ordering::SeqCst);
    }

    /// How many records the store holds (expired ones not yet cleaned up included).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn enter(&self, counter: &AtomicUsize) -> Result<(), StoreError> {
        counter.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::backend_msg(FAILURE_DETAIL));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for TestStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.enter(&self.loads)?;
        self.inner.load(id).await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.enter(&self.writes)?;
        self.inner.create(record).await
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        self.enter(&self.writes)?;
        self.inner.update(id, delta).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.enter(&self.deletes)?;
        self.inner.delete(id).await
    }

    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        self.enter(&self.writes)?;
        self.inner.regenerate(old, new, delta).await
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        self.enter(&self.loads)?;
        self.inner.owner_sessions(owner).await
    }

    async fn delete_owner(&self, owner: &str) -> Result<u64, StoreError> {
        self.enter(&self.deletes)?;
        self.inner.delete_owner(owner).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.enter(&self.loads)?;
        self.inner.count().await
    }

    fn cleanup(&self) -> Option<&dyn Cleanup> {
        Some(self)
    }
}

#[async_trait]
impl Cleanup for TestStore {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::backend_msg(FAILURE_DETAIL));
        }
        self.inner.delete_expired().await
    }
}

#[cfg(test)]
mod tests {
    use session_core::{now_ms, Expiry};

    use super::*;

    #[tokio::test]
    async fn a_sibling_shares_the_counts_and_the_outage_but_not_the_records() {
        let store = TestStore::default();
        let sibling = store.sibling();
        let record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
        sibling.create(&record).await.unwrap();
        assert!(store.load(&record.id).await.unwrap().is_none());
        assert!(store.is_empty());
        assert_eq!(sibling.len(), 1);
        assert_eq!(
            store.calls(),
            StoreCalls {
                loads: 1,
                writes: 1,
                deletes: 0
            }
        );
        assert_eq!(store.calls(), sibling.calls());

        store.fail();
        assert!(sibling.load(&record.id).await.is_err());
        store.recover();
        assert!(sibling.load(&record.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_failing_store_fails_from_its_first_call() {
        let store = TestStore::failing();
        let error = store.count().await.unwrap_err();
        assert!(error.to_string().contains(FAILURE_DETAIL));
        assert_eq!(store.calls().loads, 1);
    }
}
