//! The [`SessionManager`]: everything about a request's sessions that is not framework-specific.

use std::fmt;
use std::sync::Arc;

use crate::config::{ConfigError, SessionConfig, SessionsConfig, Transport, DEFAULT_MAX_BYTES};
use crate::error::Error;
use crate::expiry::ExpiryPolicy;
use crate::keys::KeyRing;
use crate::registry::{Backend, StoreRegistry};
use crate::seal::Protection;
use crate::session::{Measure, SizeLimit};
use crate::store::{spawn_cleanup, OwnerSession, Store, StoreError};

mod execute;
mod intake;
mod open;
mod plan;
mod render;
mod request;

pub use render::{ResponseHeader, COOKIE_SIZE_LIMIT};
pub use request::{DeferredSessions, RequestSessions};

/// The named sessions of an application, their stores and keys. Cheap to clone.
///
///
/// An adapter does three things with it, and nothing else:
///
/// 1. Before the handler, [`SessionManager::defer`] keeps the request's `Cookie` and session header
///    values unparsed in a [`DeferredSessions`] that the adapter stores in the request; when a
///    handler first asks for a session, [`DeferredSessions::get_or_scan`] scans them into the
///    request's [`RequestSessions`] ([`SessionManager::request`] scans at once). No store is
///    touched and nothing is decrypted; a request that asks for no session parses nothing, and
///    [`DeferredSessions::scanned`] tells the adapter there is nothing to save.
/// 2. When a handler extracts a session, [`RequestSessions::session`] opens it: verifies or
///    decrypts a client-side value, or verifies a signed id and loads the record. Once per name per
///    request; every extraction gets the same handle. Values that do not open (tampered, expired,
///    foreign, sealed under a removed key) are logged at debug level and give a new, empty session.
/// 3. After the handler, [`DeferredSessions::save_scanned`] saves what changed and returns the
///    `Set-Cookie` and session headers to add. An untouched session writes nothing; a new session
///    that was never written creates no record.
///
/// Saving follows the session's changes: a stored session with changed values is saved as a
/// [`Delta`](crate::Delta) (so parallel requests changing different keys all persist, and a
/// session another request destroyed is not brought back), a regenerated one is moved by the
/// store to its new id with the changes on top ([`Store::regenerate`], atomic: a session another
/// request destroyed meanwhile stays destroyed), and a destroyed one is deleted and its cookie
/// expired. An unchanged session is rewritten only to slide its idle deadline when the policy's
/// touch threshold is reached.
///
/// Only the adapter saves a request ([`DeferredSessions::save_scanned`], or
/// [`SessionManager::save_request`] for a [`RequestSessions`] it owns): what handlers reach is
/// shared (`&RequestSessions`, `Arc<RequestSessions>`) and has no way to save it, so a handler
/// cannot take the response's cookies for itself.
///
/// The files, in the order a request meets them: this one (the manager and its configured
/// sessions), `request` (a request's state: the deferred headers and each session's slot),
/// `intake` (headers and chunks in), `open` (values to handles), `plan` (pure functions of a
/// session's state, the policy and the clock), `execute` (the server-side plan against the
/// store) and `render` (sealing, cookies and chunking).
///
/// ```compile_fail
/// # async fn handler(sessions: &session_core::RequestSessions) {
/// // Not for handlers: only the adapter, which owns the request's sessions, saves them.
/// let _ = sessions.save_opened().await;
/// # }
/// ```
#[derive(Clone)]
pub struct SessionManager {
    inner: Arc<ManagerInner>,
}

struct ManagerInner {
    keys: KeyRing,
    /// In the order of [`RequestSessions`]' slots: index `i` of both is one session.
    sessions: Vec<ConfiguredSession>,
    default: usize,
}

/// One configured session as the manager runs it: its transport, backend, policy and limit.
struct ConfiguredSession {
    name: String,
    transport: Transport,
    /// The cookie name, or the (lowercase) header name.
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
        let mut sessions = Vec::with_capacity(backends.len());
        for (name, backend) in backends {
            let Some(session) = config.sessions.get(&name) else {
                continue;
            };
            sessions.push(ConfiguredSession::new(name, session, backend));
        }
        let default = sessions
            .iter()
            .position(|session| session.name == default_name)
            .ok_or_else(|| ConfigError::Default(format!("`{default_name}` has no store")))?;
        Ok(SessionManager {
            inner: Arc::new(ManagerInner {
                keys,
                sessions,
                default,
            }),
        })
    }

    /// The configured session names.
    pub fn session_names(&self) -> impl Iterator<Item = &str> {
        self.inner
            .sessions
            .iter()
            .map(|session| session.name.as_str())
    }

    /// The default session's name.
    pub fn default_name(&self) -> &str {
        &self.inner.sessions[self.inner.default].name
    }

    /// The (lowercase) names of the request headers that carry session values (sessions with
    /// the header transport), in the order [`request`](Self::request) looks them up; the ones
    /// [`defer`](Self::defer) keeps.
    pub fn session_header_names(&self) -> impl Iterator<Item = &str> {
        self.inner
            .sessions
            .iter()
            .filter(|session| matches!(session.transport, Transport::Header(_)))
            .map(|session| &*session.header_name)
    }

    /// The backend of session `name`.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.inner
            .sessions
            .iter()
            .find(|session| session.name == name)
            .map(|session| &session.backend)
    }

    /// Removes expired records from every server-side store that needs cleaning (see
    /// [`Store::cleanup`]); returns how many. The manager already runs this in the background
    /// when built inside a Tokio runtime; operators call it for a one-off pass.
    pub async fn cleanup(&self) -> Result<u64, StoreError> {
        let mut removed = 0;
        for session in &self.inner.sessions {
            if let Backend::Server(store) = &session.backend {
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
    /// [`Session::set_owner`](crate::Session::set_owner)): created and expiry times, and a storage key that tells them
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
        RequestSessions::scan(self, cookie_headers.into_iter().map(str::as_bytes), header)
    }

    /// Keeps a request's `Cookie` and session header values as the adapter finds them,
    /// unparsed: the value an adapter stores in the request, whose sessions are scanned from the
    /// kept headers when a handler first asks for one (a route that asks for none parses no
    /// cookie). `V` is the framework's header value type, usually reference-counted; `header`
    /// looks up a request header by (lowercase) name.
    pub fn defer<V, I, F>(&self, cookie_headers: I, header: F) -> DeferredSessions<V>
    where
        I: IntoIterator<Item = V>,
        F: Fn(&str) -> Option<V>,
    {
        DeferredSessions::new(self, cookie_headers, header)
    }

    /// Saves every opened session of `request` that needs it and returns the headers to add to
    /// the response. On error, add none of the headers: answer with the error's
    /// [`status`](Error::status) instead.
    pub async fn save_request(
        &self,
        request: RequestSessions,
    ) -> Result<Vec<ResponseHeader>, Error> {
        request.save_opened().await
    }
}

impl ConfiguredSession {
    /// The session `name` as configured by `config`, with its size limit built complete. Starts
    /// the background cleanup of a server-side store.
    fn new(name: String, config: &SessionConfig, backend: Backend) -> Self {
        let header_name: Arc<str> = match &config.transport {
            Transport::Cookie(cookie) => Arc::from(cookie.name.as_str()),
            Transport::Header(header) => Arc::from(header.name.to_ascii_lowercase()),
        };
        let max_chunks = match (&backend, &config.transport) {
            (Backend::Cookie(options), Transport::Cookie(_)) => options.max_chunks,
            _ => 1,
        };
        let measure = match &backend {
            Backend::Server(store) => {
                spawn_cleanup(store);
                Measure::Data(config.max_bytes.unwrap_or(DEFAULT_MAX_BYTES))
            }
            Backend::Cookie(_) => Measure::Sealed {
                protection: config.protection,
                capacity: render::sealed_capacity(&config.transport, max_chunks),
                data: config.max_bytes.unwrap_or(usize::MAX),
            },
        };
        ConfiguredSession {
            limit: SizeLimit::new(Arc::from(name.as_str()), measure),
            name,
            transport: config.transport.clone(),
            header_name,
            backend,
            policy: config.expiry.clone(),
            protection: config.protection,
            max_chunks,
        }
    }
}

#[cfg(test)]
mod tests;
