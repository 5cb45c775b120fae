//! Execute: each opened session's plan carried out against its store, and the headers that tell
//! the client.
//!
//! When the store says the session is gone (another request destroyed or regenerated it after
//! this one loaded it), this request's changes are dropped and it sets no cookie: the other
//! request's response already did, and expiring it here could arrive later and erase a cookie
//! that a login just set.

use super::plan::{lifetime_of, plan_server, Send, Write};
use super::render::{emit_removal, emit_value, ResponseHeader};
use super::{RequestSessions, Slot, SlotConfig};
use crate::error::Error;
use crate::expiry::max_age_secs;
use crate::id::SessionId;
use crate::record::Record;
use crate::registry::Backend;
use crate::seal::{seal_id, seal_record};
use crate::session::Session;
use crate::store::{Store, StoreError};

/// How often a write is retried with a fresh id after a collision (with 256-bit ids, a
/// collision means a broken random source or a store that misreports).
const NEW_ID_ATTEMPTS: usize = 3;

/// What the store did with a write.
enum Outcome {
    /// Written; the session now lives under this id (or no longer lives, for `None`).
    Done(Option<SessionId>),
    /// The session was gone from the store: nothing was written.
    Gone,
}

impl RequestSessions {
    /// Saves every opened session that needs it and returns the headers to add to the response.
    pub(super) async fn finish(&self) -> Result<Vec<ResponseHeader>, Error> {
        let mut headers = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            let Some(session) = slot.session.get() else {
                continue;
            };
            let config = &self.inner.slots[index];
            match &config.backend {
                Backend::Server(store) => {
                    self.finish_server(config, slot, session, store.as_ref(), &mut headers)
                        .await?
                }
                Backend::Cookie(_) => self.finish_client(config, slot, session, &mut headers)?,
            }
        }
        Ok(headers)
    }

    async fn finish_server(
        &self,
        config: &SlotConfig,
        slot: &Slot,
        session: &Session,
        store: &dyn Store,
        headers: &mut Vec<ResponseHeader>,
    ) -> Result<(), Error> {
        let now = self.now();
        let plan = {
            let state = session.lock();
            plan_server(
                &state,
                &config.policy,
                now,
                slot.incoming.is_present(),
                &mut SessionId::generate,
            )
        };
        let outcome = match plan.write {
            Write::None => Outcome::Done(None),
            Write::Create(record) => Outcome::Done(Some(create(store, record).await?)),
            Write::Update(id, delta) => match store.update(&id, &delta).await {
                Ok(true) => Outcome::Done(Some(id)),
                Ok(false) => Outcome::Gone,
                Err(StoreError::Corrupt(reason)) => {
                    tracing::warn!(session = %config.name, %reason, "a stored session does not decode; deleting it");
                    store.delete(&id).await?;
                    Outcome::Gone
                }
                Err(error) => return Err(error.into()),
            },
            Write::Regenerate {
                old,
                mut new,
                delta,
            } => {
                let mut attempt = 1;
                loop {
                    match store.regenerate(&old, &new, &delta).await {
                        Ok(true) => break Outcome::Done(Some(new)),
                        Ok(false) => break Outcome::Gone,
                        Err(StoreError::AlreadyExists) if attempt < NEW_ID_ATTEMPTS => {
                            attempt += 1;
                            new = SessionId::generate();
                        }
                        Err(StoreError::Corrupt(reason)) => {
                            tracing::warn!(session = %config.name, %reason, "a stored session does not decode; deleting it");
                            store.delete(&old).await?;
                            break Outcome::Gone;
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
            }
            Write::Delete(old) => {
                store.delete(&old).await?;
                Outcome::Done(None)
            }
            Write::Replace(old, record) => {
                store.delete(&old).await?;
                Outcome::Done(Some(create(store, record).await?))
            }
        };
        let mut state = session.lock();
        let stored_id = match outcome {
            Outcome::Gone => {
                tracing::debug!(session = %config.name, "session ended by another request before this one saved; its changes are dropped");
                state.mark_gone();
                return Ok(());
            }
            Outcome::Done(stored_id) => stored_id,
        };
        let mut expires_at = state.record.expires_at;
        match plan.send {
            Send::Nothing => {}
            Send::Removal => emit_removal(config, &slot.incoming, headers),
            Send::Id(planned, deadline) => {
                // A collision may have moved the session to another id than planned.
                let id = stored_id.unwrap_or(planned);
                let value = seal_id(&self.inner.keys, &config.name, &id)?;
                let max_age = max_age_secs(&plan.lifetime, deadline, now);
                emit_value(config, value, max_age, headers)?;
                expires_at = deadline;
            }
        }
        match stored_id {
            Some(id) => state.mark_saved_as(id, expires_at),
            None => state.mark_ended(),
        }
        Ok(())
    }

    fn finish_client(
        &self,
        config: &SlotConfig,
        slot: &Slot,
        session: &Session,
        headers: &mut Vec<ResponseHeader>,
    ) -> Result<(), Error> {
        let now = self.now();
        let mut state = session.lock();
        if state.record.data.is_empty() {
            if slot.incoming.is_present() && (state.is_modified() || state.stored) {
                emit_removal(config, &slot.incoming, headers);
            }
            return Ok(());
        }
        let lifetime = lifetime_of(&state, &config.policy);
        let absolute = lifetime.absolute_deadline(state.record.created_at);
        let next = lifetime.next_expires_at(now, absolute);
        let needs_seal = state.is_modified()
            || state.stale_key
            || !state.stored
            || config
                .policy
                .wants_touch(&lifetime, state.record.expires_at, next);
        if !needs_seal {
            return Ok(());
        }
        state.record.expires_at = next;
        state.record.absolute_deadline = absolute;
        state.record.version = state.record.version.wrapping_add(1);
        state.assign_id();
        let value = seal_record(
            &self.inner.keys,
            config.protection,
            &config.name,
            &state.record,
        )?;
        emit_value(config, value, max_age_secs(&lifetime, next, now), headers)?;
        state.mark_saved();
        Ok(())
    }
}

/// Creates `record`, under a fresh id if its own collides; returns the id it got.
async fn create(store: &dyn Store, mut record: Record) -> Result<SessionId, Error> {
    let mut attempt = 1;
    loop {
        match store.create(&record).await {
            Ok(()) => return Ok(record.id),
            Err(StoreError::AlreadyExists) if attempt < NEW_ID_ATTEMPTS => {
                attempt += 1;
                record.id = SessionId::generate();
            }
            Err(error) => return Err(error.into()),
        }
    }
}
