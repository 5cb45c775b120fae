//! The [`Store`] trait: where server-side sessions live.
//!
//! A store persists [`Record`]s by [`SessionId`]. The trait is object-safe, because stores are
//! picked at run time from configuration (`Arc<dyn Store>`), and small: five methods and a sixth
//! with a default. Ids reaching a store are already validated (a `SessionId` cannot hold anything
//! else), and should be turned into keys with [`SessionId::storage_key`] so the store never holds
//! live tokens.
//!
//! A whole store in a few lines (a real one would bound, shard and clean up):
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use session_core::{async_trait, Record, SessionId, Store, StoreError};
//!
//! #[derive(Default)]
//! struct MapStore(Mutex<HashMap<String, Record>>);
//!
//! #[async_trait]
//! impl Store for MapStore {
//!     async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
//!         let now = session_core::now_ms();
//!         let map = self.0.lock().map_err(StoreError::backend_msg)?;
//!         Ok(map.get(&id.storage_key()).filter(|r| !r.is_expired(now)).cloned())
//!     }
//!     async fn create(&self, record: &Record) -> Result<(), StoreError> {
//!         let mut map = self.0.lock().map_err(StoreError::backend_msg)?;
//!         match map.entry(record.id.storage_key()) {
//!             std::collections::hash_map::Entry::Occupied(_) => Err(StoreError::AlreadyExists),
//!             std::collections::hash_map::Entry::Vacant(slot) => {
//!                 slot.insert(record.clone());
//!                 Ok(())
//!             }
//!         }
//!     }
//!     async fn save(&self, record: &Record) -> Result<(), StoreError> {
//!         let mut map = self.0.lock().map_err(StoreError::backend_msg)?;
//!         map.insert(record.id.storage_key(), record.clone());
//!         Ok(())
//!     }
//!     async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
//!         self.0.lock().map_err(StoreError::backend_msg)?.remove(&id.storage_key());
//!         Ok(())
//!     }
//!     async fn cleanup(&self) -> Result<u64, StoreError> {
//!         let now = session_core::now_ms();
//!         let mut map = self.0.lock().map_err(StoreError::backend_msg)?;
//!         let before = map.len();
//!         map.retain(|_, record| !record.is_expired(now));
//!         Ok((before - map.len()) as u64)
//!     }
//! }
//! ```
//!
//! The default [`Store::update`] loads, applies the delta and saves. That is correct for a single
//! writer but loses updates when two requests race; stores that can do better (a lock, a
//! transaction, a server-side script) override it so it is atomic.

use std::error::Error as StdError;
use std::fmt::Display;

use async_trait::async_trait;

use crate::id::SessionId;
use crate::record::{Delta, Record};

/// A boxed error from a store's backend.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What a store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// [`Store::create`] found a record with the same id (the manager retries with a new id).
    #[error("a session with this id already exists")]
    AlreadyExists,
    /// A stored record could not be read back.
    #[error(
        "a stored session could not be decoded (corrupt or from an incompatible version): {0}"
    )]
    Corrupt(#[source] BoxError),
    /// The backend failed (I/O, network, server error). Stores put their own cause here.
    #[error("session store backend failed: {0}")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(error: impl Into<BoxError>) -> Self {
        StoreError::Backend(error.into())
    }

    /// Wraps anything printable as a backend error (e.g. a poisoned lock).
    pub fn backend_msg(error: impl Display) -> Self {
        StoreError::Backend(error.to_string().into())
    }
}

/// A server-side session store.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The record stored under `id`, or `None` when there is none or it has expired.
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError>;

    /// Stores a new record. Never overwrites: an existing id is [`StoreError::AlreadyExists`].
    async fn create(&self, record: &Record) -> Result<(), StoreError>;

    /// Stores `record`, replacing any record with the same id.
    async fn save(&self, record: &Record) -> Result<(), StoreError>;

    /// Applies `delta` to the record under `id`. Returns `false` when there is no such record
    /// (it expired or was destroyed meanwhile), in which case nothing is written.
    ///
    /// The default loads, applies and saves; stores override it to make it atomic.
    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        let Some(mut record) = self.load(id).await? else {
            return Ok(false);
        };
        delta.apply(&mut record);
        self.save(&record).await?;
        Ok(true)
    }

    /// Removes the record under `id`, if any.
    async fn delete(&self, id: &SessionId) -> Result<(), StoreError>;

    /// Removes expired records; returns how many.
    async fn cleanup(&self) -> Result<u64, StoreError>;
}
