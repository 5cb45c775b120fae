//! A request's state: the headers an adapter kept ([`DeferredSessions`]), and once scanned, each
//! configured session's slot ([`RequestSessions`]): the values the request offered for it and
//! the handle it opened. Saving walks the opened slots through plan, execute and render.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::OnceCell;
use tracing::Span;

use super::execute::{execute, Outcome};
use super::intake::{self, Few, Incoming};
use super::open::open_session;
use super::plan::{plan_client, plan_server, ClientPlan, Reply, Write};
use super::render::{emit_removal, emit_sealed_record, emit_signed_id, ResponseHeader};
use super::{owners, ConfiguredSession, ManagerInner, SessionManager};
use crate::device::{ClientInfo, Device, WhenFull};
use crate::error::Error;
use crate::expiry::max_age_secs;
use crate::id::SessionId;
use crate::observe::{EventDetail, SessionEventKind, SessionObserver};
use crate::record::now_ms;
use crate::registry::Backend;
use crate::session::{Lifecycle, Session, State};
use crate::store::Store;

/// A request's `Cookie` and session header values, kept unparsed until a handler asks for a
/// session.
pub(super) struct KeptHeaders<V> {
    /// The first `Cookie` header; the others, if any, after it.
    cookie: Option<V>,
    more_cookies: Vec<V>,
    /// The value of each of [`SessionManager::session_header_names`], in that order.
    session_headers: Vec<Option<V>>,
}

impl<V> fmt::Debug for KeptHeaders<V> {
    /// Counts only: the values are session credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeptHeaders")
            .field(
                "cookie_headers",
                &(usize::from(self.cookie.is_some()) + self.more_cookies.len()),
            )
            .field(
                "session_headers",
                &self.session_headers.iter().flatten().count(),
            )
            .finish()
    }
}

/// A request's session headers as an adapter kept them ([`SessionManager::defer`]), and its
/// [`RequestSessions`], scanned from them when first asked for.
pub struct DeferredSessions<V> {
    manager: SessionManager,
    kept: KeptHeaders<V>,
    sessions: OnceLock<Arc<RequestSessions>>,
    /// The span of the request's session work (see [`DeferredSessions::set_span`]).
    span: Option<Span>,
}

impl<V> DeferredSessions<V> {
    pub(super) fn new<I, F>(manager: &SessionManager, cookie_headers: I, header: F) -> Self
    where
        I: IntoIterator<Item = V>,
        F: Fn(&str) -> Option<V>,
    {
        let mut cookies = cookie_headers.into_iter();
        DeferredSessions {
            manager: manager.clone(),
            kept: KeptHeaders {
                cookie: cookies.next(),
                more_cookies: cookies.collect(),
                session_headers: manager.session_header_names().map(header).collect(),
            },
            sessions: OnceLock::new(),
            span: None,
        }
    }

    /// Makes the request's store operations children of `span`: the adapter's span for the
    /// request, from [`request_span`](crate::request_span) (`None` when nobody listens).
    pub fn set_span(&mut self, span: Option<Span>) {
        self.span = span;
    }

    /// Whether the request had a `Cookie` header.
    pub fn has_cookie_header(&self) -> bool {
        self.kept.cookie.is_some()
    }

    /// The request's sessions. The first call scans the kept headers (`as_bytes` gives a kept
    /// value's bytes; a session header that is not UTF-8 is skipped, as a missing header would
    /// be), then the `Cookie` header values that `extra_cookies` returns; it is called then only.
    pub fn get_or_scan<B>(
        &self,
        as_bytes: B,
        extra_cookies: impl FnOnce() -> Vec<String>,
    ) -> &Arc<RequestSessions>
    where
        B: Fn(&V) -> &[u8],
    {
        self.sessions.get_or_init(|| {
            let extra = extra_cookies();
            let kept = &self.kept;
            // Cookie headers go in as bytes: the scan skips a pair that is not UTF-8, not the
            // header.
            let cookies = kept
                .cookie
                .iter()
                .chain(&kept.more_cookies)
                .map(&as_bytes)
                .chain(extra.iter().map(String::as_bytes));
            let manager = &self.manager;
            let mut sessions = RequestSessions::scan(manager, cookies, |name| {
                let index = manager
                    .session_header_names()
                    .position(|known| known == name)?;
                let value = kept.session_headers.get(index)?.as_ref()?;
                std::str::from_utf8(as_bytes(value)).ok()
            });
            sessions.span = self.span.clone();
            Arc::new(sessions)
        })
    }

    /// The request's sessions if something asked for them; `None` means nothing was opened, so
    /// there is nothing to save.
    pub fn scanned(&self) -> Option<&Arc<RequestSessions>> {
        self.sessions.get()
    }

    /// Saves every opened session that needs it and returns the headers to add to the response;
    /// nothing when no handler asked for a session. For the adapter, which keeps this value
    /// where handlers cannot reach it. On error, add none of the headers: answer with the
    /// error's [`status`](Error::status) instead.
    pub async fn save_scanned(&self) -> Result<Vec<ResponseHeader>, Error> {
        self.save_scanned_with(ClientInfo::default).await
    }

    /// [`save_scanned`](Self::save_scanned), asking `client` for what the adapter knows of the
    /// client (its `User-Agent`, its address) only when a login is saved, for its device record
    /// (unless [`RequestSessions::set_client_info`] told it first). A request that logs no one
    /// in reads nothing from the request and checks nothing for it.
    pub async fn save_scanned_with<C>(&self, client: C) -> Result<Vec<ResponseHeader>, Error>
    where
        C: Fn() -> ClientInfo,
    {
        match self.sessions.get() {
            Some(sessions) => sessions.save_opened_with(&client).await,
            None => Ok(Vec::new()),
        }
    }
}

impl<V> fmt::Debug for DeferredSessions<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredSessions")
            .field("kept", &self.kept)
            .field("scanned", &self.sessions.get().is_some())
            .finish()
    }
}

/// One request's sessions: opened lazily, saved by the adapter
/// ([`DeferredSessions::save_scanned`], [`SessionManager::save_request`]).
pub struct RequestSessions {
    inner: Arc<ManagerInner>,
    /// One per configured session, in the manager's order.
    /// Inline when the manager has one session (most applications): no allocation for it.
    slots: Few<RequestSlot>,
    /// The request's clock reading (ms since the epoch), taken when first needed; 0 until then.
    now: AtomicU64,
    /// What the adapter told about the client, for the device record of a login.
    client: OnceLock<ClientInfo>,
    /// The adapter's span for the request, the parent of its store-operation events.
    span: Option<Span>,
}

/// What one request holds of one configured session.
#[derive(Default)]
pub(super) struct RequestSlot {
    /// The values the request offered for it.
    pub(super) incoming: Incoming,
    /// Its handle, once a handler asked for it.
    session: OnceCell<Session>,
}

impl fmt::Debug for RequestSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_map();
        for (configured, slot) in self.inner.sessions.iter().zip(self.slots.iter()) {
            list.entry(&configured.name, &slot.session.get().is_some());
        }
        list.finish()
    }
}

impl RequestSessions {
    /// The request whose `Cookie` headers are `cookie_headers` and whose session headers
    /// `header` looks up by (lowercase) name, scanned for `manager`'s sessions.
    pub(super) fn scan<'a, 'b, F>(
        manager: &SessionManager,
        cookie_headers: impl Iterator<Item = &'b [u8]>,
        header: F,
    ) -> Self
    where
        F: Fn(&str) -> Option<&'a str>,
    {
        let configured = &manager.inner.sessions;
        // One list of the exact size when there are several sessions, none when there is one.
        let mut slots = match configured.len() {
            1 => Few::One(RequestSlot::default()),
            count => Few::Many((0..count).map(|_| RequestSlot::default()).collect()),
        };
        intake::scan(configured, &mut slots, cookie_headers, header);
        RequestSessions {
            inner: Arc::clone(&manager.inner),
            slots,
            now: AtomicU64::new(0),
            client: OnceLock::new(),
            span: None,
        }
    }

    /// The time every deadline of this request is computed from: read once, when a session is
    /// first opened, so a request costs one clock read however many sessions it uses.
    fn now(&self) -> u64 {
        match self.now.load(Ordering::Relaxed) {
            0 => {
                let now = now_ms().max(1);
                self.now.store(now, Ordering::Relaxed);
                now
            }
            now => now,
        }
    }

    /// The default session, opened on first use.
    pub async fn default_session(&self) -> Result<Session, Error> {
        self.open(self.inner.default).await
    }

    /// The session `name`, opened on first use; later calls return the same handle.
    pub async fn session(&self, name: &str) -> Result<Session, Error> {
        let index = self
            .inner
            .sessions
            .iter()
            .position(|configured| configured.name == name)
            .ok_or_else(|| Error::UnknownSession(name.to_string()))?;
        self.open(index).await
    }

    /// Whether the session `name` was opened in this request.
    pub fn is_opened(&self, name: &str) -> bool {
        self.inner
            .sessions
            .iter()
            .zip(self.slots.iter())
            .any(|(configured, slot)| configured.name == name && slot.session.get().is_some())
    }

    async fn open(&self, index: usize) -> Result<Session, Error> {
        let slot = &self.slots[index];
        slot.session
            .get_or_try_init(|| {
                open_session(
                    &self.inner.sessions[index],
                    &self.inner.keys,
                    &slot.incoming,
                    self.now(),
                    self.span.as_ref(),
                )
            })
            .await
            .cloned()
    }

    /// Whether a handler bound one of the request's sessions to an owner (a login): the adapter
    /// then hands over what it knows of the client ([`set_client_info`](Self::set_client_info))
    /// for the device record. Nothing is read from the request otherwise.
    pub fn binds_owner(&self) -> bool {
        self.slots
            .iter()
            .filter_map(|slot| slot.session.get())
            .any(|session| session.lock().binds_owner())
    }

    /// What the adapter knows of the client (its `User-Agent`, its address), for the device
    /// record of a login saved with this request. Only the first call counts.
    pub fn set_client_info(&self, client: ClientInfo) {
        let _ = self.client.set(client);
    }

    /// Saves every opened session that needs it and returns the headers to add to the response.
    pub(super) async fn save_opened(&self) -> Result<Vec<ResponseHeader>, Error> {
        self.save_opened_with(&ClientInfo::default).await
    }

    /// [`save_opened`](Self::save_opened), `client` asked for the client's information when a
    /// login is saved and the adapter did not set it.
    pub(super) async fn save_opened_with<C>(&self, client: &C) -> Result<Vec<ResponseHeader>, Error>
    where
        C: Fn() -> ClientInfo,
    {
        let mut headers = Vec::new();
        for (configured, slot) in self.inner.sessions.iter().zip(self.slots.iter()) {
            let Some(session) = slot.session.get() else {
                continue;
            };
            match &configured.backend {
                Backend::Server(store) => {
                    self.save_server(
                        configured,
                        slot,
                        session,
                        store.as_ref(),
                        client,
                        &mut headers,
                    )
                    .await?
                }
                Backend::ClientSide(_) => {
                    self.save_client(configured, slot, session, &mut headers)?
                }
            }
        }
        Ok(headers)
    }

    /// Plan, execute, render for a server-side session. When the store says the session is
    /// gone (another request destroyed or regenerated it after this one loaded it), this
    /// request's changes are dropped and it sets no cookie: the other request's response
    /// already did, and expiring it here could arrive later and erase a cookie that a login
    /// just set.
    async fn save_server<C>(
        &self,
        configured: &ConfiguredSession,
        slot: &RequestSlot,
        session: &Session,
        store: &dyn Store,
        client: &C,
        headers: &mut Vec<ResponseHeader>,
    ) -> Result<(), Error>
    where
        C: Fn() -> ClientInfo,
    {
        let now = self.now();
        let (mut plan, login) = {
            let mut state = session.lock();
            state.close_for_save();
            let login = self.record_device(configured, &mut state, now, client);
            let plan = plan_server(
                &state,
                &configured.policy,
                now,
                slot.incoming.is_present(),
                &mut SessionId::generate,
            );
            (plan, login)
        };
        if let (Some(owner), Some(max)) = (&login, configured.owners.max_sessions) {
            if configured.owners.when_full == WhenFull::Refuse {
                owners::refuse_when_full(store, &configured.name, owner, max).await?;
            }
        }
        // One byte across the store's await, not the events themselves.
        let change = Change::of(&plan.write);
        let observer = &configured.observer;
        let span = self.span.as_ref();
        let outcome = execute(store, &configured.name, observer, span, &mut plan.write).await?;
        let (stored_id, events, told) = {
            let mut state = session.lock();
            let events = server_events(change, logged_in(&state));
            let stored_id = match outcome {
                Outcome::Gone => {
                    tracing::debug!(session = %configured.name, "session ended by another request before this one saved; its changes are dropped");
                    state.mark_gone();
                    return Ok(());
                }
                Outcome::Done(stored_id) => stored_id,
            };
            // Until marked saved, the state still names the id the store held before.
            let before = state.stored_id();
            let mut expires_at = state.record().expires_at;
            match plan.reply {
                Reply::Nothing => {}
                Reply::Removal => emit_removal(configured, &slot.incoming, headers),
                Reply::Id(planned, deadline) => {
                    // A collision may have moved the session to another id than planned.
                    let id = stored_id.unwrap_or(planned);
                    let max_age = max_age_secs(&plan.lifetime, deadline, now);
                    emit_signed_id(configured, &self.inner.keys, &id, max_age, headers)?;
                    expires_at = deadline;
                }
            }
            match stored_id {
                Some(id) => state.mark_saved_as(id, expires_at),
                None => state.mark_retired(),
            }
            let told = Told::of(observer, &events, &state, before, stored_id);
            (stored_id, events, told)
        };
        // The cap before the events: a login it refuses or that fails there was never made.
        if let (Some(owner), Some(id), Some(max)) =
            (&login, stored_id, configured.owners.max_sessions)
        {
            let policy = configured.owners.when_full;
            let capped = owners::enforce_cap(store, configured, owner, &id, max, policy).await;
            if let Err(error) = capped {
                owners::withdraw_login(store, &configured.name, owner, &id, &error).await;
                return Err(error);
            }
        }
        if events[0].is_some() {
            record_events(observer, &events, &told);
        }
        Ok(())
    }

    /// Records the device of a session this request binds to an owner, and moves the
    /// `last_seen_at` of a bound session once per `touch_after_secs`; returns the owner a login
    /// bound.
    fn record_device(
        &self,
        configured: &ConfiguredSession,
        state: &mut State,
        now: u64,
        client: &impl Fn() -> ClientInfo,
    ) -> Option<String> {
        if state.binds_owner() {
            let client = self.client.get().cloned().unwrap_or_else(client);
            state.set_device(&Device::at_login(now, &client, configured.owners.record_ip));
            return state.record().owner.clone();
        }
        if state.record().owner.is_some() && !state.is_destroyed() {
            // The record is decoded only when it is due to move.
            let touch_ms = configured.policy.touch_after_secs.saturating_mul(1000);
            let due = state
                .device_last_seen_at()
                .is_some_and(|seen| now >= seen.saturating_add(touch_ms));
            if let Some(mut device) = due.then(|| state.device()).flatten() {
                device.last_seen_at = now;
                state.set_device(&device);
            }
        }
        None
    }

    /// Plan and render for a client-side session: no store, the value is resealed.
    fn save_client(
        &self,
        configured: &ConfiguredSession,
        slot: &RequestSlot,
        session: &Session,
        headers: &mut Vec<ResponseHeader>,
    ) -> Result<(), Error> {
        let now = self.now();
        let mut state = session.lock();
        state.close_for_save();
        let (lifecycle, logged_in) = (state.lifecycle(), logged_in(&state));
        let before = match lifecycle {
            Lifecycle::Destroyed { retired } => retired,
            _ => state.stored_id(),
        };
        let mut events = [None; 3];
        match plan_client(&state, &configured.policy, now, slot.incoming.is_present()) {
            ClientPlan::Nothing => {}
            ClientPlan::Removal => {
                if let Lifecycle::Destroyed { retired: Some(_) } = lifecycle {
                    events[0] = Some(SessionEventKind::Destroyed);
                }
                emit_removal(configured, &slot.incoming, headers)
            }
            ClientPlan::Reseal {
                expires_at,
                absolute_deadline,
                lifetime,
            } => {
                state.prepare_reseal(expires_at, absolute_deadline);
                let max_age = max_age_secs(&lifetime, expires_at, now);
                emit_sealed_record(
                    configured,
                    &self.inner.keys,
                    state.record(),
                    max_age,
                    headers,
                )?;
                state.mark_saved();
                events = client_events(lifecycle, logged_in);
            }
        }
        if events[0].is_some() {
            let after = (!state.is_destroyed()).then(|| state.record().id);
            let told = Told::of(&configured.observer, &events, &state, before, after);
            drop(state);
            record_events(&configured.observer, &events, &told);
        }
        Ok(())
    }
}

/// Up to three lifecycle events of one saved session, in the order they happened.
type Events = [Option<SessionEventKind>; 3];

/// Whether this request bound the session to an owner.
fn logged_in(state: &crate::session::State) -> bool {
    state.owner_changed() && state.record().owner.is_some()
}

/// `events` followed by a login, when there was one.
fn and_login(mut events: Events, logged_in: bool) -> Events {
    if logged_in {
        if let Some(free) = events.iter_mut().find(|event| event.is_none()) {
            *free = Some(SessionEventKind::LoggedIn);
        }
    }
    events
}

/// What a server-side write does to the session's life.
#[derive(Clone, Copy)]
enum Change {
    None,
    Created,
    Regenerated,
    Destroyed,
    Replaced,
}

impl Change {
    fn of(write: &Write) -> Self {
        match write {
            Write::None | Write::Update(..) => Change::None,
            Write::Create(_) => Change::Created,
            Write::Regenerate { .. } => Change::Regenerated,
            Write::Delete(_) => Change::Destroyed,
            Write::Replace(..) => Change::Replaced,
        }
    }
}

/// The events of a server-side `change`, once the store has made it.
fn server_events(change: Change, logged_in: bool) -> Events {
    use SessionEventKind::{Created, Destroyed, Regenerated};
    let events = match change {
        Change::None => [None; 3],
        Change::Created => [Some(Created), None, None],
        Change::Regenerated => [Some(Regenerated), None, None],
        Change::Destroyed => [Some(Destroyed), None, None],
        Change::Replaced => [Some(Destroyed), Some(Created), None],
    };
    and_login(events, logged_in)
}

/// What resealing a client-side session that was in `lifecycle` does to its life.
fn client_events(lifecycle: Lifecycle, logged_in: bool) -> Events {
    use SessionEventKind::{Created, Destroyed, Regenerated};
    let events = match lifecycle {
        Lifecycle::New | Lifecycle::Destroyed { retired: None } => [Some(Created), None, None],
        Lifecycle::Stored => [None; 3],
        Lifecycle::Regenerated { .. } => [Some(Regenerated), None, None],
        Lifecycle::Destroyed { retired: Some(_) } => [Some(Destroyed), Some(Created), None],
    };
    and_login(events, logged_in)
}

/// What the hook is told of a saved session, copied out of its state only when there is an
/// event and a hook to give it to: with no hook, saving hashes no id and decodes no device.
#[derive(Default)]
struct Told {
    owner: Option<String>,
    /// The handle the session was stored under before this save (a destruction's).
    before: Option<String>,
    /// The handle it is stored under now (a creation's, a login's, a regeneration's).
    after: Option<String>,
    device: Option<Device>,
}

impl Told {
    fn of(
        observer: &SessionObserver,
        events: &Events,
        state: &State,
        before: Option<SessionId>,
        after: Option<SessionId>,
    ) -> Self {
        if events[0].is_none() || !observer.has_hook() {
            return Told::default();
        }
        Told {
            owner: state.record().owner.clone(),
            before: before.map(|id| id.storage_key()),
            after: after.map(|id| id.storage_key()),
            device: state.device(),
        }
    }

    /// What `kind` says: a destruction names the session that ended, with no device (its
    /// values are gone); the rest name the session as saved.
    fn detail(&self, kind: SessionEventKind) -> EventDetail<'_> {
        let owner = self.owner.as_deref();
        match kind {
            SessionEventKind::Destroyed => EventDetail {
                owner,
                handle: self.before.as_deref(),
                device: None,
            },
            _ => EventDetail {
                owner,
                handle: self.after.as_deref(),
                device: self.device.as_ref(),
            },
        }
    }
}

/// Counts `events` and gives them to the hook, after the session's lock is released.
fn record_events(observer: &SessionObserver, events: &Events, told: &Told) {
    for event in events.iter().flatten() {
        observer.record_with(*event, &told.detail(*event));
    }
}
