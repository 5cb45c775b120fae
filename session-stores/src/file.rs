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
//! let record = Record::new(SessionId::generate(), &Expiry::default(), session_core::now_ms());
//! store.create(&record).await?;
//! assert_eq!(store.load(&record.id).await?, Some(record));
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
//! # Atomicity and crashes
//!
//! - A file is never written in place. A write goes to a fresh temporary file in the same
//!   directory (`.k.<pid>.<n>.tmp`, created exclusively), is flushed with `fsync`, and is then
//!   renamed over the session file, and the directory is synced. A reader sees the old file or
//!   the new one, and a writer killed at any moment leaves the old or the new session, never a
//!   torn one (leftover temporary files are removed by cleanup after an hour).
//! - [`Store::create`] never overwrites: it *links* the complete temporary file to the session
//!   name, which fails if the name exists, like `O_EXCL`, but without ever exposing a half-written
//!   file. An existing session that has expired may be replaced.
//!
//! # Locking
//!
//! [`Store::update`], `save`, `create`, `delete` and the removal step of `cleanup` run under a
//! lock of the session's shard directory: an in-process async mutex (so waiting requests do not
//! tie up threads) and an advisory lock on `dir/k[0]/k[1]/.lock` ([`std::fs::File::lock`],
//! `flock` on Unix), which also excludes other processes sharing the directory, as long as they
//! use this store. So concurrent delta updates of one session, from any number of threads or
//! processes, lose nothing. The locks are per shard (4096 of them) rather than per id: the lock
//! files then never need deleting, which is what makes per-id lock files racy (a process waiting
//! on a lock file that another process removes ends up holding a lock nobody else sees).
//! [`Store::load`] takes no lock: renames are atomic.
//!
//! # Cleanup
//!
//! Expired sessions never load. Their files are removed by [`Store::cleanup`], which a background
//! task runs every [`FileOptions::cleanup_interval_secs`] (when the store is created inside a
//! Tokio runtime; 0 turns it off). Several processes sharing the directory may all run it: removal
//! happens under the shard lock, after checking the file is still expired.
//!
//! The advisory lock needs a local filesystem with working `flock` (not every network filesystem
//! has one). All blocking file work runs on Tokio's blocking thread pool
//! ([`tokio::task::spawn_blocking`]), never on the async workers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use session_core::{now_ms, Delta, Record, SessionId, Store, StoreError};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::codec;

/// Options of the file store (`store = { type = "file", dir = "..." }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOptions {
    /// The directory sessions live in; created (mode `0700`) if missing. Required. A relative path
    /// is relative to the process's working directory.
    pub dir: PathBuf,
    /// Seconds between background cleanups of expired session files; 0 turns the background
    /// cleanup off (call [`Store::cleanup`] yourself, e.g. from one process of several sharing
    /// the directory). Default 600.
    #[serde(default = "default_file_cleanup_interval")]
    pub cleanup_interval_secs: u64,
}

fn default_file_cleanup_interval() -> u64 {
    600
}

impl FileOptions {
    /// Options for a store in `dir`, with the default cleanup interval.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileOptions {
            dir: dir.into(),
            cleanup_interval_secs: default_file_cleanup_interval(),
        }
    }
}

/// What went wrong with the session directory, as the source of a [`StoreError::Backend`].
#[derive(Debug, thiserror::Error)]
#[error(
    "could not {action} `{}`: {source}; check that the session directory exists and this process \
     may read and write it",
    path.display()
)]
pub struct FileStoreError {
    action: &'static str,
    path: PathBuf,
    source: io::Error,
}

fn failed<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| {
        StoreError::backend(FileStoreError {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// In-process locks, one per group of shard directories.
const STRIPES: usize = 64;
/// Temporary files older than this are leftovers of a crashed writer.
const STALE_TEMP: Duration = Duration::from_secs(60 * 60);
/// Name of the advisory lock file in each shard directory.
const LOCK_FILE: &str = ".lock";

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
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

/// Where one session lives.
#[derive(Clone)]
struct Slot {
    /// The shard directory.
    shard: PathBuf,
    /// The session file.
    path: PathBuf,
    /// The storage key (the file name).
    key: String,
    stripe: usize,
}

impl FileStore {
    /// Opens (creating if needed) a store in `options.dir`. Blocking: call it at startup, or
    /// through [`registry`](crate::registry), which runs it on the blocking pool.
    pub fn new(options: FileOptions) -> Result<Self, StoreError> {
        create_dirs(&options.dir)?;
        let metadata = fs::metadata(&options.dir).map_err(failed("open", &options.dir))?;
        if !metadata.is_dir() {
            return Err(failed("use as a directory", &options.dir)(io::Error::new(
                io::ErrorKind::NotADirectory,
                "it is not a directory",
            )));
        }
        let inner = Arc::new(Inner {
            dir: options.dir,
            stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
        });
        if options.cleanup_interval_secs > 0 {
            spawn_cleanup(&inner, Duration::from_secs(options.cleanup_interval_secs));
        }
        Ok(FileStore { inner })
    }

    /// The directory the sessions live in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file a session lives in (whether or not it exists): `dir/k[0]/k[1]/k` for storage key
    /// `k`.
    pub fn path_of(&self, id: &SessionId) -> PathBuf {
        self.slot(id).path
    }

    fn slot(&self, id: &SessionId) -> Slot {
        let key = id.storage_key();
        slot_for_key(&self.inner.dir, key)
    }

    /// Runs `work` on the blocking pool under the slot's in-process lock.
    async fn locked<T, F>(&self, slot: Slot, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Slot) -> Result<T, StoreError> + Send + 'static,
    {
        let guard: OwnedMutexGuard<()> = Arc::clone(&self.inner.stripes[slot.stripe])
            .lock_owned()
            .await;
        blocking(move || {
            // Held until the work is done, even if the request is dropped meanwhile.
            let _guard = guard;
            let _flock = lock_shard(&slot.shard)?;
            work(&slot)
        })
        .await
    }
}

/// Spawns the background cleanup when a Tokio runtime is present. The task holds a weak
/// reference and ends after the store is dropped.
fn spawn_cleanup(inner: &Arc<Inner>, every: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::debug!("no Tokio runtime: the file store's background cleanup is not running");
        return;
    };
    let weak = Arc::downgrade(inner);
    runtime.spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(inner) = weak.upgrade() else {
                break;
            };
            match blocking(move || cleanup_all(&inner)).await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "file store: removed expired sessions"),
                Err(error) => tracing::warn!(%error, "file store: background cleanup failed"),
            }
        }
    });
}

fn slot_for_key(dir: &Path, key: String) -> Slot {
    let bytes = key.as_bytes();
    let (first, second) = (&key[..1], &key[1..2]);
    let shard = dir.join(first).join(second);
    let stripe = (usize::from(bytes[0]) * 131 + usize::from(bytes[1])) % STRIPES;
    Slot {
        path: shard.join(&key),
        shard,
        key,
        stripe,
    }
}

/// Runs blocking file work off the async workers.
async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::backend_msg(format!("file store task failed: {error}")))?
}

fn create_dirs(path: &Path) -> Result<(), StoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(failed("create directory", path))
}

/// Takes the advisory lock of a shard directory (creating both as needed). Released on drop.
fn lock_shard(shard: &Path) -> Result<File, StoreError> {
    let path = shard.join(LOCK_FILE);
    let open = || {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path)
    };
    let file = match open() {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            create_dirs(shard)?;
            open().map_err(failed("open lock file", &path))?
        }
        Err(error) => return Err(failed("open lock file", &path)(error)),
    };
    file.lock().map_err(failed("lock", &path))?;
    Ok(file)
}

/// Reads a session file; `None` when there is none.
fn read(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(failed("read", path)(error)),
    }
}

/// Writes `bytes` to a new, synced temporary file in the slot's shard directory.
fn write_temp(slot: &Slot, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = slot
            .shard
            .join(format!(".{}.{}.{n}.tmp", slot.key, std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = match options.open(&temp) {
            Ok(file) => file,
            // A leftover of an earlier process with the same pid: take another name.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(failed("create", &temp)(error)),
        };
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(error) = written {
            drop(file);
            let _ = fs::remove_file(&temp);
            return Err(failed("write", &temp)(error));
        }
        return Ok(temp);
    }
}

/// Makes a rename or link in `dir` durable. Best effort: not every platform can sync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        if let Err(error) = handle.sync_all() {
            tracing::debug!(%error, dir = %dir.display(), "could not sync the session directory");
        }
    }
}

/// Atomically replaces the slot's file with `bytes`.
fn replace(slot: &Slot, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = write_temp(slot, bytes)?;
    if let Err(error) = fs::rename(&temp, &slot.path) {
        let _ = fs::remove_file(&temp);
        return Err(failed("rename into place", &slot.path)(error));
    }
    sync_dir(&slot.shard);
    Ok(())
}

/// Whether the session file holds a live record (a corrupt one counts as not live).
fn holds_live_record(path: &Path, now: u64) -> Result<bool, StoreError> {
    Ok(read(path)?
        .and_then(|bytes| codec::deadline_of(&bytes).ok())
        .is_some_and(|deadline| now < deadline))
}

/// Writes `bytes` as a new session file; an existing live one is `AlreadyExists`.
fn create_new(slot: &Slot, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = write_temp(slot, bytes)?;
    // link(2) fails if the name is taken, like O_EXCL, and the file it exposes is complete.
    let result = match fs::hard_link(&temp, &slot.path) {
        Ok(()) => Ok(()),
        // Taken (or no hard links on this filesystem: then we rely on the lock we hold): refuse,
        // unless what is there has expired or is unreadable garbage.
        Err(_) => match holds_live_record(&slot.path, now_ms()) {
            Ok(true) => Err(StoreError::AlreadyExists),
            Ok(false) => {
                fs::rename(&temp, &slot.path).map_err(failed("rename into place", &slot.path))
            }
            Err(error) => Err(error),
        },
    };
    // After a link, or a refusal, the temporary name is still there; after a rename, it is gone.
    match fs::remove_file(&temp) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            tracing::debug!(%error, "could not remove a temporary session file");
        }
        _ => {}
    }
    if result.is_ok() {
        sync_dir(&slot.shard);
    }
    result
}

fn update_file(slot: &Slot, id: SessionId, delta: &Delta) -> Result<bool, StoreError> {
    let Some(bytes) = read(&slot.path)? else {
        return Ok(false);
    };
    let mut record = codec::decode(id, &bytes)?;
    if record.is_expired(now_ms()) {
        return Ok(false);
    }
    delta.apply(&mut record);
    replace(slot, &codec::encode(&record)?)?;
    Ok(true)
}

fn remove(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(failed("remove", path)(error)),
    }
}

fn is_storage_key(name: &str) -> bool {
    name.len() == 43
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn list(dir: &Path) -> Result<Vec<fs::DirEntry>, StoreError> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed("list", dir)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(failed("list", dir)(error)),
    }
}

/// Removes the expired sessions (and stale temporary files) of one shard directory.
fn clean_shard(inner: &Inner, shard: &Path, now: u64) -> Result<u64, StoreError> {
    let mut expired = Vec::new();
    for entry in list(shard)? {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') && name.ends_with(".tmp") {
            let stale = entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .ok()
                .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                .is_some_and(|age| age > STALE_TEMP);
            if stale {
                let _ = fs::remove_file(entry.path());
            }
        } else if is_storage_key(name) && !holds_live_record(&entry.path(), now)? {
            expired.push(name.to_string());
        }
    }
    let mut removed = 0;
    for key in expired {
        let slot = slot_for_key(&inner.dir, key);
        let _guard = inner.stripes[slot.stripe].blocking_lock();
        let _flock = lock_shard(&slot.shard)?;
        // Another writer may have renewed it meanwhile.
        let still_expired = read(&slot.path)?
            .is_some_and(|bytes| codec::deadline_of(&bytes).is_ok_and(|deadline| now >= deadline));
        if still_expired && remove(&slot.path)? {
            removed += 1;
        }
    }
    Ok(removed)
}

fn is_shard_name(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|name| name.len() == 1 && is_storage_key_char(name.as_bytes()[0]))
}

fn is_storage_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn cleanup_all(inner: &Inner) -> Result<u64, StoreError> {
    let now = now_ms();
    let mut removed = 0;
    for first in list(&inner.dir)? {
        if !is_shard_name(&first.file_name()) {
            continue;
        }
        for second in list(&first.path())? {
            if is_shard_name(&second.file_name()) {
                removed += clean_shard(inner, &second.path(), now)?;
            }
        }
    }
    Ok(removed)
}

#[async_trait]
impl Store for FileStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let path = self.slot(id).path;
        let id = *id;
        blocking(move || {
            let Some(bytes) = read(&path)? else {
                return Ok(None);
            };
            let record = codec::decode(id, &bytes)?;
            Ok((!record.is_expired(now_ms())).then_some(record))
        })
        .await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let bytes = codec::encode(record)?;
        self.locked(self.slot(&record.id), move |slot| create_new(slot, &bytes))
            .await
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        let (id, delta) = (*id, delta.clone());
        self.locked(self.slot(&id), move |slot| update_file(slot, id, &delta))
            .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.locked(self.slot(id), |slot| remove(&slot.path).map(drop))
            .await
    }

    async fn regenerate(
        &self,
        _old: &SessionId,
        _new: &SessionId,
        _delta: &Delta,
    ) -> Result<bool, StoreError> {
        Err(StoreError::backend_msg(
            "regenerate: being ported to the v2 contract",
        ))
    }

    async fn owner_sessions(
        &self,
        _owner: &str,
    ) -> Result<Vec<session_core::OwnerSession>, StoreError> {
        Err(StoreError::backend_msg(
            "owner_sessions: being ported to the v2 contract",
        ))
    }

    async fn delete_owner(&self, _owner: &str) -> Result<u64, StoreError> {
        Err(StoreError::backend_msg(
            "delete_owner: being ported to the v2 contract",
        ))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Err(StoreError::backend_msg(
            "count: being ported to the v2 contract",
        ))
    }

    fn cleanup(&self) -> Option<&dyn session_core::Cleanup> {
        Some(self)
    }
}

#[async_trait]
impl session_core::Cleanup for FileStore {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || cleanup_all(&inner)).await
    }
}

impl FileStore {
    /// Replaces the whole record (tests only, until the port is done).
    pub async fn save(&self, record: &Record) -> Result<(), StoreError> {
        let bytes = codec::encode(record)?;
        self.locked(self.slot(&record.id), move |slot| replace(slot, &bytes))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::Expiry;

    fn store() -> (tempfile::TempDir, FileStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(FileOptions::new(tmp.path().join("sessions"))).unwrap();
        (tmp, store)
    }

    fn record() -> Record {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
        record.data.insert(
            "user".into(),
            session_core::RawJson::from_string("\"alice\"".into()).unwrap(),
        );
        record
    }

    #[tokio::test]
    async fn sessions_live_in_two_levels_of_shard_directories() {
        let (_tmp, store) = store();
        let record = record();
        store.save(&record).await.unwrap();
        let key = record.id.storage_key();
        let expected = store.dir().join(&key[..1]).join(&key[1..2]).join(&key);
        assert_eq!(store.path_of(&record.id), expected);
        assert!(expected.is_file());
    }

    #[tokio::test]
    async fn file_names_and_contents_are_hashes_not_ids() {
        let (_tmp, store) = store();
        let record = record();
        store.save(&record).await.unwrap();
        let id = record.id.to_string();
        let path = store.path_of(&record.id);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, record.id.storage_key());
        assert_ne!(name, id);
        let content = fs::read_to_string(&path).unwrap();
        assert!(
            !content.contains(&id),
            "the file must not contain the session id"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_0600_and_directories_0700() {
        use std::os::unix::fs::PermissionsExt;
        let (_tmp, store) = store();
        let record = record();
        store.create(&record).await.unwrap();
        store
            .update(
                &record.id,
                &Delta {
                    expires_at: record.expires_at,
                    absolute_deadline: record.absolute_deadline,
                    ..Delta::default()
                },
            )
            .await
            .unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let file = store.path_of(&record.id);
        let shard = file.parent().unwrap();
        assert_eq!(mode(&file), 0o600, "session file");
        assert_eq!(mode(&shard.join(LOCK_FILE)), 0o600, "lock file");
        assert_eq!(mode(shard), 0o700, "shard directory");
        assert_eq!(
            mode(shard.parent().unwrap()),
            0o700,
            "outer shard directory"
        );
        assert_eq!(mode(store.dir()), 0o700, "session directory");
    }

    #[tokio::test]
    async fn writes_leave_no_temporary_files() {
        let (_tmp, store) = store();
        let record = record();
        store.create(&record).await.unwrap();
        store.save(&record).await.unwrap();
        assert!(matches!(
            store.create(&record).await,
            Err(StoreError::AlreadyExists)
        ));
        let shard = store.path_of(&record.id).parent().unwrap().to_path_buf();
        let mut names: Vec<_> = list(&shard)
            .unwrap()
            .into_iter()
            .map(|entry| entry.file_name().into_string().unwrap())
            .collect();
        names.sort();
        // Sorted on both sides: a storage key may sort before the lock file (`-` < `.`).
        let mut expected = [LOCK_FILE.to_string(), record.id.storage_key()];
        expected.sort();
        assert_eq!(names, expected);
    }

    #[tokio::test]
    async fn stale_temporary_files_are_cleaned_up_but_not_counted() {
        let (_tmp, store) = store();
        let record = record();
        store.save(&record).await.unwrap();
        let shard = store.path_of(&record.id).parent().unwrap().to_path_buf();
        let leftover = shard.join(format!(".{}.1.0.tmp", record.id.storage_key()));
        fs::write(&leftover, b"{\"d\":").unwrap();
        let old = SystemTime::now() - 2 * STALE_TEMP;
        File::options()
            .write(true)
            .open(&leftover)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(store.cleanup().await.unwrap(), 0);
        assert!(!leftover.exists());
        assert!(store.load(&record.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_corrupt_file_is_a_corrupt_error() {
        let (_tmp, store) = store();
        let record = record();
        store.save(&record).await.unwrap();
        fs::write(store.path_of(&record.id), b"not json").unwrap();
        assert!(matches!(
            store.load(&record.id).await,
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn two_stores_on_one_directory_lose_no_updates() {
        // Separate instances share no in-process lock: only the file lock keeps this correct.
        let (_tmp, first) = store();
        let second = FileStore::new(FileOptions::new(first.dir())).unwrap();
        let record = record();
        first.create(&record).await.unwrap();
        let tasks: Vec<_> = (0..40)
            .map(|n| {
                let store = if n % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let delta = Delta {
                    changed: vec![(
                        format!("k{n}"),
                        session_core::RawJson::from_string(n.to_string()).unwrap(),
                    )],
                    expires_at: record.expires_at,
                    absolute_deadline: record.absolute_deadline,
                    expiry: None,
                    removed: Vec::new(),
                };
                tokio::spawn(async move { store.update(&record.id, &delta).await.unwrap() })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap());
        }
        let loaded = second.load(&record.id).await.unwrap().unwrap();
        assert_eq!(loaded.data.len(), 41);
        assert_eq!(loaded.version, 40);
    }

    #[test]
    fn a_file_in_place_of_the_directory_is_an_error_that_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("taken");
        fs::write(&path, b"").unwrap();
        let error = FileStore::new(FileOptions::new(&path)).unwrap_err();
        assert!(matches!(error, StoreError::Backend(_)));
        let message = std::error::Error::source(&error).unwrap().to_string();
        assert!(message.contains("taken"), "{message}");
    }

    #[tokio::test(start_paused = true)]
    async fn background_cleanup_removes_expired_files() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(FileOptions {
            dir: tmp.path().join("sessions"),
            cleanup_interval_secs: 30,
        })
        .unwrap();
        let live = record();
        let mut expired = record();
        expired.expires_at = 1;
        store.save(&live).await.unwrap();
        store.save(&expired).await.unwrap();
        let expired_path = store.path_of(&expired.id);
        assert!(expired_path.exists());

        // The clock is paused: each sleep moves it forward at once, letting the task run.
        for _ in 0..50 {
            if !expired_path.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        assert!(
            !expired_path.exists(),
            "the background task did not clean up"
        );
        assert!(store.path_of(&live.id).exists());
    }
}
