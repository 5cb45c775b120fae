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
//! 3. After the handler, [`DeferredSessions::finish`] saves what changed and returns the
//!    `Set-Cookie` and session headers to add. An untouched session writes nothing; a new session
//!    that was never written creates no record.
//!
//! Saving follows the session's changes: a stored session with changed values is saved as a
//! [`Delta`](crate::Delta) (so parallel requests changing different keys all persist, and a
//! session another request destroyed is not brought back), a regenerated one is moved by the
//! store to its new id with the changes on top ([`Store::regenerate`], atomic: a session another
//! request destroyed meanwhile stays destroyed), and a destroyed one is deleted and its cookie
//! expired. An unchanged session is rewritten only to slide its idle deadline when the policy's
//! touch threshold is reached.
//!
//! Only the adapter finishes a request ([`DeferredSessions::finish`], or
//! [`SessionManager::finish`] for a [`RequestSessions`] it owns): what handlers reach is shared
//! (`&RequestSessions`, `Arc<RequestSessions>`) and has no way to finish it, so a handler cannot
//! take the response's cookies for itself.
//!
//! The steps live one per file: `intake` (headers and chunks in), `open` (values to handles),
//! `plan` (a pure function of a session's state, the policy and the clock), `execute` (the plan
//! against the store) and `render` (cookies and chunking).
//!
//! ```compile_fail
//! # async fn handler(sessions: &session_core::RequestSessions) {
//! // Not for handlers: only the adapter, which owns the request's sessions, finishes them.
//! let _ = sessions.finish().await;
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::OnceCell;

use crate::config::{ConfigError, SessionConfig, SessionsConfig, Transport, DEFAULT_MAX_BYTES};
use crate::error::Error;
use crate::expiry::ExpiryPolicy;
use crate::keys::KeyRing;
use crate::record::now_ms;
use crate::registry::{Backend, StoreRegistry};
use crate::seal::Protection;
use crate::session::{Measure, Session, SizeLimit};
use crate::store::{spawn_cleanup, OwnerSession, Store, StoreError};

mod execute;
mod intake;
mod open;
mod plan;
mod render;

use intake::{cookie_pairs, Incoming};
pub use render::{ResponseHeader, COOKIE_SIZE_LIMIT};

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
    limit: SizeLimit,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("sessions", &self.session_names().collect::<Vec<_>>())
            .field("default", &self.default_name())
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
    pub fn default(mut self, name: impl Into<String>) -> Self {
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
            let mut slot = SlotConfig {
                limit: SizeLimit {
                    name: Arc::from(name.as_str()),
                    measure: Measure::Unlimited,
                },
                name,
                transport: session.transport.clone(),
                header_name,
                backend,
                policy: session.expiry.clone(),
                protection: session.protection,
                max_chunks,
            };
            slot.limit.measure = match &slot.backend {
                Backend::Server(store) => {
                    spawn_cleanup(store);
                    Measure::Data(session.max_bytes.unwrap_or(DEFAULT_MAX_BYTES))
                }
                Backend::Cookie(_) => Measure::Sealed {
                    protection: slot.protection,
                    capacity: render::sealed_capacity(&slot),
                    data: session.max_bytes.unwrap_or(usize::MAX),
                },
            };
            slots.push(slot);
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
    pub fn default_name(&self) -> &str {
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
    /// headers, `header` looks up a request header by (lowercase) name.
    /// Touches no store.
    ///
    /// Cookies are scanned one pair at a time: a pair that is not UTF-8 is skipped alone, a
    /// quoted value is unquoted, and every value of a duplicated name is kept, to be tried in
    /// order when the session is opened.
    pub fn request<'a, I, F>(&self, cookie_headers: I, header: F) -> RequestSessions
    where
        I: IntoIterator<Item = &'a str>,
        F: Fn(&str) -> Option<&'a str>,
    {
        self.scan(cookie_headers.into_iter().map(str::as_bytes), header)
    }

    /// [`request`](Self::request) on `Cookie` header values as bytes.
    fn scan<'a, 'b, F>(
        &self,
        cookie_headers: impl Iterator<Item = &'b [u8]>,
        header: F,
    ) -> RequestSessions
    where
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
                for (name, value) in cookie_pairs(cookie_header) {
                    // A sibling cookie's value is never looked at, only a session's.
                    let Some((index, chunk)) = std::str::from_utf8(name)
                        .ok()
                        .and_then(|name| self.cookie_slot(name))
                    else {
                        continue;
                    };
                    if let Ok(value) = std::str::from_utf8(value) {
                        slots[index].incoming.offer(chunk, value);
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

    /// Saves every opened session of `request` that needs it and returns the headers to add to
    /// the response. On error, add none of the headers: answer with the error's
    /// [`status`](Error::status) instead.
    pub async fn finish(&self, request: RequestSessions) -> Result<Vec<ResponseHeader>, Error> {
        request.finish().await
    }

    /// Keeps a request's session header values as the adapter finds them, unparsed, so that
    /// [`request_from`](Self::request_from) can scan them later, when a handler first asks for a
    /// session (a route that asks for none then parses no cookie). `V` is the framework's header
    /// value type, usually reference-counted; `header` looks up a request header by (lowercase)
    /// name.
    #[doc(hidden)]
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
    /// kept value's bytes (a session header that is not UTF-8 is skipped, as a missing header
    /// would be), `extra_cookies` are `Cookie` header values to read after the kept ones.
    #[doc(hidden)]
    pub fn request_from<'a, V, B>(
        &self,
        kept: &'a KeptHeaders<V>,
        as_bytes: B,
        extra_cookies: impl IntoIterator<Item = &'a str>,
    ) -> RequestSessions
    where
        B: Fn(&'a V) -> &'a [u8],
    {
        // Cookie headers go in as bytes: the scan skips a pair that is not UTF-8, not the header.
        let as_str = |value: &'a V| std::str::from_utf8(as_bytes(value)).ok();
        let cookies = kept
            .cookie
            .iter()
            .chain(&kept.more_cookies)
            .map(&as_bytes)
            .chain(extra_cookies.into_iter().map(str::as_bytes));
        self.scan(cookies, |name| {
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
/// Adapter plumbing: adapters use [`SessionManager::defer`].
#[doc(hidden)]
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

    /// Saves every opened session that needs it and returns the headers to add to the response;
    /// nothing when no handler asked for a session. For the adapter, which keeps this value
    /// where handlers cannot reach it. On error, add none of the headers: answer with the
    /// error's [`status`](Error::status) instead.
    pub async fn finish(&self) -> Result<Vec<ResponseHeader>, Error> {
        match self.sessions.get() {
            Some(sessions) => sessions.finish().await,
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

/// One request's sessions: opened lazily, saved by the adapter ([`DeferredSessions::finish`],
/// [`SessionManager::finish`]).
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
}

#[cfg(test)]
mod tests;
