//! Two requests of one browser, interleaved through the manager at their await points, against
//! the store under test: what the contract's atomic operations must add up to.

use std::sync::Arc;

use session_core::{
    Backend, ClientInfo, CookieConfig, Error, KeyRing, OwnersConfig, RequestSessions,
    ResponseHeader, Session, SessionConfig, SessionId, SessionManager, Store, StoreConfig,
    Transport, WhenFull,
};

const COOKIE: &str = "conformance_session";
const NAME: &str = "app";

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
    browser.a_login_lists_its_device().await;
    browser
        .revoking_the_others_ends_a_session_regenerated_before_or_after()
        .await;
    browser
        .revoking_one_device_holds_against_its_own_update()
        .await;
    browser
        .logins_racing_at_the_cap_never_leave_more_than_the_cap()
        .await;
    browser
        .a_revocation_racing_a_login_ends_what_it_began_with()
        .await;
}

/// The cap of the racing-logins check.
const CAP: u32 = 2;

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

/// Sets `key` to `value` in `session`; `check` fails when the session refuses it.
fn insert(session: &Session, key: &str, value: impl serde::Serialize, check: &str) {
    if let Err(error) = session.insert(key, value) {
        fail(check, error);
    }
}

impl Browser {
    fn new(store: &Arc<dyn Store>) -> Self {
        let config = SessionConfig::new(
            Transport::Cookie(CookieConfig::new(COOKIE)),
            StoreConfig::new("under-test"),
        );
        let manager = match SessionManager::builder(KeyRing::generate())
            .session(NAME, config, Backend::Server(Arc::clone(store)))
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
        insert(&session, "user", "alice", check);
        match self.finish(request, check).await {
            CookieChange::Set(cookie) => cookie,
            other => fail(check, format_args!("login set no cookie: {other:?}")),
        }
    }

    /// Two requests that both load the session of `cookie`, the first before the second.
    async fn open_twice(&self, cookie: &str, check: &str) -> [(RequestSessions, Session); 2] {
        [
            self.open(Some(cookie), check).await,
            self.open(Some(cookie), check).await,
        ]
    }

    /// A login's cookie, the store's count after it, and two requests that both load its
    /// session (see [`open_twice`](Self::open_twice)).
    async fn login_and_open_twice(
        &self,
        check: &str,
    ) -> (String, u64, [(RequestSessions, Session); 2]) {
        let cookie = self.login(check).await;
        let before = self.count(check).await;
        let requests = self.open_twice(&cookie, check).await;
        (cookie, before, requests)
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
        let (cookie, before, [(a, logout), (b, relogin)]) = self.login_and_open_twice(check).await;

        logout.destroy();
        if self.finish(a, check).await != CookieChange::Expired {
            fail(check, "the logout did not expire the cookie");
        }
        relogin.regenerate_id();
        insert(&relogin, "role", "admin", check);
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
        let [(a, regenerating), (b, updating)] = self.open_twice(&cookie, check).await;

        insert(&updating, "theme", "dark", check);
        self.finish(b, check).await;
        regenerating.regenerate_id();
        insert(&regenerating, "step", 2, check);
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
        let (_, before, [(a, first), (b, second)]) = self.login_and_open_twice(check).await;
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
    /// A login of a fresh owner on a new browser telling `agent`: the owner and the cookie.
    async fn login_as(&self, owner: &str, agent: &str, check: &str) -> String {
        let (request, session) = self.open(None, check).await;
        session.regenerate_id();
        if let Err(error) = session.set_owner(owner) {
            fail(check, error);
        }
        insert(&session, "user", owner, check);
        request.set_client_info(ClientInfo {
            user_agent: Some(agent.into()),
            ip: None,
        });
        match self.finish(request, check).await {
            CookieChange::Set(cookie) => cookie,
            other => fail(check, format_args!("login set no cookie: {other:?}")),
        }
    }

    /// A fresh owner (named after `prefix`) logged in on a phone (`Phone/1`), then on a laptop
    /// (`Laptop/2`): the owner, and the phone's and the laptop's cookies.
    async fn phone_and_laptop(&self, prefix: &str, check: &str) -> (String, String, String) {
        let owner = fresh_owner(prefix);
        let phone = self.login_as(&owner, "Phone/1", check).await;
        let laptop = self.login_as(&owner, "Laptop/2", check).await;
        (owner, phone, laptop)
    }

    async fn id_of(&self, cookie: &str, check: &str) -> SessionId {
        self.open(Some(cookie), check).await.1.id()
    }

    async fn owner_of(&self, cookie: &str, check: &str) -> Option<String> {
        self.open(Some(cookie), check).await.1.owner()
    }

    /// Fails `check`, saying `what`, unless the session `cookie` opens is bound to `owner`
    /// (`None`: to no one).
    async fn expect_owner(&self, cookie: &str, owner: Option<&str>, check: &str, what: &str) {
        if self.owner_of(cookie, check).await.as_deref() != owner {
            fail(check, what);
        }
    }

    /// The handles of `owner`'s sessions the manager lists, sorted.
    async fn handles(&self, owner: &str, check: &str) -> Vec<String> {
        match self.manager.owner_sessions(NAME, owner, None).await {
            Ok(sessions) => {
                let mut handles: Vec<String> = sessions.into_iter().map(|s| s.handle).collect();
                handles.sort();
                handles
            }
            Err(error) => fail(check, format_args!("listing the owner failed: {error}")),
        }
    }

    async fn revoke_others(&self, owner: &str, keep: &SessionId, check: &str) -> u64 {
        match self.manager.revoke_others(NAME, owner, keep).await {
            Ok(ended) => ended,
            Err(error) => fail(
                check,
                format_args!("ending the other devices failed: {error}"),
            ),
        }
    }

    /// A login's device record (its client's `User-Agent`) is listed with its session, marked
    /// current for the request that holds it.
    async fn a_login_lists_its_device(&self) {
        let check = "a login lists its device";
        let (owner, phone, laptop) = self.phone_and_laptop("device", check).await;
        let current = self.id_of(&laptop, check).await;
        let listed = match self
            .manager
            .owner_sessions(NAME, &owner, Some(&current))
            .await
        {
            Ok(listed) => listed,
            Err(error) => fail(check, format_args!("listing the owner failed: {error}")),
        };
        let mut agents: Vec<(Option<String>, bool)> = listed
            .iter()
            .map(|s| {
                let agent = s.device.as_ref().and_then(|d| d.user_agent.clone());
                (agent, s.current)
            })
            .collect();
        agents.sort();
        let expected = vec![
            (Some("Laptop/2".to_string()), true),
            (Some("Phone/1".to_string()), false),
        ];
        if agents != expected {
            fail(
                check,
                format_args!(
                    "the listing must hold both logins' device records, the laptop's current; \
                     got {agents:?}"
                ),
            );
        }
        if self.user_of(&phone, check).await.as_deref() != Some(owner.as_str()) {
            fail(check, "listing the devices changed a session");
        }
        self.revoke_owner(&owner, check).await;
    }

    /// The laptop ends the other devices while the phone regenerates its session: whether the
    /// regenerate lands before the revocation or after it, the phone ends up logged out and the
    /// laptop stays.
    async fn revoking_the_others_ends_a_session_regenerated_before_or_after(&self) {
        let check = "ending the other devices racing a regenerate";
        for regenerate_first in [true, false] {
            let (owner, phone, laptop) = self.phone_and_laptop("others", check).await;
            let keep = self.id_of(&laptop, check).await;
            let (request, session) = self.open(Some(&phone), check).await;
            session.regenerate_id();
            insert(&session, "step", 2, check);
            let (moved, ended) = if regenerate_first {
                let moved = self.finish(request, check).await;
                (moved, self.revoke_others(&owner, &keep, check).await)
            } else {
                let ended = self.revoke_others(&owner, &keep, check).await;
                (self.finish(request, check).await, ended)
            };
            if ended != 1 {
                fail(
                    check,
                    format_args!("one other device must be ended and counted, got {ended}"),
                );
            }
            let phone_cookies = match &moved {
                CookieChange::Set(fresh) if regenerate_first => vec![phone.clone(), fresh.clone()],
                CookieChange::Set(_) => fail(
                    check,
                    "a regenerate of a session ended by the revocation must set no cookie",
                ),
                _ if regenerate_first => fail(
                    check,
                    format_args!("the regenerate before the revocation set no cookie: {moved:?}"),
                ),
                _ => vec![phone.clone()],
            };
            for cookie in &phone_cookies {
                let what = format!(
                    "the phone is still logged in after the other devices were ended \
                     (regenerate first: {regenerate_first})"
                );
                self.expect_owner(cookie, None, check, &what).await;
            }
            if self.handles(&owner, check).await != vec![keep.storage_key()] {
                fail(check, "the laptop's session must be all the owner has left");
            }
            let what = "the laptop, which ended the others, was logged out";
            self.expect_owner(&laptop, Some(&owner), check, what).await;
            self.revoke_owner(&owner, check).await;
        }
    }

    /// The laptop ends the phone's session while a phone request that loaded it saves a change:
    /// whichever lands first, the phone stays logged out and its session does not come back.
    async fn revoking_one_device_holds_against_its_own_update(&self) {
        let check = "ending one device racing its update";
        for update_first in [true, false] {
            let (owner, phone, laptop) = self.phone_and_laptop("one", check).await;
            let handle = self.id_of(&phone, check).await.storage_key();
            let before = self.count(check).await;
            let (request, session) = self.open(Some(&phone), check).await;
            insert(&session, "theme", "dark", check);
            let revoke = || async {
                match self.manager.revoke_session(NAME, &owner, &handle).await {
                    Ok(ended) => ended,
                    Err(error) => fail(check, format_args!("ending the device failed: {error}")),
                }
            };
            let ended = if update_first {
                self.finish(request, check).await;
                revoke().await
            } else {
                let ended = revoke().await;
                self.finish(request, check).await;
                ended
            };
            if !ended {
                fail(check, "the phone's live session must be ended");
            }
            let what = format!("the ended phone is still logged in (update first: {update_first})");
            self.expect_owner(&phone, None, check, &what).await;
            if self.count(check).await != before - 1 {
                fail(
                    check,
                    "an update of an ended session must not bring it back as a new record",
                );
            }
            let laptop_key = self.id_of(&laptop, check).await.storage_key();
            if self.handles(&owner, check).await != vec![laptop_key] {
                fail(check, "the laptop's session must be all the owner has left");
            }
            self.revoke_owner(&owner, check).await;
        }
    }

    /// Rounds of three logins of one owner at once, each its own task, against a cap of
    /// [`CAP`]: after every round the owner has at most the cap and at least one session; with
    /// `end_least_recent` no login is refused, with `refuse` the refused ones answer
    /// `TooManySessions`.
    async fn logins_racing_at_the_cap_never_leave_more_than_the_cap(&self) {
        let check = "logins racing at the owner's cap";
        for when_full in [WhenFull::EndLeastRecent, WhenFull::Refuse] {
            let owners = OwnersConfig {
                max_sessions: Some(CAP),
                when_full,
                ..OwnersConfig::default()
            };
            let config = SessionConfig::new(
                Transport::Cookie(CookieConfig::new(COOKIE)),
                StoreConfig::new("under-test"),
            );
            let capped = match SessionManager::builder(KeyRing::generate())
                .session(
                    NAME,
                    SessionConfig { owners, ..config },
                    Backend::Server(Arc::clone(&self.store)),
                )
                .build()
            {
                Ok(manager) => manager,
                Err(error) => fail(check, error),
            };
            let owner = fresh_owner("cap");
            for _round in 0..4 {
                let tasks: Vec<_> = (0..3)
                    .map(|_| {
                        let (manager, owner) = (capped.clone(), owner.clone());
                        tokio::spawn(async move {
                            let request = manager.request(None, |_| None);
                            request.default_session().await?.login(owner)?;
                            manager.save_request(request).await.map(drop)
                        })
                    })
                    .collect();
                let mut refused = 0;
                for task in tasks {
                    match task.await {
                        Ok(Ok(())) => {}
                        Ok(Err(Error::TooManySessions { .. })) => refused += 1,
                        Ok(Err(error)) => fail(check, format_args!("a login failed: {error}")),
                        Err(error) => fail(check, format_args!("a login panicked: {error}")),
                    }
                }
                let live = self.handles(&owner, check).await.len();
                if live > CAP as usize || live == 0 {
                    fail(
                        check,
                        format_args!("{when_full:?}: {live} live sessions, cap {CAP}"),
                    );
                }
                if when_full == WhenFull::EndLeastRecent && refused > 0 {
                    fail(check, "end_least_recent refused a login");
                }
            }
            self.revoke_owner(&owner, check).await;
        }
    }

    /// "Log out everywhere" while a new device logs in as the same owner: the sessions bound
    /// when the revocation began all end; a login that stores its binding after the revocation
    /// stays logged in, one that stored it before is ended with the rest.
    async fn a_revocation_racing_a_login_ends_what_it_began_with(&self) {
        let check = "a revocation racing a login";
        for login_saves_first in [true, false] {
            let owner = fresh_owner("racing-login");
            let phone = self.login_as(&owner, "Phone/1", check).await;
            let (request, session) = self.open(None, check).await;
            if let Err(error) = session.login(owner.clone()) {
                fail(check, error);
            }
            let laptop = if login_saves_first {
                let laptop = self.finish(request, check).await;
                self.revoke_owner(&owner, check).await;
                laptop
            } else {
                self.revoke_owner(&owner, check).await;
                self.finish(request, check).await
            };
            let CookieChange::Set(laptop) = laptop else {
                fail(check, format_args!("the login set no cookie: {laptop:?}"));
            };
            let what = "a session bound when the revocation began is still logged in";
            self.expect_owner(&phone, None, check, what).await;
            let laptop_owner = self.owner_of(&laptop, check).await;
            let expected = (!login_saves_first).then_some(owner.as_str());
            if laptop_owner.as_deref() != expected {
                fail(
                    check,
                    format_args!(
                        "login saved first: {login_saves_first}; the new device's owner is \
                         {laptop_owner:?}, expected {expected:?}"
                    ),
                );
            }
            self.revoke_owner(&owner, check).await;
        }
    }

    async fn revoke_owner(&self, owner: &str, check: &str) {
        if let Err(error) = self.manager.revoke_owner(NAME, owner).await {
            fail(check, format_args!("logging the owner out failed: {error}"));
        }
    }
}

/// A fresh owner name, so interleavings never see each other's sessions.
fn fresh_owner(prefix: &str) -> String {
    format!("{prefix}-{}", &SessionId::generate().storage_key()[..8])
}
