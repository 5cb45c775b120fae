//! The [`SessionManager`]: everything about a request's sessions that is not framework-specific.
//!
//! An adapter does three things with it, and nothing else:
//!
//! 1. Before the handler, [`SessionManager::defer`] keeps the request's `Cookie` and session header
//!    values unparsed in a [`DeferredSessions`] that the adapter stores in the request; when a
//!    handler first asks for a session, [`DeferredSessions::get_or_scan`] scans them into the
//!    request's [`RequestSessions`] ([`SessionManager::keep`] and [`SessionManager::request_from`]
//!    are the two halves; [`SessionManager::request`] does both at once). No store is touched and
//!    nothing is decrypted; a request that asks for no session parses nothing, and
//!    [`DeferredSessions::scanned`] tells the adapter there is nothing to save.
//! 2. When a handler extracts a session, [`RequestSessions::session`] opens it: verifies or
//!    decrypts a client-side value, or verifies a signed id and loads the record. Once per name per
//!    request; every extraction gets the same handle. Values that do not open (tampered, expired,
//!    foreign, sealed under a removed key) are logged at debug level and give a new, empty session.
//! 3. After the handler, [`RequestSessions::finish`] saves what changed and returns the
//!    `Set-Cookie` and session headers to add. An untouched session writes nothing; a new session
//!    that was never written creates no record.
//!
//! Saving follows the session's changes: a stored session with changed values is saved as a
//! [`Delta`](crate::Delta) (so parallel requests changing different keys all persist, and a
//! session another request destroyed is not brought back), a new or regenerated one is created under its new id before the old record
//! is deleted, and a destroyed one is deleted and its cookie expired. An unchanged session is
//! rewritten only to slide its idle deadline when the policy's touch threshold is reached.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use cookie::Cookie;
use tokio::sync::OnceCell;

use crate::config::{
    ConfigError, CookieConfig, SameSite, SessionConfig, SessionsConfig, Transport,
};
use crate::error::Error;
use crate::expiry::{max_age_secs, Expiry, ExpiryPolicy};
use crate::id::SessionId;
use crate::keys::KeyRing;
use crate::record::{now_ms, Record};
use crate::registry::{Backend, StoreRegistry};
use crate::seal::{open_id, open_record, seal_id, seal_record, Protection};
use crate::session::{Session, State};
use crate::store::{OwnerSession, Store, StoreError};

/// The most bytes of a `Set-Cookie` value (name, value and attributes) browsers are required to
/// keep.
pub const COOKIE_SIZE_LIMIT: usize = 4096;

/// How often [`Store::create`] is retried with a fresh id after a collision (with 256-bit ids,
/// a collision means a broken random source or a store that misreports).
const CREATE_ATTEMPTS: usize = 3;

/// The named sessions of an application, their stores and keys. Cheap to clone.
#[derive(Clone)]
pub struct SessionManager {
    inner: Arc<ManagerInner>,
}

struct ManagerInner {
    keys: KeyRing,
    slots: Vec<SlotConfig>,
    default: usize,
}

struct SlotConfig {
    name: String,
    transport: Transport,
    header_name: Arc<str>,
    backend: Backend,
    policy: ExpiryPolicy,
    protection: Protection,
    max_chunks: usize,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("sessions", &self.session_names().collect::<Vec<_>>())
            .field("default", &self.default_session())
            .finish_non_exhaustive()
    }
}

/// Builds a [`SessionManager`] in code; [`SessionManager::from_config`] builds one from a
/// configuration file.
pub struct SessionManagerBuilder {
    keys: KeyRing,
    config: SessionsConfig,
    backends: Vec<(String, Backend)>,
}

impl SessionManagerBuilder {
    /// Adds the session `name` with its configuration and an already built backend.
    pub fn session(
        mut self,
        name: impl Into<String>,
        config: SessionConfig,
        backend: Backend,
    ) -> Self {
        let name = name.into();
        self.config.sessions.insert(name.clone(), config);
        self.backends.retain(|(existing, _)| *existing != name);
        self.backends.push((name, backend));
        self
    }

    /// Names the default session (needed when there are several).
    pub fn default_session(mut self, name: impl Into<String>) -> Self {
        self.config.default = Some(name.into());
        self
    }

    /// Validates the configuration and builds the manager.
    pub fn build(self) -> Result<SessionManager, ConfigError> {
        self.config.validate()?;
        SessionManager::assemble(self.keys, &self.config, self.backends)
    }
}

impl SessionManager {
    /// Starts building a manager in code.
    pub fn builder(keys: KeyRing) -> SessionManagerBuilder {
        SessionManagerBuilder {
            keys,
            config: SessionsConfig::default(),
            backends: Vec::new(),
        }
    }

    /// Builds every configured session's store through `registry`.
    pub async fn from_config(
        config: &SessionsConfig,
        registry: &StoreRegistry,
        keys: KeyRing,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut backends = Vec::with_capacity(config.sessions.len());
        for (name, session) in &config.sessions {
            backends.push((name.clone(), registry.build(name, &session.store).await?));
        }
        SessionManager::assemble(keys, config, backends)
    }

    fn assemble(
        keys: KeyRing,
        config: &SessionsConfig,
        backends: Vec<(String, Backend)>,
    ) -> Result<Self, ConfigError> {
        let default_name = config.default_name()?;
        let mut slots = Vec::with_capacity(backends.len());
        for (name, backend) in backends {
            let Some(session) = config.sessions.get(&name) else {
                continue;
            };
            let header_name: Arc<str> = match &session.transport {
                Transport::Cookie(cookie) => Arc::from(cookie.name.as_str()),
                Transport::Header(header) => Arc::from(header.name.to_ascii_lowercase()),
            };
            let max_chunks = match (&backend, &session.transport) {
                (Backend::Cookie(options), Transport::Cookie(_)) => options.max_chunks,
                _ => 1,
            };
            slots.push(SlotConfig {
                name,
                transport: session.transport.clone(),
                header_name,
                backend,
                policy: session.expiry.clone(),
                protection: session.protection,
                max_chunks,
            });
        }
        let default = slots
            .iter()
            .position(|slot| slot.name == default_name)
            .ok_or_else(|| ConfigError::Default(format!("`{default_name}` has no store")))?;
        Ok(SessionManager {
            inner: Arc::new(ManagerInner {
                keys,
                slots,
                default,
            }),
        })
    }

    /// The configured session names.
    pub fn session_names(&self) -> impl Iterator<Item = &str> {
        self.inner.slots.iter().map(|slot| slot.name.as_str())
    }

    /// The default session's name.
    pub fn default_session(&self) -> &str {
        &self.inner.slots[self.inner.default].name
    }

    /// The (lowercase) names of the request headers that carry session values (sessions with
    /// the header transport), in the order [`request`](Self::request) looks them up; the ones
    /// [`keep`](Self::keep) keeps.
    pub fn session_header_names(&self) -> impl Iterator<Item = &str> {
        self.inner
            .slots
            .iter()
            .filter(|slot| matches!(slot.transport, Transport::Header(_)))
            .map(|slot| &*slot.header_name)
    }

    /// The backend of session `name`.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.inner
            .slots
            .iter()
            .find(|slot| slot.name == name)
            .map(|slot| &slot.backend)
    }

    /// Removes expired records from every server-side store that needs cleaning (see
    /// [`Store::cleanup`]); returns how many. The manager already runs this in the background
    /// when built inside a Tokio runtime; operators call it for a one-off pass.
    pub async fn cleanup(&self) -> Result<u64, StoreError> {
        let mut removed = 0;
        for slot in &self.inner.slots {
            if let Backend::Server(store) = &slot.backend {
                if let Some(cleanup) = store.cleanup() {
                    removed += cleanup.delete_expired().await?;
                }
            }
        }
        Ok(removed)
    }

    /// The store of the server-side session `name`.
    fn server_store(&self, name: &str) -> Result<&Arc<dyn Store>, Error> {
        match self.backend(name) {
            Some(Backend::Server(store)) => Ok(store),
            Some(Backend::Cookie(_)) => Err(Error::NotServerSide(name.to_string())),
            None => Err(Error::UnknownSession(name.to_string())),
        }
    }

    /// The live sessions of `owner` in the server-side session `name` (bound with
    /// [`Session::set_owner`]): created and expiry times, and a storage key that tells them
    /// apart; never an id.
    pub async fn owner_sessions(
        &self,
        name: &str,
        owner: &str,
    ) -> Result<Vec<OwnerSession>, Error> {
        Ok(self.server_store(name)?.owner_sessions(owner).await?)
    }

    /// Ends every session of `owner` in the server-side session `name` ("log out everywhere");
    /// returns how many. Their cookies stop opening at once.
    pub async fn revoke_owner(&self, name: &str, owner: &str) -> Result<u64, Error> {
        Ok(self.server_store(name)?.delete_owner(owner).await?)
    }

    /// How many live sessions the server-side session `name` holds.
    pub async fn count(&self, name: &str) -> Result<u64, Error> {
        Ok(self.server_store(name)?.count().await?)
    }

    /// Reads a request's session values: `cookie_headers` are the values of its `Cookie`
    /// headers, `header` looks up a request header by (lowercase) name. Touches no store.
    pub fn request<'a, I, F>(&self, cookie_headers: I, header: F) -> RequestSessions
    where
        I: IntoIterator<Item = &'a str>,
        F: Fn(&str) -> Option<&'a str>,
    {
        let configs = &self.inner.slots;
        let mut slots: Box<[Slot]> = configs.iter().map(|_| Slot::default()).collect();
        let mut any_cookie_slot = false;
        for (config, slot) in configs.iter().zip(slots.iter_mut()) {
            match config.transport {
                Transport::Header(_) => {
                    if let Some(value) = header(&config.header_name).filter(|v| !v.is_empty()) {
                        slot.incoming.offer(0, value);
                    }
                }
                Transport::Cookie(_) => any_cookie_slot = true,
            }
        }
        if any_cookie_slot {
            for cookie_header in cookie_headers {
                for cookie in Cookie::split_parse(cookie_header).flatten() {
                    if let Some((index, chunk)) = self.cookie_slot(cookie.name()) {
                        slots[index].incoming.offer(chunk, cookie.value());
                    }
                }
            }
        }
        RequestSessions {
            inner: Arc::clone(&self.inner),
            slots,
            now: AtomicU64::new(0),
        }
    }

    /// Keeps a request's session header values as the adapter finds them, unparsed, so that
    /// [`request_from`](Self::request_from) can scan them later, when a handler first asks for a
    /// session (a route that asks for none then parses no cookie). `V` is the framework's header
    /// value type, usually reference-counted; `header` looks up a request header by (lowercase)
    /// name.
    pub fn keep<V, I, F>(&self, cookie_headers: I, header: F) -> KeptHeaders<V>
    where
        I: IntoIterator<Item = V>,
        F: Fn(&str) -> Option<V>,
    {
        let mut cookies = cookie_headers.into_iter();
        KeptHeaders {
            cookie: cookies.next(),
            more_cookies: cookies.collect(),
            session_headers: self.session_header_names().map(header).collect(),
        }
    }

    /// [`keep`](Self::keep), with the scan that follows deferred: the value an adapter stores in
    /// the request, whose sessions are scanned from the kept headers when first asked for.
    pub fn defer<V, I, F>(&self, cookie_headers: I, header: F) -> DeferredSessions<V>
    where
        I: IntoIterator<Item = V>,
        F: Fn(&str) -> Option<V>,
    {
        DeferredSessions {
            manager: self.clone(),
            kept: self.keep(cookie_headers, header),
            sessions: OnceLock::new(),
        }
    }

    /// [`request`](Self::request) on headers kept by [`keep`](Self::keep): `as_bytes` gives a
    /// kept value's bytes (one that is not UTF-8 is skipped, as a missing header would be),
    /// `extra_cookies` are `Cookie` header values to read after the kept ones.
    pub fn request_from<'a, V, B>(
        &self,
        kept: &'a KeptHeaders<V>,
        as_bytes: B,
        extra_cookies: impl IntoIterator<Item = &'a str>,
    ) -> RequestSessions
    where
        B: Fn(&'a V) -> &'a [u8],
    {
        // Any UTF-8 passes, not only the visible ASCII of HTTP's grammar: the cookie parser and
        // the codec reject what is not theirs, and the standard library checks ASCII a word at a
        // time where the frameworks' `to_str` go byte by byte.
        let as_str = |value: &'a V| std::str::from_utf8(as_bytes(value)).ok();
        let cookies = kept
            .cookie
            .iter()
            .chain(&kept.more_cookies)
            .filter_map(&as_str)
            .chain(extra_cookies);
        self.request(cookies, |name| {
            let index = self
                .session_header_names()
                .position(|known| known == name)?;
            kept.session_headers.get(index)?.as_ref().and_then(&as_str)
        })
    }

    /// Which cookie slot and chunk a cookie name belongs to.
    fn cookie_slot(&self, cookie_name: &str) -> Option<(usize, usize)> {
        self.inner
            .slots
            .iter()
            .enumerate()
            .find_map(|(index, slot)| {
                if !matches!(slot.transport, Transport::Cookie(_)) {
                    return None;
                }
                let base: &str = &slot.header_name;
                let rest = cookie_name.strip_prefix(base)?;
                if rest.is_empty() {
                    return Some((index, 0));
                }
                // Only the names this library writes (`name.1` ... `name.7`): `name.01` or
                // `name.+1` would be taken for chunk 1 but never expired as one.
                let digits = rest.strip_prefix('.')?;
                if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let chunk: usize = digits.parse().ok()?;
                (1..slot.max_chunks)
                    .contains(&chunk)
                    .then_some((index, chunk))
            })
    }
}

/// A request's `Cookie` and session header values, kept unparsed by [`SessionManager::keep`].
pub struct KeptHeaders<V> {
    /// The first `Cookie` header; the others, if any, after it.
    cookie: Option<V>,
    more_cookies: Vec<V>,
    /// The value of each of [`SessionManager::session_header_names`], in that order.
    session_headers: Vec<Option<V>>,
}

impl<V> KeptHeaders<V> {
    /// Whether the request had a `Cookie` header.
    pub fn has_cookie_header(&self) -> bool {
        self.cookie.is_some()
    }
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
}

impl<V> DeferredSessions<V> {
    /// Whether the request had a `Cookie` header.
    pub fn has_cookie_header(&self) -> bool {
        self.kept.has_cookie_header()
    }

    /// The request's sessions. The first call scans the kept headers
    /// ([`SessionManager::request_from`] with `as_bytes`), then the `Cookie` header values that
    /// `extra_cookies` returns; it is called then only.
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
            Arc::new(self.manager.request_from(
                &self.kept,
                as_bytes,
                extra.iter().map(String::as_str),
            ))
        })
    }

    /// The request's sessions if something asked for them; `None` means nothing was opened, so
    /// there is nothing to save.
    pub fn scanned(&self) -> Option<&Arc<RequestSessions>> {
        self.sessions.get()
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

/// The cookie parts of one session seen in a request.
#[derive(Default)]
struct Incoming {
    /// Chunk 0: the whole value unless it was split.
    first: Option<String>,
    /// Chunks 1, 2, ... (empty unless the value was split), `None` where one is missing.
    rest: Vec<Option<String>>,
}

impl Incoming {
    fn offer(&mut self, chunk: usize, value: &str) {
        // Browsers send the most specific cookie first; keep it.
        let part = match chunk.checked_sub(1) {
            None => &mut self.first,
            Some(index) => {
                if self.rest.len() <= index {
                    self.rest.resize(index + 1, None);
                }
                &mut self.rest[index]
            }
        };
        if part.is_none() {
            *part = Some(value.to_string());
        }
    }

    /// The joined value of the consecutive chunks from 0.
    fn value(&self) -> Option<std::borrow::Cow<'_, str>> {
        let first = self.first.as_deref()?;
        if self.rest.first().is_none_or(Option::is_none) {
            return Some(first.into());
        }
        let mut value = first.to_string();
        for part in self.rest.iter().map_while(Option::as_deref) {
            value.push_str(part);
        }
        Some(value.into())
    }

    /// One past the highest chunk index the client holds (so every stale chunk, even one after
    /// a gap, can be expired).
    fn chunks_held(&self) -> usize {
        if self.rest.is_empty() {
            usize::from(self.first.is_some())
        } else {
            self.rest.len() + 1
        }
    }

    fn is_present(&self) -> bool {
        self.first.is_some()
    }
}

/// A header the adapter adds to the response.
///
/// The values are live session credentials: `Debug` shows cookie and header names, attributes and
/// lengths, never a value. [`value`](Self::value) gives the value to send.
#[derive(Clone, PartialEq, Eq)]
pub enum ResponseHeader {
    /// A `Set-Cookie` header with this value.
    SetCookie(String),
    /// A session header (header transport). An empty value means the session ended.
    Header {
        /// The header name (lowercase).
        name: Arc<str>,
        /// The sealed value, or empty.
        value: String,
    },
}

impl ResponseHeader {
    /// The header name.
    pub fn name(&self) -> &str {
        match self {
            ResponseHeader::SetCookie(_) => "set-cookie",
            ResponseHeader::Header { name, .. } => name,
        }
    }

    /// The header value.
    pub fn value(&self) -> &str {
        match self {
            ResponseHeader::SetCookie(value) | ResponseHeader::Header { value, .. } => value,
        }
    }

    /// The header value, owned: adapters hand it to their framework's header type without a copy.
    pub fn into_value(self) -> String {
        match self {
            ResponseHeader::SetCookie(value) | ResponseHeader::Header { value, .. } => value,
        }
    }
}

impl fmt::Debug for ResponseHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseHeader::SetCookie(text) => {
                let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                f.debug_tuple("SetCookie")
                    .field(&format_args!(
                        "{name}=<{} bytes>{}{attributes}",
                        value.len(),
                        if attributes.is_empty() { "" } else { ";" }
                    ))
                    .finish()
            }
            ResponseHeader::Header { name, value } => f
                .debug_struct("Header")
                .field("name", name)
                .field("value", &format_args!("<{} bytes>", value.len()))
                .finish(),
        }
    }
}

/// One request's sessions: opened lazily, saved by [`finish`](Self::finish).
pub struct RequestSessions {
    inner: Arc<ManagerInner>,
    slots: Box<[Slot]>,
    /// The request's clock reading (ms since the epoch), taken when first needed; 0 until then.
    now: AtomicU64,
}

#[derive(Default)]
struct Slot {
    incoming: Incoming,
    session: OnceCell<Session>,
}

impl fmt::Debug for RequestSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_map();
        for (config, slot) in self.inner.slots.iter().zip(self.slots.iter()) {
            list.entry(&config.name, &slot.session.get().is_some());
        }
        list.finish()
    }
}

/// What a finished session asks of its store.
enum Write {
    None,
    Create(Record),
    Update(SessionId, crate::record::Delta),
}

impl RequestSessions {
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
            .slots
            .iter()
            .position(|slot| slot.name == name)
            .ok_or_else(|| Error::UnknownSession(name.to_string()))?;
        self.open(index).await
    }

    /// Whether the session `name` was opened in this request.
    pub fn is_opened(&self, name: &str) -> bool {
        self.inner
            .slots
            .iter()
            .zip(self.slots.iter())
            .any(|(config, slot)| config.name == name && slot.session.get().is_some())
    }

    async fn open(&self, index: usize) -> Result<Session, Error> {
        let slot = &self.slots[index];
        slot.session
            .get_or_try_init(|| self.load(index))
            .await
            .cloned()
    }

    async fn load(&self, index: usize) -> Result<Session, Error> {
        let config = &self.inner.slots[index];
        let now = self.now();
        let fresh = || Session::from_state(State::unsaved(&config.policy.lifetime(), now));
        let Some(value) = self.slots[index].incoming.value() else {
            return Ok(fresh());
        };
        let value: &str = &value;
        let keys = &self.inner.keys;
        match &config.backend {
            Backend::Cookie(_) => {
                match open_record(keys, config.protection, &config.name, value, now) {
                    Ok(opened) => Ok(Session::from_state(State::loaded(
                        opened.record,
                        opened.stale_key,
                    ))),
                    Err(reason) => {
                        tracing::debug!(session = %config.name, %reason, "session value did not open; starting a new session");
                        Ok(fresh())
                    }
                }
            }
            Backend::Server(store) => match open_id(keys, &config.name, value) {
                Ok((id, stale_key)) => match store.load(&id).await? {
                    Some(record) if record.id == id && !record.is_expired(now) => {
                        Ok(Session::from_state(State::loaded(record, stale_key)))
                    }
                    _ => {
                        tracing::debug!(session = %config.name, "no live record for the session id; starting a new session");
                        Ok(fresh())
                    }
                },
                Err(reason) => {
                    tracing::debug!(session = %config.name, %reason, "session id did not verify; starting a new session");
                    Ok(fresh())
                }
            },
        }
    }

    /// Saves every opened session that needs it and returns the headers to add to the response.
    ///
    /// On error, add none of the headers: answer 500 instead.
    pub async fn finish(&self) -> Result<Vec<ResponseHeader>, Error> {
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
        let (write, retired, lifetime, resend) = {
            let mut state = session.lock();
            let lifetime = lifetime_of(&state, &config.policy);
            let absolute = lifetime.absolute_deadline(state.record.created_at);
            let next = lifetime.next_expires_at(now, absolute);
            let write = if !state.stored {
                if state.record.data.is_empty() {
                    Write::None
                } else {
                    set_deadlines(&mut state.record, next, absolute);
                    state.assign_id();
                    Write::Create(state.record.clone())
                }
            } else if state.has_value_changes()
                || state.expiry_changed
                || config.policy.wants_touch(state.record.expires_at, next)
            {
                set_deadlines(&mut state.record, next, absolute);
                Write::Update(state.record.id, state.delta())
            } else {
                Write::None
            };
            // A persistent cookie's Max-Age slides with every write; a re-keyed id is resent.
            let resend = state.stale_key || state.expiry_changed || lifetime.persistent;
            (write, state.retired, lifetime, resend)
        };

        let mut emitted = None;
        match write {
            Write::None => {
                let state = session.lock();
                if state.stored && state.stale_key {
                    emitted = Some((state.record.id, state.record.expires_at));
                }
            }
            Write::Create(mut record) => {
                let mut attempt = 1;
                loop {
                    match store.create(&record).await {
                        Ok(()) => break,
                        Err(StoreError::AlreadyExists) if attempt < CREATE_ATTEMPTS => {
                            attempt += 1;
                            record.id = SessionId::generate();
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
                session.lock().record.id = record.id;
                emitted = Some((record.id, record.expires_at));
            }
            Write::Update(id, delta) => {
                if store.update(&id, &delta).await? {
                    if resend {
                        emitted = Some((id, delta.expires_at));
                    }
                } else {
                    // Another request destroyed or regenerated the session after this one loaded
                    // it. Its response already set or expired the cookie; expiring it here could
                    // arrive later and erase a cookie that a login just set.
                    tracing::debug!(session = %config.name, "session ended by another request before this one saved; its changes are dropped");
                    session.lock().stored = false;
                    return Ok(());
                }
            }
        }
        if let Some(old) = retired {
            store.delete(&old).await?;
        }
        match emitted {
            Some((id, expires_at)) => {
                let value = seal_id(&self.inner.keys, &config.name, &id)?;
                self.emit_value(
                    config,
                    slot,
                    value,
                    max_age_secs(&lifetime, expires_at, now),
                    headers,
                )?;
                session.lock().mark_saved();
            }
            None => {
                let mut state = session.lock();
                if !state.stored && state.record.data.is_empty() {
                    if (retired.is_some() || state.destroyed) && slot.incoming.is_present() {
                        self.emit_removal(config, slot, headers);
                    }
                    state.retired = None;
                    state.destroyed = false;
                } else {
                    state.mark_saved();
                }
            }
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
                self.emit_removal(config, slot, headers);
            }
            return Ok(());
        }
        let lifetime = lifetime_of(&state, &config.policy);
        let absolute = lifetime.absolute_deadline(state.record.created_at);
        let next = lifetime.next_expires_at(now, absolute);
        let needs_seal = state.is_modified()
            || state.stale_key
            || !state.stored
            || config.policy.wants_touch(state.record.expires_at, next);
        if !needs_seal {
            return Ok(());
        }
        set_deadlines(&mut state.record, next, absolute);
        state.record.version += 1;
        state.assign_id();
        let value = seal_record(
            &self.inner.keys,
            config.protection,
            &config.name,
            &state.record,
        )?;
        self.emit_value(
            config,
            slot,
            value,
            max_age_secs(&lifetime, next, now),
            headers,
        )?;
        state.mark_saved();
        Ok(())
    }

    fn emit_value(
        &self,
        config: &SlotConfig,
        slot: &Slot,
        value: String,
        max_age: Option<u64>,
        headers: &mut Vec<ResponseHeader>,
    ) -> Result<(), Error> {
        let cookie = match &config.transport {
            Transport::Header(_) => {
                headers.push(ResponseHeader::Header {
                    name: Arc::clone(&config.header_name),
                    value,
                });
                return Ok(());
            }
            Transport::Cookie(cookie) => cookie,
        };
        let whole = render_cookie(cookie, &cookie.name, &value, max_age);
        if whole.len() <= COOKIE_SIZE_LIMIT {
            headers.push(ResponseHeader::SetCookie(whole));
            self.expire_chunks(cookie, 1..slot.incoming.chunks_held(), headers);
            return Ok(());
        }
        let too_large = || Error::CookieTooLarge {
            name: config.name.clone(),
            size: whole.len(),
            limit: COOKIE_SIZE_LIMIT,
        };
        if config.max_chunks <= 1 {
            return Err(too_large());
        }
        let longest_name = chunk_name(&cookie.name, config.max_chunks - 1);
        let overhead = render_cookie(cookie, &longest_name, "", max_age).len();
        let room = COOKIE_SIZE_LIMIT.saturating_sub(overhead);
        if room == 0 || value.len().div_ceil(room) > config.max_chunks {
            return Err(too_large());
        }
        // The sealed value is base64url (ASCII), so any byte offset is a character boundary.
        let pieces: Vec<&str> = (0..value.len())
            .step_by(room)
            .map(|start| &value[start..(start + room).min(value.len())])
            .collect();
        for (index, piece) in pieces.iter().enumerate() {
            headers.push(ResponseHeader::SetCookie(render_cookie(
                cookie,
                &chunk_name(&cookie.name, index),
                piece,
                max_age,
            )));
        }
        self.expire_chunks(cookie, pieces.len()..slot.incoming.chunks_held(), headers);
        Ok(())
    }

    fn emit_removal(&self, config: &SlotConfig, slot: &Slot, headers: &mut Vec<ResponseHeader>) {
        match &config.transport {
            Transport::Header(_) => headers.push(ResponseHeader::Header {
                name: Arc::clone(&config.header_name),
                value: String::new(),
            }),
            Transport::Cookie(cookie) => {
                self.expire_chunks(cookie, 0..slot.incoming.chunks_held().max(1), headers)
            }
        }
    }

    fn expire_chunks(
        &self,
        cookie: &CookieConfig,
        chunks: std::ops::Range<usize>,
        headers: &mut Vec<ResponseHeader>,
    ) {
        for index in chunks {
            headers.push(ResponseHeader::SetCookie(removal_cookie(
                cookie,
                &chunk_name(&cookie.name, index),
            )));
        }
    }
}

fn lifetime_of(state: &State, policy: &ExpiryPolicy) -> Expiry {
    state
        .record
        .expiry
        .clone()
        .unwrap_or_else(|| policy.lifetime())
}

fn set_deadlines(record: &mut Record, expires_at: u64, absolute: Option<u64>) {
    record.expires_at = expires_at;
    record.absolute_deadline = absolute;
}

fn chunk_name(base: &str, index: usize) -> String {
    if index == 0 {
        base.to_string()
    } else {
        format!("{base}.{index}")
    }
}

fn cookie_builder<'c>(
    config: &'c CookieConfig,
    name: &'c str,
    value: &'c str,
) -> cookie::CookieBuilder<'c> {
    let same_site = match config.same_site {
        SameSite::Strict => cookie::SameSite::Strict,
        SameSite::Lax => cookie::SameSite::Lax,
        SameSite::None => cookie::SameSite::None,
    };
    let mut builder = Cookie::build((name, value))
        .path(config.path.as_str())
        .secure(config.secure)
        .http_only(config.http_only)
        .same_site(same_site);
    if let Some(domain) = &config.domain {
        builder = builder.domain(domain.as_str());
    }
    builder
}

fn render_cookie(config: &CookieConfig, name: &str, value: &str, max_age: Option<u64>) -> String {
    let mut builder = cookie_builder(config, name, value);
    if let Some(seconds) = max_age {
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        builder = builder.max_age(cookie::time::Duration::seconds(seconds));
    }
    let cookie = builder.build();
    // Sized once: the value is up to 4 KiB and `to_string` would grow the buffer several times.
    let mut rendered = String::with_capacity(name.len() + value.len() + RENDERED_ATTRIBUTES_HINT);
    // Writing into a `String` cannot fail.
    let _ = write!(rendered, "{cookie}");
    rendered
}

/// Room for the attributes of a rendered `Set-Cookie` (path, domain, flags, `Max-Age`).
const RENDERED_ATTRIBUTES_HINT: usize = 128;

fn removal_cookie(config: &CookieConfig, name: &str) -> String {
    cookie_builder(config, name, "")
        .max_age(cookie::time::Duration::ZERO)
        .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
        .build()
        .to_string()
}

#[cfg(test)]
mod tests;
