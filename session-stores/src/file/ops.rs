//! The work of each [`Store`](session_core::Store) method on the session files and the owner
//! index, run on the blocking pool under the locks the caller took (see the store's docs).

use std::path::Path;

use session_core::{now_ms, Delta, OwnerSession, Record, SessionId, StoreError};

use super::disk::{self, Slot};
use super::{index, Inner};
use crate::codec;

/// Creates the session file, after its owner's index entry.
/// Writes a new session file; how many bytes it holds.
pub(super) fn create(root: &Path, slot: &Slot, record: &Record) -> Result<u64, StoreError> {
    let bytes = codec::encode(record)?;
    index::rebinding(root, &slot.key, None, record.owner.as_deref(), || {
        disk::create_new(slot, &bytes, now_ms())
    })?;
    Ok(u64::try_from(bytes.len()).unwrap_or(u64::MAX))
}

/// The live record in `slot`; `None` when there is none or it has expired.
pub(super) fn read_live(
    slot: &Slot,
    id: SessionId,
    now: u64,
) -> Result<Option<Record>, StoreError> {
    let Some(bytes) = disk::read(&slot.path)? else {
        return Ok(None);
    };
    let record = codec::decode(id, &bytes)?;
    Ok((!record.is_expired(now)).then_some(record))
}

pub(super) fn update(
    root: &Path,
    slot: &Slot,
    id: SessionId,
    delta: &Delta,
) -> Result<bool, StoreError> {
    let Some(mut record) = read_live(slot, id, now_ms())? else {
        return Ok(false);
    };
    let before = record.owner.clone();
    delta.apply(&mut record);
    let bytes = codec::encode(&record)?;
    index::rebinding(
        root,
        &slot.key,
        before.as_deref(),
        record.owner.as_deref(),
        || disk::replace(slot, &bytes),
    )?;
    Ok(true)
}

pub(super) fn regenerate(
    root: &Path,
    (old, new): (&Slot, &Slot),
    (old_id, new_id): (SessionId, SessionId),
    delta: &Delta,
) -> Result<bool, StoreError> {
    let now = now_ms();
    if disk::holds_live_record(&new.path, now)? {
        return Err(StoreError::AlreadyExists);
    }
    let Some(mut record) = read_live(old, old_id, now)? else {
        return Ok(false);
    };
    let before = record.owner.clone();
    delta.apply(&mut record);
    record.id = new_id;
    let bytes = codec::encode(&record)?;
    // Between the two renames the new name holds the record as it was: both owners' entries
    // must cover the new name until the end.
    let rebound = record.owner != before;
    let after = record.owner.as_ref().filter(|_| rebound);
    for owner in before.iter().chain(after) {
        index::add(root, owner, &new.key)?;
    }
    disk::move_to(old, new, &bytes)?;
    if let Some(owner) = &before {
        index::remove(root, owner, &old.key);
        if rebound {
            index::remove(root, owner, &new.key);
        }
    }
    Ok(true)
}

pub(super) fn delete(root: &Path, slot: &Slot) -> Result<bool, StoreError> {
    let owner = disk::read(&slot.path)?
        .and_then(|bytes| codec::summary(&bytes).ok())
        .and_then(|summary| summary.owner);
    let removed = disk::remove(&slot.path)?;
    if removed {
        disk::sync_dir(&slot.shard);
    }
    if let Some(owner) = owner {
        index::remove(root, &owner, &slot.key);
    }
    Ok(removed)
}

/// What the session file says about an owner index entry.
enum Entry {
    /// The session is live and bound to the owner.
    Live(OwnerSession),
    /// The session is bound to the owner but expired: cleanup's (or "log out everywhere"'s).
    Expired,
    /// The session is gone, undecodable or bound to someone else: the entry is extra.
    Extra,
}

fn entry(slot: &Slot, owner: &str, now: u64) -> Result<Entry, StoreError> {
    let Some(bytes) = disk::read(&slot.path)? else {
        return Ok(Entry::Extra);
    };
    Ok(match codec::summary(&bytes) {
        Ok(summary) if summary.owner.as_deref() == Some(owner) => {
            if summary.is_live(now) {
                Entry::Live(OwnerSession {
                    handle: slot.key.clone(),
                    created_at: summary.created_at,
                    expires_at: summary.expires_at,
                    device: summary.device,
                    current: false,
                })
            } else {
                Entry::Expired
            }
        }
        _ => Entry::Extra,
    })
}

pub(super) fn owner_sessions(inner: &Inner, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
    let now = now_ms();
    let mut sessions = Vec::new();
    for key in index::keys(&inner.dir, owner)? {
        let slot = disk::slot_for_key(&inner.dir, key);
        if let Entry::Live(session) = entry(&slot, owner, now)? {
            sessions.push(session);
            continue;
        }
        // Prune, under the lock so no writer is between adding this entry and writing the file.
        let _held = inner.lock_now(&[(&slot.shard, slot.stripe)])?;
        match entry(&slot, owner, now)? {
            Entry::Live(session) => sessions.push(session),
            Entry::Expired | Entry::Extra => index::remove(&inner.dir, owner, &slot.key),
        }
    }
    Ok(sessions)
}

/// Removes the live session of `owner` stored under `key`; whether there was one.
pub(super) fn delete_owned(inner: &Inner, owner: &str, key: &str) -> Result<bool, StoreError> {
    if !disk::is_storage_key(key) {
        return Ok(false);
    }
    let slot = disk::slot_for_key(&inner.dir, key.to_string());
    let _held = inner.lock_now(&[(&slot.shard, slot.stripe)])?;
    match entry(&slot, owner, now_ms())? {
        Entry::Live(_) => delete(&inner.dir, &slot),
        Entry::Expired | Entry::Extra => Ok(false),
    }
}

/// How many times "log out everywhere" lists an owner's index before giving up on sessions that
/// keep appearing (each pass ends all it lists, so a second pass finds only what moved or came
/// meanwhile).
const REVOKE_PASSES: usize = 64;

/// Ends every session of `owner` but the one stored under `keep`, listing the owner's index again
/// after each pass until it holds nothing else: a regenerate moves a session to a new name whose
/// entry it adds before the move, so a session moved during a pass is listed by the next one.
pub(super) fn delete_owner(
    inner: &Inner,
    owner: &str,
    keep: Option<&str>,
) -> Result<u64, StoreError> {
    let now = now_ms();
    let mut ended = 0;
    for _ in 0..REVOKE_PASSES {
        let keys: Vec<String> = index::keys(&inner.dir, owner)?
            .into_iter()
            .filter(|key| keep != Some(key.as_str()))
            .collect();
        if keys.is_empty() {
            return Ok(ended);
        }
        for key in keys {
            let slot = disk::slot_for_key(&inner.dir, key);
            let _held = inner.lock_now(&[(&slot.shard, slot.stripe)])?;
            match entry(&slot, owner, now)? {
                Entry::Live(_) => {
                    if delete(&inner.dir, &slot)? {
                        ended += 1;
                    }
                }
                Entry::Expired => {
                    delete(&inner.dir, &slot)?;
                }
                Entry::Extra => index::remove(&inner.dir, owner, &slot.key),
            }
        }
    }
    Err(StoreError::backend_msg(format!(
        "could not end every session of an owner: its index still listed sessions after \
         {REVOKE_PASSES} passes (sessions kept being created or moved, or its entries could not \
         be removed)"
    )))
}
