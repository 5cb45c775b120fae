//! The operations that span slots on a Redis Cluster: regenerate (two random keys) and the owner
//! index (an owner's set and its sessions). See "Redis Cluster" in the module documentation for
//! what is atomic and what is eventually consistent, and why.

use redis::Value;
use session_core::{now_ms, Delta, OwnerSession, SessionId, StoreError};

use super::layout::{ABSOLUTE, CREATED, EXPIRES, INDEX_COVER, OWNER};
use super::{backend_reply, index_cover, owner_session, OwnerChange, RedisStore};
use crate::codec;

/// How long the tombstone of an abandoned regenerate keeps a create still queued for its key
/// from running: far longer than any command stays queued on a live node.
const ABANDONED_TOMBSTONE_MS: u64 = 10 * 60 * 1000;

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
    /// writes), never overwriting. Returns whether it was free.
    pub(super) async fn put(
        &self,
        member: &str,
        deadline: u64,
        owner: Option<&str>,
        pairs: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<bool, StoreError> {
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
        let reply = self.eval(script, &command, "regenerate").await?;
        Ok(!matches!(reply, Value::Int(0)))
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
        let owner = pairs
            .iter()
            .find(|(field, _)| field.as_slice() == OWNER.as_bytes())
            .map(|(_, owner)| String::from_utf8_lossy(owner).into_owned());
        // Indexed before the key exists, so "log out everywhere" never misses it, even should
        // the create run late.
        if let Some(owner) = &owner {
            if let Err(cause) = self
                .index_add(owner, &new_member, index_cover(deadline))
                .await
            {
                return Err(StoreError::backend(RegenerateFailed::Ended { cause }));
            }
        }
        let cause = match self
            .put(&new_member, deadline, owner.as_deref(), &pairs)
            .await
        {
            Ok(true) => return Ok(true),
            // Taken since the check above: only a random collision does that.
            Ok(false) => StoreError::AlreadyExists,
            Err(cause) => cause,
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
        command
            .arg(self.session_key(member))
            .arg(ABANDONED_TOMBSTONE_MS);
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
                .arg(ABSOLUTE);
            let fields: Vec<Option<Vec<u8>>> = self.query(&command, "owner sessions").await?;
            if fields.iter().all(Option::is_none) {
                gone.push(member);
            } else if fields.first().and_then(Option::as_deref) == Some(owner.as_bytes()) {
                let text = |i: usize| fields.get(i).cloned().flatten().unwrap_or_default();
                if let Some(session) = owner_session(member, &text(1), &text(2), &text(3), now) {
                    sessions.push(session);
                }
            }
        }
        self.prune(owner, &gone).await;
        Ok(sessions)
    }

    pub(super) async fn owner_members(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let mut command = redis::cmd("SMEMBERS");
        command.arg(self.owner_key(owner));
        self.query(&command, "owner sessions").await
    }

    /// Removes members whose session is gone from `owner`'s set; a failure only delays it.
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
    /// node.
    pub(super) async fn delete_owner_across_slots(&self, owner: &str) -> Result<u64, StoreError> {
        let script = &self.inner.scripts.delete_if_owned;
        let mut deleted = 0;
        let mut gone = Vec::new();
        for member in self.owner_members(owner).await? {
            let mut command = script.command(1, 1, owner.len() + member.len() + 32);
            command.arg(self.session_key(&member)).arg(owner);
            match self.eval(script, &command, "delete owner").await? {
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
}
