//! The file store's filesystem steps: where a session lives, the shard lock, and writes that
//! never expose a torn file.
//!
//! Every temporary file is created, and renamed or removed, by a writer holding its shard's
//! lock. So a temporary file seen *under that lock* has no writer: it is a leftover of a process
//! that died mid-write, and cleanup may remove it at once, whatever its age.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use session_core::StoreError;

use crate::codec;

/// In-process locks, one per group of shard directories.
pub(super) const STRIPES: usize = 64;
/// Name of the advisory lock file in each shard directory.
pub(super) const LOCK_FILE: &str = ".lock";

/// What went wrong with the session directory, as the source of a [`StoreError::Backend`].
///
/// Its own [`source`](std::error::Error::source) is the [`io::Error`], so a caller can tell a
/// full disk (`io::ErrorKind::StorageFull`) from a permission problem.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not {action} `{}`: {source}; check that the session directory exists, has free space, \
     and that this process may read and write it",
    path.display()
)]
pub struct FileStoreError {
    action: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl FileStoreError {
    /// The underlying I/O error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

pub(super) fn failed<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| {
        StoreError::backend(FileStoreError {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Where one session lives.
#[derive(Clone, Debug)]
pub(super) struct Slot {
    /// The shard directory.
    pub(super) shard: PathBuf,
    /// The session file.
    pub(super) path: PathBuf,
    /// The storage key (the file name).
    pub(super) key: String,
    /// Which in-process lock guards the shard.
    pub(super) stripe: usize,
}

/// The slot of a storage key; `key` must pass [`is_storage_key`] (or come from
/// [`SessionId::storage_key`](session_core::SessionId::storage_key)).
pub(super) fn slot_for_key(dir: &Path, key: String) -> Slot {
    let bytes = key.as_bytes();
    let shard = dir.join(&key[..1]).join(&key[1..2]);
    let stripe = stripe_of(bytes[0], bytes[1]);
    Slot {
        path: shard.join(&key),
        shard,
        key,
        stripe,
    }
}

/// The in-process lock of shard `dir/first/second`.
pub(super) fn stripe_of(first: u8, second: u8) -> usize {
    (usize::from(first) * 131 + usize::from(second)) % STRIPES
}

/// Runs blocking file work off the async workers.
pub(super) async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::backend_msg(format!("file store task failed: {error}")))?
}

pub(super) fn create_dirs(path: &Path) -> Result<(), StoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(failed("create directory", path))
}

/// Takes the advisory lock of a shard directory (creating both as needed). Released on drop.
pub(super) fn lock_shard(shard: &Path) -> Result<File, StoreError> {
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
pub(super) fn read(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(failed("read", path)(error)),
    }
}

/// Whether `name` is a temporary file a writer made ([`write_temp`]).
pub(super) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Writes `bytes` to a new, synced temporary file in the slot's shard directory. Call it under
/// the shard's lock (see the module docs).
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

/// Makes a rename, link or removal in `dir` durable. Best effort: not every platform can sync a
/// directory.
pub(super) fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        if let Err(error) = handle.sync_all() {
            tracing::debug!(%error, dir = %dir.display(), "could not sync the session directory");
        }
    }
}

/// Atomically replaces the slot's file with `bytes`.
pub(super) fn replace(slot: &Slot, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = write_temp(slot, bytes)?;
    if let Err(error) = fs::rename(&temp, &slot.path) {
        let _ = fs::remove_file(&temp);
        return Err(failed("rename into place", &slot.path)(error));
    }
    sync_dir(&slot.shard);
    Ok(())
}

/// Moves the session file in `old` to `new` and replaces its content with `bytes`: one rename
/// takes the old name away as the new one appears, a second puts the new content in place. So
/// the old name never shows the new content, and the two names are never both taken.
pub(super) fn move_to(old: &Slot, new: &Slot, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = write_temp(new, bytes)?;
    if let Err(error) = fs::rename(&old.path, &new.path) {
        let _ = fs::remove_file(&temp);
        return Err(failed("move a session to", &new.path)(error));
    }
    if let Err(error) = fs::rename(&temp, &new.path) {
        let _ = fs::remove_file(&temp);
        // Put it back, so the failed request leaves the session where its client can find it.
        let _ = fs::rename(&new.path, &old.path);
        return Err(failed("rename into place", &new.path)(error));
    }
    sync_dir(&new.shard);
    if new.shard != old.shard {
        sync_dir(&old.shard);
    }
    Ok(())
}

/// Whether the file holds a live record: a missing, expired or undecodable one does not.
pub(super) fn holds_live_record(path: &Path, now: u64) -> Result<bool, StoreError> {
    Ok(read(path)?
        .and_then(|bytes| codec::summary(&bytes).ok())
        .is_some_and(|summary| summary.is_live(now)))
}

/// Writes `bytes` as a new session file; an existing live one is `AlreadyExists`.
pub(super) fn create_new(slot: &Slot, bytes: &[u8], now: u64) -> Result<(), StoreError> {
    let temp = write_temp(slot, bytes)?;
    // link(2) fails if the name is taken, like O_EXCL, and the file it exposes is complete.
    let result = match fs::hard_link(&temp, &slot.path) {
        Ok(()) => Ok(()),
        // Taken (or no hard links on this filesystem: then we rely on the lock we hold): refuse,
        // unless what is there has expired or is unreadable garbage.
        Err(_) => match holds_live_record(&slot.path, now) {
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

/// Removes a file; `false` when there was none.
pub(super) fn remove(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(failed("remove", path)(error)),
    }
}

/// Whether `name` can be a storage key (and so a session file's name).
pub(super) fn is_storage_key(name: &str) -> bool {
    name.len() == 43 && name.bytes().all(is_storage_key_char)
}

fn is_storage_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The character a shard directory is named by (one of a storage key's), if `name` is one.
pub(super) fn shard_name(name: &std::ffi::OsStr) -> Option<u8> {
    match name.as_encoded_bytes() {
        &[b] if is_storage_key_char(b) => Some(b),
        _ => None,
    }
}

/// The entries of a directory; none when it does not exist.
pub(super) fn list(dir: &Path) -> Result<Vec<fs::DirEntry>, StoreError> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed("list", dir)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(failed("list", dir)(error)),
    }
}
