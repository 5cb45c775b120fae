//! The owner layer on top of a store: the cap on one owner's live sessions, enforced around the
//! write that binds a session to its owner (a login).
//!
//! The cap needs no atomic operation of its own from stores. Every login lists the owner's
//! sessions *after* its own binding is stored and ends what is past the cap; the last listing
//! of any set of racing logins therefore sees every binding, so once they all return the owner
//! has at most `max` sessions (ends are idempotent and only ever lower the count).

use super::ConfiguredSession;
use crate::error::Error;
use crate::id::SessionId;
use crate::observe::{EventDetail, RevokeScope, SessionEventKind};
use crate::store::{OwnerSession, Store};
use crate::WhenFull;

/// With `when_full = "refuse"`: refuses a login before anything is written when the owner
/// already holds `max` live sessions.
pub(super) async fn refuse_when_full(
    store: &dyn Store,
    name: &str,
    owner: &str,
    max: u32,
) -> Result<(), Error> {
    if store.owner_sessions(owner).await?.len() >= max as usize {
        return Err(too_many(name, max));
    }
    Ok(())
}

/// After the login of `current` stored: ends the owner's sessions past `max`. With
/// [`WhenFull::EndLeastRecent`] those are the least recently seen; with
/// [`WhenFull::Refuse`] (a login that raced another past the check) the latest logins lose,
/// this one included, and then this login is refused.
pub(super) async fn enforce_cap(
    store: &dyn Store,
    configured: &ConfiguredSession,
    owner: &str,
    current: &SessionId,
    max: u32,
    when_full: WhenFull,
) -> Result<(), Error> {
    let name = configured.name.as_str();
    let mut sessions = store.owner_sessions(owner).await?;
    let current_key = current.storage_key();
    if when_full == WhenFull::Refuse && !sessions.iter().any(|s| s.handle == current_key) {
        // A racing login's enforcement ended this one: it lost the last slot.
        return Err(too_many(name, max));
    }
    let max = max as usize;
    if sessions.len() <= max {
        return Ok(());
    }
    let past_cap: Vec<OwnerSession> = match when_full {
        WhenFull::EndLeastRecent => {
            // Most recently seen first, ties broken by handle: one order that every racing
            // login computes alike, so they agree on which sessions stay, and the most recent
            // of all is never ended (excluding each one's own session instead let two logins
            // at a cap of one end each other). A login seen less recently than `max` others
            // (a tie lost to a racing login in the same millisecond) ends its own session.
            sessions
                .sort_by(|a, b| (b.last_seen_at(), &b.handle).cmp(&(a.last_seen_at(), &a.handle)));
            sessions.split_off(max)
        }
        WhenFull::Refuse => {
            sessions
                .sort_by(|a, b| (logged_in_at(a), &a.handle).cmp(&(logged_in_at(b), &b.handle)));
            sessions.split_off(max)
        }
    };
    let mut refused = false;
    // Only a refusing cap refuses: with `end_least_recent` a login that lost to a racing one
    // was let in and then ended, like any least recently seen session.
    for session in &past_cap {
        let ended = store.delete_owned(owner, &session.handle).await?;
        refused |= session.handle == current_key && when_full == WhenFull::Refuse;
        if ended {
            tracing::debug!(session = %name, "ended a session past its owner's cap");
            // One event per session, so that an audit log names each device the cap ended.
            let kind = SessionEventKind::Revoked {
                scope: RevokeScope::Cap,
                count: 1,
            };
            let detail = EventDetail {
                owner: Some(owner),
                handle: Some(&session.handle),
                device: session.device.as_ref(),
            };
            configured.observer.record_with(kind, &detail);
        }
    }
    if refused {
        return Err(too_many(name, max as u32));
    }
    Ok(())
}

/// After [`enforce_cap`] failed with `error`: ends the session the login stored, as far as the
/// store lets it. The response is a 500 that sets no cookie, so a session left behind would be
/// reachable by nobody yet count against the cap (with `refuse`, locking its owner out until it
/// expired). A refused login's session is already ended; a store that fails again leaves it to
/// expire, which the log says.
pub(super) async fn withdraw_login(
    store: &dyn Store,
    name: &str,
    owner: &str,
    current: &SessionId,
    error: &Error,
) {
    if matches!(error, Error::TooManySessions { .. }) {
        return;
    }
    match store.delete_owned(owner, &current.storage_key()).await {
        Ok(_) => {
            tracing::debug!(session = %name, "ended the session of a login whose cap check failed")
        }
        Err(error) => {
            tracing::warn!(session = %name, %error, "the session of a login whose cap check failed could not be ended; it expires unused")
        }
    }
}

fn logged_in_at(session: &OwnerSession) -> u64 {
    session
        .device
        .as_ref()
        .map_or(session.created_at, |device| device.logged_in_at)
}

fn too_many(name: &str, max: u32) -> Error {
    Error::TooManySessions {
        name: name.to_string(),
        max,
    }
}
