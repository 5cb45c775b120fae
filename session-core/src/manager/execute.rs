//! Execute: a server-side session's planned [`Write`] carried out against its store. Store I/O
//! only: what the outcome means for the session and the response is the caller's.

use std::fmt::Display;

use tracing::Span;

use super::plan::Write;
use crate::error::Error;
use crate::id::SessionId;
use crate::observe::{Op, SessionObserver};
use crate::record::Record;
use crate::store::{Store, StoreError};

/// How many ids a write tries before a collision is an error (with 256-bit ids, a collision
/// means a broken random source or a store that misreports).
const NEW_ID_ATTEMPTS: usize = 3;

/// What the store did with a write.
pub(super) enum Outcome {
    /// Written; the session now lives under this id (or no longer lives, for `None`).
    Done(Option<SessionId>),
    /// The session was gone from the store: nothing was written.
    Gone,
}

/// Carries out `write` for the session `name` in `store`, each store operation timed and
/// counted by `observer`. A collision moves the written session to a fresh id in `write`.
///
/// `write` is borrowed, not moved in: the future then holds a reference where it would hold
/// the plan and its copies in each state, which keeps the save's future (moved into a box by
/// the adapters on every saving request) about a kilobyte smaller.
pub(super) async fn execute(
    store: &dyn Store,
    name: &str,
    observer: &SessionObserver,
    span: Option<&Span>,
    write: &mut Write,
) -> Result<Outcome, Error> {
    let o = observer;
    Ok(match write {
        Write::None => Outcome::Done(None),
        Write::Create(record) => Outcome::Done(Some(create(store, o, span, record).await?)),
        Write::Update(id, delta) => match o.time(Op::Update, span, store.update(id, delta)).await {
            Ok(true) => Outcome::Done(Some(*id)),
            Ok(false) => Outcome::Gone,
            Err(StoreError::Corrupt(reason)) => {
                delete_corrupt(store, name, o, span, id, &reason).await?;
                Outcome::Gone
            }
            Err(error) => return Err(error.into()),
        },
        Write::Regenerate { old, new, delta } => {
            let mut retry = CollisionRetry::default();
            loop {
                let regenerate = store.regenerate(old, new, delta);
                match o.time(Op::Regenerate, span, regenerate).await {
                    Ok(true) => break Outcome::Done(Some(*new)),
                    Ok(false) => break Outcome::Gone,
                    Err(StoreError::Corrupt(reason)) => {
                        delete_corrupt(store, name, o, span, old, &reason).await?;
                        break Outcome::Gone;
                    }
                    Err(error) => *new = retry.fresh_id(error)?,
                }
            }
        }
        Write::Delete(old) => {
            o.time(Op::Delete, span, store.delete(old)).await?;
            Outcome::Done(None)
        }
        Write::Replace(old, record) => {
            o.time(Op::Delete, span, store.delete(old)).await?;
            Outcome::Done(Some(create(store, o, span, record).await?))
        }
    })
}

/// Creates `record`, under a fresh id if its own collides; returns the id it got.
async fn create(
    store: &dyn Store,
    observer: &SessionObserver,
    span: Option<&Span>,
    record: &mut Record,
) -> Result<SessionId, Error> {
    let mut retry = CollisionRetry::default();
    loop {
        match observer.time(Op::Create, span, store.create(record)).await {
            Ok(()) => return Ok(record.id),
            Err(error) => record.id = retry.fresh_id(error)?,
        }
    }
}

/// The recovery from a stored record that no longer decodes: logged, deleted, and from then on
/// no session (a new one starts). Counted as corrupt by `observer`.
pub(super) async fn delete_corrupt(
    store: &dyn Store,
    name: &str,
    observer: &SessionObserver,
    span: Option<&Span>,
    id: &SessionId,
    reason: &(dyn Display + Sync),
) -> Result<(), Error> {
    tracing::warn!(session = %name, %reason, "a stored session does not decode; deleting it and going on without it");
    observer.corrupt();
    observer.time(Op::Delete, span, store.delete(id)).await?;
    Ok(())
}

/// The retry of a write whose new id collided with a stored one: a fresh id, a bounded number
/// of times.
#[derive(Default)]
struct CollisionRetry {
    attempts: usize,
}

impl CollisionRetry {
    /// The id to try next after `error`, or `error` itself when it is not a collision or the
    /// attempts are used up.
    fn fresh_id(&mut self, error: StoreError) -> Result<SessionId, Error> {
        self.attempts += 1;
        match error {
            StoreError::AlreadyExists if self.attempts < NEW_ID_ATTEMPTS => {
                Ok(SessionId::generate())
            }
            error => Err(error.into()),
        }
    }
}
