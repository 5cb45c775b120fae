//! The scenarios of version 3 of the contract: login done right. The device list and ending one
//! device, the others or all of them; the cap on devices per user; a login that drops another
//! user's values; remember-me with an end; the 415 of JSON routes. The device flow runs on every
//! store configuration the session flow runs on.
//!
//! They are re-exported by [`scenarios`](crate::scenarios), so
//! [`contract_tests!`](crate::contract_tests) generates one test for each.

use serde_json::{json, Value};
use session_core::KeyRing;
use session_stores::testing::TestStore;

use crate::client::{Browser, DemoApp, DemoClient, TestRequest, TestResponse};
use crate::scenarios::{
    browsers, expect, expect_cookieless, expect_counter, expect_flash, expect_logged_in, expect_ok,
    expect_revoked, expect_user, not_logged_in, post_flash,
};
use crate::startup::DEFAULT_CONFIG;
use crate::stores::{config_with_store, on, test_manager};

const APP_COOKIE: &str = "app_session";
/// The `owners` line of `app` in [`DEFAULT_CONFIG`], which the cap scenarios replace.
const DEFAULT_OWNERS: &str = r#"owners = { max_sessions = 10, when_full = "end_least_recent" }"#;
/// The `expiry` line of `app` in [`DEFAULT_CONFIG`].
const DEFAULT_EXPIRY: &str = "expiry = { idle_timeout_secs = 86400, absolute_timeout_secs = 604800, remember_idle_secs = 2592000, remember_absolute_secs = 2592000 }";

/// Asserts that `response` expires the `app` cookie.
#[track_caller]
fn expect_app_cookie_expired(response: &TestResponse, what: &str) {
    let removal = response
        .set_cookie(APP_COOKIE)
        .unwrap_or_else(|| panic!("{what}: {APP_COOKIE} not expired: {:?}", response.headers));
    assert!(removal.is_removal(), "{what}: {}", removal.raw);
}

/// Asserts that `response` leaves the `app` cookie alone.
#[track_caller]
fn expect_app_cookie_kept(response: &TestResponse, what: &str) {
    if let Some(cookie) = response.set_cookie(APP_COOKIE) {
        assert!(!cookie.is_removal(), "{what}: {APP_COOKIE} expired");
    }
}

/// A client of the app around a manager built from `config` with fresh keys.
async fn client_with<A: DemoApp + ?Sized>(app: &A, config: &str) -> Box<dyn DemoClient> {
    app.client(test_manager(config, KeyRing::generate(), TestStore::default()).await)
        .await
}

/// [`DEFAULT_CONFIG`] with `app`'s `owners` line replaced by `owners`.
fn config_with_owners(owners: &str) -> String {
    assert!(DEFAULT_CONFIG.contains(DEFAULT_OWNERS), "{DEFAULT_CONFIG}");
    DEFAULT_CONFIG.replace(DEFAULT_OWNERS, owners)
}

/// `POST /login` as `user` from a device whose `User-Agent` is `agent`; asserts the 200.
async fn login_from(browser: &mut Browser<'_>, user: &str, agent: &str) -> TestResponse {
    let request = TestRequest::post("/login")
        .json(&json!({ "user": user }))
        .header("user-agent", agent);
    expect_logged_in(browser, request, user, "POST /login").await
}

/// `GET /sessions`, asserted to be the contract's shape (see [`expect_listing`]). Returns the
/// entries.
async fn list(browser: &mut Browser<'_>, what: &str) -> Vec<Value> {
    expect_listing(&browser.get("/sessions").await, what)
}

/// Asserts that `response` is a `GET /sessions` listing of the contract's shape: every entry
/// with exactly its fields and its times in order, exactly one current, most recently seen
/// first. Returns the entries.
#[track_caller]
pub(crate) fn expect_listing(response: &TestResponse, what: &str) -> Vec<Value> {
    assert_eq!(
        response.status,
        200,
        "{what}: GET /sessions answered {} {:?}",
        response.status,
        response.text()
    );
    let body = response.json();
    let sessions = body["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: expected {{\"sessions\": [...]}}, got {body}"))
        .clone();
    for session in &sessions {
        let mut keys: Vec<&str> = session
            .as_object()
            .map(|object| object.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "created_at",
                "current",
                "expires_at",
                "id",
                "last_seen_at",
                "logged_in_at",
                "user_agent"
            ],
            "{what}: {session}"
        );
        let at = |field: &str| session[field].as_u64().unwrap_or(0);
        assert!(
            at("created_at") > 0
                && at("logged_in_at") >= at("created_at")
                && at("last_seen_at") >= at("logged_in_at")
                && at("expires_at") > at("last_seen_at"),
            "{what}: times out of order: {session}"
        );
        assert!(
            session["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{what}: {session}"
        );
    }
    let current = sessions
        .iter()
        .filter(|session| session["current"] == json!(true))
        .count();
    assert_eq!(current, 1, "{what}: exactly one session is current: {body}");
    let seen: Vec<u64> = sessions
        .iter()
        .map(|session| session["last_seen_at"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        seen.windows(2).all(|pair| pair[0] >= pair[1]),
        "{what}: not most recently seen first: {body}"
    );
    sessions
}

/// The `id` of the entry of `sessions` whose `User-Agent` is `agent`.
#[track_caller]
fn id_of(sessions: &[Value], agent: &str) -> String {
    id_where(sessions, "user_agent", json!(agent))
}

/// The `id` of the current entry of `sessions`.
#[track_caller]
fn current_id(sessions: &[Value]) -> String {
    id_where(sessions, "current", json!(true))
}

/// The `id` of the first entry of `sessions` whose `field` is `value`.
#[track_caller]
fn id_where(sessions: &[Value], field: &str, value: Value) -> String {
    sessions
        .iter()
        .find(|session| session[field] == value)
        .and_then(|session| session["id"].as_str())
        .unwrap_or_else(|| panic!("no session with {field} = {value} in {sessions:?}"))
        .to_string()
}

/// Lets the clock move a few milliseconds, so logins tell apart by time. A blocking sleep this
/// short holds up no other task of the test.
async fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(3));
}

/// `GET /sessions` lists each device of the user with what it is (its `User-Agent`, cut to 256
/// characters) and when it logged in and was last seen, most recently seen first, the current
/// one marked; `id` is a handle, not a token: as a cookie value it opens nothing. Another user's
/// devices are not listed.
pub async fn devices_are_listed_with_what_they_are<A: DemoApp + ?Sized>(app: &A) {
    let client = client_with(app, DEFAULT_CONFIG).await;
    let [mut laptop, mut phone, mut bob] = browsers(&*client);
    let long_agent = "p".repeat(300);
    login_from(&mut laptop, "alice", "laptop-agent").await;
    tick().await;
    login_from(&mut phone, "alice", &long_agent).await;
    login_from(&mut bob, "bob", "bob-agent").await;

    let sessions = list(&mut laptop, "GET /sessions on the laptop").await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let cut = "p".repeat(256);
    let agents: Vec<&str> = sessions
        .iter()
        .map(|session| session["user_agent"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        agents,
        [cut.as_str(), "laptop-agent"],
        "the phone logged in last: listed first, its User-Agent cut to 256 characters"
    );
    assert_eq!(sessions[1]["current"], json!(true), "{sessions:?}");
    let phone_sessions = list(&mut phone, "GET /sessions on the phone").await;
    assert_eq!(
        phone_sessions[0]["current"],
        json!(true),
        "{phone_sessions:?}"
    );
    assert_eq!(
        id_of(&sessions, "laptop-agent"),
        id_of(&phone_sessions, "laptop-agent"),
        "a device's id is the same in every listing"
    );
    let bob_sessions = list(&mut bob, "GET /sessions of bob").await;
    assert_eq!(bob_sessions.len(), 1, "{bob_sessions:?}");

    let text = serde_json::to_string(&sessions).unwrap_or_default();
    for browser in [&laptop, &phone] {
        let cookie = browser.cookie(APP_COOKIE).unwrap_or_default();
        assert!(
            !cookie.is_empty() && !text.contains(cookie),
            "the listing leaks a session cookie"
        );
    }
    for session in &sessions {
        let mut replay = Browser::new(&*client);
        replay.set_cookie(APP_COOKIE, session["id"].as_str().unwrap_or_default());
        expect_user(&mut replay, None, "GET /me with a listed id as the cookie").await;
    }
}

/// `DELETE /sessions/{id}` ends one device of the user (`200 {"revoked":1}`), whose cookie then
/// opens nothing; a handle that is not one of the user's live sessions (ended already, another
/// user's, made up) is `404 {"error":"no such session"}`; ending the current one expires its
/// cookie; without a login it is 401.
pub async fn one_device_is_ended_by_its_id<A: DemoApp + ?Sized>(app: &A) {
    let no_such_session = json!({"error": "no such session"});
    let client = client_with(app, DEFAULT_CONFIG).await;
    let mut anonymous = Browser::new(&*client);
    let response = anonymous
        .send(TestRequest::new("DELETE", "/sessions/anything"))
        .await;
    let what = "DELETE /sessions/{id} without login";
    expect_cookieless(&response, 401, not_logged_in(), what);

    let [mut laptop, mut phone, mut bob] = browsers(&*client);
    login_from(&mut laptop, "alice", "laptop").await;
    login_from(&mut phone, "alice", "phone").await;
    login_from(&mut bob, "bob", "bob").await;
    let sessions = list(&mut laptop, "GET /sessions").await;
    let phone_id = id_of(&sessions, "phone");
    let bob_id = current_id(&list(&mut bob, "GET /sessions of bob").await);

    let path = format!("/sessions/{phone_id}");
    let request = TestRequest::new("DELETE", &path);
    let response = expect_revoked(&mut laptop, request, 1, "DELETE the phone").await;
    expect_app_cookie_kept(&response, "DELETE the phone from the laptop");
    expect_user(&mut phone, None, "GET /me on the ended phone").await;
    expect_user(&mut laptop, Some("alice"), "GET /me on the laptop").await;
    assert_eq!(list(&mut laptop, "GET /sessions after").await.len(), 1);

    for (path, what) in [
        (path.clone(), "an id ended already"),
        (format!("/sessions/{bob_id}"), "another user's id"),
        ("/sessions/made-up".to_string(), "a made-up id"),
        (
            format!("/sessions/{}", "A".repeat(43)),
            "an id of no session",
        ),
    ] {
        let response = laptop.send(TestRequest::new("DELETE", &path)).await;
        expect(&response, 404, no_such_session.clone(), what);
        expect_app_cookie_kept(&response, what);
    }
    expect_user(&mut bob, Some("bob"), "bob is not ended by alice").await;

    let own = current_id(&list(&mut laptop, "GET /sessions on the laptop").await);
    let request = TestRequest::new("DELETE", format!("/sessions/{own}"));
    let response = expect_revoked(&mut laptop, request, 1, "DELETE this device").await;
    expect_app_cookie_expired(&response, "DELETE this device");
    expect_user(&mut laptop, None, "GET /me after ending this device").await;
}

/// `POST /logout-others` ends every other device of the user (`{"revoked":N}`) and keeps this
/// one logged in, its cookie untouched; another user's devices stay; without a login it is 401.
pub async fn logout_others_keeps_this_device<A: DemoApp + ?Sized>(app: &A) {
    let client = client_with(app, DEFAULT_CONFIG).await;
    let mut anonymous = Browser::new(&*client);
    let response = anonymous.post("/logout-others").await;
    let what = "POST /logout-others without login";
    expect_cookieless(&response, 401, not_logged_in(), what);

    let [mut laptop, mut phone, mut tablet, mut bob] = browsers(&*client);
    login_from(&mut laptop, "alice", "laptop").await;
    login_from(&mut phone, "alice", "phone").await;
    login_from(&mut tablet, "alice", "tablet").await;
    login_from(&mut bob, "bob", "bob").await;
    let cookie = laptop.cookie(APP_COOKIE).unwrap_or_default().to_string();

    let request = TestRequest::post("/logout-others");
    let response = expect_revoked(&mut laptop, request, 2, "POST /logout-others").await;
    expect_app_cookie_kept(&response, "POST /logout-others");
    assert_eq!(laptop.cookie(APP_COOKIE), Some(cookie.as_str()));
    expect_user(&mut laptop, Some("alice"), "this device stays logged in").await;
    expect_user(&mut phone, None, "the phone is logged out").await;
    expect_user(&mut tablet, None, "the tablet is logged out").await;
    expect_user(&mut bob, Some("bob"), "another user stays logged in").await;
    let sessions = list(&mut laptop, "GET /sessions after logout-others").await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");

    let request = TestRequest::post("/logout-others");
    expect_revoked(&mut laptop, request, 0, "POST /logout-others again").await;
}

/// `POST /logout-everywhere` ends this device too and expires its cookie; the count is every
/// device of the user.
pub async fn logout_everywhere_ends_this_device_too<A: DemoApp + ?Sized>(app: &A) {
    let client = client_with(app, DEFAULT_CONFIG).await;
    let [mut laptop, mut phone] = browsers(&*client);
    login_from(&mut laptop, "alice", "laptop").await;
    login_from(&mut phone, "alice", "phone").await;
    let request = TestRequest::post("/logout-everywhere");
    let response = expect_revoked(&mut phone, request, 2, "POST /logout-everywhere").await;
    expect_app_cookie_expired(&response, "POST /logout-everywhere");
    expect_user(&mut laptop, None, "the laptop after logout everywhere").await;
    expect_user(&mut phone, None, "the phone after logout everywhere").await;
}

/// An anonymous visitor's values carry over into the login; logging in while another user is
/// logged in starts from an empty session: none of their counters or flash messages, under a
/// new id.
pub async fn login_keeps_a_visitors_values_but_not_another_users<A: DemoApp + ?Sized>(app: &A) {
    let client = client_with(app, DEFAULT_CONFIG).await;
    let mut browser = Browser::new(&*client);
    expect_counter(&mut browser, "POST", "visits", 1, "POST /counter").await;
    let anonymous = browser.cookie(APP_COOKIE).unwrap_or_default().to_string();
    login_from(&mut browser, "alice", "shared").await;
    let alice = browser.cookie(APP_COOKIE).unwrap_or_default().to_string();
    assert_ne!(alice, anonymous, "logging in gives a new id");
    let what = "a visitor's counter carries over into the login";
    expect_counter(&mut browser, "GET", "visits", 1, what).await;
    expect_counter(&mut browser, "POST", "alice", 1, "POST /counter").await;
    post_flash(&mut browser, "for alice").await;

    login_from(&mut browser, "bob", "shared").await;
    assert_ne!(browser.cookie(APP_COOKIE), Some(alice.as_str()), "a new id");
    expect_user(&mut browser, Some("bob"), "GET /me after bob's login").await;
    for key in ["alice", "visits"] {
        let what = "nothing of alice's carries over to bob";
        expect_counter(&mut browser, "GET", key, 0, what).await;
    }
    expect_flash(&mut browser, &[], "alice's flash messages are not bob's").await;
    let mut replay = Browser::new(&*client);
    replay.set_cookie(APP_COOKIE, alice);
    expect_user(&mut replay, None, "alice's cookie after bob's login").await;
}

/// The embedded default caps a user at 10 devices: the 11th login ends the least recently used
/// one, and the others stay logged in.
pub async fn the_eleventh_login_ends_the_least_recent_device<A: DemoApp + ?Sized>(app: &A) {
    let client = client_with(app, DEFAULT_CONFIG).await;
    let mut devices: Vec<Browser<'_>> = (0..11).map(|_| Browser::new(&*client)).collect();
    for (index, device) in devices.iter_mut().enumerate() {
        login_from(device, "alice", &format!("device {index}")).await;
        tick().await;
    }
    expect_user(&mut devices[0], None, "the least recently used device").await;
    for device in devices.iter_mut().skip(1) {
        expect_user(device, Some("alice"), "the other devices").await;
    }
    let sessions = list(&mut devices[10], "GET /sessions at the cap").await;
    assert_eq!(sessions.len(), 10, "{sessions:?}");
}

/// With `when_full = "end_least_recent"`, the device ended at the cap is the one used least
/// recently, not the one logged in first.
pub async fn the_cap_ends_the_least_recently_used_device<A: DemoApp + ?Sized>(app: &A) {
    let config =
        config_with_owners(r#"owners = { max_sessions = 2, when_full = "end_least_recent" }"#);
    // Each request moves `last_seen_at`, so "least recently used" is decided by use.
    let config = config.replace(
        DEFAULT_EXPIRY,
        &DEFAULT_EXPIRY.replace(" }", ", touch_after_secs = 0 }"),
    );
    let client = client_with(app, &config).await;
    let [mut first, mut second, mut third] = browsers(&*client);
    login_from(&mut first, "alice", "first").await;
    tick().await;
    login_from(&mut second, "alice", "second").await;
    tick().await;
    expect_user(&mut first, Some("alice"), "the first device, used again").await;
    tick().await;
    login_from(&mut third, "alice", "third").await;
    expect_user(&mut second, None, "the least recently used device ended").await;
    expect_user(&mut first, Some("alice"), "the device used since stays").await;
    expect_user(&mut third, Some("alice"), "the new device").await;
}

/// With `when_full = "refuse"`, a login past the cap is `409 {"error":"too many sessions"}` and
/// leaves that browser logged out, the other devices logged in.
pub async fn a_refusing_cap_answers_409<A: DemoApp + ?Sized>(app: &A) {
    let config = config_with_owners(r#"owners = { max_sessions = 2, when_full = "refuse" }"#);
    let client = client_with(app, &config).await;
    let [mut first, mut second, mut third] = browsers(&*client);
    login_from(&mut first, "alice", "first").await;
    login_from(&mut second, "alice", "second").await;
    let response = third
        .send(TestRequest::post("/login").json(&json!({"user": "alice"})))
        .await;
    expect(
        &response,
        409,
        json!({"error": "too many sessions"}),
        "POST /login past a refusing cap",
    );
    expect_user(&mut third, None, "the refused browser").await;
    expect_user(&mut first, Some("alice"), "the first device").await;
    expect_user(&mut second, Some("alice"), "the second device").await;
    login_from(&mut third, "bob", "third").await;
    login_from(&mut first, "alice", "first").await;
}

/// `POST /remember` gives the session a new id (the cookie taken before opens nothing) and a
/// `Max-Age` of `remember_idle_secs`; it still ends `remember_absolute_secs` after the login.
pub async fn remember_me_has_a_new_id_and_an_end<A: DemoApp + ?Sized>(app: &A) {
    const REMEMBER_IDLE_SECS: i64 = 2_592_000;
    let client = client_with(app, DEFAULT_CONFIG).await;
    let mut browser = Browser::new(&*client);
    login_from(&mut browser, "alice", "laptop").await;
    let before = browser.cookie(APP_COOKIE).unwrap_or_default().to_string();
    let response = expect_ok(&mut browser, "/remember", "POST /remember").await;
    let cookie = response
        .set_cookie(APP_COOKIE)
        .unwrap_or_else(|| panic!("POST /remember set no {APP_COOKIE}"));
    assert_ne!(cookie.value, before, "remember me gives a new id");
    let max_age = cookie.max_age.unwrap_or(0);
    assert!(
        (REMEMBER_IDLE_SECS - 60..=REMEMBER_IDLE_SECS).contains(&max_age),
        "Max-Age of remember_idle_secs: {}",
        cookie.raw
    );
    let mut replay = Browser::new(&*client);
    replay.set_cookie(APP_COOKIE, before);
    expect_user(&mut replay, None, "the cookie from before remember me").await;
    expect_user(&mut browser, Some("alice"), "GET /me after remember me").await;

    // With an end sooner than the idle window, the listing shows the end, counted from login.
    let config = DEFAULT_CONFIG.replace(
        DEFAULT_EXPIRY,
        &DEFAULT_EXPIRY.replace(
            "remember_absolute_secs = 2592000",
            "remember_absolute_secs = 3600",
        ),
    );
    assert_ne!(config, DEFAULT_CONFIG, "{DEFAULT_CONFIG}");
    let client = client_with(app, &config).await;
    let mut browser = Browser::new(&*client);
    login_from(&mut browser, "alice", "laptop").await;
    expect_ok(&mut browser, "/remember", "POST /remember").await;
    let sessions = list(&mut browser, "GET /sessions after remember me").await;
    let logged_in = sessions[0]["logged_in_at"].as_u64().unwrap_or(0);
    let expires = sessions[0]["expires_at"].as_u64().unwrap_or(u64::MAX);
    assert!(
        expires <= logged_in + 3_600_000,
        "a remembered session ends remember_absolute_secs after the login: {sessions:?}"
    );
}

/// Every JSON route answers `415 {"error":"expected application/json"}` to another
/// `Content-Type` (or none), changing no session; `application/json` with parameters passes.
pub async fn json_routes_refuse_other_content_types<A: DemoApp + ?Sized>(app: &A) {
    let expected_json = json!({"error": "expected application/json"});
    let client = client_with(app, DEFAULT_CONFIG).await;
    let mut browser = Browser::new(&*client);
    for (path, body) in [
        ("/login", r#"{"user":"mallory"}"#),
        ("/flash", r#"{"message":"hi"}"#),
        ("/cart/items", r#"{"item":"apple"}"#),
        ("/api/login", r#"{"user":"mallory"}"#),
    ] {
        for content_type in [
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonp"),
            None,
        ] {
            let mut request = TestRequest::post(path);
            request = match content_type {
                Some(content_type) => request.body(body, content_type),
                None => {
                    request.body = body.as_bytes().to_vec();
                    request
                }
            };
            let response = browser.send(request).await;
            let what = format!("POST {path} as {content_type:?}");
            expect_cookieless(&response, 415, expected_json.clone(), &what);
        }
    }
    expect_user(&mut browser, None, "no login through another content type").await;
    let response = browser
        .send(
            TestRequest::post("/login")
                .body(r#"{"user":"alice"}"#, "Application/JSON; charset=utf-8"),
        )
        .await;
    expect(
        &response,
        200,
        json!({"user": "alice"}),
        "JSON with parameters",
    );
}

/// The page drives the device routes: the listing with an "end" button per device
/// (`DELETE /sessions/{id}`), log out others and log out everywhere.
pub async fn page_drives_the_device_routes<A: DemoApp + ?Sized>(app: &A) {
    let client = client_with(app, DEFAULT_CONFIG).await;
    let mut browser = Browser::new(&*client);
    let page = browser.get("/").await.text();
    for needle in [
        "\"/sessions\"",
        "\"/sessions/\"",
        "\"DELETE\"",
        "\"/logout-others\"",
        "\"/logout-everywhere\"",
        "user_agent",
    ] {
        assert!(page.contains(needle), "the page never uses {needle}");
    }
}

/// Two devices listed, one ended by id, the others logged out and then every device, with
/// `app` on the store `store` (a TOML inline table).
async fn device_flow<A: DemoApp + ?Sized>(app: &A, store: &str) {
    let config = config_with_store("app", store);
    let client = client_with(app, &config).await;
    let [mut laptop, mut phone, mut tablet] = browsers(&*client);
    // A user of its own for each run, so runs sharing a server never see each other's devices.
    let user = format!(
        "user-{}",
        &session_core::SessionId::generate().storage_key()[..12]
    );
    login_from(&mut laptop, &user, "laptop").await;
    tick().await;
    login_from(&mut phone, &user, "phone").await;
    tick().await;
    login_from(&mut tablet, &user, "tablet").await;
    let sessions = list(&mut laptop, "GET /sessions").await;
    let agents: Vec<&str> = sessions
        .iter()
        .map(|session| session["user_agent"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(agents, ["tablet", "phone", "laptop"], "{sessions:?}");

    let path = format!("/sessions/{}", id_of(&sessions, "tablet"));
    let request = TestRequest::new("DELETE", &path);
    expect_revoked(&mut laptop, request, 1, "DELETE the tablet").await;
    expect_user(&mut tablet, None, "the ended tablet").await;
    let response = laptop.send(TestRequest::new("DELETE", &path)).await;
    expect(
        &response,
        404,
        json!({"error": "no such session"}),
        "DELETE it again",
    );

    let request = TestRequest::post("/logout-others");
    expect_revoked(&mut laptop, request, 1, "POST /logout-others").await;
    expect_user(&mut phone, None, "the phone after logout-others").await;
    expect_user(&mut laptop, Some(&user), "the laptop stays").await;

    login_from(&mut phone, &user, "phone").await;
    let request = TestRequest::post("/logout-everywhere");
    let response = expect_revoked(&mut laptop, request, 2, "POST /logout-everywhere").await;
    expect_app_cookie_expired(&response, "POST /logout-everywhere");
    expect_user(&mut laptop, None, "the laptop after logout-everywhere").await;
    expect_user(&mut phone, None, "the phone after logout-everywhere").await;
}

on::flow_on_stores!(device_flow, "devices", "The device flow with `app`":
    device_flow_on_memory_store => Memory,
    device_flow_on_file_store => File,
    device_flow_on_redis_store => Redis,
    device_flow_on_redis_cluster_store => RedisCluster,
    device_flow_on_postgres_store => Postgres,
    device_flow_on_mysql_store => Mysql,
    device_flow_on_sqlite_store => Sqlite,
);
