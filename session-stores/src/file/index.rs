//! The file store's owner index: which sessions an owner (a user id) has (summed up in the
//! store's docs).
//!
//! # Layout
//!
//! Owner `o` has a directory `dir/owners/h[0..2]/h`, where `h` is the hex SHA-256 of `o` (any
//! string makes a safe, bounded file name that way; 256 buckets keep directories small). It
//! holds one empty *entry* file per session, named by the session's storage key. The session
//! file's own owner field is the truth; an entry only says where to look.
//!
//! # Invariant and why it survives crashes and other processes
//!
//! *Every live session with an owner has an entry under that owner.* Extra entries (for a
//! session that is gone, expired, undecodable or rebound to someone else) are allowed: every
//! reader checks the session file and prunes such an entry.
//!
//! - Writers change a session and its entries under the session's shard lock, which every
//!   process using this store on the directory takes (see the store's docs). They add the new
//!   owner's entry, synced, *before* writing the session file, and remove the old owner's entry
//!   only *after*. A writer killed at any point leaves at most an extra entry, never a missing one.
//! - Pruning also happens under the session's shard lock, after reading the session file again,
//!   so it can never remove an entry a writer is between adding and using.
//! - Owners are compared as strings, not by hash, so even colliding hashes would list no
//!   foreign session.
//! - An owner directory emptied by a removal is removed too (`rmdir` fails on a non-empty one);
//!   a writer that finds its directory gone meanwhile creates it again.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use session_core::StoreError;
use sha2::{Digest, Sha256};

use super::disk::{self, failed};

/// The index's directory under the store's.
pub(super) const INDEX_DIR: &str = "owners";

/// How often an entry is retried when a concurrent removal takes its fresh directory away.
const ADD_ATTEMPTS: usize = 8;

/// The directory of `owner`'s entries.
pub(super) fn owner_dir(root: &Path, owner: &str) -> PathBuf {
    let digest = Sha256::digest(owner.as_bytes());
    let hash: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    root.join(INDEX_DIR).join(&hash[..2]).join(hash)
}

/// Adds (durably) the entry for session `key` under `owner`; nothing happens when it exists.
pub(super) fn add(root: &Path, owner: &str, key: &str) -> Result<(), StoreError> {
    let dir = owner_dir(root, owner);
    let path = dir.join(key);
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut last_error = None;
    for _ in 0..ADD_ATTEMPTS {
        match options.open(&path) {
            Ok(_) => {
                disk::sync_dir(&dir);
                return Ok(());
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                disk::create_dirs(&dir)?;
                // The new directory's own name must be durable too.
                if let Some(bucket) = dir.parent() {
                    disk::sync_dir(bucket);
                }
                last_error = Some(error);
            }
            Err(error) => return Err(failed("add an owner index entry", &path)(error)),
        }
    }
    let error = last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound));
    Err(failed("add an owner index entry", &path)(error))
}

/// Removes the entry for session `key` under `owner`, if any, and the owner's directory when
/// that empties it. A failure leaves an extra entry, which the invariant allows: it is logged,
/// not returned, because the session write it follows has already happened.
pub(super) fn remove(root: &Path, owner: &str, key: &str) {
    let dir = owner_dir(root, owner);
    let path = dir.join(key);
    match fs::remove_file(&path) {
        Ok(()) => {
            // Fails, as it should, while other entries are there (or a writer just added one).
            if fs::remove_dir(&dir).is_ok() {
                if let Some(bucket) = dir.parent() {
                    disk::sync_dir(bucket);
                }
            }
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "could not remove an owner index entry; it is pruned when next read");
        }
    }
}

/// Keeps the index true across a write that changes a session's owner from `before` to `after`:
/// adds the new entry, runs `write`, then removes the old entry.
pub(super) fn rebinding<T>(
    root: &Path,
    key: &str,
    before: Option<&str>,
    after: Option<&str>,
    write: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if before == after {
        return write();
    }
    if let Some(after) = after {
        add(root, after, key)?;
    }
    let written = write()?;
    if let Some(before) = before {
        remove(root, before, key);
    }
    Ok(written)
}

/// The storage keys listed under `owner` (some of them may be extra; see the module docs).
pub(super) fn keys(root: &Path, owner: &str) -> Result<Vec<String>, StoreError> {
    Ok(disk::list(&owner_dir(root, owner))?
        .into_iter()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| disk::is_storage_key(name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_directories_are_hashes_of_any_string() {
        let root = Path::new("sessions");
        for owner in ["alice", "", "../../etc", "a/b\0c", &"x".repeat(10_000)] {
            let dir = owner_dir(root, owner);
            let name = dir.file_name().unwrap().to_str().unwrap();
            assert_eq!(name.len(), 64);
            assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(dir.parent().unwrap().file_name().unwrap(), &name[..2]);
            assert!(dir.starts_with(root.join(INDEX_DIR)));
        }
        assert_ne!(owner_dir(root, "alice"), owner_dir(root, "bob"));
    }

    #[test]
    fn entries_come_and_go_with_their_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let (one, two) = ("a".repeat(43), "b".repeat(43));
        add(root, "alice", &one).unwrap();
        add(root, "alice", &one).unwrap();
        add(root, "alice", &two).unwrap();
        let mut listed = keys(root, "alice").unwrap();
        listed.sort();
        assert_eq!(listed, [one.clone(), two.clone()]);
        remove(root, "alice", &one);
        assert!(owner_dir(root, "alice").is_dir(), "one entry is left");
        remove(root, "alice", &two);
        remove(root, "alice", &two);
        assert!(!owner_dir(root, "alice").exists());
        assert!(keys(root, "alice").unwrap().is_empty());
        add(root, "alice", &one).unwrap();
        assert_eq!(keys(root, "alice").unwrap(), [one]);
    }
}
