//! The [`SessionManager`]: everything about a request's sessions that is not framework-specific.

use std::fmt;
use std::sync::Arc;

use crate::config::{ConfigError, SessionConfig, SessionsConfig, Transport, DEFAULT_MAX_BYTES};
use crate::device::OwnersConfig;
use crate::error::Error;
use crate::expiry::ExpiryPolicy;
use crate::id::SessionId;
use crate::keys::KeyRing;
use crate::observe::{
    EventDetail, EventHook, Op, RevokeScope, SessionEvent, SessionEventKind, SessionObserver,
    Shared,
};
use crate::origin::CrossOriginGuard;
use crate::registry::{Backend, StoreRegistry};
use crate::seal::Protection;
use crate::session::{Measure, SizeLimit};
use crate::store::{spawn_cleanup_observed, OwnerSession, Store, StoreError};

mod execute;
mod intake;
mod open;
mod owners;
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
    /// The event hook and the manager-wide metric handles.
    shared: Arc<Shared>,
    /// The configuration's `[cross_origin]` check, which adapters apply unless told otherwise.
    cross_origin: Arc<CrossOriginGuard>,
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
    owners: OwnersConfig,
    /// Its metric handles and share of the event hook.
    observer: Arc<SessionObserver>,
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
    hook: Option<EventHook>,
}

impl SessionManagerBuilder {
    /// Adds the session `name` with its configuration and an already built backend.
    ///
    /// ```
    /// # use session_core::{Backend, CookieStoreOptions, KeyRing, SessionConfig, SessionManager};
    /// # let cookie = || Backend::ClientSide(CookieStoreOptions::default());
    /// let manager = SessionManager::builder(KeyRing::generate())
    ///     .session("web", SessionConfig::cookie("web_session"), cookie())
    ///     .session("api", SessionConfig::header("X-Session"), cookie())
    ///     .default("web")
    ///     .build()?;
    /// assert_eq!(manager.session_header_names().collect::<Vec<_>>(), ["x-session"]);
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
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
    ///
    /// ```
    /// # use session_core::{Backend, CookieStoreOptions, KeyRing, SessionConfig, SessionManager};
    /// # let cookie = || Backend::ClientSide(CookieStoreOptions::default());
    /// let two = || {
    ///     SessionManager::builder(KeyRing::generate())
    ///         .session("web", SessionConfig::cookie("web_session"), cookie())
    ///         .session("api", SessionConfig::header("X-Session"), cookie())
    /// };
    /// assert!(two().build().is_err()); // which one does `Session` extract?
    /// assert_eq!(two().default("api").build()?.default_name(), "api");
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn default(mut self, name: impl Into<String>) -> Self {
        self.config.default = Some(name.into());
        self
    }

    /// Registers `hook` to receive every [`SessionEvent`] (created, logged in, regenerated,
    /// destroyed, revoked, expired, refused), called after the store operation succeeded, on
    /// the request's task: a slow hook delays that request by what it takes. A hook that panics
    /// is logged at error level and the request goes on as if it had returned.
    ///
    /// ```
    /// # use session_core::{Backend, CookieStoreOptions, KeyRing, SessionConfig, SessionManager};
    /// # let cookie = || Backend::ClientSide(CookieStoreOptions::default());
    /// let manager = SessionManager::builder(KeyRing::generate())
    ///     .session("web", SessionConfig::cookie("web_session"), cookie())
    ///     .on_event(|event| tracing::info!(session = ?event.session, kind = ?event.kind, "audit"))
    ///     .build()?;
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn on_event(mut self, hook: impl Fn(&SessionEvent<'_>) + Send + Sync + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// Validates the configuration and builds the manager.
    ///
    /// ```
    /// # use session_core::{Backend, CookieStoreOptions, KeyRing, SessionConfig, SessionManager};
    /// # let cookie = || Backend::ClientSide(CookieStoreOptions::default());
    /// let built = SessionManager::builder(KeyRing::generate())
    ///     .session("web", SessionConfig::cookie("web_session"), cookie())
    ///     .default("cart")
    ///     .build();
    /// assert!(built.is_err()); // no session is named `cart`
    /// ```
    pub fn build(self) -> Result<SessionManager, ConfigError> {
        self.config.validate()?;
        SessionManager::assemble(self.keys, &self.config, self.backends, self.hook)
    }
}

impl SessionManager {
    /// Starts building a manager in code.
    ///
    /// ```
    /// use session_core::{Backend, CookieStoreOptions, KeyRing, SessionConfig, SessionManager};
    ///
    /// let manager = SessionManager::builder(KeyRing::generate())
    ///     .session("app", SessionConfig::cookie("app_session"), Backend::ClientSide(CookieStoreOptions::default()))
    ///     .build()?;
    /// assert_eq!(manager.default_name(), "app");
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn builder(keys: KeyRing) -> SessionManagerBuilder {
        SessionManagerBuilder {
            keys,
            config: SessionsConfig::default(),
            backends: Vec::new(),
            hook: None,
        }
    }

    /// Builds every configured session's store through `registry`.
    ///
    /// ```
    /// use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = SessionsConfig::from_toml(r#"
    ///     [sessions.app]
    ///     transport = { type = "cookie", name = "app_session" }
    ///     store = { type = "cookie" }
    /// "#)?;
    /// let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await?;
    /// assert_eq!(manager.default_name(), "app");
    /// # Ok(())
    /// # }
    /// ```
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
        SessionManager::assemble(keys, config, backends, None)
    }

    fn assemble(
        keys: KeyRing,
        config: &SessionsConfig,
        backends: Vec<(String, Backend)>,
        hook: Option<EventHook>,
    ) -> Result<Self, ConfigError> {
        let default_name = config.default_name()?;
        let shared = Arc::new(Shared::new(hook));
        let mut sessions = Vec::with_capacity(backends.len());
        for (name, backend) in backends {
            let Some(session) = config.sessions.get(&name) else {
                continue;
            };
            sessions.push(ConfiguredSession::new(name, session, backend, &shared));
        }
        let default = sessions
            .iter()
            .position(|session| session.name == default_name)
            .ok_or_else(|| ConfigError::Default(format!("`{default_name}` has no store")))?;
        let cross_origin = Arc::new(CrossOriginGuard::new(&config.cross_origin)?);
        Ok(SessionManager {
            inner: Arc::new(ManagerInner {
                keys,
                sessions,
                default,
                shared,
                cross_origin,
            }),
        })
    }

    /// The configured session names.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};
    /// # async fn manager() -> SessionManager {
    /// #     let config = SessionsConfig::from_toml(r#"
    /// #         default = "web"
    /// #         [sessions.web]
    /// #         transport = { type = "cookie", name = "web_session" }
    /// #         store = { type = "cookie" }
    /// #         [sessions.api]
    /// #         transport = { type = "header", name = "X-Session" }
    /// #         store = { type = "cookie" }
    /// #     "#).unwrap();
    /// #     SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap()
    /// # }
    /// # /// The cookie pair of a response whose session holds `user = alice`.
    /// # async fn alice(manager: &SessionManager) -> String {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await.unwrap().insert("user", "alice").unwrap();
    /// #     let headers = manager.save_request(request).await.unwrap();
    /// #     headers[0].value().split(';').next().unwrap().to_string()
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = manager().await;
    /// let names: Vec<&str> = manager.session_names().collect();
    /// assert_eq!(names, ["api", "web"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn session_names(&self) -> impl Iterator<Item = &str> {
        self.inner
            .sessions
            .iter()
            .map(|session| session.name.as_str())
    }

    /// The default session's name.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};
    /// # async fn manager() -> SessionManager {
    /// #     let config = SessionsConfig::from_toml(r#"
    /// #         default = "web"
    /// #         [sessions.web]
    /// #         transport = { type = "cookie", name = "web_session" }
    /// #         store = { type = "cookie" }
    /// #         [sessions.api]
    /// #         transport = { type = "header", name = "X-Session" }
    /// #         store = { type = "cookie" }
    /// #     "#).unwrap();
    /// #     SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap()
    /// # }
    /// # /// The cookie pair of a response whose session holds `user = alice`.
    /// # async fn alice(manager: &SessionManager) -> String {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await.unwrap().insert("user", "alice").unwrap();
    /// #     let headers = manager.save_request(request).await.unwrap();
    /// #     headers[0].value().split(';').next().unwrap().to_string()
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = manager().await;
    /// assert_eq!(manager.default_name(), "web"); // what `Session` extracts
    /// # Ok(())
    /// # }
    /// ```
    pub fn default_name(&self) -> &str {
        &self.inner.sessions[self.inner.default].name
    }

    /// The (lowercase) names of the request headers that carry session values (sessions with
    /// the header transport), in the order [`request`](Self::request) looks them up; the ones
    /// [`defer`](Self::defer) keeps.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};
    /// # async fn manager() -> SessionManager {
    /// #     let config = SessionsConfig::from_toml(r#"
    /// #         default = "web"
    /// #         [sessions.web]
    /// #         transport = { type = "cookie", name = "web_session" }
    /// #         store = { type = "cookie" }
    /// #         [sessions.api]
    /// #         transport = { type = "header", name = "X-Session" }
    /// #         store = { type = "cookie" }
    /// #     "#).unwrap();
    /// #     SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap()
    /// # }
    /// # /// The cookie pair of a response whose session holds `user = alice`.
    /// # async fn alice(manager: &SessionManager) -> String {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await.unwrap().insert("user", "alice").unwrap();
    /// #     let headers = manager.save_request(request).await.unwrap();
    /// #     headers[0].value().split(';').next().unwrap().to_string()
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = manager().await;
    /// let headers: Vec<&str> = manager.session_header_names().collect();
    /// assert_eq!(headers, ["x-session"]); // `web` travels in a cookie
    /// # Ok(())
    /// # }
    /// ```
    pub fn session_header_names(&self) -> impl Iterator<Item = &str> {
        self.inner
            .sessions
            .iter()
            .filter(|session| matches!(session.transport, Transport::Header(_)))
            .map(|session| &*session.header_name)
    }

    /// The backend of session `name`.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};
    /// # async fn manager() -> SessionManager {
    /// #     let config = SessionsConfig::from_toml(r#"
    /// #         default = "web"
    /// #         [sessions.web]
    /// #         transport = { type = "cookie", name = "web_session" }
    /// #         store = { type = "cookie" }
    /// #         [sessions.api]
    /// #         transport = { type = "header", name = "X-Session" }
    /// #         store = { type = "cookie" }
    /// #     "#).unwrap();
    /// #     SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap()
    /// # }
    /// # /// The cookie pair of a response whose session holds `user = alice`.
    /// # async fn alice(manager: &SessionManager) -> String {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await.unwrap().insert("user", "alice").unwrap();
    /// #     let headers = manager.save_request(request).await.unwrap();
    /// #     headers[0].value().split(';').next().unwrap().to_string()
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_core::Backend;
    ///
    /// let manager = manager().await;
    /// assert!(matches!(manager.backend("web"), Some(Backend::ClientSide(_)))); // client-side
    /// assert!(manager.backend("cart").is_none());
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};
    /// # async fn manager() -> SessionManager {
    /// #     let config = SessionsConfig::from_toml(r#"
    /// #         default = "web"
    /// #         [sessions.web]
    /// #         transport = { type = "cookie", name = "web_session" }
    /// #         store = { type = "cookie" }
    /// #         [sessions.api]
    /// #         transport = { type = "header", name = "X-Session" }
    /// #         store = { type = "cookie" }
    /// #     "#).unwrap();
    /// #     SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap()
    /// # }
    /// # /// The cookie pair of a response whose session holds `user = alice`.
    /// # async fn alice(manager: &SessionManager) -> String {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await.unwrap().insert("user", "alice").unwrap();
    /// #     let headers = manager.save_request(request).await.unwrap();
    /// #     headers[0].value().split(';').next().unwrap().to_string()
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = manager().await;
    /// // A one-off pass, e.g. from an operator's command; client-side sessions need none.
    /// let removed = manager.cleanup().await?;
    /// assert_eq!(removed, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn cleanup(&self) -> Result<u64, StoreError> {
        let mut removed = 0;
        for session in &self.inner.sessions {
            if let Backend::Server(store) = &session.backend {
                if let Some(cleanup) = store.cleanup() {
                    let observer = &session.observer;
                    let count = observer
                        .time(Op::Cleanup, None, cleanup.delete_expired())
                        .await?;
                    if count > 0 {
                        observer.record(SessionEventKind::Expired { count }, None);
                    }
                    removed += count;
                }
            }
        }
        Ok(removed)
    }

    /// Installs the event hook of a manager built without one (with
    /// [`from_config`](Self::from_config), say); see
    /// [`SessionManagerBuilder::on_event`]. Every clone of the manager shares it. A manager has
    /// at most one hook: when one is installed already, this one is not, and `false` says so.
    ///
    /// ```
    /// use session_core::{KeyRing, SessionEventKind, SessionManager, SessionsConfig, StoreRegistry};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = SessionsConfig::from_toml(r#"
    ///     [sessions.app]
    ///     transport = { type = "cookie", name = "app_session" }
    ///     store = { type = "cookie" }
    /// "#)?;
    /// let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await?;
    /// assert!(manager.set_event_hook(|event| {
    ///     if event.kind == SessionEventKind::Created {
    ///         tracing::info!(session = ?event.session, "new session");
    ///     }
    /// }));
    /// assert!(!manager.set_event_hook(|_| {})); // one hook per manager
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_event_hook(&self, hook: impl Fn(&SessionEvent<'_>) + Send + Sync + 'static) -> bool {
        self.inner.shared.set_hook(Box::new(hook)).is_ok()
    }

    /// The cross-origin check the configuration's `[cross_origin]` table describes (on, with no
    /// trusted origin, when there is none). The adapters apply it before every handler unless
    /// they are given another one.
    pub fn cross_origin(&self) -> &Arc<CrossOriginGuard> {
        &self.inner.cross_origin
    }

    /// Records a cross-origin write refused before any session was opened: the
    /// `session_cross_origin_refused_total` counter and a
    /// [`Refused(CrossOrigin)`](crate::Refusal::CrossOrigin) event. For the adapter that
    /// refuses it.
    pub fn record_cross_origin_refused(&self) {
        self.inner.shared.cross_origin_refused();
    }

    /// The store of the server-side session `name`.
    fn server_store(&self, name: &str) -> Result<&Arc<dyn Store>, Error> {
        self.server_session(name).map(|(store, _)| store)
    }

    /// The store and observer of the server-side session `name`.
    fn server_session(&self, name: &str) -> Result<(&Arc<dyn Store>, &SessionObserver), Error> {
        let configured = self
            .inner
            .sessions
            .iter()
            .find(|session| session.name == name)
            .ok_or_else(|| Error::UnknownSession(name.to_string()))?;
        match &configured.backend {
            Backend::Server(store) => Ok((store, &configured.observer)),
            Backend::ClientSide(_) => Err(Error::NotServerSide(name.to_string())),
        }
    }

    /// The live sessions of `owner` in the server-side session `name` (bound with
    /// [`Session::set_owner`](crate::Session::set_owner)): created and expiry times, and a storage key that tells them
    /// apart; never an id.
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use std::sync::{Arc, Mutex};
    /// # use session_core::{async_trait, Backend, Delta, KeyRing, OwnerSession, Record, SessionConfig};
    /// # use session_core::{SessionId, SessionManager, Store, StoreError};
    /// # #[derive(Default)]
    /// # struct MapStore(Mutex<HashMap<String, Record>>);
    /// # impl MapStore {
    /// #     fn map(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Record>>, StoreError> {
    /// #         self.0.lock().map_err(StoreError::backend_msg)
    /// #     }
    /// # }
    /// # #[async_trait]
    /// # impl Store for MapStore {
    /// #     async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
    /// #         Ok(self.map()?.get(&id.storage_key()).cloned())
    /// #     }
    /// #     async fn create(&self, record: &Record) -> Result<(), StoreError> {
    /// #         self.map()?.insert(record.id.storage_key(), record.clone());
    /// #         Ok(())
    /// #     }
    /// #     async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
    /// #         Ok(self.map()?.get_mut(&id.storage_key()).map(|record| delta.apply(record)).is_some())
    /// #     }
    /// #     async fn regenerate(&self, old: &SessionId, new: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
    /// #         let mut map = self.map()?;
    /// #         let Some(mut record) = map.remove(&old.storage_key()) else { return Ok(false) };
    /// #         delta.apply(&mut record);
    /// #         record.id = *new;
    /// #         map.insert(new.storage_key(), record);
    /// #         Ok(true)
    /// #     }
    /// #     async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
    /// #         self.map()?.remove(&id.storage_key());
    /// #         Ok(())
    /// #     }
    /// #     async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
    /// #         let map = self.map()?;
    /// #         let owned = map.iter().filter(|(_, record)| record.owner.as_deref() == Some(owner));
    /// #         Ok(owned.map(|(key, record)| OwnerSession::of(key, record)).collect())
    /// #     }
    /// #     async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
    /// #         let mut map = self.map()?;
    /// #         let owned = map.get(key).is_some_and(|record| record.owner.as_deref() == Some(owner));
    /// #         Ok(owned && map.remove(key).is_some())
    /// #     }
    /// #     async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
    /// #         let mut map = self.map()?;
    /// #         let before = map.len();
    /// #         map.retain(|key, record| record.owner.as_deref() != Some(owner) || Some(key.as_str()) == keep);
    /// #         Ok((before - map.len()) as u64)
    /// #     }
    /// #     async fn count(&self) -> Result<u64, StoreError> {
    /// #         Ok(self.map()?.len() as u64)
    /// #     }
    /// # }
    /// # fn manager() -> SessionManager {
    /// #     let store = Backend::Server(Arc::new(MapStore::default()));
    /// #     let app = SessionManager::builder(KeyRing::generate()).session("app", SessionConfig::cookie("app_session"), store);
    /// #     app.build().unwrap()
    /// # }
    /// # /// Logs `owner` in through a request; the cookie pair of its response.
    /// # async fn log_in(manager: &SessionManager, owner: &str) -> Result<String, session_core::Error> {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await?.set_owner(owner)?;
    /// #     let headers = manager.save_request(request).await?;
    /// #     Ok(headers[0].value().split(';').next().unwrap_or_default().to_string())
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = manager();
    /// log_in(&manager, "user-42").await?;
    /// log_in(&manager, "user-42").await?; // a second device
    /// let devices = manager.owner_sessions("app", "user-42", None).await?;
    /// assert_eq!(devices.len(), 2);
    /// assert!(devices.iter().all(|device| device.expires_at > device.created_at));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn owner_sessions(
        &self,
        name: &str,
        owner: &str,
        current: Option<&SessionId>,
    ) -> Result<Vec<OwnerSession>, Error> {
        let mut sessions = self.server_store(name)?.owner_sessions(owner).await?;
        if let Some(current) = current {
            let key = current.storage_key();
            for session in &mut sessions {
                session.current = session.handle == key;
            }
        }
        sessions.sort_by(|a, b| (b.last_seen_at(), &b.handle).cmp(&(a.last_seen_at(), &a.handle)));
        Ok(sessions)
    }

    /// Ends the one session of `owner` whose [`handle`](OwnerSession::handle) is `handle` ("end
    /// that device"); returns whether there was one. A handle that is not one of the owner's
    /// live sessions (another owner's, a made-up one) ends nothing. Its cookie stops opening at
    /// once.
    pub async fn revoke_session(
        &self,
        name: &str,
        owner: &str,
        handle: &str,
    ) -> Result<bool, Error> {
        let (store, observer) = self.server_session(name)?;
        // Handles are storage keys, which have the shape of an id; anything else is no handle,
        // and never reaches the store.
        if handle.parse::<SessionId>().is_err() {
            return Ok(false);
        }
        let ended = observer
            .time(Op::DeleteOwned, None, store.delete_owned(owner, handle))
            .await?;
        if ended {
            let kind = SessionEventKind::Revoked {
                scope: RevokeScope::One,
                count: 1,
            };
            let detail = EventDetail {
                handle: Some(handle),
                ..EventDetail::owner(Some(owner))
            };
            observer.record_with(kind, &detail);
        }
        Ok(ended)
    }

    /// Ends every session of `owner` but `keep` ("log out my other devices"); returns how many.
    /// Pass the id of the session the request holds ([`Session::id`](crate::Session::id)).
    pub async fn revoke_others(
        &self,
        name: &str,
        owner: &str,
        keep: &SessionId,
    ) -> Result<u64, Error> {
        let key = keep.storage_key();
        let (store, observer) = self.server_session(name)?;
        let count = observer
            .time(Op::DeleteOwner, None, store.delete_owner(owner, Some(&key)))
            .await?;
        let scope = RevokeScope::Others;
        let detail = EventDetail {
            handle: Some(&key),
            ..EventDetail::owner(Some(owner))
        };
        observer.record_with(SessionEventKind::Revoked { scope, count }, &detail);
        Ok(count)
    }

    /// Ends every session of `owner` in the server-side session `name` ("log out everywhere");
    /// returns how many. Their cookies stop opening at once.
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use std::sync::{Arc, Mutex};
    /// # use session_core::{async_trait, Backend, Delta, KeyRing, OwnerSession, Record, SessionConfig};
    /// # use session_core::{SessionId, SessionManager, Store, StoreError};
    /// # #[derive(Default)]
    /// # struct MapStore(Mutex<HashMap<String, Record>>);
    /// # impl MapStore {
    /// #     fn map(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Record>>, StoreError> {
    /// #         self.0.lock().map_err(StoreError::backend_msg)
    /// #     }
    /// # }
    /// # #[async_trait]
    /// # impl Store for MapStore {
    /// #     async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
    /// #         Ok(self.map()?.get(&id.storage_key()).cloned())
    /// #     }
    /// #     async fn create(&self, record: &Record) -> Result<(), StoreError> {
    /// #         self.map()?.insert(record.id.storage_key(), record.clone());
    /// #         Ok(())
    /// #     }
    /// #     async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
    /// #         Ok(self.map()?.get_mut(&id.storage_key()).map(|record| delta.apply(record)).is_some())
    /// #     }
    /// #     async fn regenerate(&self, old: &SessionId, new: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
    /// #         let mut map = self.map()?;
    /// #         let Some(mut record) = map.remove(&old.storage_key()) else { return Ok(false) };
    /// #         delta.apply(&mut record);
    /// #         record.id = *new;
    /// #         map.insert(new.storage_key(), record);
    /// #         Ok(true)
    /// #     }
    /// #     async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
    /// #         self.map()?.remove(&id.storage_key());
    /// #         Ok(())
    /// #     }
    /// #     async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
    /// #         let map = self.map()?;
    /// #         let owned = map.iter().filter(|(_, record)| record.owner.as_deref() == Some(owner));
    /// #         Ok(owned.map(|(key, record)| OwnerSession::of(key, record)).collect())
    /// #     }
    /// #     async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
    /// #         let mut map = self.map()?;
    /// #         let owned = map.get(key).is_some_and(|record| record.owner.as_deref() == Some(owner));
    /// #         Ok(owned && map.remove(key).is_some())
    /// #     }
    /// #     async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
    /// #         let mut map = self.map()?;
    /// #         let before = map.len();
    /// #         map.retain(|key, record| record.owner.as_deref() != Some(owner) || Some(key.as_str()) == keep);
    /// #         Ok((before - map.len()) as u64)
    /// #     }
    /// #     async fn count(&self) -> Result<u64, StoreError> {
    /// #         Ok(self.map()?.len() as u64)
    /// #     }
    /// # }
    /// # fn manager() -> SessionManager {
    /// #     let store = Backend::Server(Arc::new(MapStore::default()));
    /// #     let app = SessionManager::builder(KeyRing::generate()).session("app", SessionConfig::cookie("app_session"), store);
    /// #     app.build().unwrap()
    /// # }
    /// # /// Logs `owner` in through a request; the cookie pair of its response.
    /// # async fn log_in(manager: &SessionManager, owner: &str) -> Result<String, session_core::Error> {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await?.set_owner(owner)?;
    /// #     let headers = manager.save_request(request).await?;
    /// #     Ok(headers[0].value().split(';').next().unwrap_or_default().to_string())
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = manager();
    /// let cookie = log_in(&manager, "user-42").await?;
    /// assert_eq!(manager.revoke_owner("app", "user-42").await?, 1); // log out everywhere
    /// let request = manager.request([cookie.as_str()], |_| None);
    /// assert_eq!(request.default_session().await?.owner(), None); // a new, empty session
    /// # Ok(())
    /// # }
    /// ```
    pub async fn revoke_owner(&self, name: &str, owner: &str) -> Result<u64, Error> {
        let (store, observer) = self.server_session(name)?;
        let count = observer
            .time(Op::DeleteOwner, None, store.delete_owner(owner, None))
            .await?;
        let scope = RevokeScope::Everywhere;
        observer.record(SessionEventKind::Revoked { scope, count }, Some(owner));
        Ok(count)
    }

    /// How many live sessions the server-side session `name` holds.
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use std::sync::{Arc, Mutex};
    /// # use session_core::{async_trait, Backend, Delta, KeyRing, OwnerSession, Record, SessionConfig};
    /// # use session_core::{SessionId, SessionManager, Store, StoreError};
    /// # #[derive(Default)]
    /// # struct MapStore(Mutex<HashMap<String, Record>>);
    /// # impl MapStore {
    /// #     fn map(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Record>>, StoreError> {
    /// #         self.0.lock().map_err(StoreError::backend_msg)
    /// #     }
    /// # }
    /// # #[async_trait]
    /// # impl Store for MapStore {
    /// #     async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
    /// #         Ok(self.map()?.get(&id.storage_key()).cloned())
    /// #     }
    /// #     async fn create(&self, record: &Record) -> Result<(), StoreError> {
    /// #         self.map()?.insert(record.id.storage_key(), record.clone());
    /// #         Ok(())
    /// #     }
    /// #     async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
    /// #         Ok(self.map()?.get_mut(&id.storage_key()).map(|record| delta.apply(record)).is_some())
    /// #     }
    /// #     async fn regenerate(&self, old: &SessionId, new: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
    /// #         let mut map = self.map()?;
    /// #         let Some(mut record) = map.remove(&old.storage_key()) else { return Ok(false) };
    /// #         delta.apply(&mut record);
    /// #         record.id = *new;
    /// #         map.insert(new.storage_key(), record);
    /// #         Ok(true)
    /// #     }
    /// #     async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
    /// #         self.map()?.remove(&id.storage_key());
    /// #         Ok(())
    /// #     }
    /// #     async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
    /// #         let map = self.map()?;
    /// #         let owned = map.iter().filter(|(_, record)| record.owner.as_deref() == Some(owner));
    /// #         Ok(owned.map(|(key, record)| OwnerSession::of(key, record)).collect())
    /// #     }
    /// #     async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
    /// #         let mut map = self.map()?;
    /// #         let owned = map.get(key).is_some_and(|record| record.owner.as_deref() == Some(owner));
    /// #         Ok(owned && map.remove(key).is_some())
    /// #     }
    /// #     async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
    /// #         let mut map = self.map()?;
    /// #         let before = map.len();
    /// #         map.retain(|key, record| record.owner.as_deref() != Some(owner) || Some(key.as_str()) == keep);
    /// #         Ok((before - map.len()) as u64)
    /// #     }
    /// #     async fn count(&self) -> Result<u64, StoreError> {
    /// #         Ok(self.map()?.len() as u64)
    /// #     }
    /// # }
    /// # fn manager() -> SessionManager {
    /// #     let store = Backend::Server(Arc::new(MapStore::default()));
    /// #     let app = SessionManager::builder(KeyRing::generate()).session("app", SessionConfig::cookie("app_session"), store);
    /// #     app.build().unwrap()
    /// # }
    /// # /// Logs `owner` in through a request; the cookie pair of its response.
    /// # async fn log_in(manager: &SessionManager, owner: &str) -> Result<String, session_core::Error> {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await?.set_owner(owner)?;
    /// #     let headers = manager.save_request(request).await?;
    /// #     Ok(headers[0].value().split(';').next().unwrap_or_default().to_string())
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = manager();
    /// assert_eq!(manager.count("app").await?, 0);
    /// log_in(&manager, "user-42").await?;
    /// assert_eq!(manager.count("app").await?, 1);
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};
    /// # async fn manager() -> SessionManager {
    /// #     let config = SessionsConfig::from_toml(r#"
    /// #         default = "web"
    /// #         [sessions.web]
    /// #         transport = { type = "cookie", name = "web_session" }
    /// #         store = { type = "cookie" }
    /// #         [sessions.api]
    /// #         transport = { type = "header", name = "X-Session" }
    /// #         store = { type = "cookie" }
    /// #     "#).unwrap();
    /// #     SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap()
    /// # }
    /// # /// The cookie pair of a response whose session holds `user = alice`.
    /// # async fn alice(manager: &SessionManager) -> String {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await.unwrap().insert("user", "alice").unwrap();
    /// #     let headers = manager.save_request(request).await.unwrap();
    /// #     headers[0].value().split(';').next().unwrap().to_string()
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = manager().await;
    /// # let cookie = alice(&manager).await; // `web_session=...`
    /// let request = manager.request([cookie.as_str()], |_| None);
    /// let web = request.default_session().await?;
    /// assert_eq!(web.get::<String>("user")?.as_deref(), Some("alice"));
    /// let api = request.session("api").await?; // no `x-session` header: a new session
    /// assert!(api.is_empty());
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};
    /// # async fn manager() -> SessionManager {
    /// #     let config = SessionsConfig::from_toml(r#"
    /// #         default = "web"
    /// #         [sessions.web]
    /// #         transport = { type = "cookie", name = "web_session" }
    /// #         store = { type = "cookie" }
    /// #         [sessions.api]
    /// #         transport = { type = "header", name = "X-Session" }
    /// #         store = { type = "cookie" }
    /// #     "#).unwrap();
    /// #     SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap()
    /// # }
    /// # /// The cookie pair of a response whose session holds `user = alice`.
    /// # async fn alice(manager: &SessionManager) -> String {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await.unwrap().insert("user", "alice").unwrap();
    /// #     let headers = manager.save_request(request).await.unwrap();
    /// #     headers[0].value().split(';').next().unwrap().to_string()
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = manager().await;
    /// # let cookie = alice(&manager).await; // `web_session=...`
    /// // Before the handler: the headers are kept, not parsed.
    /// let deferred = manager.defer([cookie], |_| None);
    /// // When a handler first asks for a session:
    /// let sessions = deferred.get_or_scan(|value: &String| value.as_bytes(), Vec::new);
    /// let user = sessions.default_session().await?.get::<String>("user")?;
    /// assert_eq!(user.as_deref(), Some("alice"));
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};
    /// # async fn manager() -> SessionManager {
    /// #     let config = SessionsConfig::from_toml(r#"
    /// #         default = "web"
    /// #         [sessions.web]
    /// #         transport = { type = "cookie", name = "web_session" }
    /// #         store = { type = "cookie" }
    /// #         [sessions.api]
    /// #         transport = { type = "header", name = "X-Session" }
    /// #         store = { type = "cookie" }
    /// #     "#).unwrap();
    /// #     SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap()
    /// # }
    /// # /// The cookie pair of a response whose session holds `user = alice`.
    /// # async fn alice(manager: &SessionManager) -> String {
    /// #     let request = manager.request(None, |_| None);
    /// #     request.default_session().await.unwrap().insert("user", "alice").unwrap();
    /// #     let headers = manager.save_request(request).await.unwrap();
    /// #     headers[0].value().split(';').next().unwrap().to_string()
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = manager().await;
    /// let request = manager.request(None, |_| None);
    /// request.default_session().await?.insert("user", "alice")?;
    /// let headers = manager.save_request(request).await?;
    /// assert_eq!(headers[0].name(), "set-cookie");
    /// assert!(headers[0].value().starts_with("web_session="));
    /// # Ok(())
    /// # }
    /// ```
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
    fn new(name: String, config: &SessionConfig, backend: Backend, shared: &Arc<Shared>) -> Self {
        let header_name: Arc<str> = match &config.transport {
            Transport::Cookie(cookie) => Arc::from(cookie.name.as_str()),
            Transport::Header(header) => Arc::from(header.name.to_ascii_lowercase()),
        };
        let max_chunks = match (&backend, &config.transport) {
            (Backend::ClientSide(options), Transport::Cookie(_)) => options.max_chunks,
            _ => 1,
        };
        let server_side = matches!(backend, Backend::Server(_));
        let observer = Arc::new(SessionObserver::new(
            &name,
            &config.store.kind,
            server_side,
            Arc::clone(shared),
        ));
        let measure = match &backend {
            Backend::Server(store) => {
                spawn_cleanup_observed(store, Some(Arc::clone(&observer)));
                Measure::Data(config.max_bytes.unwrap_or(DEFAULT_MAX_BYTES))
            }
            Backend::ClientSide(_) => Measure::Sealed {
                protection: config.protection,
                capacity: render::sealed_capacity(&config.transport, max_chunks),
                data: config.max_bytes.unwrap_or(usize::MAX),
            },
        };
        ConfiguredSession {
            limit: SizeLimit::new(Arc::from(name.as_str()), measure)
                .with_observer(Arc::clone(&observer)),
            observer,
            name,
            transport: config.transport.clone(),
            header_name,
            backend,
            policy: config.expiry.clone(),
            protection: config.protection,
            max_chunks,
            owners: config.owners,
        }
    }
}

#[cfg(test)]
mod tests;
