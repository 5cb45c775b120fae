//! Two requests of one browser, interleaved through the manager at their await points, against
//! the store under test: what the contract's atomic operations must add up to.

use std::sync::Arc;

use session_core::{
    Backend, CookieConfig, KeyRing, RequestSessions, ResponseHeader, Session, SessionConfig,
    SessionManager, Store, StoreConfig, Transport,
};

const COOKIE: &str = "conformance_session";

/// Runs every interleaving against `store`, panicking on the first failure.
pub(crate) async fn run(store: &Arc<dyn Store>) {
    let browser = Browser::new(store);
    browser
        .regenerate_racing_destroy_brings_nothing_back()
        .await;
    browser
        .regenerate_keeps_an_update_that_reached_the_store_first()
        .await;
    browser.two_regenerates_leave_one_live_session().await;
}

struct Browser {
    manager: SessionManager,
    store: Arc<dyn Store>,
}

/// What a response did to the session cookie.
#[derive(Debug, PartialEq, Eq)]
enum CookieChange {
    Untouched,
    Set(String),
    Expired,
}

fn fail(check: &str, what: impl std::fmt::Display) -> ! {
    panic!("store conformance: interleaving {check}: {what}")
}

impl Browser {
    fn new(store: &Arc<dyn Store>) -> Self {
        let config = SessionConfig::new(
            Transport::Cookie(CookieConfig::new(COOKIE)),
            StoreConfig::new("under-test"),
        );
        let manager = match SessionManager::builder(KeyRing::generate())
            .session("app", config, Backend::Server(Arc::clone(store)))
            .build()
        {
            Ok(manager) => manager,
            Err(error) => fail("setup", error),
        };
        Browser {
            manager,
            store: Arc::clone(store),
        }
    }

    /// A request carrying `cookie` (a `name=value` pair), with its session opened.
    async fn open(&self, cookie: Option<&str>, check: &str) -> (RequestSessions, Session) {
        let request = self.manager.request(cookie, |_| None);
        match request.default_session().await {
            Ok(session) => (request, session),
            Err(error) => fail(check, format_args!("opening the session failed: {error}")),
        }
    }

    async fn finish(&self, request: RequestSessions, check: &str) -> CookieChange {
        let headers = match self.manager.save_request(request).await {
            Ok(headers) => headers,
            Err(error) => fail(check, format_args!("finishing the request failed: {error}")),
        };
        let mut change = CookieChange::Untouched;
        for header in headers.iter().filter_map(|h| match h {
            ResponseHeader::SetCookie(value) => Some(value),
            _ => None,
        }) {
            let pair = header.split(';').next().unwrap_or_default();
            if let Some(value) = pair.strip_prefix(&format!("{COOKIE}=")) {
                change = if value.is_empty() {
                    CookieChange::Expired
                } else {
                    CookieChange::Set(pair.to_string())
                };
            }
        }
        change
    }

    /// A logged-in session: its cookie.
    async fn login(&self, check: &str) -> String {
        let (request, session) = self.open(None, check).await;
        if let Err(error) = session.insert("user", "alice") {
            fail(check, error);
        }
        match self.finish(request, check).await {
            CookieChange::Set(cookie) => cookie,
            other => fail(check, format_args!("login set no cookie: {other:?}")),
        }
    }

    async fn user_of(&self, cookie: &str, check: &str) -> Option<String> {
        let (_, session) = self.open(Some(cookie), check).await;
        match session.get::<String>("user") {
            Ok(user) => user,
            Err(error) => fail(check, error),
        }
    }

    async fn count(&self, check: &str) -> u64 {
        match self.store.count().await {
            Ok(count) => count,
            Err(error) => fail(check, format_args!("count failed: {error}")),
        }
    }

    /// A logs out while B, which loaded the session before, regenerates it: the logout holds.
    async fn regenerate_racing_destroy_brings_nothing_back(&self) {
        let check = "regenerate racing destroy";
        let cookie = self.login(check).await;
        let before = self.count(check).await;
        let (a, logout) = self.open(Some(&cookie), check).await;
        let (b, relogin) = self.open(Some(&cookie), check).await;

        logout.destroy();
        if self.finish(a, check).await != CookieChange::Expired {
            fail(check, "the logout did not expire the cookie");
        }
        relogin.regenerate_id();
        if let Err(error) = relogin.insert("role", "admin") {
            fail(check, error);
        }
        let late = self.finish(b, check).await;
        if late != CookieChange::Untouched {
            fail(
                check,
                format_args!(
                    "a regenerate of a session another request destroyed must set no cookie, got {late:?}"
                ),
            );
        }
        if self.count(check).await != before - 1 {
            fail(
                check,
                "the regenerate brought a destroyed session back as a new record",
            );
        }
        if self.user_of(&cookie, check).await.is_some() {
            fail(check, "the old cookie still opens the destroyed session");
        }
    }

    /// B saves a change, then A regenerates from its older copy: the new session keeps B's
    /// change, and the old id is gone.
    async fn regenerate_keeps_an_update_that_reached_the_store_first(&self) {
        let check = "update then regenerate";
        let cookie = self.login(check).await;
        let (a, regenerating) = self.open(Some(&cookie), check).await;
        let (b, updating) = self.open(Some(&cookie), check).await;

        if let Err(error) = updating.insert("theme", "dark") {
            fail(check, error);
        }
        self.finish(b, check).await;
        regenerating.regenerate_id();
        if let Err(error) = regenerating.insert("step", 2) {
            fail(check, error);
        }
        let CookieChange::Set(fresh) = self.finish(a, check).await else {
            fail(check, "the regenerate set no new cookie");
        };
        let (_, moved) = self.open(Some(&fresh), check).await;
        let theme = moved.get::<String>("theme").ok().flatten();
        let step = moved.get::<u32>("step").ok().flatten();
        let user = moved.get::<String>("user").ok().flatten();
        if (theme.as_deref(), step, user.as_deref()) != (Some("dark"), Some(2), Some("alice")) {
            fail(
                check,
                format_args!(
                    "the regenerated session must hold the stored values, the other request's \
                     update and its own change; got theme {theme:?}, step {step:?}, user {user:?}"
                ),
            );
        }
        if self.user_of(&cookie, check).await.is_some() {
            fail(check, "the old id still opens after regenerate");
        }
    }

    /// Two requests regenerate one session at once: exactly one new session lives.
    async fn two_regenerates_leave_one_live_session(&self) {
        let check = "two regenerates";
        let cookie = self.login(check).await;
        let before = self.count(check).await;
        let (a, first) = self.open(Some(&cookie), check).await;
        let (b, second) = self.open(Some(&cookie), check).await;
        first.regenerate_id();
        second.regenerate_id();
        let won = self.finish(a, check).await;
        let lost = self.finish(b, check).await;
        let CookieChange::Set(fresh) = won else {
            fail(
                check,
                format_args!("the first regenerate set no cookie: {won:?}"),
            );
        };
        if lost != CookieChange::Untouched {
            fail(
                check,
                format_args!(
                    "the second regenerate of a moved session must set no cookie, got {lost:?}"
                ),
            );
        }
        if self.count(check).await != before {
            fail(check, "two regenerates must leave exactly one live session");
        }
        if self.user_of(&fresh, check).await.as_deref() != Some("alice") {
            fail(check, "the regenerated session lost its values");
        }
    }
}
