//! The manager end to end, without a framework: a small browser (a cookie jar), a counting
//! in-memory store, and the client-side cookie backend.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::config::{CookieConfig, SameSite};
use crate::config::{HeaderConfig, StoreConfig};
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
    /// Records whose stored form no longer decodes.
    corrupt: Mutex<Vec<SessionId>>,
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
        let mut records = self.records.lock().unwrap();
        if records.contains_key(&record.id) {
            return Err(StoreError::AlreadyExists);
        }
        records.insert(record.id, record.clone());
        Ok(())
    }

    async fn update(&self, id: &SessionId, delta: &Delta) -> Result<bool, StoreError> {
        self.log(Op::Update {
            changed: delta.changed.iter().map(|(key, _)| key.clone()).collect(),
            removed: delta.removed.clone(),
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
        let records = self.records.lock().unwrap();
        Ok(records
            .values()
            .filter(|record| record.owner.as_deref() == Some(owner))
            .map(|record| OwnerSession::of(record.id.storage_key(), record))
            .collect())
    }

    async fn delete_owner(&self, owner: &str) -> Result<u64, StoreError> {
        self.check_writes()?;
        let mut records = self.records.lock().unwrap();
        let before = records.len();
        records.retain(|_, record| record.owner.as_deref() != Some(owner));
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
    fn request(&self, manager: &SessionManager) -> RequestSessions {
        let cookie_header = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
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

    /// One request to the default session: `handler` runs on it, then the response is applied.
    async fn visit(
        &mut self,
        manager: &SessionManager,
        handler: impl FnOnce(&Session),
    ) -> Vec<ResponseHeader> {
        let request = self.request(manager);
        let session = request.default_session().await.unwrap();
        handler(&session);
        let headers = request.save_opened().await.unwrap();
        self.receive(&headers);
        headers
    }
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

fn session_config(transport: Transport, kind: &str, expiry: ExpiryPolicy) -> SessionConfig {
    SessionConfig {
        transport,
        store: StoreConfig::new(kind),
        expiry,
        protection: Protection::Encrypted,
        max_bytes: None,
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

fn server_manager(store: &Arc<CountingStore>) -> SessionManager {
    server_manager_with(
        KeyRing::new(key(1)),
        cookie_transport("sid"),
        policy(),
        store,
    )
}

fn client_manager_with(keys: KeyRing, expiry: ExpiryPolicy, max_chunks: usize) -> SessionManager {
    SessionManager::builder(keys)
        .session(
            "app",
            session_config(cookie_transport("sid"), "cookie", expiry),
            Backend::Cookie(CookieStoreOptions { max_chunks }),
        )
        .build()
        .unwrap()
}

fn client_manager() -> SessionManager {
    client_manager_with(KeyRing::new(key(1)), policy(), 1)
}

/// A browser that holds a server-side session with `user = "alice"`; the store's log is empty.
async fn logged_in(store: &Arc<CountingStore>, manager: &SessionManager) -> Browser {
    let mut browser = Browser::default();
    browser
        .visit(manager, |session| session.insert("user", "alice").unwrap())
        .await;
    assert!(browser.cookies.contains_key("sid"));
    store.take_ops();
    browser
}

async fn user_of(browser: &Browser, manager: &SessionManager) -> Option<String> {
    let request = browser.request(manager);
    let session = request.default_session().await.unwrap();
    session.get::<String>("user").unwrap()
}

// ---- nothing asked, nothing done ----

#[tokio::test]
async fn a_request_that_extracts_no_session_touches_no_store_and_emits_nothing() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let browser = logged_in(&store, &manager).await;
    let request = browser.request(&manager);
    assert!(!request.is_opened("app"));
    assert!(request.save_opened().await.unwrap().is_empty());
    assert!(store.take_ops().is_empty());
}

#[tokio::test]
async fn an_anonymous_session_creates_no_record_and_emits_nothing() {
    let store = Arc::new(CountingStore::default());
    for manager in [server_manager(&store), client_manager()] {
        let mut browser = Browser::default();
        let headers = browser
            .visit(&manager, |session| {
                assert_eq!(session.get::<String>("user").unwrap(), None);
                assert!(session.is_empty());
            })
            .await;
        assert!(headers.is_empty());
    }
    assert!(store.take_ops().is_empty());
    assert!(store.ids().is_empty());
}

// ---- first write, cookie attributes ----

#[tokio::test]
async fn the_first_write_creates_a_record_and_sets_the_configured_cookie() {
    let store = Arc::new(CountingStore::default());
    let transport = Transport::Cookie(CookieConfig {
        name: "sid".into(),
        secure: true,
        http_only: true,
        same_site: SameSite::Strict,
        path: "/app".into(),
        domain: Some("example.com".into()),
    });
    let manager = server_manager_with(KeyRing::new(key(1)), transport, policy(), &store);
    let mut browser = Browser::default();
    let headers = browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    assert_eq!(store.take_ops(), [Op::Create]);
    assert_eq!(store.ids().len(), 1);

    let cookies = set_cookies(&headers);
    assert_eq!(cookies.len(), 1);
    let cookie = &cookies[0];
    assert_eq!(cookie.name(), "sid");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::Strict));
    assert_eq!(cookie.path(), Some("/app"));
    assert_eq!(cookie.domain(), Some("example.com"));
    assert_eq!(
        cookie.max_age(),
        None,
        "a browser-session cookie has no Max-Age"
    );

    // Attributes switched off are absent, not `false`.
    let relaxed = Transport::Cookie(CookieConfig {
        secure: false,
        http_only: false,
        ..CookieConfig::new("sid")
    });
    let manager = server_manager_with(KeyRing::new(key(1)), relaxed, policy(), &store);
    let headers = Browser::default()
        .visit(&manager, |session| session.insert("user", "bob").unwrap())
        .await;
    let text = headers[0].value();
    assert!(
        !text.contains("Secure") && !text.contains("HttpOnly"),
        "{text}"
    );
}

#[tokio::test]
async fn persistent_sessions_carry_max_age() {
    let store = Arc::new(CountingStore::default());
    let persistent = ExpiryPolicy {
        persistent: true,
        ..policy()
    };
    let server = server_manager_with(
        KeyRing::new(key(1)),
        cookie_transport("sid"),
        persistent.clone(),
        &store,
    );
    let client = client_manager_with(KeyRing::new(key(1)), persistent, 1);
    for manager in [server, client] {
        let headers = Browser::default()
            .visit(&manager, |session| session.insert("user", "alice").unwrap())
            .await;
        let max_age = set_cookies(&headers)[0].max_age().unwrap().whole_seconds();
        assert!(
            (IDLE_SECS as i64 - 1..=IDLE_SECS as i64).contains(&max_age),
            "{max_age}"
        );
    }
}

#[tokio::test]
async fn the_cookie_opens_the_same_session_on_the_next_request() {
    let store = Arc::new(CountingStore::default());
    for manager in [server_manager(&store), client_manager()] {
        let mut browser = Browser::default();
        let mut first_id = None;
        browser
            .visit(&manager, |session| {
                session.insert("user", "alice").unwrap();
                first_id = Some(session.id());
            })
            .await;
        let request = browser.request(&manager);
        let session = request.default_session().await.unwrap();
        assert_eq!(Some(session.id()), first_id);
        assert_eq!(
            session.get::<String>("user").unwrap().as_deref(),
            Some("alice")
        );
        // Every extraction in a request gets the same handle.
        let again = request.default_session().await.unwrap();
        again.insert("n", 1).unwrap();
        assert_eq!(session.get::<u32>("n").unwrap(), Some(1));
    }
}

#[tokio::test]
async fn response_headers_do_not_print_session_values() {
    let store = Arc::new(CountingStore::default());
    let header_manager = server_manager_with(
        KeyRing::new(key(1)),
        Transport::Header(HeaderConfig {
            name: "x-session".into(),
        }),
        policy(),
        &store,
    );
    for manager in [server_manager(&store), client_manager(), header_manager] {
        let headers = Browser::default()
            .visit(&manager, |session| session.insert("user", "alice").unwrap())
            .await;
        let value = headers[0].value();
        let sealed = value
            .split(';')
            .next()
            .and_then(|pair| pair.split('=').nth(1))
            .unwrap_or(value);
        let printed = format!("{headers:?}");
        assert!(sealed.len() > 40 && !printed.contains(sealed), "{printed}");
        assert!(
            printed.contains("sid") || printed.contains("x-session"),
            "{printed}"
        );
    }
}

// ---- what gets written ----

#[tokio::test]
async fn an_unchanged_session_writes_nothing_until_the_touch_threshold() {
    // A large threshold: reading a fresh session is not worth a write.
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let mut browser = logged_in(&store, &manager).await;
    let headers = browser
        .visit(&manager, |session| {
            session.get::<String>("user").unwrap();
            session.insert("user", "alice").unwrap(); // the same value is no change
        })
        .await;
    assert!(headers.is_empty());
    assert_eq!(store.take_ops(), [Op::Load]);

    // No threshold: every request slides the deadline, with a write that changes no values.
    let eager = ExpiryPolicy {
        touch_after_secs: 0,
        ..policy()
    };
    let manager = server_manager_with(KeyRing::new(key(1)), cookie_transport("sid"), eager, &store);
    let id = browser
        .request(&manager)
        .default_session()
        .await
        .unwrap()
        .id();
    store.take_ops();
    let before = store.record(&id).unwrap();
    let headers = browser.visit(&manager, |_| {}).await;
    assert!(
        headers.is_empty(),
        "the id did not change, so the cookie is not resent"
    );
    assert_eq!(store.take_ops(), [Op::Load, touched(&[], &[])]);
    let after = store.record(&id).unwrap();
    assert!(after.expires_at >= before.expires_at);
    assert_eq!(after.version, before.version + 1);
}

#[tokio::test]
async fn an_unchanged_client_session_is_resealed_only_at_the_touch_threshold() {
    let mut browser = Browser::default();
    let lazy = client_manager();
    browser
        .visit(&lazy, |session| session.insert("user", "alice").unwrap())
        .await;
    assert!(browser.visit(&lazy, |_| {}).await.is_empty());

    let eager = client_manager_with(
        KeyRing::new(key(1)),
        ExpiryPolicy {
            touch_after_secs: 0,
            ..policy()
        },
        1,
    );
    let headers = browser.visit(&eager, |_| {}).await;
    assert_eq!(set_cookies(&headers).len(), 1);
    assert_eq!(user_of(&browser, &eager).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn reads_count_as_activity_only_when_the_policy_says_so() {
    let store = Arc::new(CountingStore::default());
    for (reads_are_activity, expected) in [
        (false, vec![Op::Load]),
        (true, vec![Op::Load, touched(&[], &[])]),
    ] {
        let expiry = ExpiryPolicy {
            touch_after_secs: 0,
            reads_are_activity,
            ..policy()
        };
        let manager = server_manager_with(
            KeyRing::new(key(1)),
            cookie_transport("sid"),
            expiry,
            &store,
        );
        let mut browser = logged_in(&store, &manager).await;
        browser
            .visit(&manager, |session| {
                session.get::<String>("user").unwrap();
            })
            .await;
        assert_eq!(
            store.take_ops(),
            expected,
            "reads_are_activity = {reads_are_activity}"
        );
        // A write always counts.
        browser
            .visit(&manager, |session| session.insert("n", 1).unwrap())
            .await;
        assert_eq!(store.take_ops(), [Op::Load, touched(&["n"], &[])]);
    }
}

#[tokio::test]
async fn a_short_idle_window_is_kept_alive_by_reads() {
    let store = Arc::new(CountingStore::default());
    // The default touch threshold (60 s) is far above this 2-second window.
    let expiry = ExpiryPolicy {
        idle_timeout_secs: 2,
        ..ExpiryPolicy::default()
    };
    let manager = server_manager_with(
        KeyRing::new(key(1)),
        cookie_transport("sid"),
        expiry,
        &store,
    );
    let mut browser = logged_in(&store, &manager).await;
    let id = store.ids()[0];
    for _ in 0..3 {
        // As if the last write was 1.2 s ago: 0.8 s of the window left.
        let mut record = store.record(&id).unwrap();
        record.expires_at = now_ms() + 800;
        store.insert(record);
        store.take_ops();
        browser
            .visit(&manager, |session| {
                assert_eq!(
                    session.get::<String>("user").unwrap().as_deref(),
                    Some("alice")
                );
            })
            .await;
        assert_eq!(store.take_ops(), [Op::Load, touched(&[], &[])]);
        let slid = store.record(&id).unwrap().expires_at;
        assert!(
            slid >= now_ms() + 1_500,
            "the read did not slide the window"
        );
    }
}

#[tokio::test]
async fn a_corrupt_record_is_no_session_and_is_deleted() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let mut browser = logged_in(&store, &manager).await;
    let id = store.ids()[0];
    store.corrupt.lock().unwrap().push(id);
    store.take_ops();
    // `/me` answers (no session), and the record is gone rather than failing every request.
    assert_eq!(user_of(&browser, &manager).await, None);
    assert_eq!(store.take_ops(), [Op::Load, Op::Delete]);
    assert!(store.record(&id).is_none());
    // Logging in again works.
    browser
        .visit(&manager, |session| session.insert("user", "bob").unwrap())
        .await;
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("bob"));
    // An unreachable backend stays an error.
    store.fail_loads.store(true, Ordering::SeqCst);
    let request = browser.request(&manager);
    assert!(request
        .default_session()
        .await
        .is_err_and(|error| error.is_store_failure()));
}

#[tokio::test]
async fn value_changes_are_saved_as_a_delta_of_the_changed_keys() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let mut browser = Browser::default();
    let mut id = None;
    browser
        .visit(&manager, |session| {
            for key in ["a", "b", "c"] {
                session.insert(key, key).unwrap();
            }
            id = Some(session.id());
        })
        .await;
    store.take_ops();
    browser
        .visit(&manager, |session| {
            session.insert("a", "changed").unwrap();
            session.remove("b");
        })
        .await;
    assert_eq!(store.take_ops(), [Op::Load, touched(&["a"], &["b"])]);
    let record = store.record(&id.unwrap()).unwrap();
    let keys: Vec<_> = record.data.keys().cloned().collect();
    assert_eq!(keys, ["a", "c"]);
    assert_eq!(record.data["a"].get(), r#""changed""#);
}

#[tokio::test]
async fn clear_removes_every_loaded_key_in_one_delta() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let mut browser = logged_in(&store, &manager).await;
    let id = browser
        .request(&manager)
        .default_session()
        .await
        .unwrap()
        .id();
    store.take_ops();
    browser
        .visit(&manager, |session| {
            session.clear();
            session.insert("fresh", true).unwrap();
        })
        .await;
    assert_eq!(store.take_ops(), [Op::Load, touched(&["fresh"], &["user"])]);
    let keys: Vec<_> = store.record(&id).unwrap().data.keys().cloned().collect();
    assert_eq!(keys, ["fresh"]);
}

#[tokio::test]
async fn clear_does_not_bring_back_a_session_another_request_destroyed() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let browser = logged_in(&store, &manager).await;
    let destroying = browser.request(&manager);
    let clearing = browser.request(&manager);
    destroying.default_session().await.unwrap().destroy();
    let late = clearing.default_session().await.unwrap();
    destroying.save_opened().await.unwrap();
    late.clear();
    late.insert("fresh", true).unwrap();
    clearing.save_opened().await.unwrap();
    assert!(store.ids().is_empty(), "the destroyed session came back");
}

// ---- regenerate and destroy ----

#[tokio::test]
async fn regenerate_id_creates_the_new_record_and_deletes_the_old_one() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let mut browser = logged_in(&store, &manager).await;
    let old_browser = browser.clone();
    let old_id = browser
        .request(&manager)
        .default_session()
        .await
        .unwrap()
        .id();
    store.take_ops();

    let mut new_id = None;
    let headers = browser
        .visit(&manager, |session| {
            session.regenerate_id();
            new_id = Some(session.id());
        })
        .await;
    // One atomic move in the store, not a create from this request's copy and a delete.
    assert_eq!(store.take_ops(), [Op::Load, Op::Regenerate]);
    let new_id = new_id.unwrap();
    assert_ne!(new_id, old_id);
    assert_eq!(store.ids(), [new_id]);
    assert_eq!(set_cookies(&headers).len(), 1);
    assert_ne!(browser.cookies["sid"], old_browser.cookies["sid"]);

    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
    assert_eq!(user_of(&old_browser, &manager).await, None);
}

#[tokio::test]
async fn destroy_deletes_the_record_and_expires_the_cookie() {
    let store = Arc::new(CountingStore::default());
    let transport = Transport::Cookie(CookieConfig {
        path: "/app".into(),
        domain: Some("example.com".into()),
        ..CookieConfig::new("sid")
    });
    let manager = server_manager_with(KeyRing::new(key(1)), transport, policy(), &store);
    let mut browser = logged_in(&store, &manager).await;
    let old_browser = browser.clone();
    let headers = browser.visit(&manager, Session::destroy).await;
    assert_eq!(store.take_ops(), [Op::Load, Op::Delete]);
    assert!(store.ids().is_empty());
    let cookies = set_cookies(&headers);
    assert_eq!(cookies.len(), 1);
    assert!(is_removal(&cookies[0]), "{}", cookies[0]);
    assert_eq!(cookies[0].name(), "sid");
    assert_eq!(cookies[0].path(), Some("/app"));
    assert_eq!(cookies[0].domain(), Some("example.com"));
    assert!(browser.cookies.is_empty());
    assert_eq!(user_of(&old_browser, &manager).await, None);
}

#[tokio::test]
async fn destroying_a_client_session_expires_its_cookie() {
    let manager = client_manager();
    let mut browser = Browser::default();
    browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    let headers = browser.visit(&manager, Session::destroy).await;
    assert!(is_removal(&set_cookies(&headers)[0]));
    assert!(browser.cookies.is_empty());
}

#[tokio::test]
async fn destroy_over_the_header_transport_sends_an_empty_header() {
    let store = Arc::new(CountingStore::default());
    let transport = Transport::Header(HeaderConfig {
        name: "x-session".into(),
    });
    let manager = server_manager_with(KeyRing::new(key(1)), transport, policy(), &store);
    let mut browser = Browser::default();
    browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    assert!(browser.headers.contains_key("x-session"));
    let headers = browser.visit(&manager, Session::destroy).await;
    assert_eq!(
        headers,
        [ResponseHeader::Header {
            name: Arc::from("x-session"),
            value: String::new()
        }]
    );
    assert!(store.ids().is_empty());
}

#[tokio::test]
async fn destroy_then_insert_starts_a_new_session() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let mut browser = logged_in(&store, &manager).await;
    let old_id = browser
        .request(&manager)
        .default_session()
        .await
        .unwrap()
        .id();
    store.take_ops();
    let headers = browser
        .visit(&manager, |session| {
            session.destroy();
            session.insert("note", "bye").unwrap();
        })
        .await;
    assert_eq!(store.take_ops(), [Op::Load, Op::Delete, Op::Create]);
    let ids = store.ids();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], old_id);
    let cookies = set_cookies(&headers);
    assert_eq!(cookies.len(), 1);
    assert!(!is_removal(&cookies[0]));
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    assert_eq!(
        session.get::<String>("note").unwrap().as_deref(),
        Some("bye")
    );
    assert_eq!(session.get::<String>("user").unwrap(), None);
}

#[tokio::test]
async fn a_session_ended_by_another_request_is_not_recreated_and_other_sessions_still_save() {
    let store = Arc::new(CountingStore::default());
    let manager = SessionManager::builder(KeyRing::new(key(1)))
        .session(
            "app",
            session_config(cookie_transport("sid"), "counting", policy()),
            Backend::Server(store.clone()),
        )
        .session(
            "prefs",
            session_config(cookie_transport("prefs"), "cookie", policy()),
            Backend::Cookie(CookieStoreOptions::default()),
        )
        .default("app")
        .build()
        .unwrap();
    let mut browser = logged_in(&store, &manager).await;

    // Two requests load the session; the first destroys it, the second then writes to it.
    let destroying = browser.request(&manager);
    let writing = browser.request(&manager);
    destroying.default_session().await.unwrap().destroy();
    let late = writing.default_session().await.unwrap();
    writing
        .session("prefs")
        .await
        .unwrap()
        .insert("theme", "dark")
        .unwrap();
    destroying.save_opened().await.unwrap();
    late.insert("cart", 3).unwrap();
    let headers = writing.save_opened().await.unwrap();

    assert!(
        store.ids().is_empty(),
        "the ended session was not recreated"
    );
    let cookies = set_cookies(&headers);
    // The destroying response already expired the cookie; this one leaves it alone.
    assert!(cookies.iter().all(|c| c.name() != "sid"), "{cookies:?}");
    let prefs = cookies.iter().find(|c| c.name() == "prefs").unwrap();
    assert!(!is_removal(prefs));
    browser.receive(&headers);
    let request = browser.request(&manager);
    let prefs = request.session("prefs").await.unwrap();
    assert_eq!(
        prefs.get::<String>("theme").unwrap().as_deref(),
        Some("dark")
    );
}

#[tokio::test]
async fn a_request_racing_a_login_does_not_erase_the_new_cookie() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let mut browser = logged_in(&store, &manager).await;

    // A login regenerates the id while a parallel request with the old cookie writes.
    let login = browser.request(&manager);
    let parallel = browser.request(&manager);
    login.default_session().await.unwrap().regenerate_id();
    parallel
        .default_session()
        .await
        .unwrap()
        .insert("seen", true)
        .unwrap();
    let login_headers = login.save_opened().await.unwrap();
    let parallel_headers = parallel.save_opened().await.unwrap();

    assert!(
        set_cookies(&parallel_headers).is_empty(),
        "the late response must not touch the cookie the login just set"
    );
    // Whatever order the browser gets the responses in, it keeps the new session.
    browser.receive(&login_headers);
    browser.receive(&parallel_headers);
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
}

// ---- per-session expiry ----

#[tokio::test]
async fn a_persistent_expiry_set_on_one_session_is_carried_and_honoured() {
    const REMEMBER_SECS: u64 = 30 * 24 * 3600;
    let store = Arc::new(CountingStore::default());
    for manager in [server_manager(&store), client_manager()] {
        let mut browser = Browser::default();
        let headers = browser
            .visit(&manager, |session| session.insert("user", "alice").unwrap())
            .await;
        assert_eq!(set_cookies(&headers)[0].max_age(), None);

        let headers = browser
            .visit(&manager, |session| {
                session.set_expiry(Expiry::persistent(Duration::from_secs(REMEMBER_SECS)))
            })
            .await;
        let max_age = set_cookies(&headers)[0].max_age().unwrap().whole_seconds() as u64;
        assert!(
            (REMEMBER_SECS - 1..=REMEMBER_SECS).contains(&max_age),
            "{max_age}"
        );

        // A later request that writes still gets a persistent cookie and the long deadline.
        let headers = browser
            .visit(&manager, |session| {
                assert!(session.expiry().is_some_and(|expiry| expiry.persistent));
                assert!(session.expires_at() > now_ms() + IDLE_SECS * 1000);
                session.insert("n", 1).unwrap();
            })
            .await;
        let max_age = set_cookies(&headers)[0].max_age().unwrap().whole_seconds() as u64;
        assert!(
            (REMEMBER_SECS - 1..=REMEMBER_SECS).contains(&max_age),
            "{max_age}"
        );
    }
}

// ---- transports and several sessions ----

#[tokio::test]
async fn the_header_transport_reads_and_writes_the_configured_header() {
    let store = Arc::new(CountingStore::default());
    let transport = Transport::Header(HeaderConfig {
        name: "X-Session".into(),
    });
    let manager = server_manager_with(KeyRing::new(key(1)), transport, policy(), &store);
    let mut browser = Browser::default();
    let headers = browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].name(), "x-session");
    assert!(!headers[0].value().is_empty());
    assert!(browser.cookies.is_empty());
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
    // The same value in a cookie is not the session.
    let mut as_cookie = Browser::default();
    as_cookie
        .cookies
        .insert("X-Session".into(), browser.headers["x-session"].clone());
    assert_eq!(user_of(&as_cookie, &manager).await, None);
}

#[tokio::test]
async fn two_named_sessions_and_a_header_session_share_one_request() {
    let store = Arc::new(CountingStore::default());
    let manager = SessionManager::builder(KeyRing::new(key(1)))
        .session(
            "app",
            session_config(cookie_transport("app_sid"), "counting", policy()),
            Backend::Server(store.clone()),
        )
        .session(
            "cart",
            session_config(cookie_transport("cart"), "cookie", policy()),
            Backend::Cookie(CookieStoreOptions::default()),
        )
        .session(
            "api",
            session_config(
                Transport::Header(HeaderConfig {
                    name: "x-api".into(),
                }),
                "counting",
                policy(),
            ),
            Backend::Server(store.clone()),
        )
        .default("app")
        .build()
        .unwrap();
    let mut browser = Browser::default();
    let request = browser.request(&manager);
    request
        .default_session()
        .await
        .unwrap()
        .insert("user", "alice")
        .unwrap();
    request
        .session("cart")
        .await
        .unwrap()
        .insert("items", 2)
        .unwrap();
    request
        .session("api")
        .await
        .unwrap()
        .insert("token", "t")
        .unwrap();
    assert!(matches!(
        request.session("nope").await,
        Err(Error::UnknownSession(name)) if name == "nope"
    ));
    let headers = request.save_opened().await.unwrap();
    let mut names: Vec<_> = set_cookies(&headers)
        .iter()
        .map(|cookie| cookie.name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["app_sid", "cart"]);
    assert!(headers.iter().any(|header| header.name() == "x-api"));
    assert_eq!(store.ids().len(), 2);
    browser.receive(&headers);

    let request = browser.request(&manager);
    let app = request.session("app").await.unwrap();
    let cart = request.session("cart").await.unwrap();
    let api = request.session("api").await.unwrap();
    assert_eq!(app.get::<String>("user").unwrap().as_deref(), Some("alice"));
    assert_eq!(cart.get::<u32>("items").unwrap(), Some(2));
    assert_eq!(api.get::<String>("token").unwrap().as_deref(), Some("t"));
    assert_ne!(app.id(), api.id());
}

#[tokio::test]
async fn client_side_sessions_travel_in_a_header_too() {
    let manager = SessionManager::builder(KeyRing::new(key(1)))
        .session(
            "api",
            session_config(
                Transport::Header(HeaderConfig {
                    name: "x-state".into(),
                }),
                "cookie",
                policy(),
            ),
            Backend::Cookie(CookieStoreOptions::default()),
        )
        .build()
        .unwrap();
    let mut browser = Browser::default();
    browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    assert!(browser.headers.contains_key("x-state"));
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
    let headers = browser.visit(&manager, Session::destroy).await;
    assert_eq!(headers[0].value(), "");
    assert!(browser.headers.is_empty());
}

#[tokio::test]
async fn signed_client_sessions_are_readable_but_not_changeable() {
    let manager = SessionManager::builder(KeyRing::new(key(1)))
        .session(
            "app",
            SessionConfig {
                protection: Protection::Signed,
                ..session_config(cookie_transport("sid"), "cookie", policy())
            },
            Backend::Cookie(CookieStoreOptions::default()),
        )
        .build()
        .unwrap();
    let mut browser = Browser::default();
    browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &browser.cookies["sid"],
    )
    .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // The envelope holds keys and values in clear (length-prefixed, values as JSON text).
    assert!(
        text.contains("user") && text.contains(r#""alice""#),
        "{text}"
    );
    // Changing the readable payload breaks the MAC.
    let mut forged_bytes = bytes.clone();
    let at = bytes.windows(5).position(|w| w == b"alice").unwrap();
    forged_bytes[at..at + 5].copy_from_slice(b"admin");
    let mut tampered = browser.clone();
    tampered.cookies.insert(
        "sid".into(),
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &forged_bytes,
        ),
    );
    assert_eq!(user_of(&tampered, &manager).await, None);
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn cleanup_removes_expired_server_records() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let _browser = logged_in(&store, &manager).await;
    let mut expired = Record::new(SessionId::generate(), &Expiry::default(), 0);
    expired.expires_at = 1;
    store.insert(expired.clone());
    assert_eq!(manager.cleanup().await.unwrap(), 1);
    assert_eq!(store.ids().len(), 1);
    assert!(store.record(&expired.id).is_none());
}

// ---- values that must not open ----

/// A fresh session: empty, and not the id the value was for.
async fn assert_fresh(manager: &SessionManager, browser: &Browser, not: SessionId) {
    let request = browser.request(manager);
    let session = request.default_session().await.unwrap();
    assert!(session.is_empty());
    assert_ne!(session.id(), not);
    assert!(request.save_opened().await.unwrap().is_empty());
}

#[tokio::test]
async fn values_that_do_not_open_give_a_fresh_empty_session() {
    let store = Arc::new(CountingStore::default());
    let two_sessions = |backend: fn(&Arc<CountingStore>) -> Backend, kind: &str| {
        SessionManager::builder(KeyRing::new(key(1)))
            .session(
                "app",
                session_config(cookie_transport("sid"), kind, policy()),
                backend(&store),
            )
            .session(
                "other",
                session_config(cookie_transport("other"), kind, policy()),
                backend(&store),
            )
            .default("app")
            .build()
            .unwrap()
    };
    let server: fn(&Arc<CountingStore>) -> Backend = |store| Backend::Server(store.clone());
    let client: fn(&Arc<CountingStore>) -> Backend =
        |_| Backend::Cookie(CookieStoreOptions::default());
    for (manager, kind) in [(server, "counting"), (client, "cookie")]
        .map(|(backend, kind)| (two_sessions(backend, kind), kind))
    {
        let mut browser = Browser::default();
        let mut id = None;
        let request = browser.request(&manager);
        for name in ["app", "other"] {
            let session = request.session(name).await.unwrap();
            session.insert("user", "alice").unwrap();
            id.get_or_insert(session.id());
        }
        browser.receive(&request.save_opened().await.unwrap());
        let id = id.unwrap();
        let sealed = browser.cookies["sid"].clone();

        // Tampered: one character changed.
        let mut tampered = browser.clone();
        let last = if sealed.ends_with('A') { "B" } else { "A" };
        tampered.cookies.insert(
            "sid".into(),
            format!("{}{last}", &sealed[..sealed.len() - 1]),
        );
        assert_fresh(&manager, &tampered, id).await;

        // Sealed under a key this server does not have.
        let foreign_manager = match kind {
            "cookie" => client_manager_with(KeyRing::new(key(9)), policy(), 1),
            _ => server_manager_with(
                KeyRing::new(key(9)),
                cookie_transport("sid"),
                policy(),
                &store,
            ),
        };
        let mut foreign = Browser::default();
        foreign
            .visit(&foreign_manager, |session| {
                session.insert("user", "mallory").unwrap()
            })
            .await;
        assert_fresh(&manager, &foreign, id).await;

        // Sealed for the other session name.
        let mut swapped = Browser::default();
        swapped
            .cookies
            .insert("sid".into(), browser.cookies["other"].clone());
        assert_fresh(&manager, &swapped, id).await;

        // Garbage and oversized values.
        for junk in ["", "x", "%%%", &"A".repeat(70_000)] {
            let mut junk_browser = Browser::default();
            junk_browser.cookies.insert("sid".into(), junk.to_string());
            assert_fresh(&manager, &junk_browser, id).await;
        }
    }
}

#[tokio::test]
async fn expired_values_give_a_fresh_empty_session() {
    let keys = KeyRing::new(key(1));
    let now = now_ms();
    let mut expired = Record::new(SessionId::generate(), &Expiry::default(), now - 10_000);
    expired.expires_at = now - 1;
    expired
        .data
        .insert("user".into(), crate::RawJson::to_json("alice").unwrap());

    // Client-side: the browser still sends a value whose sealed deadline has passed.
    let mut browser = Browser::default();
    browser.cookies.insert(
        "sid".into(),
        seal_record(&keys, Protection::Encrypted, "app", &expired).unwrap(),
    );
    assert_fresh(&client_manager(), &browser, expired.id).await;

    // Server-side: a valid signed id whose record is past its deadline.
    let store = Arc::new(CountingStore::default());
    store.insert(expired.clone());
    let mut browser = Browser::default();
    browser
        .cookies
        .insert("sid".into(), seal_id(&keys, "app", &expired.id).unwrap());
    assert_fresh(&server_manager(&store), &browser, expired.id).await;

    // Past the absolute deadline, however recent the activity.
    let mut absolute = expired.clone();
    absolute.expires_at = now + 3_600_000;
    absolute.absolute_deadline = Some(now - 1);
    store.insert(absolute);
    assert_fresh(&server_manager(&store), &browser, expired.id).await;
}

#[tokio::test]
async fn forged_ids_are_rejected_before_any_store_round_trip() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let mut browser = logged_in(&store, &manager).await;
    // The raw id (what an unsigned scheme would send) and a re-signed id under another key.
    let id = browser
        .request(&manager)
        .default_session()
        .await
        .unwrap()
        .id();
    store.take_ops();
    for forged in [
        id.to_string(),
        seal_id(&KeyRing::new(key(9)), "app", &id).unwrap(),
    ] {
        browser.cookies.insert("sid".into(), forged);
        assert_fresh(&manager, &browser, id).await;
    }
    assert!(store.take_ops().is_empty());
}

// ---- key rotation ----

#[tokio::test]
async fn a_server_side_id_under_an_old_key_is_resealed_without_a_store_write() {
    let store = Arc::new(CountingStore::default());
    let old = server_manager(&store);
    let mut browser = logged_in(&store, &old).await;
    let before = browser.cookies["sid"].clone();

    let rotated = server_manager_with(
        KeyRing::new(key(2)).with_old_key(key(1)),
        cookie_transport("sid"),
        policy(),
        &store,
    );
    let headers = browser
        .visit(&rotated, |session| {
            session.get::<String>("user").unwrap();
        })
        .await;
    assert_eq!(
        store.take_ops(),
        [Op::Load],
        "resealing an id needs no write"
    );
    assert_eq!(set_cookies(&headers).len(), 1);
    assert_ne!(browser.cookies["sid"], before);

    // The new cookie opens with the new key alone, so the old key can be dropped.
    let new_only = server_manager_with(
        KeyRing::new(key(2)),
        cookie_transport("sid"),
        policy(),
        &store,
    );
    assert_eq!(user_of(&browser, &new_only).await.as_deref(), Some("alice"));
    // And once resealed, nothing more is sent.
    assert!(browser.visit(&rotated, |_| {}).await.is_empty());
}

#[tokio::test]
async fn a_server_side_id_under_an_old_key_is_resealed_when_the_request_writes() {
    let store = Arc::new(CountingStore::default());
    let old = server_manager(&store);
    let mut browser = logged_in(&store, &old).await;
    let rotated = server_manager_with(
        KeyRing::new(key(2)).with_old_key(key(1)),
        cookie_transport("sid"),
        policy(),
        &store,
    );
    let headers = browser
        .visit(&rotated, |session| session.insert("n", 1).unwrap())
        .await;
    assert_eq!(store.take_ops(), [Op::Load, touched(&["n"], &[])]);
    assert_eq!(set_cookies(&headers).len(), 1, "the id is resealed");
    let new_only = server_manager_with(
        KeyRing::new(key(2)),
        cookie_transport("sid"),
        policy(),
        &store,
    );
    assert_eq!(user_of(&browser, &new_only).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn a_client_side_value_under_an_old_key_is_resealed_under_the_primary() {
    let mut browser = Browser::default();
    browser
        .visit(&client_manager(), |session| {
            session.insert("user", "alice").unwrap()
        })
        .await;
    let rotated = client_manager_with(KeyRing::new(key(2)).with_old_key(key(1)), policy(), 1);
    let headers = browser.visit(&rotated, |_| {}).await;
    assert_eq!(set_cookies(&headers).len(), 1);
    let new_only = client_manager_with(KeyRing::new(key(2)), policy(), 1);
    assert_eq!(user_of(&browser, &new_only).await.as_deref(), Some("alice"));
    assert!(browser.visit(&rotated, |_| {}).await.is_empty());
}

// ---- cookie size ----

/// Text that does not compress, so its sealed size is predictable.
fn incompressible(len: usize) -> String {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

#[tokio::test]
async fn an_oversized_client_session_is_an_error_not_a_dropped_cookie() {
    let manager = client_manager();
    let request = Browser::default().request(&manager);
    let session = request.default_session().await.unwrap();
    session.insert("small", 1).unwrap();
    // Refused where the handler makes the change, not after it: the session keeps what it had.
    let error = session.insert("blob", incompressible(3500)).unwrap_err();
    match &error {
        Error::SessionTooLarge { name, size, limit } => {
            assert_eq!(name, "app");
            assert!(*size > *limit && *limit < COOKIE_SIZE_LIMIT);
        }
        other => panic!("expected SessionTooLarge, got {other:?}"),
    }
    assert_eq!(error.status(), 413);
    assert_eq!(session.keys(), ["small"]);
    // A value replaced past the limit keeps the one it had.
    assert!(matches!(
        session.insert("small", incompressible(3500)),
        Err(Error::SessionTooLarge { .. })
    ));
    assert_eq!(session.get::<u32>("small").unwrap(), Some(1));
    let headers = request.save_opened().await.unwrap();
    assert!(headers[0].value().len() <= COOKIE_SIZE_LIMIT);
    let flash =
        (0..100).try_for_each(|_| session.flash(crate::FlashLevel::Info, incompressible(100)));
    assert!(matches!(flash, Err(Error::SessionTooLarge { .. })));

    // Just under the limit still fits one cookie.
    let request = Browser::default().request(&manager);
    let session = request.default_session().await.unwrap();
    session.insert("blob", incompressible(2500)).unwrap();
    let headers = request.save_opened().await.unwrap();
    assert!(headers[0].value().len() <= COOKIE_SIZE_LIMIT);
}

#[tokio::test]
async fn overlapping_responses_never_leave_chunks_that_do_not_open_together() {
    let manager = client_manager_with(KeyRing::new(key(1)), policy(), 4);
    let mut browser = Browser::default();
    browser
        .visit(&manager, |session| {
            session.insert("cart", "one item").unwrap()
        })
        .await;
    // Two tabs send the same one-chunk cart: R1 grows it to two chunks, R2 writes one.
    let (r1, r2) = (browser.request(&manager), browser.request(&manager));
    r1.default_session()
        .await
        .unwrap()
        .insert("cart", incompressible(5000))
        .unwrap();
    r2.default_session()
        .await
        .unwrap()
        .insert("note", "small")
        .unwrap();
    let grown = r1.save_opened().await.unwrap();
    let small = r2.save_opened().await.unwrap();
    browser.receive(&grown);
    browser.receive(&small);
    assert_eq!(
        browser.cookies.keys().collect::<Vec<_>>(),
        ["sid"],
        "the later response must expire the chunk the earlier one set"
    );
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    assert_eq!(
        session.get::<String>("note").unwrap().as_deref(),
        Some("small")
    );
}

#[tokio::test]
async fn large_client_sessions_are_split_into_chunks_and_reassembled() {
    let manager = client_manager_with(KeyRing::new(key(1)), policy(), 3);
    let mut browser = Browser::default();
    let blob = incompressible(5000);
    let headers = browser
        .visit(&manager, |session| session.insert("blob", &blob).unwrap())
        .await;
    let names: Vec<_> = set_cookies(&headers)
        .iter()
        .map(|cookie| cookie.name().to_string())
        .collect();
    // Every other chunk name the session may use is expired: an overlapping response may have
    // left one in the browser.
    assert_eq!(names, ["sid", "sid.1", "sid.2"]);
    assert!(is_removal(&set_cookies(&headers)[2]));
    for header in &headers {
        assert!(
            header.value().len() <= COOKIE_SIZE_LIMIT,
            "{}",
            header.value().len()
        );
        assert!(header.value().contains("HttpOnly"));
    }
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    assert_eq!(
        session.get::<String>("blob").unwrap().as_deref(),
        Some(&*blob)
    );
    drop(request);

    // Three chunks at most: more is refused where the handler makes the change, and what does
    // fit the three chunks is sent.
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    assert!(matches!(
        session.insert("blob", incompressible(12_000)),
        Err(Error::SessionTooLarge { .. })
    ));
    session.insert("blob", incompressible(8_500)).unwrap();
    let filled = request.save_opened().await.unwrap();
    assert_eq!(
        set_cookies(&filled)
            .iter()
            .filter(|c| !is_removal(c))
            .count(),
        3
    );

    // Shrinking back to one cookie expires the stale chunk.
    let headers = browser
        .visit(&manager, |session| session.insert("blob", "small").unwrap())
        .await;
    let cookies = set_cookies(&headers);
    assert_eq!(cookies.len(), 3);
    assert_eq!(cookies[0].name(), "sid");
    assert!(!is_removal(&cookies[0]));
    assert_eq!(cookies[1].name(), "sid.1");
    assert!(is_removal(&cookies[1]) && is_removal(&cookies[2]));
    assert_eq!(browser.cookies.keys().collect::<Vec<_>>(), ["sid"]);
    assert_eq!(
        browser
            .request(&manager)
            .default_session()
            .await
            .unwrap()
            .get::<String>("blob")
            .unwrap()
            .as_deref(),
        Some("small")
    );
}

#[tokio::test]
async fn stray_chunk_cookies_are_expired_and_do_not_corrupt_later_sessions() {
    let manager = client_manager_with(KeyRing::new(key(1)), policy(), 3);
    let mut browser = Browser::default();
    browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    // A chunk left behind from an earlier, longer session (its sibling `sid.1` already gone).
    browser.cookies.insert("sid.2".into(), "QUFBQQ".into());
    let headers = browser
        .visit(&manager, |session| session.insert("n", 1).unwrap())
        .await;
    assert!(
        set_cookies(&headers)
            .iter()
            .any(|cookie| cookie.name() == "sid.2" && is_removal(cookie)),
        "{headers:?}"
    );
    assert_eq!(browser.cookies.keys().collect::<Vec<_>>(), ["sid"]);
    // Had it stayed, a later two-chunk session would be read as sid + sid.1 + sid.2.
    browser
        .visit(&manager, |session| {
            session.insert("blob", incompressible(5000)).unwrap()
        })
        .await;
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn only_canonical_chunk_names_are_read_as_chunks() {
    let manager = client_manager_with(KeyRing::new(key(1)), policy(), 3);
    let mut browser = Browser::default();
    browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    for alias in ["sid.01", "sid.+1", "sid.0", "sid.3", "sid.1a"] {
        let mut with_alias = browser.clone();
        with_alias.cookies.insert(alias.into(), "QUFBQQ".into());
        assert_eq!(
            user_of(&with_alias, &manager).await.as_deref(),
            Some("alice"),
            "{alias:?} was read as a chunk"
        );
    }
}

#[tokio::test]
async fn destroying_a_chunked_session_expires_every_chunk() {
    let manager = client_manager_with(KeyRing::new(key(1)), policy(), 3);
    let mut browser = Browser::default();
    browser
        .visit(&manager, |session| {
            session.insert("blob", incompressible(5000)).unwrap()
        })
        .await;
    assert_eq!(browser.cookies.len(), 2);
    let headers = browser.visit(&manager, Session::destroy).await;
    assert!(set_cookies(&headers).iter().all(is_removal));
    assert!(browser.cookies.is_empty());
}

// ---- store failures ----

#[tokio::test]
async fn store_errors_on_load_and_on_finish_surface_as_store_errors() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let browser = logged_in(&store, &manager).await;

    store.fail_loads.store(true, Ordering::SeqCst);
    let request = browser.request(&manager);
    assert!(matches!(
        request.default_session().await,
        Err(Error::Store(_))
    ));
    store.fail_loads.store(false, Ordering::SeqCst);

    store.fail_writes.store(true, Ordering::SeqCst);
    let request = browser.request(&manager);
    request
        .default_session()
        .await
        .unwrap()
        .insert("n", 1)
        .unwrap();
    assert!(matches!(request.save_opened().await, Err(Error::Store(_))));
    let request = Browser::default().request(&manager);
    request
        .default_session()
        .await
        .unwrap()
        .insert("n", 1)
        .unwrap();
    assert!(matches!(request.save_opened().await, Err(Error::Store(_))));
}

// ---- concurrency ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_changing_different_keys_all_persist() {
    const REQUESTS: usize = 50;
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let browser = logged_in(&store, &manager).await;
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|index| {
            let manager = manager.clone();
            let browser = browser.clone();
            tokio::spawn(async move {
                let request = browser.request(&manager);
                let session = request.default_session().await.unwrap();
                tokio::task::yield_now().await;
                session.insert(format!("key{index}"), index).unwrap();
                request.save_opened().await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    for index in 0..REQUESTS {
        assert_eq!(
            session.get::<usize>(&format!("key{index}")).unwrap(),
            Some(index),
            "key{index} was lost"
        );
    }
    assert_eq!(
        session.get::<String>("user").unwrap().as_deref(),
        Some("alice")
    );
}

// ---- configuration through the registry ----

#[tokio::test]
async fn an_unknown_store_type_names_the_session_and_the_registered_types() {
    let config = SessionsConfig::from_toml(
        "[sessions.app]\ntransport = { type = \"cookie\", name = \"sid\" }\nstore = { type = \"redis\" }",
    )
    .unwrap();
    let mut registry = StoreRegistry::new();
    registry.register("counting", |_| async {
        Ok(Backend::Server(Arc::new(CountingStore::default())))
    });
    let error = SessionManager::from_config(&config, &registry, KeyRing::new(key(1)))
        .await
        .unwrap_err();
    assert!(matches!(error, ConfigError::UnknownStore { .. }));
    let message = error.to_string();
    for needle in ["session `app`", "`redis`", "cookie", "counting"] {
        assert!(message.contains(needle), "{message}");
    }
}

#[tokio::test]
async fn bad_cookie_store_options_name_the_field() {
    for (options, field) in [
        ("max_chunks = 0", "max_chunks"),
        ("max_chunks = 99", "max_chunks"),
        ("max_chunk = 2", "max_chunk"),
        ("max_chunks = \"two\"", "max_chunks"),
    ] {
        let config = SessionsConfig::from_toml(&format!(
            "[sessions.cart]\ntransport = {{ type = \"cookie\", name = \"cart\" }}\nstore = {{ type = \"cookie\", {options} }}"
        ))
        .unwrap();
        let error =
            SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::new(key(1)))
                .await
                .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("session `cart`") && message.contains(field),
            "{options}: {message}"
        );
    }
}

#[tokio::test]
async fn a_configured_manager_builds_each_store_through_the_registry() {
    let config = SessionsConfig::from_toml(
        "default = \"app\"\n[sessions.app]\ntransport = { type = \"cookie\", name = \"sid\" }\nstore = { type = \"counting\" }\n[sessions.cart]\ntransport = { type = \"cookie\", name = \"cart\" }\nstore = { type = \"cookie\", max_chunks = 2 }",
    )
    .unwrap();
    let mut registry = StoreRegistry::new();
    registry.register("counting", |_| async {
        Ok(Backend::Server(Arc::new(CountingStore::default())))
    });
    let manager = SessionManager::from_config(&config, &registry, KeyRing::new(key(1)))
        .await
        .unwrap();
    assert_eq!(manager.default_name(), "app");
    assert!(matches!(manager.backend("app"), Some(Backend::Server(_))));
    assert!(matches!(
        manager.backend("cart"),
        Some(Backend::Cookie(CookieStoreOptions { max_chunks: 2 }))
    ));
}

/// A cookie session `web` and a header session `api`, both client-side.
async fn web_and_api_manager() -> SessionManager {
    let config = SessionsConfig::from_toml(
        "default = \"web\"\n[sessions.web]\ntransport = { type = \"cookie\", name = \"sid\" }\nstore = { type = \"cookie\" }\n[sessions.api]\ntransport = { type = \"header\", name = \"X-Api-Session\" }\nstore = { type = \"cookie\" }",
    )
    .unwrap();
    SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::new(key(1)))
        .await
        .unwrap()
}

#[tokio::test]
async fn session_header_names_are_the_headers_request_reads() {
    let manager = web_and_api_manager().await;
    let listed: Vec<&str> = manager.session_header_names().collect();
    let asked = std::cell::RefCell::new(Vec::new());
    manager.request(std::iter::empty(), |name| {
        asked.borrow_mut().push(name.to_string());
        None
    });
    assert_eq!(listed, ["x-api-session"]);
    assert_eq!(asked.into_inner(), listed);
}

/// The `web` cookie (user alice) and `x-api-session` header value (user bob) of one request.
async fn alice_and_bob(manager: &SessionManager) -> (String, String) {
    let first = manager.request(None, |_| None);
    for (name, user) in [("web", "alice"), ("api", "bob")] {
        first
            .session(name)
            .await
            .unwrap()
            .insert("user", user)
            .unwrap();
    }
    let headers = first.save_opened().await.unwrap();
    let cookie = set_cookies(&headers)[0].stripped().to_string();
    let api = headers
        .iter()
        .find(|header| header.name() == "x-api-session")
        .unwrap()
        .value()
        .to_string();
    (cookie, api)
}

#[tokio::test]
async fn kept_headers_open_the_same_sessions_later() {
    let manager = web_and_api_manager().await;
    let (cookie, api) = alice_and_bob(&manager).await;

    let kept = manager.defer(vec![cookie.clone()], |name| {
        (name == "x-api-session").then(|| api.clone())
    });
    assert!(kept.has_cookie_header());
    let later = kept.get_or_scan(String::as_bytes, Vec::new);
    let user = |name: &'static str| async move {
        later
            .session(name)
            .await
            .unwrap()
            .get::<String>("user")
            .unwrap()
    };
    assert_eq!(user("web").await.as_deref(), Some("alice"));
    assert_eq!(user("api").await.as_deref(), Some("bob"));
    assert!(!format!("{kept:?}").contains(&api), "Debug shows no value");

    // A pair that is not UTF-8 (a sibling application's cookie) is skipped alone: the session
    // cookie beside it still opens, before or after it.
    for header in [
        [b"legacy=caf\xe9; ".as_slice(), cookie.as_bytes()].concat(),
        [cookie.as_bytes(), b"; other=\xff".as_slice()].concat(),
    ] {
        let kept = manager.defer(vec![header], |_| None);
        let readable = kept.get_or_scan(Vec::as_slice, Vec::new);
        let web = readable.session("web").await.unwrap();
        assert_eq!(web.get::<String>("user").unwrap().as_deref(), Some("alice"));
    }
}

#[tokio::test]
async fn a_junk_duplicate_before_the_real_cookie_does_not_shadow_it() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let mut browser = Browser::default();
    browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    let real = format!("sid={}", browser.cookies["sid"]);
    let quoted = format!("sid=\"{}\"", browser.cookies["sid"]);
    for header in [
        format!("sid=junk; {real}"),
        format!("sid=; {real}"),
        format!("{real}; sid=junk"),
        quoted,
    ] {
        let request = manager.request(Some(header.as_str()), |_| None);
        let session = request.default_session().await.unwrap();
        assert_eq!(
            session.get::<String>("user").unwrap().as_deref(),
            Some("alice"),
            "{header}"
        );
    }
}

#[tokio::test]
async fn deferred_sessions_scan_once_when_first_asked() {
    let manager = web_and_api_manager().await;
    let (cookie, _) = alice_and_bob(&manager).await;

    // The cookie comes as an extra value (a framework's own cookie store), not a kept header.
    let deferred = manager.defer(Vec::<String>::new(), |_| None);
    assert!(!deferred.has_cookie_header());
    assert!(
        deferred.scanned().is_none(),
        "nothing is scanned until asked"
    );
    let calls = std::cell::Cell::new(0);
    let extra = || {
        calls.set(calls.get() + 1);
        vec![cookie.clone()]
    };
    let sessions = Arc::clone(deferred.get_or_scan(String::as_bytes, extra));
    let again = deferred.get_or_scan(String::as_bytes, || vec![cookie.clone()]);
    assert!(Arc::ptr_eq(&sessions, again), "one scan per request");
    assert_eq!(calls.get(), 1);
    assert!(deferred.scanned().is_some());
    let web = sessions.session("web").await.unwrap();
    assert_eq!(web.get::<String>("user").unwrap().as_deref(), Some("alice"));
}

// ---- hostile requests ----

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn hostile_cookie_and_header_values_give_an_empty_session(
        cookie_header in ".{0,300}",
        chunk in ".{0,100}",
        header_value in ".{0,300}",
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let store = Arc::new(CountingStore::default());
            let manager = SessionManager::builder(KeyRing::new(key(1)))
                .session(
                    "app",
                    session_config(cookie_transport("sid"), "counting", policy()),
                    Backend::Server(store.clone()),
                )
                .session(
                    "cart",
                    session_config(cookie_transport("cart"), "cookie", policy()),
                    Backend::Cookie(CookieStoreOptions { max_chunks: 3 }),
                )
                .session(
                    "api",
                    session_config(
                        Transport::Header(HeaderConfig { name: "x-api".into() }),
                        "cookie",
                        policy(),
                    ),
                    Backend::Cookie(CookieStoreOptions::default()),
                )
                .default("app")
                .build()
                .unwrap();
            let chunked = format!("sid={chunk}; cart={chunk}; cart.1={chunk}; cart.2={cookie_header}");
            let request = manager.request(
                [cookie_header.as_str(), chunked.as_str()],
                |name| (name == "x-api").then_some(header_value.as_str()),
            );
            for name in ["app", "cart", "api"] {
                let session = request.session(name).await.unwrap();
                assert!(session.is_empty());
            }
            assert!(request.save_opened().await.is_ok());
            assert!(store.ids().is_empty());
        });
    }
}
