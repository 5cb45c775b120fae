//! The operations that span slots on a Redis Cluster: regenerate (two random keys) and the owner
//! index (an owner's set and its sessions). See "Redis Cluster" in the module documentation for
//! what is atomic and what is eventually consistent, and why.

use redis::Value;
use session_core::{now_ms, Delta, OwnerSession, SessionId, StoreError};

use super::layout::{ABSOLUTE, CREATED, EXPIRES, INDEX_COVER, OWNER};
use super::{backend_reply, index_cover, owner_session, OwnerChange, RedisStore};
use crate::codec;

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
    /// documentation): take the old record, put it under the new key, index it.
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
        // Puts the record back under the old key, indexed again (a read may have pruned it).
        let restore = || async {
            self.put(&old_member, deadline, owner.as_deref(), &pairs)
                .await?;
            match &owner {
                Some(owner) => {
                    self.index_add(owner, &old_member, index_cover(deadline))
                        .await
                }
                None => Ok(()),
            }
        };
        match self
            .put(&new_member, deadline, owner.as_deref(), &pairs)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                restore().await?;
                return Err(StoreError::AlreadyExists);
            }
            Err(error) => {
                if let Err(restore_error) = restore().await {
                    tracing::warn!(%restore_error, "a regenerate failed half-way; the session is lost");
                }
                return Err(error);
            }
        }
        if let Some(owner) = &owner {
            if let Err(error) = self
                .index_add(owner, &new_member, index_cover(deadline))
                .await
            {
                // Unindexed, the session would survive "log out everywhere": end it instead.
                if let Err(delete_error) = self.delete_key(&new_member).await {
                    tracing::warn!(%delete_error, "a regenerated session could not be indexed nor removed");
                }
                return Err(error);
            }
        }
        Ok(true)
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
