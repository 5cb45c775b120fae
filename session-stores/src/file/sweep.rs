//! Walks over every session file: counting the live ones, and cleanup.
//!
//! Cleanup removes, shard by shard, expired session files, files that do not decode (a record
//! truncated by a full disk or hand-edited is no session, and would otherwise stay forever), the
//! owner index entries of what it removes, and leftover temporary files. Files are judged twice:
//! first without a lock, to leave shards with nothing to do untouched, then again under the
//! shard lock before anything is removed, because another writer may have renewed a session
//! meanwhile. Under that lock no writer is between creating and renaming a temporary file (see
//! [`disk`](super::disk)), so every temporary file found there is a crash's leftover.

use std::path::{Path, PathBuf};

use session_core::StoreError;

use super::bounds::Usage;
use super::disk;
use super::{index, Inner};
use crate::codec;

/// What a pass over one shard found worth a second look.
#[derive(Default)]
struct Found {
    /// Session files that are expired or do not decode.
    dead: Vec<String>,
    /// Temporary files.
    temporary: Vec<String>,
}

/// The shard directories under the store's directory, with their in-process lock.
fn shards(root: &Path) -> Result<Vec<(PathBuf, usize)>, StoreError> {
    let mut shards = Vec::new();
    for first in disk::list(root)? {
        let Some(a) = disk::shard_name(&first.file_name()) else {
            continue;
        };
        for second in disk::list(&first.path())? {
            if let Some(b) = disk::shard_name(&second.file_name()) {
                shards.push((second.path(), disk::stripe_of(a, b)));
            }
        }
    }
    Ok(shards)
}

/// The bytes of the session file at `path`; `None` when it is gone, or when it cannot be read
/// (a directory under a session file's name, a file this process may not read), which is
/// logged and skipped, so that one odd entry never stops a pass over the whole store.
fn read_or_skip(path: &Path) -> Option<Vec<u8>> {
    match disk::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(
                path = %path.display(),
                %error,
                "file store: skipping an entry that cannot be read as a session file"
            );
            None
        }
    }
}

/// Whether the session file at `path` is there and dead (expired or undecodable), and so
/// cleanup's to remove; with the owner whose index entry goes with it.
fn dead(path: &Path, now: u64) -> Option<Option<String>> {
    let bytes = read_or_skip(path)?;
    match codec::summary(&bytes) {
        Ok(summary) if summary.is_live(now) => None,
        Ok(summary) => Some(summary.owner),
        Err(_) => Some(None),
    }
}

fn scan(shard: &Path, now: u64) -> Result<Found, StoreError> {
    let mut found = Found::default();
    for entry in disk::list(shard)? {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if disk::is_temp_name(&name) {
            found.temporary.push(name);
        } else if disk::is_storage_key(&name) && dead(&entry.path(), now).is_some() {
            found.dead.push(name);
        }
    }
    Ok(found)
}

/// Removes what is dead in every shard; returns how many session files went.
pub(super) fn clean(inner: &Inner, now: u64) -> Result<u64, StoreError> {
    let mut removed = 0;
    for (shard, stripe) in shards(&inner.dir)? {
        let found = scan(&shard, now)?;
        if found.dead.is_empty() && found.temporary.is_empty() {
            continue;
        }
        let _held = inner.lock_now(&[(&shard, stripe)])?;
        for name in &found.temporary {
            disk::remove(&shard.join(name))?;
        }
        for key in found.dead {
            let path = shard.join(&key);
            if let Some(owner) = dead(&path, now) {
                if disk::remove(&path)? {
                    removed += 1;
                }
                if let Some(owner) = owner {
                    index::remove(&inner.dir, &owner, &key);
                }
            }
        }
        disk::sync_dir(&shard);
    }
    Ok(removed)
}

/// How many live sessions the store holds (a file that vanishes meanwhile, or cannot be read, is
/// not counted). A missing store directory is an error, not 0: it is a misconfiguration (a
/// wrong `dir`, an unmounted volume), not an empty store.
pub(super) fn count(root: &Path, now: u64) -> Result<u64, StoreError> {
    std::fs::read_dir(root).map_err(disk::failed("count the sessions in", root))?;
    let mut live = 0;
    for (shard, _) in shards(root)? {
        for entry in disk::list(&shard)? {
            let name = entry.file_name();
            if !name.to_str().is_some_and(disk::is_storage_key) {
                continue;
            }
            let Some(bytes) = read_or_skip(&entry.path()) else {
                continue;
            };
            if codec::summary(&bytes).is_ok_and(|summary| summary.is_live(now)) {
                live += 1;
            }
        }
    }
    Ok(live)
}

/// How many session files the store in `root` holds, live or not yet cleaned up, and their
/// bytes: a listing of every shard, reading no file.
pub(super) fn usage(root: &Path) -> Result<Usage, StoreError> {
    let mut usage = Usage::default();
    for (shard, _) in shards(root)? {
        for entry in disk::list(&shard)? {
            if !entry.file_name().to_str().is_some_and(disk::is_storage_key) {
                continue;
            }
            // A file gone meanwhile, or an odd entry, is not a session file.
            if let Ok(metadata) = entry.metadata() {
                if metadata.is_file() {
                    usage.sessions += 1;
                    usage.bytes += metadata.len();
                }
            }
        }
    }
    Ok(usage)
}
