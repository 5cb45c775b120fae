//! The operations that span slots on a Redis Cluster: regenerate (two random keys) and the owner
//! index (an owner's set and its sessions). See "Redis Cluster" in the module documentation for
//! what is atomic and what is eventually consistent, and why.

use redis::Value;
use session_core::{now_ms, Delta, OwnerSession, SessionId, StoreError};

use super::layout::{ABSOLUTE, CREATED, DEVICE_FIELD, EXPIRES, INDEX_COVER, OWNER};
use super::{backend_reply, index_cover, owner_session, OwnerChange, RedisStore, Revocation};
use crate::codec;

/// How long a tombstone (of an abandoned regenerate, or a fence) keeps a create still queued or
/// running late for its key from making a session there: far longer than any command stays
/// queued on a live node or a regenerate runs.
const TOMBSTONE_MS: u64 = 10 * 60 * 1000;

/// The key of `owner_key`'s revocation mark: in the same slot as the owner's set (a script may
/// only touch keys of one slot), whatever the owner's set's name holds. The name starts with a
/// hash tag `{n}`, the smallest number whose slot is the set's.
fn revocation_mark(owner_key: &str) -> String {
    let tags = TAG_OF_SLOT.get_or_init(|| {
        let mut tags = vec![u32::MAX; SLOTS];
        let mut missing = SLOTS;
        let mut tag = 0u32;
        while missing > 0 {
            let slot = key_slot(tag.to_string().as_bytes());
            if tags[slot] == u32::MAX {
                tags[slot] = tag;
                missing -= 1;
            }
            tag += 1;
        }
        tags.into_boxed_slice()
    });
    format!(
        "{{{}}}{owner_key}~revoking",
        tags[key_slot(owner_key.as_bytes())]
    )
}

/// Redis Cluster's slot count.
const SLOTS: usize = 16384;

/// The smallest hash tag of each slot, computed once (about 170,000 CRC16s of a few bytes).
static TAG_OF_SLOT: std::sync::OnceLock<Box<[u32]>> = std::sync::OnceLock::new();

/// A key's slot, as Redis Cluster computes it: CRC16 (XMODEM) of its hash tag (between the first
/// `{` and the first `}` after it, when not empty) or of the whole key, modulo the slot count.
fn key_slot(key: &[u8]) -> usize {
    let hashed = key
        .iter()
        .position(|&byte| byte == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&byte| byte == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    let mut crc: u16 = 0;
    for &byte in hashed {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    usize::from(crc) % SLOTS
}

/// What a create of a regenerate's new key found.
pub(super) enum Put {
    Created,
    /// A record has the key.
    Taken,
    /// A tombstone has it: an owner's revocation or listing fenced it between the regenerate's
    /// steps.
    Fenced,
}

/// How many times a failed regenerate tries to settle its new key before it gives up.
const ABANDON_ATTEMPTS: usize = 4;

/// Why a regenerate on a cluster failed after it took the session from its old key. Either way
/// the session is ended under both ids (never restored under the old one, which could undo a
/// logout or carry the request's changes to the old id): the user signs in again.
#[derive(Debug, thiserror::Error)]
enum RegenerateFailed {
    /// The new key was settled: no session is left under it.
    #[error(
        "Redis regenerate could not write the new key ({cause}); the session was ended and the \
         user must sign in again; check the cluster's nodes (memory, failovers, paused clients)"
    )]
    Ended {
        #[source]
        cause: StoreError,
    },
    /// The new key's node did not answer: a create still queued there may run later, under an
    /// id that no client was given, indexed under its owner and expiring with its deadline.
    #[error(
        "Redis regenerate timed out on the new key's node ({cause}); the session was ended and \
         the user must sign in again; check that node (it did not answer)"
    )]
    Unsettled {
        #[source]
        cause: StoreError,
    },
}

impl RedisStore {
    /// Cluster only: adds `member` to `owner`'s set and makes the set live until `cover`.
    pub(super) async fn index_add(
        &self,
        owner: &str,
        member: &str,
        cover: u64,
    ) -> Result<(), StoreError> {
        let script = &self.inner.scripts.index_add;
        let mut command = script.command(1, 2, owner.len() + member.len() + 64);
        command.arg(self.owner_key(owner)).arg(cover).arg(member);
        self.eval(script, &command, "owner index").await.map(drop)
    }

    /// Cluster only: creates `key` from `HGETALL` pairs (minus the owner fields, which the script
    /// writes), never overwriting.
    pub(super) async fn put(
        &self,
        member: &str,
        deadline: u64,
        owner: Option<&str>,
        pairs: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Put, StoreError> {
        let script = &self.inner.scripts.create;
        let bytes = pairs.iter().map(|(f, v)| f.len() + v.len()).sum::<usize>();
        let mut command = script.command(1, 8 + 2 * pairs.len(), bytes + 256);
        command.arg(self.session_key(member));
        self.push_header(
            &mut command,
            deadline,
            member,
            OwnerChange::of_record(owner),
        );
        for (field, value) in pairs {
            if field.as_slice() != OWNER.as_bytes() && field.as_slice() != INDEX_COVER.as_bytes() {
                command.arg(field.as_slice()).arg(value.as_slice());
            }
        }
        Ok(match self.eval(script, &command, "regenerate").await? {
            Value::Int(0) => Put::Taken,
            Value::Int(-1) => Put::Fenced,
            _ => Put::Created,
        })
    }

    /// Regenerate on a cluster, where the two keys are in different slots (see the module
    /// documentation). Three steps, each atomic on its node, in an order where a failure or a
    /// crash between any two leaves at most one of the keys live, never the delta under the old
    /// one: take the old record (deleting it), index the new key, create the new key. Once the
    /// old record is taken, a failure ends the session (fails closed): the new key is settled
    /// with [`ABANDON`](super::scripts::ABANDON) before the error returns.
    pub(super) async fn regenerate_across_slots(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        let (old_member, new_member) = (old.storage_key(), new.storage_key());
        let mut exists = redis::cmd("EXISTS");
        exists.arg(self.session_key(&new_member));
        if self.query::<i64>(&exists, "regenerate").await? == 1 {
            return Err(StoreError::AlreadyExists);
        }
        // The new key joins the owner's set before anything else: an owner's revocation that
        // starts later finds it there, and one that visits it before it exists fences it (see
        // `delete_owner_across_slots`). Which owner: the one the delta binds, or the stored one.
        let owner = match &delta.owner {
            Some(owner) => owner.clone(),
            None => {
                let mut stored = redis::cmd("HGET");
                stored.arg(self.session_key(&old_member)).arg(OWNER);
                self.query::<Option<String>>(&stored, "regenerate").await?
            }
        };
        if let Some(owner) = &owner {
            let script = &self.inner.scripts.index_add_unless_revoking;
            let mut command = script.command(
                2,
                4,
                owner.len() * 2 + new_member.len() * 3 + self.inner.key_prefix.len() * 2 + 96,
            );
            command
                .arg(self.owner_key(owner))
                .arg(revocation_mark(&self.owner_key_of(owner)))
                .arg(index_cover(codec::deadline_after(delta)))
                .arg(&new_member)
                .arg(self.session_key(&old_member))
                .arg(self.session_key(&new_member));
            if let Value::Int(0) = self.eval(script, &command, "regenerate").await? {
                // The owner's sessions are being revoked, and not this one's alone: it ends too.
                self.delete_if_owned(owner, &old_member).await?;
                return Ok(false);
            }
        }
        let script = &self.inner.scripts.take;
        let deadline = codec::deadline_after(delta);
        let mut command = self.delta_command(script, 1, delta);
        command.arg(self.session_key(&old_member));
        self.push_header(&mut command, deadline, &old_member, OwnerChange::of(delta));
        self.push_delta(&mut command, delta)?;
        // A failure here (a timeout included) leaves the old record as it was or taken whole:
        // the script is atomic, and the request's changes exist only in what it returns.
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = match self.eval(script, &command, "regenerate").await?
        {
            Value::Int(0) => return Ok(false),
            reply @ Value::Array(_) => redis::from_redis_value(reply)
                .map_err(|error| StoreError::backend_msg(format!("Redis regenerate: {error}")))?,
            reply => return Err(backend_reply("regenerate", &reply)),
        };
        let taken_owner = pairs
            .iter()
            .find(|(field, _)| field.as_slice() == OWNER.as_bytes())
            .map(|(_, owner)| String::from_utf8_lossy(owner).into_owned());
        let cause = if taken_owner != owner {
            // Rebound between the read and the take: the new key is not in its owner's set, so
            // it must not come to life.
            StoreError::backend_msg("Redis regenerate: the session was rebound meanwhile")
        } else {
            match self
                .put(&new_member, deadline, owner.as_deref(), &pairs)
                .await
            {
                Ok(Put::Created) => return Ok(true),
                // The owner's sessions were revoked between the steps: the session is gone.
                Ok(Put::Fenced) => return Ok(false),
                // Taken since the check above: only a random collision does that.
                Ok(Put::Taken) => StoreError::AlreadyExists,
                Err(cause) => cause,
            }
        };
        if self.abandon(&new_member).await {
            Err(StoreError::backend(RegenerateFailed::Ended { cause }))
        } else {
            Err(StoreError::backend(RegenerateFailed::Unsettled { cause }))
        }
    }

    /// Settles the new key of a failed regenerate: a create of it that failed, timed out or is
    /// still queued on its node leaves no session. Tries a few times, each bounded by the
    /// store's timeout (a paused or busy node answers once it resumes); `false` when no attempt
    /// was answered.
    async fn abandon(&self, member: &str) -> bool {
        let script = &self.inner.scripts.abandon;
        let mut command = script.command(1, 1, member.len() + 64);
        command.arg(self.session_key(member)).arg(TOMBSTONE_MS);
        for _ in 0..ABANDON_ATTEMPTS {
            match self.eval(script, &command, "regenerate").await {
                Ok(_) => return true,
                Err(error) => {
                    tracing::warn!(%error, "the new key of a failed regenerate is not settled yet");
                }
            }
        }
        false
    }

    /// `owner_sessions` on a cluster: the set's members, each checked on its own node.
    pub(super) async fn owner_sessions_across_slots(
        &self,
        owner: &str,
    ) -> Result<Vec<OwnerSession>, StoreError> {
        let now = now_ms();
        let members = self.owner_members(owner).await?;
        let mut sessions = Vec::with_capacity(members.len());
        let mut gone = Vec::new();
        for member in members {
            let mut command = redis::cmd("HMGET");
            command
                .arg(self.session_key(&member))
                .arg(OWNER)
                .arg(CREATED)
                .arg(EXPIRES)
                .arg(ABSOLUTE)
                .arg(DEVICE_FIELD);
            let fields: Vec<Option<Vec<u8>>> = self.query(&command, "owner sessions").await?;
            if fields.iter().all(Option::is_none) {
                gone.push(member);
            } else if fields.first().and_then(Option::as_deref) == Some(owner.as_bytes()) {
                let text = |i: usize| fields.get(i).cloned().flatten().unwrap_or_default();
                let session = owner_session(member, &text(1), &text(2), &text(3), &text(4), now);
                if let Some(session) = session {
                    sessions.push(session);
                }
            }
        }
        self.fence_and_prune(owner, gone).await;
        Ok(sessions)
    }

    /// The members of `owner`'s set, read in `SSCAN` batches (no command's work grows with the
    /// set), without repeats.
    pub(super) async fn owner_members(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let mut members = Vec::new();
        let mut cursor = 0;
        loop {
            let (next, batch) = self.owner_batch(owner, cursor).await?;
            members.extend(batch);
            if next == 0 {
                members.sort_unstable();
                members.dedup();
                return Ok(members);
            }
            cursor = next;
        }
    }

    /// Removes members whose session is gone from `owner`'s set, each fenced first (see
    /// [`FENCE_GONE`](super::scripts::FENCE_GONE)); a failure only delays it.
    pub(super) async fn fence_and_prune(&self, owner: &str, candidates: Vec<String>) {
        let script = &self.inner.scripts.fence_gone;
        let mut gone = Vec::with_capacity(candidates.len());
        for member in candidates {
            let mut command = script.command(1, 1, member.len() + 64);
            command.arg(self.session_key(&member)).arg(TOMBSTONE_MS);
            match self.eval(script, &command, "owner index pruning").await {
                Ok(Value::Int(1)) => gone.push(member),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "owner index not pruned; retried on the next read");
                    break;
                }
            }
        }
        self.prune(owner, &gone).await;
    }

    /// Removes members from `owner`'s set whose key holds no record and cannot get one (deleted
    /// by a revocation, or fenced); a failure only delays it.
    pub(super) async fn prune(&self, owner: &str, gone: &[String]) {
        if gone.is_empty() {
            return;
        }
        let mut command = redis::cmd("SREM");
        command.arg(self.owner_key(owner)).arg(gone);
        if let Err(error) = self.query::<i64>(&command, "owner index pruning").await {
            tracing::warn!(%error, "owner index not pruned; retried on the next read");
        }
    }

    /// `delete_owner` on a cluster: each member that still names the owner is deleted on its own
    /// node, and each that holds no record is fenced, so that a regenerate between its steps
    /// (its new key indexed, not yet created) cannot bring the session back under it. The
    /// session under `keep` is spared, and so is each key a regenerate moved it to meanwhile.
    ///
    /// The owner is marked first (in its set's slot), and a regenerate indexes its new key only
    /// while no mark is there, or when every revocation under way keeps the session it moves
    /// (the mark then keeps its new key too): one that indexed before the mark is in the set
    /// this revocation reads; one after is refused and ends its session, unless it is kept.
    pub(super) async fn delete_owner_across_slots(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mark = revocation_mark(&self.owner_key_of(owner));
        let revocation = self.mark_revocation(mark, keep).await?;
        let revoked = self.delete_marked_owner(owner, &revocation).await;
        self.unmark_revocation(&revocation).await;
        revoked
    }

    async fn delete_marked_owner(
        &self,
        owner: &str,
        revocation: &Revocation<'_>,
    ) -> Result<u64, StoreError> {
        let keep = revocation.keep;
        let members = self.owner_members(owner).await?;
        // Read after the members: a regenerate of the kept session whose new key is among them
        // indexed it before this read, and so recorded it as kept in the mark before.
        let kept = match keep {
            Some(_) => self.kept_keys(revocation).await?,
            None => Vec::new(),
        };
        let mut deleted = 0;
        let mut gone = Vec::new();
        for member in members {
            let is_kept = keep == Some(member.as_str())
                || kept.iter().any(|key| {
                    key.strip_prefix(self.inner.key_prefix.as_str()) == Some(member.as_str())
                });
            if is_kept {
                continue;
            }
            match self.delete_if_owned(owner, &member).await? {
                Value::Int(1) => {
                    deleted += 1;
                    gone.push(member);
                }
                Value::Int(-1) => gone.push(member),
                _ => {}
            }
        }
        self.prune(owner, &gone).await;
        Ok(deleted)
    }

    /// The session keys `revocation` keeps, as its mark records them: the one it was asked to
    /// keep and those a regenerate moved it to since.
    async fn kept_keys(&self, revocation: &Revocation<'_>) -> Result<Vec<String>, StoreError> {
        let mut command = redis::cmd("HKEYS");
        command.arg(&revocation.mark);
        let fields: Vec<String> = self.query(&command, "delete owner").await?;
        let own = format!("k{}:", revocation.token);
        Ok(fields
            .into_iter()
            .filter_map(|field| field.strip_prefix(&own).map(str::to_string))
            .collect())
    }

    /// Deletes `member`'s session if `owner`'s, fencing its key if it holds no record (see
    /// [`DELETE_IF_OWNED`](super::scripts::DELETE_IF_OWNED)).
    async fn delete_if_owned(&self, owner: &str, member: &str) -> Result<Value, StoreError> {
        let script = &self.inner.scripts.delete_if_owned;
        let mut command = script.command(1, 2, owner.len() + member.len() + 32);
        command
            .arg(self.session_key(member))
            .arg(owner)
            .arg(TOMBSTONE_MS);
        self.eval(script, &command, "delete owner").await
    }
}

#[cfg(test)]
mod tests {
    use super::{key_slot, revocation_mark};

    #[test]
    fn slots_are_redis_clusters() {
        // Figures from `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
    }

    #[test]
    fn a_revocation_mark_shares_its_owner_sets_slot() {
        for owner_key in [
            "s:owner:alice",
            "s:owner:{team}x",
            "s:owner:}{",
            "{}owner:b",
        ] {
            let mark = revocation_mark(owner_key);
            assert_eq!(key_slot(mark.as_bytes()), key_slot(owner_key.as_bytes()));
        }
    }
}
