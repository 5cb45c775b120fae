//! The file store: one file per session under a directory, safe for several processes at once.
//!
//! ```toml
//! store = { type = "file", dir = "/var/lib/myapp/sessions" }
//! ```
//!
//! ```
//! use session_core::{Expiry, Record, SessionId, Store};
//! use session_stores::file::{FileOptions, FileStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), session_core::StoreError> {
//! # let tmp = tempfile::tempdir().unwrap();
//! # let dir = tmp.path().join("sessions");
//! let store = FileStore::new(FileOptions::new(dir))?;
//! let mut record = Record::new(SessionId::generate(), &Expiry::default(), session_core::now_ms());
//! record.owner = Some("alice".into());
//! store.create(&record).await?;
//! assert_eq!(store.load(&record.id).await?, Some(record));
//! assert_eq!(store.owner_sessions("alice").await?.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! A session with storage key `k` ([`SessionId::storage_key`], base64url of the SHA-256 of the id)
//! lives in `dir/k[0]/k[1]/k`: 4096 shard directories, so no directory grows huge. File names are
//! hashes, never ids, and files do not contain the id either: a copy of the directory (a backup,
//! a careless `rsync`) does not hand out live session tokens. Ids are validated before they exist
//! ([`SessionId`] cannot hold anything else), so no request can choose a path. Directories the
//! store creates are `0700` and files `0600` (on Unix); an existing `dir` keeps its permissions.
//! The content is the record as compact JSON.
//!
//! # Owner index
//!
//! Owner `o` (a user id) has a directory `dir/owners/h[0..2]/h`, `h` being the hex SHA-256 of `o`,
//! holding one empty entry file per session, named by its storage key. The session file's own
//! owner field is the truth and an entry only says where to look, so the index may hold extra
//! entries but never misses a live session: writers add the new owner's entry (synced) before
//! writing the session and remove the old one after, under the session's shard lock, so a
//! writer killed anywhere leaves at most an extra entry. Listing and "log out everywhere" check
//! each session file (owners compared as strings) and prune extra entries under the same lock,
//! so they never remove an entry a writer of another process is about to use. "Log out
//! everywhere" ([`Store::delete_owner`]) lists the owner's entries again after ending what it
//! listed, until no entry but the kept session's is left: a regenerate adds the new name's entry
//! before the move, so a session moved out of one pass's list is in the next one's (the kept
//! session too, when it moves meanwhile: it is then no longer stored under the kept name).
//!
//! # Atomicity and crashes
//!
//! - A file is never written in place. A write goes to a fresh temporary file in the same
//!   directory (`.k.<pid>.<n>.tmp`, created exclusively), is flushed with `fsync`, and is then
//!   renamed over the session file, and the directory is synced. A reader sees the old file or
//!   the new one, and a writer killed at any moment (or a full disk) leaves the old or the new
//!   session, never a torn one. Leftover temporary files of a killed writer are removed by the
//!   next [cleanup](#cleanup), not when a store opens (opening stays instant on a big directory).
//! - [`Store::create`] never overwrites: it *links* the complete temporary file to the session
//!   name, which fails if the name exists, like `O_EXCL`, but without ever exposing a half-written
//!   file. An existing session that has expired, or does not decode, may be replaced.
//! - [`Store::regenerate`] writes the moved record (delta applied) to a temporary file, *renames*
//!   the old file to the new name (one atomic step: the old id stops loading as the new one
//!   starts), then renames the temporary file over it. So the old id never shows the moved
//!   record's changes (a fixated id never sees the login), and the two ids are never both live.
//!   A crash between the renames leaves the session under the new id without this request's
//!   changes, as a crash just after the regenerate would: either way the response carrying the
//!   new id never left. It refuses (`AlreadyExists`) when the new name holds a live record.
//! - A file that does not decode is [`StoreError::Corrupt`] on load, update and regenerate (the
//!   manager then drops it), is not counted or listed, and is removed by cleanup.
//!
//! # Locking
//!
//! Every write ([`Store::create`], `update`, `regenerate`, `delete`, the owner index's pruning
//! and the removal step of cleanup) runs under a lock of the session's shard directory: an
//! in-process async mutex (so waiting requests do not tie up threads) and an advisory lock on
//! `dir/k[0]/k[1]/.lock` ([`std::fs::File::lock`], `flock` on Unix), which also excludes other
//! processes sharing the directory, as long as they use this store. So concurrent delta updates
//! of one session, from any number of threads or processes, lose nothing. The locks are per
//! shard (4096 of them) rather than per id: the lock files then never need deleting, which is
//! what makes per-id lock files racy (a process waiting on a lock file that another process
//! removes ends up holding a lock nobody else sees). A regenerate holds the locks of both
//! shards, taken in one global order (in-process mutexes by index, then shard locks by path),
//! so two regenerates crossing each other cannot deadlock. [`Store::load`] takes no lock:
//! renames are atomic.
//!
//! # Bounds
//!
//! [`FileOptions::max_sessions`] and [`FileOptions::max_bytes`] bound the session files. Past
//! nine tenths of either, a new anonymous session is not written (its client then has a new,
//! empty session, as after an eviction), so an anonymous flood leaves the last tenth to logins;
//! a new session bound to an owner past a bound is an error saying which option to raise.
//! Writes to sessions that exist are never refused (each is bounded by the session's size
//! limit). The store counts from full passes over its files (each cleanup pass, or the first
//! create) and from this process's own creates and deletes, so processes sharing the directory
//! may pass a bound by what the others wrote since their last pass.
//!
//! # Cleanup
//!
//! Expired sessions never load. Their files, files that do not decode, and leftover temporary
//! files are removed by the store's [`Cleanup`], which the session manager runs in its one
//! background loop ([`session_core::spawn_cleanup`]) every [`FileStore::cleanup_interval`]
//! ([`FileOptions::cleanup_interval_secs`]; 0 turns it off). Several processes sharing the directory may all
//! run it: removal happens under the shard lock, after checking the file again. An entry that
//! cannot be read (a directory under a session file's name, a file this process may not read) is
//! skipped with a warning by cleanup and by [`Store::count`], never stopping either. `count` of a
//! store whose directory is missing is an error, not 0 (a wrong `dir` or an unmounted volume).
//!
//! The advisory lock needs a local filesystem with working `flock` (not every network filesystem
//! has one). All blocking file work runs on Tokio's blocking thread pool
//! ([`tokio::task::spawn_blocking`]), never on the async workers.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use session_core::{now_ms, Cleanup, Delta, OwnerSession, Record, SessionId, Store, StoreError};
use tokio::sync::{Mutex, OwnedMutexGuard};

mod bounds;
mod disk;
mod index;
mod ops;
mod sweep;
#[cfg(test)]
mod tests;

pub use disk::FileStoreError;
use disk::{blocking, failed, Slot};

/// Options of the file store (`store = { type = "file", dir = "..." }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOptions {
    /// The directory sessions live in; created (mode `0700`) if missing. Required. A relative path
    /// is relative to the process's working directory.
    pub dir: PathBuf,
    /// Seconds between cleanups of expired session files, which the session manager's background
    /// loop runs ([`FileStore::cleanup_interval`]). 0 opts the store out of cleanup
    /// ([`Store::cleanup`] is `None`, so neither the loop nor `SessionManager::cleanup` runs
    /// it): call [`Cleanup::delete_expired`] on the store yourself, e.g. from one process of
    /// several sharing the directory. Default 600.
    #[serde(default = "default_file_cleanup_interval")]
    pub cleanup_interval_secs: u64,
    /// The most session files the store lets in (live or not yet cleaned up); anonymous
    /// sessions fill at most nine tenths of it. Default 1,000,000. See
    /// [the bounds](self#bounds).
    #[serde(default = "default_file_max_sessions")]
    pub max_sessions: u64,
    /// The most bytes of session files the store lets in; anonymous sessions fill at most nine
    /// tenths of it. Default 1 GiB.
    #[serde(default = "default_file_max_bytes")]
    pub max_bytes: u64,
}

fn default_file_cleanup_interval() -> u64 {
    600
}

fn default_file_max_sessions() -> u64 {
    1_000_000
}

fn default_file_max_bytes() -> u64 {
    1 << 30
}

impl FileOptions {
    /// Options for a store in `dir`, with the default cleanup interval and bounds.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileOptions {
            dir: dir.into(),
            cleanup_interval_secs: default_file_cleanup_interval(),
            max_sessions: default_file_max_sessions(),
            max_bytes: default_file_max_bytes(),
        }
    }
}

/// A session store keeping one file per session. See the [module documentation](self).
///
/// Cloning is cheap and shares the locks.
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    stripes: Box<[Arc<Mutex<()>>]>,
    cleanup_interval: Option<Duration>,
    bounds: bounds::Bounds,
}

/// Locks held for a write: released on drop, shard locks first.
struct Held {
    _shards: Vec<File>,
    _stripes: Vec<OwnedMutexGuard<()>>,
}

impl Inner {
    /// Takes the locks of `shards` (directory and in-process stripe) in the global order, from
    /// blocking code.
    fn lock_now(&self, shards: &[(&Path, usize)]) -> Result<Held, StoreError> {
        let stripes = ordered(shards.iter().map(|(_, stripe)| *stripe))
            .map(|stripe| Arc::clone(&self.stripes[stripe]).blocking_lock_owned())
            .collect();
        Ok(Held {
            _shards: lock_shards(shards)?,
            _stripes: stripes,
        })
    }
}

/// Sorted and without repeats: the order locks are taken in.
fn ordered<T: Ord>(items: impl Iterator<Item = T>) -> impl Iterator<Item = T> {
    let mut items: Vec<T> = items.collect();
    items.sort();
    items.dedup();
    items.into_iter()
}

fn lock_shards(shards: &[(&Path, usize)]) -> Result<Vec<File>, StoreError> {
    ordered(shards.iter().map(|(shard, _)| *shard))
        .map(disk::lock_shard)
        .collect()
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

impl FileStore {
    /// Opens (creating if needed) a store in `options.dir`. Blocking: call it at startup, or
    /// through [`registry`](crate::registry), which runs it on the blocking pool.
    pub fn new(options: FileOptions) -> Result<Self, StoreError> {
        disk::create_dirs(&options.dir)?;
        let metadata = fs::metadata(&options.dir).map_err(failed("open", &options.dir))?;
        if !metadata.is_dir() {
            return Err(failed("use as a directory", &options.dir)(io::Error::new(
                io::ErrorKind::NotADirectory,
                "it is not a directory",
            )));
        }
        let cleanup_interval = (options.cleanup_interval_secs > 0)
            .then(|| Duration::from_secs(options.cleanup_interval_secs));
        Ok(FileStore {
            inner: Arc::new(Inner {
                dir: options.dir,
                stripes: (0..disk::STRIPES)
                    .map(|_| Arc::new(Mutex::new(())))
                    .collect(),
                cleanup_interval,
                bounds: bounds::Bounds::new(options.max_sessions, options.max_bytes),
            }),
        })
    }

    /// The directory the sessions live in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How often the session manager's background loop runs this store's cleanup
    /// ([`FileOptions::cleanup_interval_secs`], also its [`Cleanup::interval`]); `None` when it
    /// is turned off.
    pub fn cleanup_interval(&self) -> Option<Duration> {
        self.inner.cleanup_interval
    }

    /// The file a session lives in (whether or not it exists): `dir/k[0]/k[1]/k` for storage key
    /// `k`.
    pub fn path_of(&self, id: &SessionId) -> PathBuf {
        self.slot(id).path
    }

    fn slot(&self, id: &SessionId) -> Slot {
        disk::slot_for_key(&self.inner.dir, id.storage_key())
    }

    /// Runs `work` on the blocking pool under the locks of the slots' shards.
    async fn locked<T, F>(&self, slots: Vec<Slot>, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Path, &[Slot]) -> Result<T, StoreError> + Send + 'static,
    {
        let mut stripes = Vec::with_capacity(slots.len());
        for stripe in ordered(slots.iter().map(|slot| slot.stripe)) {
            stripes.push(Arc::clone(&self.inner.stripes[stripe]).lock_owned().await);
        }
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            // Held until the work is done, even if the request is dropped meanwhile.
            let _stripes = stripes;
            let shards: Vec<_> = slots
                .iter()
                .map(|slot| (slot.shard.as_path(), slot.stripe))
                .collect();
            let _shards = lock_shards(&shards)?;
            work(&inner.dir, &slots)
        })
        .await
    }
}

#[async_trait]
impl Store for FileStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let (slot, id) = (self.slot(id), *id);
        blocking(move || ops::read_live(&slot, id, now_ms())).await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let (record, inner) = (record.clone(), Arc::clone(&self.inner));
        self.locked(vec![self.slot(&record.id)], move |root, slots| {
            let owned = record.owner.is_some();
            if inner.bounds.admit(root, owned)? == bounds::Admission::Write {
                inner.bounds.created(ops::create(root, &slots[0], &record)?);
            }
            Ok(())
        })
        .await
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        let (id, delta) = (*id, delta.clone());
        self.locked(vec![self.slot(&id)], move |root, slots| {
            ops::update(root, &slots[0], id, &delta)
        })
        .await
    }

    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        let (ids, delta) = ((*old, *new), delta.clone());
        self.locked(vec![self.slot(old), self.slot(new)], move |root, slots| {
            ops::regenerate(root, (&slots[0], &slots[1]), ids, &delta)
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        self.locked(vec![self.slot(id)], move |root, slots| {
            if ops::delete(root, &slots[0])? {
                // Its bytes are not known here; the next full pass corrects them.
                inner.bounds.removed(0);
            }
            Ok(())
        })
        .await
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        let (inner, owner) = (Arc::clone(&self.inner), owner.to_string());
        blocking(move || ops::owner_sessions(&inner, &owner)).await
    }

    async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
        let (inner, owner, key) = (Arc::clone(&self.inner), owner.to_string(), key.to_string());
        blocking(move || ops::delete_owned(&inner, &owner, &key)).await
    }

    async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        let (inner, owner) = (Arc::clone(&self.inner), owner.to_string());
        let keep = keep.map(str::to_string);
        blocking(move || ops::delete_owner(&inner, &owner, keep.as_deref())).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || sweep::count(&inner.dir, now_ms())).await
    }

    /// A record that does not decode is no session: `false`, where [`load`](Store::load) says
    /// [`StoreError::Corrupt`].
    async fn exists(&self, id: &SessionId) -> Result<bool, StoreError> {
        let path = self.slot(id).path;
        blocking(move || disk::holds_live_record(&path, now_ms())).await
    }

    /// `None` when [`FileOptions::cleanup_interval_secs`] is 0: the manager then runs no cleanup
    /// of this store (call [`Cleanup::delete_expired`] on it yourself).
    fn cleanup(&self) -> Option<&dyn Cleanup> {
        self.inner.cleanup_interval.map(|_| self as &dyn Cleanup)
    }
}

#[async_trait]
impl Cleanup for FileStore {
    /// Removes expired session files, files that do not decode, their owner index entries, and
    /// leftover temporary files; returns how many session files went.
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let removed = sweep::clean(&inner, now_ms())?;
            inner.bounds.counted(sweep::usage(&inner.dir)?);
            Ok(removed)
        })
        .await
    }

    /// [`FileOptions::cleanup_interval_secs`].
    fn interval(&self) -> Duration {
        self.inner
            .cleanup_interval
            .unwrap_or(Duration::from_secs(default_file_cleanup_interval()))
    }
}
