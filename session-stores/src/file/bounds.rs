//! The store's bounds: how many session files, and how many bytes, it lets in.
//!
//! A file store is shared by processes, and counting its files on every write would cost a walk
//! of the whole directory, so each store keeps an estimate: taken by a full pass over the files
//! (every cleanup pass, [`Store::count`](session_core::Store::count), or the first create when no
//! pass has run yet), and moved by this process's own creates and deletes. Other processes'
//! writes show at the next pass.
//!
//! At the bounds, sessions bound to an owner come first: a new anonymous session is not written
//! once the store holds 90% of `max_sessions` or `max_bytes` (its client then has a new, empty
//! session, as after an eviction in the memory store), so that an anonymous flood leaves the
//! last tenth to logins; a new session bound to an owner is refused with an error only at the
//! bounds themselves. Writes to sessions that exist (updates, regenerates) are never refused:
//! each is bounded by the session's size limit.

use std::io;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use session_core::StoreError;

use super::disk::failed;
use super::sweep;

/// What the store holds, as this process knows it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Usage {
    /// Session files, live or not yet cleaned up.
    pub(super) sessions: u64,
    /// Their bytes.
    pub(super) bytes: u64,
}

/// The bounds and the estimate of what the store holds.
pub(super) struct Bounds {
    max_sessions: u64,
    max_bytes: u64,
    /// `None` until the first full pass.
    usage: Mutex<Option<Usage>>,
}

/// What a create may do.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admission {
    Write,
    /// An anonymous session past the anonymous share of the bounds: not written.
    Skip,
}

impl Bounds {
    pub(super) fn new(max_sessions: u64, max_bytes: u64) -> Self {
        Bounds {
            max_sessions,
            max_bytes,
            usage: Mutex::new(None),
        }
    }

    fn usage(&self) -> MutexGuard<'_, Option<Usage>> {
        // Every change is one assignment, so a panic elsewhere cannot leave it half-changed.
        self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records what a full pass found.
    pub(super) fn counted(&self, usage: Usage) {
        *self.usage() = Some(usage);
    }

    /// Whether a new session (bound to an owner or not) may be written to the store in `root`;
    /// an error when a session bound to an owner would pass a bound. Blocking: the first call
    /// walks the directory.
    pub(super) fn admit(&self, root: &Path, owned: bool) -> Result<Admission, StoreError> {
        let known = *self.usage();
        let usage = match known {
            Some(usage) => usage,
            None => {
                let usage = sweep::usage(root)?;
                self.counted(usage);
                usage
            }
        };
        // Anonymous sessions may fill nine tenths of each bound.
        let share = |bound: u64| if owned { bound } else { bound - bound / 10 };
        if usage.sessions < share(self.max_sessions) && usage.bytes < share(self.max_bytes) {
            return Ok(Admission::Write);
        }
        if !owned {
            tracing::debug!("file store near its bounds: a new anonymous session is not written");
            return Ok(Admission::Skip);
        }
        Err(failed("create a session in", root)(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "the store holds {} sessions and {} bytes, at `max_sessions` = {} or \
                 `max_bytes` = {}; raise them, or clean up more often",
                usage.sessions, usage.bytes, self.max_sessions, self.max_bytes
            ),
        )))
    }

    /// Counts a session file of `bytes` this process wrote.
    pub(super) fn created(&self, bytes: u64) {
        if let Some(usage) = self.usage().as_mut() {
            usage.sessions += 1;
            usage.bytes += bytes;
        }
    }

    /// Counts a session file of `bytes` this process removed.
    pub(super) fn removed(&self, bytes: u64) {
        if let Some(usage) = self.usage().as_mut() {
            usage.sessions = usage.sessions.saturating_sub(1);
            usage.bytes = usage.bytes.saturating_sub(bytes);
        }
    }
}
