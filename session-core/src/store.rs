//! The [`Store`] trait: where server-side sessions live.

use std::error::Error as StdError;
use std::fmt::Display;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;

use crate::device::Device;
use crate::id::SessionId;
use crate::observe::{Op, SessionEventKind, SessionObserver};
use crate::record::{Delta, Record};

/// A boxed error from a store's backend.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What a store can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// [`Store::create`] or [`Store::regenerate`] found a live record under the new id (the
    /// manager retries with another id).
    #[error("a session with this id already exists")]
    AlreadyExists,
    /// A stored record is there but cannot be read back. The manager logs it, deletes it and
    /// treats the request as having no session.
    #[error(
        "a stored session could not be decoded (corrupt, or written by an incompatible version): {0}"
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

    /// Wraps the reason a stored record does not decode.
    pub fn corrupt(error: impl Into<BoxError>) -> Self {
        StoreError::Corrupt(error.into())
    }
}

/// One live session of an owner, as [`Store::owner_sessions`] lists it: never its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerSession {
    /// An opaque handle that tells the session apart, for
    /// [`SessionManager::revoke_session`](crate::SessionManager::revoke_session): the record's
    /// storage key ([`SessionId::storage_key`]), a one-way hash of the id, so it opens nothing.
    pub handle: String,
    /// When the session was created (ms since the Unix epoch).
    pub created_at: u64,
    /// When it expires unless used again (ms since the Unix epoch).
    pub expires_at: u64,
    /// Its device record, kept under [`DEVICE_KEY`](crate::DEVICE_KEY) since the owner was bound.
    pub device: Option<Device>,
    /// Whether it is the session of the request that asked. Stores leave it `false`; the
    /// manager sets it.
    pub current: bool,
}

impl OwnerSession {
    /// The entry for `record`, stored under `key`.
    pub fn of(key: impl Into<String>, record: &Record) -> Self {
        OwnerSession {
            handle: key.into(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            device: Device::from_data(&record.data),
            current: false,
        }
    }

    /// The entry for a session stored under `key`, from its fields as a store reads them
    /// without decoding the whole record; `device_json` is the value under
    /// [`DEVICE_KEY`](crate::DEVICE_KEY), if any.
    pub fn from_parts(
        key: impl Into<String>,
        created_at: u64,
        expires_at: u64,
        device_json: Option<&str>,
    ) -> Self {
        OwnerSession {
            handle: key.into(),
            created_at,
            expires_at,
            device: device_json.and_then(Device::from_json),
            current: false,
        }
    }

    /// When the session was last seen: its device record's time, or its creation.
    pub fn last_seen_at(&self) -> u64 {
        self.device
            .as_ref()
            .map_or(self.created_at, |device| device.last_seen_at)
    }
}

/// A server-side session store.
///
///
/// A store persists [`Record`]s by [`SessionId`]. The trait is object-safe, because stores are
/// picked at run time from configuration (`Arc<dyn Store>`), and holds only what the manager and
/// operators call. Every operation must be atomic in the store: two requests may run any two of
/// them at once on one session, and the contract below must hold whatever the interleaving.
///
/// | operation | contract |
/// | --- | --- |
/// | [`load`](Store::load) | the live record, `None` when absent or expired; [`StoreError::Corrupt`] when it is there but does not decode |
/// | [`create`](Store::create) | stores a new record, never overwrites ([`StoreError::AlreadyExists`]) |
/// | [`update`](Store::update) | applies a [`Delta`] to the live record, `false` (writing nothing) when it is gone |
/// | [`regenerate`](Store::regenerate) | moves the live record, with a delta applied, to a new id; `false` when the old one is gone |
/// | [`delete`](Store::delete) | removes a record, if any |
/// | [`owner_sessions`](Store::owner_sessions) | the owner index: an owner's live sessions, with their device records |
/// | [`delete_owned`](Store::delete_owned), [`delete_owner`](Store::delete_owner) | ends one session of an owner; ends all of them, or all but one |
/// | [`count`](Store::count), [`exists`](Store::exists) | live records, for operators |
/// | [`cleanup`](Store::cleanup) | opt in: a [`Cleanup`] the core runs in one background loop |
///
/// Ids reaching a store are already validated (a `SessionId` cannot hold anything else), and
/// stores key records by [`SessionId::storage_key`], a hash, so a copy of a store holds no live
/// tokens. Owners are application strings (a user id), never secrets; the index keeps them in
/// clear. Expiry is the store's job on every read: an expired record is never loaded, updated,
/// moved, counted or listed, whether or not cleanup has run.
///
/// A whole store, correct under concurrency because one lock covers every operation (a real one
/// would shard, bound its bytes and clean up):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use session_core::{async_trait, now_ms, Delta, OwnerSession, Record, SessionId, Store, StoreError};
///
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<String, Record>>);
///
/// impl MapStore {
///     fn map(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Record>>, StoreError> {
///         self.0.lock().map_err(StoreError::backend_msg)
///     }
/// }
///
/// #[async_trait]
/// impl Store for MapStore {
///     async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
///         let now = now_ms();
///         Ok(self.map()?.get(&id.storage_key()).filter(|r| !r.is_expired(now)).cloned())
///     }
///     async fn create(&self, record: &Record) -> Result<(), StoreError> {
///         let mut map = self.map()?;
///         let key = record.id.storage_key();
///         if map.get(&key).is_some_and(|old| !old.is_expired(now_ms())) {
///             return Err(StoreError::AlreadyExists);
///         }
///         map.insert(key, record.clone());
///         Ok(())
///     }
///     async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
///         let now = now_ms();
///         match self.map()?.get_mut(&id.storage_key()).filter(|r| !r.is_expired(now)) {
///             Some(record) => Ok({ delta.apply(record); true }),
///             None => Ok(false),
///         }
///     }
///     async fn regenerate(&self, old: &SessionId, new: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
///         let now = now_ms();
///         let mut map = self.map()?;
///         if map.get(&new.storage_key()).is_some_and(|r| !r.is_expired(now)) {
///             return Err(StoreError::AlreadyExists);
///         }
///         let Some(mut record) = map.remove(&old.storage_key()).filter(|r| !r.is_expired(now)) else {
///             return Ok(false);
///         };
///         delta.apply(&mut record);
///         record.id = *new;
///         map.insert(new.storage_key(), record);
///         Ok(true)
///     }
///     async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
///         self.map()?.remove(&id.storage_key());
///         Ok(())
///     }
///     async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
///         let now = now_ms();
///         let map = self.map()?;
///         let live = map.iter().filter(|(_, r)| !r.is_expired(now) && r.owner.as_deref() == Some(owner));
///         Ok(live.map(|(key, r)| OwnerSession::of(key, r)).collect())
///     }
///     async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
///         let mut map = self.map()?;
///         let owned = map.get(key).is_some_and(|r| !r.is_expired(now_ms()) && r.owner.as_deref() == Some(owner));
///         Ok(owned && map.remove(key).is_some())
///     }
///     async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
///         let now = now_ms();
///         let mut live = 0;
///         self.map()?.retain(|key, r| {
///             let ends = r.owner.as_deref() == Some(owner) && Some(key.as_str()) != keep;
///             live += u64::from(ends && !r.is_expired(now));
///             !ends
///         });
///         Ok(live)
///     }
///     async fn count(&self) -> Result<u64, StoreError> {
///         let now = now_ms();
///         Ok(self.map()?.values().filter(|r| !r.is_expired(now)).count() as u64)
///     }
/// }
/// ```
///
/// [`conformance`](https://docs.rs/session-stores/latest/session_stores/conformance/) in
/// `session-stores` checks every rule above, interleavings through the manager included; run it
/// from your store's tests.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The live record under `id`, or `None` when there is none or it has expired.
    ///
    /// A record that is there but does not decode is [`StoreError::Corrupt`], not a backend
    /// failure: the manager then deletes it and starts a new session.
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError>;

    /// Stores a new record and, when it has an owner, adds it to the owner index. Never
    /// overwrites a live record: an existing id is [`StoreError::AlreadyExists`].
    async fn create(&self, record: &Record) -> Result<(), StoreError>;

    /// Applies `delta` to the live record under `id`, in one atomic step, and keeps the owner
    /// index true when the delta rebinds the owner. Returns `false` when there is no such record
    /// (it expired, was destroyed or was moved meanwhile), in which case nothing is written.
    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError>;

    /// Moves the live record under `old` to `new`, with `delta` applied to the *stored* record
    /// (so concurrent updates that reached the store are kept), in one atomic step: afterwards
    /// `old` is gone and `new` holds the record (under a rebound owner, when the delta says so).
    ///
    /// Returns `false`, writing nothing, when `old` is gone (destroyed, expired, or already moved
    /// by a concurrent regenerate). A live record under `new` is [`StoreError::AlreadyExists`].
    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError>;

    /// Removes the record under `id`, if any, and its owner index entry.
    async fn delete(&self, id: &SessionId) -> Result<(), StoreError>;

    /// The live sessions bound to `owner`, in no particular order, each with its device record
    /// (the value under [`DEVICE_KEY`](crate::DEVICE_KEY); [`OwnerSession::of`] and
    /// [`OwnerSession::from_parts`] decode it).
    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError>;

    /// Removes the session stored under `key` ([`SessionId::storage_key`], the handle
    /// [`owner_sessions`](Store::owner_sessions) gives) only if it is live and bound to `owner`,
    /// in one atomic step with that check; returns whether it did. A key that is not one of the
    /// owner's live sessions (another owner's included) removes nothing.
    async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError>;

    /// Removes every session bound to `owner` ("log out everywhere") except the one stored under
    /// `keep`, when given ("log out my other devices"); returns how many live ones went (expired
    /// ones may go too, uncounted).
    ///
    /// No session bound to `owner` when the call began may be live under any id after it
    /// returns, except `keep`, whatever runs concurrently: a regenerate that moves one of them
    /// meanwhile must not carry it out of reach.
    async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError>;

    /// How many live sessions the store holds.
    async fn count(&self) -> Result<u64, StoreError>;

    /// Whether a live record exists under `id`. The default loads it.
    async fn exists(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.load(id).await?.is_some())
    }

    /// The store's expired-record cleanup, if it needs one. Stores whose backend expires records
    /// by itself (a TTL) return `None`, the default. The manager runs every store's cleanup from
    /// one background loop ([`spawn_cleanup`]).
    fn cleanup(&self) -> Option<&dyn Cleanup> {
        None
    }
}

/// Removal of expired (and unreadable) records: the capability a store opts into through
/// [`Store::cleanup`].
#[async_trait]
pub trait Cleanup: Send + Sync {
    /// Removes expired records, and records that do not decode; returns how many went.
    async fn delete_expired(&self) -> Result<u64, StoreError>;

    /// How often the background loop should run [`delete_expired`](Self::delete_expired).
    /// Default: every minute.
    fn interval(&self) -> Duration {
        Duration::from_secs(60)
    }
}

/// Runs `store`'s cleanup every [`Cleanup::interval`] on the current Tokio runtime, until the
/// store is dropped (the task holds only a weak reference). Returns `None`, spawning nothing,
/// when the store needs no cleanup or no runtime is running. The manager calls it for every
/// server-side store it is built with.
///
/// Failures are logged at warn and retried at the next tick.
pub fn spawn_cleanup(store: &Arc<dyn Store>) -> Option<tokio::task::JoinHandle<()>> {
    spawn_cleanup_observed(store, None)
}

/// [`spawn_cleanup`], each pass timed and its removals reported through `observer`.
pub(crate) fn spawn_cleanup_observed(
    store: &Arc<dyn Store>,
    observer: Option<Arc<SessionObserver>>,
) -> Option<tokio::task::JoinHandle<()>> {
    let interval = store.cleanup()?.interval();
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let weak: Weak<dyn Store> = Arc::downgrade(store);
    Some(runtime.spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(store) = weak.upgrade() else { break };
            let Some(cleanup) = store.cleanup() else {
                break;
            };
            let removed = match &observer {
                Some(observer) => {
                    observer
                        .time(Op::Cleanup, None, cleanup.delete_expired())
                        .await
                }
                None => cleanup.delete_expired().await,
            };
            match removed {
                Ok(0) => {}
                Ok(count) => {
                    tracing::debug!(removed = count, "removed expired sessions");
                    if let Some(observer) = &observer {
                        observer.record(SessionEventKind::Expired { count }, None);
                    }
                }
                Err(error) => tracing::warn!(%error, "session cleanup failed; retrying later"),
            }
        }
    }))
}
