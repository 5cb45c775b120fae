//! The delta update that keeps the session's owner: one `MULTI`/`EXEC` of native commands, which
//! costs Redis less CPU than a script doing the same work: under load, a request's load and
//! update cost Redis 1.4–1.6x what actix-session's `GET` and whole-record `SET` cost, against
//! 1.9x with the script (see "Redis" in `BENCHMARKS.md`).
//!
//! ```text
//! MULTI
//! HINCRBY   key @v 1
//! HDEL      key <removed fields>           (when the delta removes any)
//! HSET      key <changed fields> @e ...
//! HMGET     key @c @o @t
//! PEXPIREAT key <deadline>
//! EXEC
//! ```
//!
//! A transaction cannot make its writes conditional, so it checks afterwards, in the same
//! `EXEC`: every record has `@c` (written by `create` and never by a delta), so a missing `@c`
//! means the key was gone (deleted, expired, moved away by a regenerate) and the transaction made
//! a *stray*: a hash with only the delta's fields. The store then deletes it, if it still has no
//! `@c`, and reports the session gone (`false`), as the script did. Until then (and, should that
//! delete fail, until its `PEXPIREAT`), every reader treats a hash without `@c` as absent:
//! `load` and `exists` find no session, `update`, `regenerate` and the cluster's take find it
//! gone, `create` writes over it, and the owner index skips it (it names no owner).
//!
//! `HMGET` comes before `PEXPIREAT`: a deadline already past deletes the key, which then reads as
//! gone. The owner fields tell whether the owner's set is due an extension (`@t` below the
//! record's deadline plus half the slack); the store then extends it after the transaction, as it
//! always has on a cluster. Binding or unbinding an owner changes the index with the record, and
//! goes through the update script instead.

use redis::{Cmd, Pipeline, Value};
use session_core::{Delta, SessionId, StoreError};

use super::layout::{
    data_bytes, expire_at, push_changed, push_removed, removed_count, CREATED, INDEX_COVER,
    INDEX_SLACK_MS, OWNER, VERSION,
};
use super::{backend_reply, RedisStore, WRONG_TYPE};
use crate::codec;

impl RedisStore {
    /// [`Store::update`](session_core::Store::update) of a delta that leaves the owner as stored.
    pub(super) async fn update_keeping_owner(
        &self,
        id: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        let member = id.storage_key();
        let key = self.session_key(&member);
        let deadline = codec::deadline_after(delta);

        // Each command sized up front, so that no buffer grows while the command is built.
        let small = |args: usize| Cmd::with_capacity(args, key.len() + 64);
        let mut pipeline = Pipeline::with_capacity(5);
        pipeline.atomic().ignore_errors();
        let mut hincrby = small(4);
        hincrby.arg("HINCRBY").arg(key).arg(VERSION).arg(1);
        pipeline.add_command(hincrby);
        if removed_count(delta) > 0 {
            let removed = data_bytes(delta.removed.iter().map(|k| (k.as_str(), "")));
            let mut hdel = Cmd::with_capacity(4 + delta.removed.len(), removed + key.len() + 64);
            hdel.arg("HDEL").arg(key);
            push_removed(&mut hdel, delta);
            pipeline.add_command(hdel).ignore();
        }
        let changed = data_bytes(delta.changed.iter().map(|(k, v)| (k.as_str(), v.get())));
        let mut hset =
            Cmd::with_capacity(2 + 2 * delta.changed.len() + 6, changed + key.len() + 128);
        hset.arg("HSET").arg(key);
        push_changed(&mut hset, delta)?;
        pipeline.add_command(hset).ignore();
        let mut hmget = small(5);
        hmget
            .arg("HMGET")
            .arg(key)
            .arg(CREATED)
            .arg(OWNER)
            .arg(INDEX_COVER);
        pipeline.add_command(hmget);
        let mut pexpireat = small(3);
        pexpireat.arg("PEXPIREAT").arg(key).arg(expire_at(deadline));
        pipeline.add_command(pexpireat).ignore();

        let reply = self
            .inner
            .link
            .transaction(&pipeline)
            .await
            .map_err(self.failed("update"))?;
        let (version, meta) = match reply {
            Value::Array(mut replies) if replies.len() == 2 => {
                let meta = replies.pop();
                (replies.pop(), meta)
            }
            reply => return Err(backend_reply("update", &reply)),
        };
        let meta = match meta {
            Some(Value::Array(meta)) => meta,
            Some(Value::ServerError(error)) if error.code() == WRONG_TYPE => {
                return Err(StoreError::corrupt(format!(
                    "the session's key is not a hash: {error:?}"
                )));
            }
            _ => return Err(StoreError::backend_msg("Redis update: no HMGET reply")),
        };
        let mut meta = meta.into_iter();
        let (created, owner, cover) = (meta.next(), meta.next(), meta.next());
        if !matches!(created, Some(Value::BulkString(_))) {
            self.delete_stray(&member).await;
            return Ok(false);
        }
        if let Some(Value::ServerError(error)) = version {
            return Err(StoreError::corrupt(format!(
                "field `{VERSION}` cannot be incremented: {error:?}"
            )));
        }
        if let Some(Value::BulkString(owner)) = owner {
            let cover = match cover {
                Some(Value::BulkString(cover)) => std::str::from_utf8(&cover)
                    .ok()
                    .and_then(|cover| cover.parse::<u64>().ok())
                    .unwrap_or(0),
                _ => 0,
            };
            if cover < expire_at(deadline.saturating_add(INDEX_SLACK_MS / 2)) {
                let owner = String::from_utf8_lossy(&owner);
                self.extend_owner_index(&owner, &member, deadline).await;
            }
        }
        Ok(true)
    }

    /// Deletes the hash a transactional update left under a gone session's key, unless a
    /// record (with `@c`) took the key meanwhile. A failure is logged: the stray reads as absent
    /// and expires with the delta's deadline.
    async fn delete_stray(&self, member: &str) {
        let script = &self.inner.scripts.delete_stray;
        let mut command = script.command(1, 0, member.len() + 64);
        command.arg(self.session_key(member));
        if let Err(error) = self.eval(script, &command, "update").await {
            tracing::debug!(%error, "the remains of an update of a gone session stay until they expire");
        }
    }
}
