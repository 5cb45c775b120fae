//! Open: a session's value from the request turned into a handle, once per request.
//!
//! A client-side value is verified or decrypted; a server-side value is a signed id, verified
//! before the store is asked. Whatever does not open (tampered, truncated, expired, foreign,
//! sealed under a removed key, unknown to the store) is logged and gives a new, empty session.
//! A stored record that does not decode is logged at warn, deleted, and treated the same way;
//! only a backend that fails is an error.

use super::{RequestSessions, SlotConfig};
use crate::error::Error;
use crate::registry::Backend;
use crate::seal::{open_id, open_record};
use crate::session::{Session, State};
use crate::store::StoreError;

impl RequestSessions {
    pub(super) async fn load(&self, index: usize) -> Result<Session, Error> {
        let config = &self.inner.slots[index];
        let now = self.now();
        let handle = |state: State| Session::from_state(state.with_limit(config.limit.clone()));
        for value in self.slots[index].incoming.candidates() {
            if let Some(state) = self.open_value(config, &value, now).await? {
                return Ok(handle(state));
            }
        }
        Ok(handle(State::unsaved(&config.policy.lifetime(), now)))
    }

    /// The session `value` opens, or `None` when it opens none.
    async fn open_value(
        &self,
        config: &SlotConfig,
        value: &str,
        now: u64,
    ) -> Result<Option<State>, Error> {
        let keys = &self.inner.keys;
        let store = match &config.backend {
            Backend::Cookie(_) => {
                return Ok(
                    match open_record(keys, config.protection, &config.name, value, now) {
                        Ok(opened) => Some(State::loaded(opened.record, opened.stale_key)),
                        Err(reason) => {
                            tracing::debug!(session = %config.name, %reason, "session value did not open");
                            None
                        }
                    },
                );
            }
            Backend::Server(store) => store,
        };
        let (id, stale_key) = match open_id(keys, &config.name, value) {
            Ok(opened) => opened,
            Err(reason) => {
                tracing::debug!(session = %config.name, %reason, "session id did not verify");
                return Ok(None);
            }
        };
        match store.load(&id).await {
            Ok(Some(record)) if record.id == id && !record.is_expired(now) => {
                Ok(Some(State::loaded(record, stale_key)))
            }
            Ok(_) => {
                tracing::debug!(session = %config.name, "no live record for the session id");
                Ok(None)
            }
            Err(StoreError::Corrupt(reason)) => {
                tracing::warn!(session = %config.name, %reason, "a stored session does not decode; deleting it and starting a new session");
                store.delete(&id).await?;
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }
}
