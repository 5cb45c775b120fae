//! [`TestStore`]: a store for testing adapters and applications — it counts its calls and fails
//! on demand; and [`TestSession`]: a session minted through an application's manager, as the
//! request headers that carry it, so a test can send a request as a logged-in user without
//! going through the app's login route.
//!
//! "A handler that does not extract a session touches no store" and "a store outage is a 500 that
//! leaks nothing" are claims about calls and failures, so tests need a store that can show both:
//!
//! ```
//! use std::sync::Arc;
//! use session_core::{Record, SessionId, Store, Expiry, now_ms};
//! use session_stores::testing::{StoreCalls, TestStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = Arc::new(TestStore::default());
//! let record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
//! store.create(&record).await.unwrap();
//! assert!(store.load(&record.id).await.unwrap().is_some());
//! assert_eq!(store.calls(), StoreCalls { loads: 1, writes: 1, deletes: 0 });
//!
//! store.fail();
//! let error = store.load(&record.id).await.unwrap_err();
//! assert!(error.to_string().contains(session_stores::testing::FAILURE_DETAIL));
//! # }
//! ```

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use session_core::{
    async_trait, Backend, BoxError, Cleanup, ConfigError, Delta, Error, KeyRing, OwnerSession,
    Record, ResponseHeader, Session, SessionId, SessionManager, SessionsConfig, Store, StoreError,
};

use crate::memory::MemoryStore;

/// The detail of the error a failing [`TestStore`] returns. A response that contains it leaks
/// store internals.
pub const FAILURE_DETAIL: &str = "disk on fire at /var/lib/sessions/secret";

/// The sessions adapter tests use: `app` (the default, cookie `app_session`) and `api` (header
/// `x-session`) server-side in a store of type `test` ([`TestStore::manager`]), `cart`
/// client-side in cookie `cart`.
pub const ADAPTER_TEST_CONFIG: &str = r#"
default = "app"

[sessions.app]
transport = { type = "cookie", name = "app_session" }
store = { type = "test" }

[sessions.cart]
transport = { type = "cookie", name = "cart" }
store = { type = "cookie" }

[sessions.api]
transport = { type = "header", name = "x-session" }
store = { type = "test" }
"#;

session_core::session_name! {
    /// The client-side `cart` session of [`ADAPTER_TEST_CONFIG`].
    pub TestCart = "cart";
    /// The `api` session of [`ADAPTER_TEST_CONFIG`], in header `x-session`.
    pub TestApi = "api";
}

/// The sessions of [`ADAPTER_TEST_CONFIG`] as adapter tests send them: `app` logged in as
/// `alice` (who is also its `user`), an `apple` as the `cart`'s `item`, `bob` as the `api`
/// session's `user`.
pub async fn adapter_test_sessions(
    manager: &SessionManager,
) -> Result<TestSession, TestSessionError> {
    let app = TestSession::logged_in(manager, "alice", |app| app.insert("user", "alice")).await?;
    let cart =
        TestSession::with(manager, Some("cart"), |cart| cart.insert("item", "apple")).await?;
    let api = TestSession::with(manager, Some("api"), |api| api.insert("user", "bob")).await?;
    Ok(app.and(cart).and(api))
}

/// A [`TestStore`]'s manager for [`ADAPTER_TEST_CONFIG`], and the [`adapter_test_sessions`]
/// minted through it: where an adapter's test of requests that carry sessions starts.
pub async fn adapter_test_setup() -> Result<(SessionManager, TestSession), BoxError> {
    let manager = TestStore::default().manager(ADAPTER_TEST_CONFIG).await?;
    let sessions = adapter_test_sessions(&manager).await?;
    Ok((manager, sessions))
}

/// Builds the manager that `config` (TOML) describes, with every store type of
/// [`registry`](crate::registry) and a fresh key, and saves a request that writes
/// `user = "alice"` into its default session: the response headers that carry the session. Shows
/// that a store works by configuration alone.
pub async fn configured_session_write(config: &str) -> Result<Vec<ResponseHeader>, BoxError> {
    let config = SessionsConfig::from_toml(config)?;
    let manager =
        SessionManager::from_config(&config, &crate::registry(), KeyRing::generate()).await?;
    let request = manager.request(None, |_| None);
    request.default_session().await?.insert("user", "alice")?;
    Ok(manager.save_request(request).await?)
}

/// The storage keys of `owner`'s sessions in `store`, sorted: what a test compares with the keys
/// of the sessions it created for that owner.
pub async fn owner_keys(
    store: &(impl Store + ?Sized),
    owner: &str,
) -> Result<Vec<String>, StoreError> {
    let sessions = store.owner_sessions(owner).await?;
    let mut keys: Vec<String> = sessions.into_iter().map(|session| session.handle).collect();
    keys.sort();
    Ok(keys)
}

/// What a test route answers for the sessions of [`adapter_test_sessions`]: the owner of `app`,
/// the `item` of `cart` and the `user` of `api`, `-` for each that is missing (`alice apple
/// bob` when all three arrived).
pub fn describe_adapter_test_sessions(app: &Session, cart: &Session, api: &Session) -> String {
    let parts = [
        app.owner(),
        cart.get("item").ok().flatten(),
        api.get("user").ok().flatten(),
    ];
    parts
        .map(|part| part.unwrap_or_else(|| "-".into()))
        .join(" ")
}

/// How many times each kind of store operation was called (failed calls included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCalls {
    /// `load`, `count` and `owner_sessions` calls.
    pub loads: usize,
    /// `create`, `update` and `regenerate` calls.
    pub writes: usize,
    /// `delete`, `delete_owned` and `delete_owner` calls.
    pub deletes: usize,
}

impl StoreCalls {
    /// All calls together.
    pub fn total(&self) -> usize {
        self.loads + self.writes + self.deletes
    }
}

/// A [`MemoryStore`] that counts its calls and, after [`fail`](Self::fail), fails every one
/// with a [`StoreError::Backend`] carrying [`FAILURE_DETAIL`]. Clones share everything.
#[derive(Clone, Default)]
pub struct TestStore {
    inner: MemoryStore,
    loads: Arc<AtomicUsize>,
    writes: Arc<AtomicUsize>,
    deletes: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl TestStore {
    /// The calls so far.
    pub fn calls(&self) -> StoreCalls {
        StoreCalls {
            loads: self.loads.load(Ordering::SeqCst),
            writes: self.writes.load(Ordering::SeqCst),
            deletes: self.deletes.load(Ordering::SeqCst),
        }
    }

    /// A manager for `config` (TOML, e.g. [`ADAPTER_TEST_CONFIG`]) with a fresh key, whose store
    /// type `test` is this store, shared by every session that names it; `cookie` is the
    /// client-side store.
    pub async fn manager(&self, config: &str) -> Result<SessionManager, ConfigError> {
        let mut registry = session_core::StoreRegistry::new();
        let store = self.clone();
        registry.register("test", move |_| {
            let store: Arc<dyn Store> = Arc::new(store.clone());
            async move { Ok(Backend::Server(store)) }
        });
        let config = SessionsConfig::from_toml(config)?;
        SessionManager::from_config(&config, &registry, KeyRing::generate()).await
    }

    /// A new, empty store that counts into this store's counters and fails while this one
    /// does: one count of the calls that reach several sessions' stores, each session keeping
    /// its own records (and owner index).
    pub fn sibling(&self) -> TestStore {
        TestStore {
            inner: MemoryStore::default(),
            loads: Arc::clone(&self.loads),
            writes: Arc::clone(&self.writes),
            deletes: Arc::clone(&self.deletes),
            failing: Arc::clone(&self.failing),
        }
    }

    /// A store that fails every call from the start, as an unreachable database would.
    pub fn failing() -> TestStore {
        let store = TestStore::default();
        store.fail();
        store
    }

    /// Makes every later call fail, as an outage would.
    pub fn fail(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }

    /// Ends the outage.
    pub fn recover(&self) {
        self.failing.store(false, Ordering::SeqCst);
    }

    /// How many records the store holds (expired ones not yet cleaned up included).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn enter(&self, counter: &AtomicUsize) -> Result<(), StoreError> {
        counter.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::backend_msg(FAILURE_DETAIL));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for TestStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.enter(&self.loads)?;
        self.inner.load(id).await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.enter(&self.writes)?;
        self.inner.create(record).await
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        self.enter(&self.writes)?;
        self.inner.update(id, delta).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.enter(&self.deletes)?;
        self.inner.delete(id).await
    }

    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        self.enter(&self.writes)?;
        self.inner.regenerate(old, new, delta).await
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        self.enter(&self.loads)?;
        self.inner.owner_sessions(owner).await
    }

    async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
        self.enter(&self.deletes)?;
        self.inner.delete_owned(owner, key).await
    }

    async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        self.enter(&self.deletes)?;
        self.inner.delete_owner(owner, keep).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.enter(&self.loads)?;
        self.inner.count().await
    }

    fn cleanup(&self) -> Option<&dyn Cleanup> {
        Some(self)
    }
}

#[async_trait]
impl Cleanup for TestStore {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::backend_msg(FAILURE_DETAIL));
        }
        self.inner.delete_expired().await
    }
}

/// Why a [`TestSession`] could not be minted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestSessionError {
    /// The session holds no value, so the manager stores nothing and sends no cookie or header
    /// for it (an owner alone is not a value).
    #[error("the test session `{0}` holds no value, so there is nothing to send: put in it what the application's login writes (a user key, say)")]
    Empty(String),
    /// The manager refused: an unknown session name, a value past the size limit, a store that
    /// failed.
    #[error(transparent)]
    Session(#[from] Error),
}

/// A session minted through a [`SessionManager`], as the request headers that carry it: a
/// `Cookie` header for cookie sessions, the session's own header for header sessions. The session
/// is stored (server-side) or sealed (client-side) exactly as a handler's would be, so the
/// application opens it like any other. Each adapter's `testing` module adds these headers to its
/// framework's test requests.
///
/// ```
/// use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};
/// use session_stores::testing::TestSession;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = SessionsConfig::from_toml(r#"
///     [sessions.app]
///     transport = { type = "cookie", name = "app_session" }
///     store = { type = "cookie" }
/// "#)?;
/// let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await?;
/// let alice = TestSession::logged_in(&manager, "alice", |session| session.insert("user", "alice")).await?;
/// assert!(alice.cookie().is_some_and(|cookie| cookie.starts_with("app_session=")));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TestSession {
    cookie: Option<String>,
    headers: Vec<(String, String)>,
}

impl std::fmt::Debug for TestSession {
    /// Names only: the values are live credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSession")
            .field("cookie", &self.cookie.as_ref().map(|_| "<hidden>"))
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TestSession {
    /// The default session bound to `owner` as a login binds it ([`Session::set_owner`]),
    /// holding what `login` puts in it: what the application's login writes besides the owner,
    /// e.g. `|session| session.insert("user", "alice")`.
    pub async fn logged_in(
        manager: &SessionManager,
        owner: &str,
        login: impl FnOnce(&Session) -> Result<(), Error>,
    ) -> Result<TestSession, TestSessionError> {
        TestSession::with(manager, None, |session| {
            session.set_owner(owner)?;
            login(session)
        })
        .await
    }

    /// The session `name` (the default one for `None`) holding what `fill` puts in it.
    pub async fn with(
        manager: &SessionManager,
        name: Option<&str>,
        fill: impl FnOnce(&Session) -> Result<(), Error>,
    ) -> Result<TestSession, TestSessionError> {
        let request = manager.request(std::iter::empty(), |_| None);
        let session = match name {
            Some(name) => request.session(name).await?,
            None => request.default_session().await?,
        };
        fill(&session)?;
        if session.is_empty() {
            return Err(TestSessionError::Empty(
                name.unwrap_or(manager.default_name()).to_string(),
            ));
        }
        let mut minted = TestSession {
            cookie: None,
            headers: Vec::new(),
        };
        for header in manager.save_request(request).await? {
            match header {
                ResponseHeader::SetCookie(set_cookie) => {
                    let pair = set_cookie.split(';').next().unwrap_or_default();
                    // Removals of chunks the session does not use carry no value.
                    if !pair.ends_with('=') {
                        minted.add_cookie(pair);
                    }
                }
                ResponseHeader::Header { name, value } => {
                    minted.headers.push((name.to_string(), value));
                }
            }
        }
        Ok(minted)
    }

    /// Both sessions' headers, for a request that carries several sessions (say a login and a
    /// cart).
    pub fn and(mut self, other: TestSession) -> TestSession {
        if let Some(cookie) = other.cookie {
            self.add_cookie(&cookie);
        }
        self.headers.extend(other.headers);
        self
    }

    /// The `Cookie` header value (`name=value; ...`), if a session travels in cookies.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// Every request header that carries the sessions, name and value: the `cookie` header
    /// first, then the session headers.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cookie
            .as_deref()
            .map(|cookie| ("cookie", cookie))
            .into_iter()
            .chain(
                self.headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str())),
            )
    }

    fn add_cookie(&mut self, pair: &str) {
        match &mut self.cookie {
            Some(cookie) => {
                cookie.push_str("; ");
                cookie.push_str(pair);
            }
            None => self.cookie = Some(pair.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use session_core::{now_ms, Expiry};

    use super::*;

    #[tokio::test]
    async fn a_sibling_shares_the_counts_and_the_outage_but_not_the_records() {
        let store = TestStore::default();
        let sibling = store.sibling();
        let record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
        sibling.create(&record).await.unwrap();
        assert!(store.load(&record.id).await.unwrap().is_none());
        assert!(store.is_empty());
        assert_eq!(sibling.len(), 1);
        assert_eq!(
            store.calls(),
            StoreCalls {
                loads: 1,
                writes: 1,
                deletes: 0
            }
        );
        assert_eq!(store.calls(), sibling.calls());

        store.fail();
        assert!(sibling.load(&record.id).await.is_err());
        store.recover();
        assert!(sibling.load(&record.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn test_sessions_carry_cookies_in_one_header_and_session_headers_beside_it() {
        let (_, sessions) = adapter_test_setup().await.unwrap();
        let cookie = sessions.cookie().unwrap();
        assert!(
            cookie.starts_with("app_session=") && cookie.contains("; cart="),
            "{cookie}"
        );
        let names: Vec<&str> = sessions.headers().map(|(name, _)| name).collect();
        assert_eq!(names, ["cookie", "x-session"]);
        assert!(
            !format!("{sessions:?}").contains(cookie),
            "Debug hides the values"
        );
    }

    #[tokio::test]
    async fn a_test_session_that_holds_nothing_is_an_error_that_says_what_to_add() {
        let manager = TestStore::default()
            .manager(ADAPTER_TEST_CONFIG)
            .await
            .unwrap();
        let error = TestSession::logged_in(&manager, "alice", |_| Ok(()))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("holds no value"), "{error}");
        let error = TestSession::with(&manager, Some("carts"), |_| Ok(()))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("[sessions.carts]"), "{error}");
    }

    #[tokio::test]
    async fn a_failing_store_fails_from_its_first_call() {
        let store = TestStore::failing();
        let error = store.count().await.unwrap_err();
        assert!(error.to_string().contains(FAILURE_DETAIL));
        assert_eq!(store.calls().loads, 1);
    }
}
