//! Open: a session's value from the request turned into a handle, once per request.
//!
//! A client-side value is verified or decrypted; a server-side value is a signed id, verified
//! before the store is asked. Whatever does not open (tampered, truncated, expired, foreign,
//! sealed under a removed key, unknown to the store) is logged and gives a new, empty session.
//! A stored record that does not decode is logged at warn, deleted, and treated the same way;
//! only a backend that fails is an error.

use std::sync::Arc;
use tracing::Span;

use super::execute::delete_corrupt;
use super::intake::Incoming;
use super::ConfiguredSession;
use crate::error::Error;
use crate::expiry::ExpiryPolicy;
use crate::keys::KeyRing;
use crate::observe::Op;
use crate::record::Record;
use crate::registry::Backend;
use crate::seal::{open_id, open_record};
use crate::session::{Session, State};
use crate::store::StoreError;

/// The session of `configured` that the first of `incoming`'s candidates to open gives, or a
/// new, empty one.
pub(super) async fn open_session(
    configured: &ConfiguredSession,
    keys: &KeyRing,
    incoming: &Incoming,
    now: u64,
    span: Option<&Span>,
) -> Result<Session, Error> {
    // The handle knows its store (for the device operations a handler calls) and its policy
    // (for "remember me").
    let store = match &configured.backend {
        Backend::Server(store) => Some(Arc::clone(store)),
        Backend::ClientSide(_) => None,
    };
    let handle = |state: State| {
        Session::attached(
            state.with_limit(configured.limit.clone()),
            store,
            Some(Arc::clone(&configured.observer)),
            &configured.policy,
        )
    };
    for value in incoming.candidates() {
        if let Some(state) = open_value(configured, keys, &value, now, span).await? {
            return Ok(handle(state));
        }
    }
    Ok(handle(State::unsaved(&configured.policy.lifetime(), now)))
}

/// The session `value` opens, or `None` when it opens none.
async fn open_value(
    configured: &ConfiguredSession,
    keys: &KeyRing,
    value: &str,
    now: u64,
    span: Option<&Span>,
) -> Result<Option<State>, Error> {
    let name = &configured.name;
    let store = match &configured.backend {
        Backend::ClientSide(_) => {
            return Ok(
                match open_record(keys, configured.protection, name, value, now) {
                    Ok(opened) if allowed_by_policy(&opened.record, &configured.policy, now) => {
                        Some(State::loaded(opened.record, opened.stale_key))
                    }
                    Ok(_) => {
                        tracing::debug!(session = %name, "session outlived the current expiry policy");
                        None
                    }
                    Err(reason) => {
                        tracing::debug!(session = %name, %reason, "session value did not open");
                        None
                    }
                },
            );
        }
        Backend::Server(store) => store,
    };
    let (id, stale_key) = match open_id(keys, name, value) {
        Ok(opened) => opened,
        Err(reason) => {
            tracing::debug!(session = %name, %reason, "session id did not verify");
            return Ok(None);
        }
    };
    let observer = &configured.observer;
    match observer.time(Op::Load, span, store.load(&id)).await {
        Ok(Some(record))
            if record.id == id
                && !record.is_expired(now)
                && allowed_by_policy(&record, &configured.policy, now) =>
        {
            Ok(Some(State::loaded(record, stale_key)))
        }
        Ok(_) => {
            tracing::debug!(session = %name, "no live record for the session id");
            Ok(None)
        }
        Err(StoreError::Corrupt(reason)) => {
            delete_corrupt(store.as_ref(), name, observer, span, &id, &reason).await?;
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// How far another server's clock may run ahead of this one's: a deadline it gave may reach this
/// much past the idle window.
const CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// Whether the current policy's windows (or the session's own override) still allow `record` at
/// `now`, whatever deadline it carries: its absolute window counted from its creation, and a
/// deadline no further away than one idle window (a deadline further away was given under a
/// longer idle timeout than today's, so a shortened timeout ends it now; a session last used
/// within the old window lives at most one new window more).
fn allowed_by_policy(record: &Record, policy: &ExpiryPolicy, now: u64) -> bool {
    let (idle_secs, absolute_deadline) = match &record.expiry {
        Some(own) => (
            own.idle_timeout_secs,
            own.absolute_deadline(record.created_at),
        ),
        None => (
            policy.idle_timeout_secs,
            policy
                .absolute_timeout_secs
                .map(|secs| record.created_at.saturating_add(secs.saturating_mul(1000))),
        ),
    };
    let idle_window = idle_secs.saturating_mul(1000).saturating_add(CLOCK_SKEW_MS);
    absolute_deadline.is_none_or(|deadline| now < deadline)
        && record.expires_at <= now.saturating_add(idle_window)
}
