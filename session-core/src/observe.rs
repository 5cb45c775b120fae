//! Observability: metrics through the `metrics` facade, `tracing` events per store operation, and
//! lifecycle events for an application's hook ([`SessionEvent`]).
//!
//! Nothing here is ever given an id, a token, a storage key or a value: metrics are labelled
//! with configured session names and operation kinds only (so their number cannot grow with
//! traffic), store operations are logged with the session name, the store type, the operation,
//! its outcome and its duration, and events carry the session name, the owner, the device record
//! and the session's handle (its storage key, a one-way hash of the id, as the device listing
//! shows it).
//!
//! Cost when nothing is installed: every metric handle is registered once per configured
//! session when the manager is built (a handle from no recorder is a no-op), so a request pays
//! no label allocation and no map lookup; `tracing` events are skipped by their callsite's
//! cached interest; the hook is one atomic load. That is also why a metrics recorder must be
//! installed before the manager is built: the handles are taken from the recorder in place then.
//!
//! Store operations are timed (two clock reads each) only when their duration goes somewhere:
//! a recorder was in place when the manager was built, or a subscriber wants debug events. The
//! `metrics` facade has no call that says whether a recorder is installed (its handles do not
//! say whether they are no-ops either); what it falls back to without one is its no-op recorder,
//! which has no state, so a recorder of zero size is taken for none ([`recorder_installed`]).

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram, SharedString};
use tracing::Span;

use crate::device::Device;
use crate::store::StoreError;

/// Counter: sessions created (a first write to the store, or a first client-side cookie).
pub const SESSION_CREATED_TOTAL: &str = "session_created_total";
/// Counter: sessions destroyed by a handler (logout).
pub const SESSION_DESTROYED_TOTAL: &str = "session_destroyed_total";
/// Counter: session ids regenerated (login, privilege change).
pub const SESSION_REGENERATED_TOTAL: &str = "session_regenerated_total";
/// Counter: sessions ended by owner (one device, the others, everywhere, a device cap).
pub const SESSION_REVOKED_TOTAL: &str = "session_revoked_total";
/// Counter: changes refused for passing the session's size limit.
pub const SESSION_TOO_LARGE_TOTAL: &str = "session_too_large_total";
/// Counter: stored records that did not decode (deleted, the request goes on without them).
pub const SESSION_CORRUPT_TOTAL: &str = "session_corrupt_total";
/// Counter: store operations that failed in the backend.
pub const SESSION_STORE_ERRORS_TOTAL: &str = "session_store_errors_total";
/// Counter (no label): unsafe requests refused as cross-origin writes.
pub const SESSION_CROSS_ORIGIN_REFUSED_TOTAL: &str = "session_cross_origin_refused_total";
/// Histogram: store operation duration in seconds, labelled `session` and `op`.
pub const SESSION_STORE_DURATION_SECONDS: &str = "session_store_duration_seconds";

/// The span of one request's session work, for an adapter to give to
/// [`DeferredSessions::set_span`](crate::DeferredSessions::set_span): `session` at debug level,
/// with the request's method and path, which `method_and_path` gives (never the query, which
/// may carry a token); the request's store-operation events are its children. `None`, at the
/// cost of one comparison, when no subscriber wants debug spans: `method_and_path` is not
/// called, and a request carries and drops no span at all.
pub fn request_span<'a>(method_and_path: impl FnOnce() -> (&'a str, &'a str)) -> Option<Span> {
    if !tracing::level_enabled!(tracing::Level::DEBUG) {
        return None;
    }
    let (method, path) = method_and_path();
    let span = tracing::debug_span!("session", method, path);
    (!span.is_disabled()).then_some(span)
}

/// A change in a session's life, given to the hook registered with
/// [`SessionManagerBuilder::on_event`](crate::SessionManagerBuilder::on_event) or
/// [`SessionManager::set_event_hook`](crate::SessionManager::set_event_hook), after the store
/// operation succeeded. Never carries an id: a session is named by its
/// [`handle`](Self::handle), which opens nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionEvent<'a> {
    /// The configured session name; `None` only for a cross-origin refusal, which comes before
    /// any session is opened.
    pub session: Option<&'a str>,
    /// The owner the session is bound to, where there is one.
    pub owner: Option<&'a str>,
    /// The session's handle, the one the device listing shows
    /// ([`OwnerSession::handle`](crate::OwnerSession::handle): its storage key, a one-way hash
    /// of the id, which opens nothing): the new one after a creation, a login or a
    /// regeneration; the ended one for a destruction, for [`RevokeScope::One`] and for
    /// [`RevokeScope::Cap`] (one event per session the cap ends); for [`RevokeScope::Others`]
    /// and [`RevokeScope::Everywhere`], the session that asked, when a session asked. `None` for
    /// the cleanup and a refusal.
    pub handle: Option<&'a str>,
    /// The session's device record, where there is one: the one recorded at login for
    /// [`SessionEventKind::LoggedIn`]; the session's own for a creation or a regeneration, and
    /// for a size refusal; the ended session's for [`RevokeScope::Cap`]; the asking session's
    /// for [`RevokeScope::Others`] and [`RevokeScope::Everywhere`]. `None` for a destruction
    /// (its values are gone).
    pub device: Option<&'a Device>,
    /// What happened.
    pub kind: SessionEventKind,
}

/// What a [`SessionEvent`] says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEventKind {
    /// A new session was stored (or a client-side one first sealed).
    Created,
    /// The session was bound to an owner ([`Session::set_owner`](crate::Session::set_owner)).
    LoggedIn,
    /// The session moved to a new id.
    Regenerated,
    /// A handler destroyed the session.
    Destroyed,
    /// Sessions of an owner were ended from elsewhere: `count` of them.
    Revoked {
        /// Which of the owner's sessions.
        scope: RevokeScope,
        /// How many sessions ended.
        count: u64,
    },
    /// Expired records were removed by the store's cleanup: `count` of them.
    Expired {
        /// How many records were removed.
        count: u64,
    },
    /// A request was refused.
    Refused(Refusal),
}

/// Which of an owner's sessions a revocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeScope {
    /// One session, chosen by its handle.
    One,
    /// Every session but the current one.
    Others,
    /// Every session ([`SessionManager::revoke_owner`](crate::SessionManager::revoke_owner)).
    Everywhere,
    /// One session past the per-owner cap, ended by a login (the least recently used, or with
    /// `when_full = "refuse"` a login that raced past the check); one event per session.
    Cap,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A change would have passed the session's size limit.
    TooLarge,
    /// An unsafe request from another origin.
    CrossOrigin,
}

/// Whether a metrics recorder is in place (a thread's local one, or the global one): one that
/// holds state. The facade's fallback, its no-op recorder, is zero-sized; so is a recorder
/// that keeps all its state in statics, whose store durations are then not timed (its counters
/// still count).
pub(crate) fn recorder_installed() -> bool {
    metrics::with_recorder(|recorder| std::mem::size_of_val(recorder) != 0)
}

/// The application's event hook.
pub(crate) type EventHook = Box<dyn Fn(&SessionEvent<'_>) + Send + Sync>;

/// What every session of one manager shares: the hook and the manager-wide counter.
pub(crate) struct Shared {
    hook: OnceLock<EventHook>,
    cross_origin_refused: Counter,
    /// A recorder was in place when the handles were registered: durations go to it.
    recorded: bool,
}

impl Shared {
    /// Registers the manager-wide handles with the recorder installed now, if any.
    pub(crate) fn new(hook: Option<EventHook>) -> Self {
        let cell = OnceLock::new();
        if let Some(hook) = hook {
            let _ = cell.set(hook);
        }
        Shared {
            hook: cell,
            cross_origin_refused: metrics::counter!(SESSION_CROSS_ORIGIN_REFUSED_TOTAL),
            recorded: recorder_installed(),
        }
    }

    /// Installs `hook`; gives it back when one is already installed.
    pub(crate) fn set_hook(&self, hook: EventHook) -> Result<(), EventHook> {
        self.hook.set(hook)
    }

    /// Whether a hook is installed (so an owner is worth copying for it).
    pub(crate) fn has_hook(&self) -> bool {
        self.hook.get().is_some()
    }

    /// Records a cross-origin refusal: the counter and the hook.
    pub(crate) fn cross_origin_refused(&self) {
        self.cross_origin_refused.increment(1);
        tracing::debug!("cross-origin write refused");
        self.deliver(
            None,
            &EventDetail::default(),
            SessionEventKind::Refused(Refusal::CrossOrigin),
        );
    }

    /// Calls the hook, if any. A hook that panics is logged and the request goes on: an audit
    /// log's failure is not the request's.
    fn deliver(&self, session: Option<&str>, detail: &EventDetail<'_>, kind: SessionEventKind) {
        let Some(hook) = self.hook.get() else {
            return;
        };
        let event = SessionEvent {
            session,
            owner: detail.owner,
            handle: detail.handle,
            device: detail.device,
            kind,
        };
        if catch_unwind(AssertUnwindSafe(|| hook(&event))).is_err() {
            tracing::error!(session = session.unwrap_or(""), event = ?kind, "the session event hook panicked; the request goes on");
        }
    }
}

/// What an event says of its session beyond the name and the kind. Callers fill it only when a
/// hook is installed ([`SessionObserver::has_hook`]): with none, a request computes no handle
/// (a hash) and decodes no device record.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EventDetail<'a> {
    pub(crate) owner: Option<&'a str>,
    pub(crate) handle: Option<&'a str>,
    pub(crate) device: Option<&'a Device>,
}

impl<'a> EventDetail<'a> {
    /// The owner only.
    pub(crate) fn owner(owner: Option<&'a str>) -> Self {
        EventDetail {
            owner,
            ..EventDetail::default()
        }
    }
}

/// A store operation, as the `op` label and the span field name it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Load,
    Create,
    Update,
    Regenerate,
    Delete,
    DeleteOwned,
    DeleteOwner,
    Cleanup,
}

impl Op {
    const ALL: [Op; 8] = [
        Op::Load,
        Op::Create,
        Op::Update,
        Op::Regenerate,
        Op::Delete,
        Op::DeleteOwned,
        Op::DeleteOwner,
        Op::Cleanup,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Op::Load => "load",
            Op::Create => "create",
            Op::Update => "update",
            Op::Regenerate => "regenerate",
            Op::Delete => "delete",
            Op::DeleteOwned => "delete_owned",
            Op::DeleteOwner => "delete_owner",
            Op::Cleanup => "cleanup",
        }
    }
}

/// One configured session's metric handles, store type and share of the hook.
pub(crate) struct SessionObserver {
    name: Arc<str>,
    store: Arc<str>,
    shared: Arc<Shared>,
    created: Counter,
    destroyed: Counter,
    regenerated: Counter,
    revoked: Counter,
    too_large: Counter,
    corrupt: Counter,
    store_errors: Counter,
    /// Indexed by `Op as usize`.
    durations: [Histogram; Op::ALL.len()],
}

impl SessionObserver {
    /// The handles of session `name` on a store of type `store`, registered with the recorder
    /// installed now, if any. A client-side session (`server_side` false) has no store
    /// operations: its duration series are not registered, so an exporter shows none.
    pub(crate) fn new(name: &str, store: &str, server_side: bool, shared: Arc<Shared>) -> Self {
        let label = SharedString::from(name.to_string());
        let counter = |metric: &'static str| metrics::counter!(metric, "session" => label.clone());
        SessionObserver {
            created: counter(SESSION_CREATED_TOTAL),
            destroyed: counter(SESSION_DESTROYED_TOTAL),
            regenerated: counter(SESSION_REGENERATED_TOTAL),
            revoked: counter(SESSION_REVOKED_TOTAL),
            too_large: counter(SESSION_TOO_LARGE_TOTAL),
            corrupt: counter(SESSION_CORRUPT_TOTAL),
            store_errors: counter(SESSION_STORE_ERRORS_TOTAL),
            durations: Op::ALL.map(|op| {
                if server_side {
                    let op = op.as_str();
                    metrics::histogram!(SESSION_STORE_DURATION_SECONDS, "session" => label.clone(), "op" => op)
                } else {
                    Histogram::noop()
                }
            }),
            name: Arc::from(name),
            store: Arc::from(store),
            shared,
        }
    }

    /// Whether a hook is installed.
    pub(crate) fn has_hook(&self) -> bool {
        self.shared.has_hook()
    }

    /// Runs the store operation `op`: its duration into the histogram, a backend failure into
    /// the error counter, and a debug event with the outcome, a child of the request's `span`
    /// when there is one. The clock is read only when the duration goes somewhere: to a
    /// recorder in place when the manager was built, or to a subscriber of debug events.
    pub(crate) async fn time<T>(
        &self,
        op: Op,
        span: Option<&Span>,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let timed = self.shared.recorded || tracing::level_enabled!(tracing::Level::DEBUG);
        let start = timed.then(Instant::now);
        let result = operation.await;
        let elapsed = start.map_or(Duration::ZERO, |start| start.elapsed());
        if self.shared.recorded {
            self.durations[op as usize].record(elapsed.as_secs_f64());
        }
        let outcome = match &result {
            Ok(_) => "ok",
            Err(StoreError::AlreadyExists) => "exists",
            Err(StoreError::Corrupt(_)) => "corrupt",
            Err(StoreError::Backend(_)) => {
                self.store_errors.increment(1);
                "error"
            }
        };
        let duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let (session, store, op) = (&*self.name, &*self.store, op.as_str());
        match span {
            Some(span) => tracing::debug!(
                parent: span,
                session,
                store,
                op,
                outcome,
                duration_us,
                "session store operation"
            ),
            None => tracing::debug!(
                session,
                store,
                op,
                outcome,
                duration_us,
                "session store operation"
            ),
        }
        result
    }

    /// Records `kind` for this session: its counter, then the hook with `owner` (and no handle
    /// or device).
    pub(crate) fn record(&self, kind: SessionEventKind, owner: Option<&str>) {
        self.record_with(kind, &EventDetail::owner(owner));
    }

    /// Records `kind` for this session: its counter, then the hook with `detail`.
    pub(crate) fn record_with(&self, kind: SessionEventKind, detail: &EventDetail<'_>) {
        match kind {
            SessionEventKind::Created => self.created.increment(1),
            SessionEventKind::Regenerated => self.regenerated.increment(1),
            SessionEventKind::Destroyed => self.destroyed.increment(1),
            SessionEventKind::Revoked { count, .. } => self.revoked.increment(count),
            SessionEventKind::Refused(Refusal::TooLarge) => self.too_large.increment(1),
            SessionEventKind::LoggedIn
            | SessionEventKind::Expired { .. }
            | SessionEventKind::Refused(_) => {}
        }
        self.shared.deliver(Some(&self.name), detail, kind);
    }

    /// Counts a stored record that did not decode.
    pub(crate) fn corrupt(&self) {
        self.corrupt.increment(1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn a_panicking_hook_is_caught_and_later_events_still_arrive() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let shared = Arc::new(Shared::new(Some(Box::new(
            move |event: &SessionEvent<'_>| {
                if event.kind == SessionEventKind::Created {
                    panic!("the audit log is down");
                }
                log.lock().unwrap().push(event.kind);
            },
        ))));
        let observer = SessionObserver::new("app", "memory", true, Arc::clone(&shared));
        observer.record(SessionEventKind::Created, None);
        observer.record(SessionEventKind::Destroyed, Some("alice"));
        shared.cross_origin_refused();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                SessionEventKind::Destroyed,
                SessionEventKind::Refused(Refusal::CrossOrigin)
            ]
        );
    }

    #[test]
    fn a_recorder_with_state_is_seen_and_the_facades_fallback_is_not() {
        // No test of this crate installs a global recorder: here the fallback answers.
        assert!(!recorder_installed());
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        assert!(metrics::with_local_recorder(&recorder, recorder_installed));
        let shared = metrics::with_local_recorder(&recorder, || Shared::new(None));
        assert!(shared.recorded);
        assert!(!Shared::new(None).recorded);
    }

    #[test]
    fn a_second_hook_is_refused() {
        let shared = Shared::new(None);
        assert!(!shared.has_hook());
        assert!(shared.set_hook(Box::new(|_| {})).is_ok());
        assert!(shared.set_hook(Box::new(|_| {})).is_err());
        assert!(shared.has_hook());
    }
}
