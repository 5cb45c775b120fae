//! The manager end to end, without a framework: a small browser (a cookie jar), a counting
//! in-memory store, and the client-side cookie backend.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::config::{CookieConfig, SameSite};
use crate::config::{HeaderConfig, StoreConfig};
use crate::device::{OwnersConfig, WhenFull};
use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::keys::Key;
use crate::record::Delta;
use crate::record::{now_ms, Record};
use crate::registry::CookieStoreOptions;
use crate::seal::{seal_id, seal_record};
use crate::session::Session;
use crate::store::OwnerSession;
use cookie::Cookie;

mod concurrency;
mod cookie_size;
mod first_write;
mod hardening;
mod hostile_requests;
mod key_rotation;
mod login;
mod nothing_asked;
mod observability;
mod owners;
mod per_session_expiry;
mod regenerate_and_destroy;
mod registry_configuration;
mod store_failures;
mod transports;
mod values_that_do_not_open;
mod what_gets_written;

// ---- a store that records what is asked of it ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Load,
    Create,
    Regenerate,
    Update {
        changed: Vec<String>,
        removed: Vec<String>,
    },
    Delete,
}

/// An in-memory store that logs every call. `update` is atomic (one lock over
/// load-apply-save). It does not hide expired records, so the manager's own check is tested.
#[derive(Default)]
struct CountingStore {
    records: Mutex<HashMap<SessionId, Record>>,
    ops: Mutex<Vec<Op>>,
    fail_loads: AtomicBool,
    fail_writes: AtomicBool,
    /// How many more owner listings succeed before every one fails (`None`: none fails).
    listings_before_failure: Mutex<Option<usize>>,
    /// `delete_owned` finds nothing, as when another request ended the session first.
    owned_deletes_find_nothing: AtomicBool,
    /// Records whose stored form no longer decodes.
    corrupt: Mutex<Vec<SessionId>>,
    /// How many more creates and regenerates find their new id taken, as if another session
    /// held it.
    collisions: AtomicUsize,
    /// The new ids refused as taken, in order.
    taken: Mutex<Vec<SessionId>>,
}

impl CountingStore {
    fn log(&self, op: Op) {
        self.ops.lock().unwrap().push(op);
    }

    /// The calls since the last `take_ops`.
    fn take_ops(&self) -> Vec<Op> {
        std::mem::take(&mut *self.ops.lock().unwrap())
    }

    fn record(&self, id: &SessionId) -> Option<Record> {
        self.records.lock().unwrap().get(id).cloned()
    }

    fn ids(&self) -> Vec<SessionId> {
        self.records.lock().unwrap().keys().copied().collect()
    }

    fn insert(&self, record: Record) {
        self.records.lock().unwrap().insert(record.id, record);
    }

    /// `AlreadyExists` for `new` while [`collisions`](Self::collisions) lasts.
    fn check_collision(&self, new: &SessionId) -> Result<(), StoreError> {
        let collides = self
            .collisions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            });
        if collides.is_err() {
            return Ok(());
        }
        self.taken.lock().unwrap().push(*new);
        Err(StoreError::AlreadyExists)
    }

    /// The ids refused as taken since the start.
    fn taken_ids(&self) -> Vec<SessionId> {
        self.taken.lock().unwrap().clone()
    }

    fn check_writes(&self) -> Result<(), StoreError> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(StoreError::backend_msg("the test store refuses writes"));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.log(Op::Load);
        if self.fail_loads.load(Ordering::SeqCst) {
            return Err(StoreError::backend_msg("the test store refuses loads"));
        }
        if self.corrupt.lock().unwrap().contains(id) && self.record(id).is_some() {
            return Err(StoreError::corrupt("truncated record"));
        }
        Ok(self.record(id))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.log(Op::Create);
        self.check_writes()?;
        self.check_collision(&record.id)?;
        let mut records = self.records.lock().unwrap();
        if records.contains_key(&record.id) {
            return Err(StoreError::AlreadyExists);
        }
        records.insert(record.id, record.clone());
        Ok(())
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        self.log(Op::Update {
            changed: delta
                .changed
                .iter()
                .map(|(key, _)| key.to_string())
                .collect(),
            removed: delta.removed.iter().map(|key| key.to_string()).collect(),
        });
        self.check_writes()?;
        let mut records = self.records.lock().unwrap();
        let Some(record) = records.get_mut(id) else {
            return Ok(false);
        };
        delta.apply(record);
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.log(Op::Delete);
        self.check_writes()?;
        self.records.lock().unwrap().remove(id);
        Ok(())
    }

    async fn regenerate(
        &self,
        old: &SessionId,
        new: &SessionId,
        delta: &Delta,
    ) -> Result<bool, StoreError> {
        self.log(Op::Regenerate);
        self.check_writes()?;
        self.check_collision(new)?;
        let mut records = self.records.lock().unwrap();
        if records.contains_key(new) {
            return Err(StoreError::AlreadyExists);
        }
        let Some(mut record) = records.remove(old) else {
            return Ok(false);
        };
        delta.apply(&mut record);
        record.id = *new;
        records.insert(*new, record);
        Ok(true)
    }

    async fn owner_sessions(&self, owner: &str) -> Result<Vec<OwnerSession>, StoreError> {
        if let Some(left) = self.listings_before_failure.lock().unwrap().as_mut() {
            if *left == 0 {
                return Err(StoreError::backend_msg("the test store refuses listings"));
            }
            *left -= 1;
        }
        let records = self.records.lock().unwrap();
        Ok(records
            .values()
            .filter(|record| record.owner.as_deref() == Some(owner))
            .map(|record| OwnerSession::of(record.id.storage_key(), record))
            .collect())
    }

    async fn delete_owned(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
        self.check_writes()?;
        if self.owned_deletes_find_nothing.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let mut records = self.records.lock().unwrap();
        let before = records.len();
        records
            .retain(|id, record| id.storage_key() != key || record.owner.as_deref() != Some(owner));
        Ok(records.len() < before)
    }

    async fn delete_owner(&self, owner: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        self.check_writes()?;
        let mut records = self.records.lock().unwrap();
        let before = records.len();
        records.retain(|id, record| {
            record.owner.as_deref() != Some(owner) || Some(id.storage_key().as_str()) == keep
        });
        Ok((before - records.len()) as u64)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.records.lock().unwrap().len() as u64)
    }

    fn cleanup(&self) -> Option<&dyn crate::store::Cleanup> {
        Some(self)
    }
}

#[async_trait]
impl crate::store::Cleanup for CountingStore {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut records = self.records.lock().unwrap();
        let before = records.len();
        records.retain(|_, record| !record.is_expired(now));
        Ok((before - records.len()) as u64)
    }
}

fn touched(changed: &[&str], removed: &[&str]) -> Op {
    Op::Update {
        changed: changed.iter().map(|key| key.to_string()).collect(),
        removed: removed.iter().map(|key| key.to_string()).collect(),
    }
}

// ---- a browser ----

/// A cookie jar and a request header, as a client keeps them between requests.
#[derive(Default, Clone)]
struct Browser {
    cookies: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
}

impl Browser {
    /// Each cookie of the jar as `name=value`.
    fn cookie_pairs(&self) -> Vec<String> {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect()
    }

    fn request(&self, manager: &SessionManager) -> RequestSessions {
        let cookie_header = header_of(&self.cookie_pairs());
        let headers = &self.headers;
        manager.request(
            Some(cookie_header.as_str()).filter(|h| !h.is_empty()),
            |name| headers.get(name).map(String::as_str),
        )
    }

    /// Applies a response's headers: `Max-Age=0` removes a cookie, an empty session header
    /// forgets it.
    fn receive(&mut self, headers: &[ResponseHeader]) {
        for header in headers {
            match header {
                ResponseHeader::SetCookie(text) => {
                    let cookie = Cookie::parse(text.as_str()).unwrap();
                    if cookie.max_age() == Some(cookie::time::Duration::ZERO) {
                        self.cookies.remove(cookie.name());
                    } else {
                        self.cookies
                            .insert(cookie.name().to_string(), cookie.value().to_string());
                    }
                }
                ResponseHeader::Header { name, value } if value.is_empty() => {
                    self.headers.remove(&**name);
                }
                ResponseHeader::Header { name, value } => {
                    self.headers.insert(name.to_string(), value.clone());
                }
            }
        }
    }

    /// A request whose handler ran `handler` on the default session; the response is not saved
    /// yet.
    async fn handled(
        &self,
        manager: &SessionManager,
        handler: impl FnOnce(&Session),
    ) -> RequestSessions {
        let request = self.request(manager);
        handler(&request.default_session().await.unwrap());
        request
    }

    /// One request to the default session: `handler` runs on it, then the response is applied.
    async fn visit(
        &mut self,
        manager: &SessionManager,
        handler: impl FnOnce(&Session),
    ) -> Vec<ResponseHeader> {
        let request = self.handled(manager, handler).await;
        let headers = request.save_opened().await.unwrap();
        self.receive(&headers);
        headers
    }
}

/// A cookie header with `pairs` joined as a browser joins them.
fn header_of(pairs: &[String]) -> String {
    pairs.join("; ")
}

fn set_cookies(headers: &[ResponseHeader]) -> Vec<Cookie<'static>> {
    headers
        .iter()
        .filter_map(|header| match header {
            ResponseHeader::SetCookie(text) => Some(Cookie::parse(text.clone()).unwrap()),
            ResponseHeader::Header { .. } => None,
        })
        .collect()
}

fn is_removal(cookie: &Cookie<'_>) -> bool {
    cookie.max_age() == Some(cookie::time::Duration::ZERO) && cookie.value().is_empty()
}

// ---- managers ----

const IDLE_SECS: u64 = 3600;

fn key(seed: u8) -> Key {
    Key::from_secret(&[seed; 32]).unwrap()
}

fn policy() -> ExpiryPolicy {
    ExpiryPolicy {
        idle_timeout_secs: IDLE_SECS,
        ..ExpiryPolicy::default()
    }
}

fn cookie_transport(name: &str) -> Transport {
    Transport::Cookie(CookieConfig::new(name))
}

fn header_transport(name: &str) -> Transport {
    Transport::Header(HeaderConfig { name: name.into() })
}

fn session_config(transport: Transport, kind: &str, expiry: ExpiryPolicy) -> SessionConfig {
    SessionConfig {
        transport,
        store: StoreConfig::new(kind),
        expiry,
        protection: Protection::Encrypted,
        max_bytes: None,
        owners: Default::default(),
    }
}

fn server_manager_with(
    keys: KeyRing,
    transport: Transport,
    expiry: ExpiryPolicy,
    store: &Arc<CountingStore>,
) -> SessionManager {
    SessionManager::builder(keys)
        .session(
            "app",
            session_config(transport, "counting", expiry),
            Backend::Server(store.clone()),
        )
        .build()
        .unwrap()
}

/// A builder holding the server-side session `app` on `store`, in cookie `sid`, for a test to
/// add its other sessions to.
fn builder_with_app(store: &Arc<CountingStore>) -> SessionManagerBuilder {
    SessionManager::builder(KeyRing::new(key(1))).session(
        "app",
        session_config(cookie_transport("sid"), "counting", policy()),
        Backend::Server(store.clone()),
    )
}

/// A builder holding the server-side session `app` on `store`, in cookie `sid`, with the owner
/// policy `owners`.
fn capped_builder(store: &Arc<CountingStore>, owners: OwnersConfig) -> SessionManagerBuilder {
    let config = SessionConfig {
        owners,
        ..session_config(cookie_transport("sid"), "counting", policy())
    };
    SessionManager::builder(KeyRing::new(key(1))).session(
        "app",
        config,
        Backend::Server(store.clone()),
    )
}

/// The server-side session `app` on `store`, in cookie `sid`, with the owner policy `owners`.
fn capped_manager(store: &Arc<CountingStore>, owners: OwnersConfig) -> SessionManager {
    capped_builder(store, owners).build().unwrap()
}

/// At most `max` sessions per owner; a login past them does `when_full`.
fn cap(max: u32, when_full: WhenFull) -> OwnersConfig {
    OwnersConfig {
        max_sessions: Some(max),
        when_full,
        ..OwnersConfig::default()
    }
}

/// The server-side session `app` on `store`, in cookie `sid`, sealed with `keys`.
fn server_manager_keyed(keys: KeyRing, store: &Arc<CountingStore>) -> SessionManager {
    server_manager_with(keys, cookie_transport("sid"), policy(), store)
}

/// The server-side session `app` on `store`, in cookie `sid`, expiring by `expiry`.
fn server_manager_expiring(expiry: ExpiryPolicy, store: &Arc<CountingStore>) -> SessionManager {
    server_manager_with(KeyRing::new(key(1)), cookie_transport("sid"), expiry, store)
}

/// The server-side session `app` on `store`, in the request header `name`.
fn header_manager(name: &str, store: &Arc<CountingStore>) -> SessionManager {
    server_manager_with(
        KeyRing::new(key(1)),
        header_transport(name),
        policy(),
        store,
    )
}

fn server_manager(store: &Arc<CountingStore>) -> SessionManager {
    server_manager_keyed(KeyRing::new(key(1)), store)
}

/// A counting store, and the server-side session `app` on it (see `server_manager`).
fn server_app() -> (Arc<CountingStore>, SessionManager) {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    (store, manager)
}

fn client_manager_with(keys: KeyRing, expiry: ExpiryPolicy, max_chunks: usize) -> SessionManager {
    SessionManager::builder(keys)
        .session(
            "app",
            session_config(cookie_transport("sid"), "cookie", expiry),
            Backend::ClientSide(CookieStoreOptions { max_chunks }),
        )
        .build()
        .unwrap()
}

/// The client-side session `app`, in cookie `sid` and up to `max_chunks - 1` more.
fn chunked_client_manager(max_chunks: usize) -> SessionManager {
    client_manager_with(KeyRing::new(key(1)), policy(), max_chunks)
}

fn client_manager() -> SessionManager {
    client_manager_with(KeyRing::new(key(1)), policy(), 1)
}

/// A new browser after one visit to `manager` that set `key` to `value`.
async fn browser_with(
    manager: &SessionManager,
    key: &str,
    value: impl serde::Serialize,
) -> Browser {
    let mut browser = Browser::default();
    browser
        .visit(manager, |session| session.insert(key, value).unwrap())
        .await;
    browser
}

/// A new browser after one visit to `manager` that set `user = "alice"`.
async fn alice_visits(manager: &SessionManager) -> Browser {
    browser_with(manager, "user", "alice").await
}

/// A browser that holds a server-side session with `user = "alice"`; the store's log is empty.
async fn logged_in(store: &Arc<CountingStore>, manager: &SessionManager) -> Browser {
    let browser = alice_visits(manager).await;
    assert!(browser.cookies.contains_key("sid"));
    store.take_ops();
    browser
}

/// A server-side manager on a counting store, and a browser logged in to it.
async fn logged_in_app() -> (Arc<CountingStore>, SessionManager, Browser) {
    let (store, manager) = server_app();
    let browser = logged_in(&store, &manager).await;
    (store, manager, browser)
}

/// [`logged_in_app`] and the id of the browser's stored session; the store's log is empty
/// afterwards.
async fn logged_in_app_with_id() -> (Arc<CountingStore>, SessionManager, Browser, SessionId) {
    let (store, manager, browser) = logged_in_app().await;
    let id = stored_id(&browser, &manager, &store).await;
    (store, manager, browser, id)
}

/// The id of `browser`'s stored session; the store's log is empty afterwards.
async fn stored_id(
    browser: &Browser,
    manager: &SessionManager,
    store: &CountingStore,
) -> SessionId {
    let request = browser.request(manager);
    let id = request.default_session().await.unwrap().id();
    store.take_ops();
    id
}

/// The default session `browser` opens on `manager`.
async fn default_session(browser: &Browser, manager: &SessionManager) -> Session {
    browser.request(manager).default_session().await.unwrap()
}

/// The owner of the default session `browser` opens on `manager`.
async fn owner_of(browser: &Browser, manager: &SessionManager) -> Option<String> {
    default_session(browser, manager).await.owner()
}

/// One request on a new browser: `bind` binds its default session to an owner (a login, or
/// `set_owner`) while the client says `agent` from `ip`; the browser after the response, or the
/// first error.
async fn bind_new_browser(
    manager: &SessionManager,
    agent: &str,
    ip: Option<&str>,
    bind: impl FnOnce(&Session) -> Result<(), Error>,
) -> Result<Browser, Error> {
    let mut browser = Browser::default();
    let request = browser.request(manager);
    bind(&request.default_session().await?)?;
    assert!(request.binds_owner());
    request.set_client_info(crate::device::ClientInfo {
        user_agent: Some(agent.into()),
        ip: ip.map(String::from),
    });
    browser.receive(&request.save_opened().await?);
    Ok(browser)
}

async fn user_of(browser: &Browser, manager: &SessionManager) -> Option<String> {
    let request = browser.request(manager);
    let session = request.default_session().await.unwrap();
    session.get::<String>("user").unwrap()
}
