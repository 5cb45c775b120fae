//! The contract's scenarios, each a public function taking the [`DemoApp`] under test.
//!
//! Every scenario builds the session managers it needs (from [`DEFAULT_CONFIG`] or a variant
//! with another store for `app`), asks the app for a client around each, and asserts statuses,
//! bodies, cookies and store access. Scenarios whose name ends in `redis_store` need `REDIS_URL`
//! (run them through `bash scripts/test.sh`).
//!
//! Run them one test per scenario with [`contract_tests!`](crate::contract_tests), or all at once
//! with [`run_all`].

use serde_json::{json, Value};
use session_core::KeyRing;
use session_stores::testing::{TestStore, FAILURE_DETAIL};

use crate::client::{Browser, DemoApp, DemoClient, TestRequest, TestResponse, SESSION_HEADER};
use crate::startup::DEFAULT_CONFIG;
use crate::stores::{config_with_store, config_with_stores, on, test_manager};

use crate::scenarios_v3::expect_listing;
pub use crate::scenarios_v3::*;

const APP_COOKIE: &str = "app_session";
const CART_COOKIE: &str = "cart";

/// Asserts status and exact JSON body (and a JSON content type).
#[track_caller]
pub(crate) fn expect(response: &TestResponse, status: u16, body: Value, what: &str) {
    assert_eq!(
        response.status,
        status,
        "{what}: expected status {status}, got {} with body {:?}",
        response.status,
        response.text()
    );
    assert_eq!(response.json(), body, "{what}: unexpected body");
    let content_type = response.header("content-type").unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: expected Content-Type application/json, got {content_type:?}"
    );
}

/// Asserts a 400 whose body is `{"error": "<some text>"}`.
#[track_caller]
fn expect_bad_request(response: &TestResponse, what: &str) {
    assert_eq!(
        response.status,
        400,
        "{what}: expected 400, got {} with body {:?}",
        response.status,
        response.text()
    );
    let body = response.json();
    let fields = body.as_object().map(|object| object.len());
    assert!(
        body["error"].as_str().is_some_and(|text| !text.is_empty()) && fields == Some(1),
        "{what}: expected {{\"error\": \"...\"}}, got {body}"
    );
}

/// Asserts that `response` sets no cookie.
#[track_caller]
pub(crate) fn expect_no_set_cookie(response: &TestResponse, what: &str) {
    let cookies = response.header_values("set-cookie");
    assert!(
        cookies.is_empty(),
        "{what}: expected no Set-Cookie, got {cookies:?}"
    );
}

/// Asserts status and exact JSON body, and that `response` sets no cookie.
#[track_caller]
pub(crate) fn expect_cookieless(response: &TestResponse, status: u16, body: Value, what: &str) {
    expect(response, status, body, what);
    expect_no_set_cookie(response, what);
}

/// Sends `request` and asserts its status and exact JSON body.
pub(crate) async fn expect_answer(
    browser: &mut Browser<'_>,
    request: TestRequest,
    status: u16,
    body: Value,
    what: &str,
) -> TestResponse {
    let response = browser.send(request).await;
    expect(&response, status, body, what);
    response
}

/// Sends `GET path` and asserts its status and exact JSON body.
async fn expect_get(
    browser: &mut Browser<'_>,
    path: &str,
    status: u16,
    body: Value,
    what: &str,
) -> TestResponse {
    expect_answer(browser, TestRequest::get(path), status, body, what).await
}

/// Sends `POST path` with a JSON body and asserts a 200 with the exact JSON body `answer`.
async fn expect_post_json(
    browser: &mut Browser<'_>,
    path: &str,
    body: Value,
    answer: Value,
    what: &str,
) -> TestResponse {
    expect_answer(
        browser,
        TestRequest::post(path).json(&body),
        200,
        answer,
        what,
    )
    .await
}

/// Sends `POST path` with no body and asserts `200 {"ok":true}`.
pub(crate) async fn expect_ok(browser: &mut Browser<'_>, path: &str, what: &str) -> TestResponse {
    let ok = json!({"ok": true});
    expect_answer(browser, TestRequest::post(path), 200, ok, what).await
}

/// Sends `method /counter/{key}` (`GET` reads, `POST` increments) and asserts
/// `200 {"key": key, "value": value}`.
pub(crate) async fn expect_counter(
    browser: &mut Browser<'_>,
    method: &str,
    key: &str,
    value: u64,
    what: &str,
) -> TestResponse {
    let request = TestRequest::new(method, format!("/counter/{key}"));
    let answer = json!({"key": key, "value": value});
    expect_answer(browser, request, 200, answer, what).await
}

/// `POST /flash` with `message`, asserting `200 {"ok":true}`.
pub(crate) async fn post_flash(browser: &mut Browser<'_>, message: &str) {
    let request = TestRequest::post("/flash").json(&json!({ "message": message }));
    expect_answer(browser, request, 200, json!({"ok": true}), "POST /flash").await;
}

/// `GET /flash` answers exactly `messages`.
pub(crate) async fn expect_flash(browser: &mut Browser<'_>, messages: &[&str], what: &str) {
    expect_get(
        browser,
        "/flash",
        200,
        json!({ "messages": messages }),
        what,
    )
    .await;
}

/// `POST /cart/items` with `item` answers the cart's `items` after it.
async fn add_to_cart(
    browser: &mut Browser<'_>,
    item: &str,
    items: &[&str],
    what: &str,
) -> TestResponse {
    let body = json!({ "item": item });
    expect_post_json(
        browser,
        "/cart/items",
        body,
        json!({ "items": items }),
        what,
    )
    .await
}

/// Sends `request` and asserts `200 {"revoked": count}`.
pub(crate) async fn expect_revoked(
    browser: &mut Browser<'_>,
    request: TestRequest,
    count: u64,
    what: &str,
) -> TestResponse {
    expect_answer(browser, request, 200, json!({ "revoked": count }), what).await
}

/// `N` browsers with empty jars, all talking to `client`.
pub(crate) fn browsers<const N: usize>(client: &dyn DemoClient) -> [Browser<'_>; N] {
    std::array::from_fn(|_| Browser::new(client))
}

/// `GET /me` answers `user`, or 401 without one.
pub(crate) async fn expect_user(
    browser: &mut Browser<'_>,
    user: Option<&str>,
    what: &str,
) -> TestResponse {
    expect_login_route(browser, "/me", user, what).await
}

/// `GET path` (`/me`, or `/api/me` for the header session) answers `user`, or 401 without one.
async fn expect_login_route(
    browser: &mut Browser<'_>,
    path: &str,
    user: Option<&str>,
    what: &str,
) -> TestResponse {
    match user {
        Some(user) => expect_get(browser, path, 200, json!({ "user": user }), what).await,
        None => expect_get(browser, path, 401, not_logged_in(), what).await,
    }
}

/// `GET /cart` answers exactly `items`.
async fn expect_cart(browser: &mut Browser<'_>, items: &[&str], what: &str) -> TestResponse {
    expect_get(browser, "/cart", 200, json!({ "items": items }), what).await
}

/// The body of a 401 for a route that needs a login.
pub(crate) fn not_logged_in() -> Value {
    json!({"error": "not logged in"})
}

/// A client of the app around a manager built from `config` with `keys`.
async fn client_for<A: DemoApp + ?Sized>(
    app: &A,
    config: &str,
    keys: KeyRing,
    counts: TestStore,
) -> Box<dyn DemoClient> {
    app.client(test_manager(config, keys, counts).await).await
}

/// A client of the app with [`DEFAULT_CONFIG`] and fresh keys.
async fn default_client<A: DemoApp + ?Sized>(app: &A) -> Box<dyn DemoClient> {
    client_for(
        app,
        DEFAULT_CONFIG,
        KeyRing::generate(),
        TestStore::default(),
    )
    .await
}

/// Sends `request`, a login as `user`, and asserts `200 {"user": user}`.
pub(crate) async fn expect_logged_in(
    browser: &mut Browser<'_>,
    request: TestRequest,
    user: &str,
    what: &str,
) -> TestResponse {
    let answer = json!({ "user": user });
    expect_answer(browser, request, 200, answer, what).await
}

/// `POST /login` as `user`, asserting the 200.
async fn login(browser: &mut Browser<'_>, user: &str) -> TestResponse {
    let request = TestRequest::post("/login").json(&json!({ "user": user }));
    expect_logged_in(browser, request, user, "POST /login").await
}

/// Logs `alice` in (`app`), puts an apple in the cart (`cart`) and logs `bob` in over the API
/// (`api`), checking each answer.
async fn use_all_three_sessions(browser: &mut Browser<'_>) {
    login(browser, "alice").await;
    add_to_cart(browser, "apple", &["apple"], "POST /cart/items").await;
    api_login(browser, "bob").await;
}

/// `POST /api/login` as `user`, asserting the 200.
async fn api_login(browser: &mut Browser<'_>, user: &str) -> TestResponse {
    let request = TestRequest::post("/api/login").json(&json!({ "user": user }));
    expect_logged_in(browser, request, user, "POST /api/login").await
}

/// Flips one character in the middle of a (base64url) value.
fn tamper(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// `GET /health` is `200 {"ok":true}` and sets no cookie, with or without a session.
pub async fn health_is_ok_and_sets_no_cookie<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    let response = browser.get("/health").await;
    let what = "GET /health without a session";
    expect_cookieless(&response, 200, json!({"ok": true}), what);
    login(&mut browser, "alice").await;
    let response = browser.get("/health").await;
    let what = "GET /health with a session";
    expect_cookieless(&response, 200, json!({"ok": true}), what);
}

/// An unknown route, or a known one with another method, is `404 {"error":"not found"}` and
/// sets no cookie.
pub async fn unknown_route_is_404<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    login(&mut browser, "alice").await;
    for request in [
        TestRequest::get("/no/such/route"),
        TestRequest::post("/health"),
        TestRequest::get("/login"),
        TestRequest::new("DELETE", "/cart"),
    ] {
        let what = format!("{} {}", request.method, request.path);
        let response = browser.send(request).await;
        expect_cookieless(&response, 404, json!({"error": "not found"}), &what);
    }
}

/// Bodies that are not the route's JSON are `400 {"error":"..."}`, and change no session.
pub async fn malformed_bodies_are_400_with_an_error<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    for (path, body) in [
        ("/login", "not json"),
        ("/login", "{\"usr\":\"alice\"}"),
        ("/login", "{\"user\":"),
        ("/login", ""),
        ("/flash", "{}"),
        ("/flash", "[\"saved\"]"),
        ("/cart/items", "{\"item\":42}"),
        ("/api/login", "{"),
    ] {
        let response = browser
            .send(TestRequest::post(path).body(body, "application/json"))
            .await;
        expect_bad_request(&response, &format!("POST {path} with body {body:?}"));
    }
    expect_user(&mut browser, None, "GET /me after malformed logins").await;
    expect_cart(&mut browser, &[], "GET /cart after a malformed item").await;
}

/// `GET /me` without a session is `401 {"error":"not logged in"}` and creates no session.
pub async fn me_without_login_is_401<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    let response = expect_user(&mut browser, None, "GET /me without a session").await;
    expect_no_set_cookie(&response, "GET /me without a session");
}

/// `POST /login` sets `user` and an `app_session` cookie; `GET /me` then returns the user.
pub async fn login_then_me_returns_the_user<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    let response = login(&mut browser, "alice").await;
    let cookie = response.set_cookie(APP_COOKIE).unwrap_or_else(|| {
        panic!(
            "POST /login set no {APP_COOKIE} cookie: {:?}",
            response.headers
        )
    });
    assert!(
        !cookie.is_removal() && !cookie.value.is_empty(),
        "{}",
        cookie.raw
    );
    assert!(
        cookie.raw.to_ascii_lowercase().contains("httponly"),
        "the session cookie must be HttpOnly: {}",
        cookie.raw
    );
    expect_user(&mut browser, Some("alice"), "GET /me after login").await;

    let mut stranger = Browser::new(&*client);
    expect_user(&mut stranger, None, "GET /me from another browser").await;
}

/// Login gives the session a new id: the cookie from before login no longer opens it, the new
/// one does, and values set before login are kept.
pub async fn login_regenerates_the_session_id<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    expect_counter(&mut browser, "POST", "visits", 1, "POST /counter/visits").await;
    let before = browser
        .cookie(APP_COOKIE)
        .unwrap_or_else(|| panic!("POST /counter/visits set no {APP_COOKIE} cookie"))
        .to_string();

    let response = login(&mut browser, "alice").await;
    let after = response
        .set_cookie(APP_COOKIE)
        .unwrap_or_else(|| panic!("POST /login did not reissue the {APP_COOKIE} cookie"));
    assert_ne!(after.value, before, "login must issue a new session id");

    expect_user(&mut browser, Some("alice"), "GET /me with the new cookie").await;
    expect_counter(&mut browser, "GET", "visits", 1, "values survive login").await;

    let mut fixated = Browser::new(&*client);
    fixated.set_cookie(APP_COOKIE, before);
    expect_user(&mut fixated, None, "GET /me with the pre-login cookie").await;
    let what = "the pre-login session is gone";
    expect_counter(&mut fixated, "GET", "visits", 0, what).await;
}

/// `POST /logout` removes the record (the old cookie opens nothing) and expires the cookie with
/// `Max-Age=0` on the same `Path`.
pub async fn logout_removes_the_record_and_expires_the_cookie<A: DemoApp + ?Sized>(app: &A) {
    let counts = TestStore::default();
    let config = config_with_store("app", r#"{ type = "counting" }"#);
    let client = client_for(app, &config, KeyRing::generate(), counts.clone()).await;
    let mut browser = Browser::new(&*client);
    let response = login(&mut browser, "alice").await;
    let issued = response
        .set_cookie(APP_COOKIE)
        .unwrap_or_else(|| panic!("POST /login set no {APP_COOKIE} cookie"));

    let deletes_before = counts.calls().deletes;
    let response = expect_ok(&mut browser, "/logout", "POST /logout").await;
    let removal = response.set_cookie(APP_COOKIE).unwrap_or_else(|| {
        panic!(
            "POST /logout did not expire {APP_COOKIE}: {:?}",
            response.headers
        )
    });
    assert_eq!(
        removal.max_age,
        Some(0),
        "logout must expire the cookie: {}",
        removal.raw
    );
    assert_eq!(
        removal.path, issued.path,
        "the removal must name the cookie's Path: {}",
        removal.raw
    );
    assert!(
        counts.calls().deletes > deletes_before,
        "logout must delete the stored record"
    );
    assert_eq!(browser.cookie(APP_COOKIE), None);

    expect_user(&mut browser, None, "GET /me after logout").await;
    let mut replay = Browser::new(&*client);
    replay.set_cookie(APP_COOKIE, issued.value);
    expect_user(&mut replay, None, "GET /me replaying the logged-out cookie").await;
}

/// Flash messages are returned by the next `GET /flash`, in order, and never again.
pub async fn flash_messages_show_exactly_once<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    expect_flash(&mut browser, &[], "GET /flash with no session").await;
    for message in ["saved", "and again"] {
        post_flash(&mut browser, message).await;
    }
    expect_flash(&mut browser, &["saved", "and again"], "first GET /flash").await;
    expect_flash(&mut browser, &[], "second GET /flash").await;
}

/// Counters read 0 until incremented, then count up, each on its own.
pub async fn counters_increment_from_zero<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    let response = expect_counter(&mut browser, "GET", "k", 0, "GET /counter/k unset").await;
    expect_no_set_cookie(&response, "reading a counter of no session");
    for value in 1..=3 {
        expect_counter(&mut browser, "POST", "k", value, "POST /counter/k").await;
    }
    expect_counter(&mut browser, "POST", "other", 1, "POST /counter/other").await;
    expect_counter(&mut browser, "GET", "k", 3, "GET /counter/k").await;
}

/// The cart lives in its own sealed `cart` cookie, apart from `app`.
pub async fn cart_lives_in_its_own_sealed_cookie<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    let response = expect_cart(&mut browser, &[], "GET /cart empty").await;
    expect_no_set_cookie(&response, "reading an empty cart");

    let response = add_to_cart(&mut browser, "apple", &["apple"], "POST /cart/items").await;
    let cart = response
        .set_cookie(CART_COOKIE)
        .unwrap_or_else(|| panic!("POST /cart/items set no {CART_COOKIE} cookie"));
    assert!(
        !cart.value.contains("apple"),
        "the cart cookie must be sealed: {}",
        cart.raw
    );
    assert!(
        response.set_cookie(APP_COOKIE).is_none(),
        "the cart must not touch `app`"
    );

    let items = ["apple", "pear"];
    add_to_cart(&mut browser, "pear", &items, "POST /cart/items").await;
    expect_cart(&mut browser, &["apple", "pear"], "GET /cart").await;
    expect_user(&mut browser, None, "a cart is not a login").await;
}

/// The `api` session travels in the `x-session` header both ways, never in a cookie.
pub async fn header_session_travels_in_x_session<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut api = Browser::new(&*client);
    expect_login_route(&mut api, "/api/me", None, "GET /api/me without x-session").await;

    let response = api_login(&mut api, "bob").await;
    assert!(
        response
            .header(SESSION_HEADER)
            .is_some_and(|value| !value.is_empty()),
        "POST /api/login must answer with an x-session header: {:?}",
        response.headers
    );
    expect_no_set_cookie(&response, "POST /api/login");

    expect_login_route(
        &mut api,
        "/api/me",
        Some("bob"),
        "GET /api/me with x-session",
    )
    .await;
    let token = api.session_header().map(str::to_string);
    api.set_session_header(None);
    expect_login_route(&mut api, "/api/me", None, "GET /api/me without the header").await;
    api.set_session_header(token.map(|token| tamper(&token)));
    expect_login_route(
        &mut api,
        "/api/me",
        None,
        "GET /api/me with a tampered header",
    )
    .await;
}

/// Two named cookie sessions and the header session, used in one flow, stay independent.
pub async fn named_and_header_sessions_are_independent<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    use_all_three_sessions(&mut browser).await;

    expect_user(&mut browser, Some("alice"), "GET /me").await;
    expect_login_route(&mut browser, "/api/me", Some("bob"), "GET /api/me").await;
    expect_cart(&mut browser, &["apple"], "GET /cart").await;

    expect_ok(&mut browser, "/logout", "POST /logout").await;
    expect_user(&mut browser, None, "GET /me after logout").await;
    expect_login_route(
        &mut browser,
        "/api/me",
        Some("bob"),
        "logout of `app` keeps `api`",
    )
    .await;
    expect_cart(&mut browser, &["apple"], "logout of `app` keeps `cart`").await;
}

/// Routes that extract no session (`/health`, `/metrics`, unknown routes) cause no store access and set no
/// cookie, even when the request carries session cookies; an anonymous visitor who only reads
/// creates no record.
pub async fn routes_without_sessions_touch_no_store_and_set_no_cookie<A: DemoApp + ?Sized>(
    app: &A,
) {
    let counts = TestStore::default();
    let counting = r#"{ type = "counting" }"#;
    let config = config_with_stores(&[("app", counting), ("api", counting)]);
    let client = client_for(app, &config, KeyRing::generate(), counts.clone()).await;
    let mut browser = Browser::new(&*client);

    for path in ["/me", "/counter/k", "/flash", "/api/me"] {
        let response = browser.get(path).await;
        assert!(response.status < 500, "GET {path}: {}", response.status);
        expect_no_set_cookie(&response, &format!("GET {path} as an anonymous visitor"));
    }
    assert_eq!(
        counts.calls().total(),
        0,
        "anonymous reads must not reach the store"
    );

    login(&mut browser, "alice").await;
    api_login(&mut browser, "bob").await;
    let before = counts.calls().total();
    for path in ["/", "/health", "/metrics", "/no/such/route"] {
        let response = browser.get(path).await;
        expect_no_set_cookie(&response, &format!("GET {path} with sessions"));
        assert!(
            response.header(SESSION_HEADER).is_none(),
            "GET {path} set x-session"
        );
    }
    assert_eq!(
        counts.calls().total(),
        before,
        "routes without sessions must not reach the store"
    );
}

/// Tampered `app_session` and `cart` cookies are treated as no session (not as an error).
pub async fn tampered_cookies_are_no_session<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    login(&mut browser, "alice").await;
    add_to_cart(&mut browser, "apple", &["apple"], "POST /cart/items").await;
    let app_value = browser.cookie(APP_COOKIE).unwrap_or_default().to_string();
    let cart_value = browser.cookie(CART_COOKIE).unwrap_or_default().to_string();

    let forgeries = |value: &str| {
        vec![
            tamper(value),
            value[..value.len() / 2].to_string(),
            format!("{value}A"),
            "garbage".to_string(),
        ]
    };
    for forged in forgeries(&app_value) {
        let mut attacker = Browser::new(&*client);
        attacker.set_cookie(APP_COOKIE, forged.clone());
        expect_user(
            &mut attacker,
            None,
            &format!("GET /me with app_session={forged}"),
        )
        .await;
    }
    for forged in forgeries(&cart_value) {
        let mut attacker = Browser::new(&*client);
        attacker.set_cookie(CART_COOKIE, forged.clone());
        expect_cart(&mut attacker, &[], &format!("GET /cart with cart={forged}")).await;
    }
    expect_user(
        &mut browser,
        Some("alice"),
        "the genuine cookie still works",
    )
    .await;
}

/// Cookies sealed by an app with another key do not open here.
pub async fn cookies_sealed_with_another_key_are_no_session<A: DemoApp + ?Sized>(app: &A) {
    let other = client_for(
        app,
        DEFAULT_CONFIG,
        KeyRing::generate(),
        TestStore::default(),
    )
    .await;
    let mut elsewhere = Browser::new(&*other);
    login(&mut elsewhere, "mallory").await;
    let what = "POST /cart/items elsewhere";
    add_to_cart(&mut elsewhere, "stolen", &["stolen"], what).await;

    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    browser.set_cookie(APP_COOKIE, elsewhere.cookie(APP_COOKIE).unwrap_or_default());
    browser.set_cookie(
        CART_COOKIE,
        elsewhere.cookie(CART_COOKIE).unwrap_or_default(),
    );
    expect_user(&mut browser, None, "GET /me with another key's cookie").await;
    expect_cart(&mut browser, &[], "GET /cart with another key's cookie").await;
}

/// A value issued for one session, replayed under another session's name, is no session.
pub async fn values_of_other_sessions_are_no_session<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    use_all_three_sessions(&mut browser).await;
    let app_value = browser.cookie(APP_COOKIE).unwrap_or_default().to_string();
    let cart_value = browser.cookie(CART_COOKIE).unwrap_or_default().to_string();
    let api_value = browser.session_header().unwrap_or_default().to_string();

    for (what, value) in [
        ("the api header", &api_value),
        ("the cart cookie", &cart_value),
    ] {
        let mut replay = Browser::new(&*client);
        replay.set_cookie(APP_COOKIE, value.clone());
        expect_user(&mut replay, None, &format!("{what} as app_session")).await;
    }
    let mut replay = Browser::new(&*client);
    replay.set_session_header(Some(app_value.clone()));
    expect_login_route(&mut replay, "/api/me", None, "the app cookie as x-session").await;
    let mut replay = Browser::new(&*client);
    replay.set_cookie(CART_COOKIE, app_value);
    expect_cart(&mut replay, &[], "the app cookie as cart").await;
}

/// A failing store answers `500 {"error":"session store unavailable"}` with no `Set-Cookie` and
/// no detail, when loading and when saving; routes without sessions still work.
pub async fn store_failure_is_500_without_set_cookie<A: DemoApp + ?Sized>(app: &A) {
    let keys = KeyRing::generate();
    let healthy = client_for(app, DEFAULT_CONFIG, keys.clone(), TestStore::default()).await;
    let mut browser = Browser::new(&*healthy);
    login(&mut browser, "alice").await;

    let config = config_with_store("app", r#"{ type = "failing" }"#);
    let failing = client_for(app, &config, keys, TestStore::default()).await;
    let unavailable = json!({"error": "session store unavailable"});

    let mut visitor = Browser::new(&*failing);
    let response = visitor.post_json("/login", json!({"user": "alice"})).await;
    let what = "POST /login when saving fails";
    expect_cookieless(&response, 500, unavailable.clone(), what);
    assert!(
        !response.text().contains(FAILURE_DETAIL),
        "the 500 leaks detail"
    );

    let mut returning = Browser::new(&*failing);
    returning.set_cookie(APP_COOKIE, browser.cookie(APP_COOKIE).unwrap_or_default());
    let response = expect_get(
        &mut returning,
        "/me",
        500,
        unavailable,
        "GET /me when loading fails",
    )
    .await;
    expect_no_set_cookie(&response, "GET /me when loading fails");
    assert!(
        !response.text().contains(FAILURE_DETAIL),
        "the 500 leaks detail"
    );

    let what = "GET /health with a failing store";
    expect_get(&mut returning, "/health", 200, json!({"ok": true}), what).await;
}

/// `GET /` is one HTML page with no external assets that drives every route; it touches no
/// session.
pub async fn page_drives_every_route_and_touches_no_session<A: DemoApp + ?Sized>(app: &A) {
    let counts = TestStore::default();
    let counting = r#"{ type = "counting" }"#;
    let config = config_with_stores(&[("app", counting), ("api", counting)]);
    let client = client_for(app, &config, KeyRing::generate(), counts.clone()).await;
    let mut browser = Browser::new(&*client);
    let response = browser.get("/").await;
    assert_eq!(response.status, 200, "GET /: {}", response.status);
    let content_type = response.header("content-type").unwrap_or("");
    assert!(
        content_type.starts_with("text/html"),
        "GET / must be HTML, got {content_type:?}"
    );
    expect_no_set_cookie(&response, "GET /");
    let page = response.text();
    assert!(
        page.trim_start()
            .to_ascii_lowercase()
            .starts_with("<!doctype html>"),
        "GET / is not an HTML document"
    );
    for route in [
        "\"/login\"",
        "\"/logout\"",
        "\"/me\"",
        "\"/remember\"",
        "\"/sessions\"",
        "\"/logout-everywhere\"",
        "\"/flash\"",
        "\"/counter/\"",
        "\"/cart\"",
        "\"/cart/items\"",
    ] {
        assert!(page.contains(route), "the page never calls {route}");
    }
    for external in ["src=\"http", "href=\"http", "<link", "@import", "url("] {
        assert!(
            !page.contains(external),
            "the page loads an external asset ({external})"
        );
    }

    login(&mut browser, "alice").await;
    let before = counts.calls().total();
    let response = browser.get("/").await;
    assert_eq!(response.status, 200, "GET / with a session");
    expect_no_set_cookie(&response, "GET / with a session");
    assert_eq!(
        counts.calls().total(),
        before,
        "GET / must not reach the session store"
    );
}

/// `POST /remember` gives the `app` cookie `Max-Age` of 30 days (after a login cookie without
/// one); without a login it is a 401 that changes nothing.
pub async fn remember_me_gives_the_cookie_thirty_days<A: DemoApp + ?Sized>(app: &A) {
    const THIRTY_DAYS: i64 = 30 * 24 * 60 * 60;
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    let response = browser.post("/remember").await;
    let what = "POST /remember without login";
    expect_cookieless(&response, 401, not_logged_in(), what);

    let response = login(&mut browser, "alice").await;
    let issued = response
        .set_cookie(APP_COOKIE)
        .unwrap_or_else(|| panic!("POST /login set no {APP_COOKIE} cookie"));
    assert_eq!(
        issued.max_age, None,
        "before remember me the cookie lasts the browser session: {}",
        issued.raw
    );

    let response = expect_ok(&mut browser, "/remember", "POST /remember").await;
    let remembered = response
        .set_cookie(APP_COOKIE)
        .unwrap_or_else(|| panic!("POST /remember did not reissue {APP_COOKIE}"));
    let max_age = remembered.max_age.unwrap_or(0);
    assert!(
        (THIRTY_DAYS - 60..=THIRTY_DAYS).contains(&max_age),
        "remember me must give Max-Age of 30 days ({THIRTY_DAYS} s): {}",
        remembered.raw
    );
    let response = expect_user(&mut browser, Some("alice"), "GET /me after remember me").await;
    for cookie in response.set_cookies() {
        assert!(
            cookie.name != APP_COOKIE || cookie.max_age.unwrap_or(0) > THIRTY_DAYS - 60,
            "a remembered session stays persistent: {}",
            cookie.raw
        );
    }
}

/// Asserts a `GET /sessions` listing of `count` sessions of the contract's shape (see
/// [`expect_listing`]), none of `secrets` in the body.
#[track_caller]
fn expect_sessions(response: &TestResponse, count: usize, secrets: &[&str], what: &str) {
    let sessions = expect_listing(response, what);
    assert_eq!(sessions.len(), count, "{what}: {sessions:?}");
    let text = response.text();
    for secret in secrets {
        assert!(
            !secret.is_empty() && !text.contains(secret),
            "{what}: the listing leaks a session value"
        );
    }
}

/// Two devices of alice are listed by `GET /sessions` and both ended by `POST
/// /logout-everywhere` from one of them, while bob stays logged in; without a login both are
/// 401.
pub async fn two_devices_are_listed_then_logged_out_everywhere<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut anonymous = Browser::new(&*client);
    for (method, path) in [("GET", "/sessions"), ("POST", "/logout-everywhere")] {
        let response = anonymous.send(TestRequest::new(method, path)).await;
        let what = format!("{method} {path} without login");
        expect_cookieless(&response, 401, not_logged_in(), &what);
    }

    let [mut laptop, mut phone, mut bob] = browsers(&*client);
    login(&mut laptop, "alice").await;
    login(&mut phone, "alice").await;
    login(&mut bob, "bob").await;
    let laptop_cookie = laptop.cookie(APP_COOKIE).unwrap_or_default().to_string();
    let phone_cookie = phone.cookie(APP_COOKIE).unwrap_or_default().to_string();
    let secrets = [laptop_cookie.as_str(), phone_cookie.as_str()];

    let response = laptop.get("/sessions").await;
    expect_sessions(&response, 2, &secrets, "GET /sessions on the laptop");
    let response = phone.get("/sessions").await;
    expect_sessions(&response, 2, &secrets, "GET /sessions on the phone");
    let response = bob.get("/sessions").await;
    expect_sessions(&response, 1, &secrets, "GET /sessions of bob");

    let request = TestRequest::post("/logout-everywhere");
    let response = expect_revoked(&mut laptop, request, 2, "POST /logout-everywhere").await;
    let removal = response.set_cookie(APP_COOKIE).unwrap_or_else(|| {
        panic!(
            "POST /logout-everywhere did not expire {APP_COOKIE}: {:?}",
            response.headers
        )
    });
    assert!(removal.is_removal(), "{}", removal.raw);

    for (browser, what) in [(&mut laptop, "the laptop"), (&mut phone, "the phone")] {
        expect_user(
            browser,
            None,
            &format!("GET /me on {what} after logout everywhere"),
        )
        .await;
    }
    let mut replay = Browser::new(&*client);
    replay.set_cookie(APP_COOKIE, laptop_cookie);
    expect_user(&mut replay, None, "GET /me replaying a revoked cookie").await;
    expect_user(&mut bob, Some("bob"), "another user stays logged in").await;
    let response = bob.get("/sessions").await;
    expect_sessions(&response, 1, &[], "GET /sessions of bob afterwards");

    login(&mut phone, "alice").await;
    let response = phone.get("/sessions").await;
    expect_sessions(&response, 1, &[], "GET /sessions after logging in again");
}

/// A change that would take a session past its size limit (16 KiB of `app`, one cookie of
/// `cart`) is `413 {"error":"session too large"}` with no cookie change, and the session keeps
/// its user, counters, flash messages and items.
pub async fn session_too_large_is_413_and_keeps_the_session<A: DemoApp + ?Sized>(app: &A) {
    let too_large = json!({"error": "session too large"});
    // Over the 16 KiB limit of `app`, under the 64 KiB body limit.
    let big = "x".repeat(20 * 1024);
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    login(&mut browser, "alice").await;
    expect_counter(&mut browser, "POST", "k", 1, "POST /counter/k").await;
    post_flash(&mut browser, "kept").await;
    add_to_cart(&mut browser, "apple", &["apple"], "POST /cart/items").await;
    let cookie = browser.cookie(APP_COOKIE).unwrap_or_default().to_string();
    let cart = browser.cookie(CART_COOKIE).unwrap_or_default().to_string();

    for (path, body) in [
        ("/flash", json!({"message": big})),
        ("/login", json!({"user": big})),
        ("/cart/items", json!({"item": "z".repeat(5 * 1024)})),
    ] {
        let response = browser.post_json(path, body).await;
        let what = format!("POST {path} past the size limit");
        expect_cookieless(&response, 413, too_large.clone(), &what);
    }
    assert_eq!(
        browser.cookie(APP_COOKIE),
        Some(cookie.as_str()),
        "the refused changes must not change the cookie"
    );
    assert_eq!(
        browser.cookie(CART_COOKIE),
        Some(cart.as_str()),
        "the refused item must not change the cart cookie"
    );
    expect_cart(
        &mut browser,
        &["apple"],
        "the cart keeps its items after the 413",
    )
    .await;
    expect_user(&mut browser, Some("alice"), "GET /me after the 413s").await;
    let what = "the counter survives the 413s";
    expect_counter(&mut browser, "GET", "k", 1, what).await;
    let what = "earlier flash messages survive the 413s";
    expect_flash(&mut browser, &["kept"], what).await;
}

/// Every response carries [`SECURITY_HEADERS`](crate::SECURITY_HEADERS), exactly once each:
/// the page, JSON answers, session errors and the framework's own rejections alike.
pub async fn security_headers_on_every_response<A: DemoApp + ?Sized>(app: &A) {
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    let mut responses = vec![
        ("GET /", browser.get("/").await),
        ("GET /health", browser.get("/health").await),
        ("GET /me", browser.get("/me").await),
        ("GET /no/such/route", browser.get("/no/such/route").await),
        (
            "POST /login with a bad body",
            browser
                .send(TestRequest::post("/login").body("{", "application/json"))
                .await,
        ),
    ];
    responses.push(("POST /login", login(&mut browser, "alice").await));
    responses.push(("POST /logout", browser.post("/logout").await));
    for (what, response) in responses {
        for (name, value) in crate::SECURITY_HEADERS {
            assert_eq!(
                response.header_values(name),
                vec![value],
                "{what}: {name} (status {}, headers {:?})",
                response.status,
                response.headers
            );
        }
    }
}

/// What the frameworks reject themselves is JSON too: a body over 64 KiB is `413`, a path that
/// does not decode `400`, and neither changes a session.
pub async fn framework_rejections_are_json<A: DemoApp + ?Sized>(app: &A) {
    let body_too_large = json!({"error": "request body too large"});
    let client = default_client(app).await;
    let mut browser = Browser::new(&*client);
    login(&mut browser, "alice").await;
    let huge = "y".repeat(crate::MAX_BODY_BYTES + 1);
    for (path, body) in [
        ("/login", json!({"user": huge})),
        ("/flash", json!({"message": huge})),
        ("/cart/items", json!({"item": huge})),
        ("/api/login", json!({"user": huge})),
    ] {
        let response = browser.post_json(path, body).await;
        let what = format!("POST {path} with a body over 64 KiB");
        expect_cookieless(&response, 413, body_too_large.clone(), &what);
    }
    let response = browser
        .send(TestRequest::post("/login").body(vec![b' '; crate::MAX_BODY_BYTES + 1], "text/plain"))
        .await;
    expect(
        &response,
        413,
        body_too_large,
        "POST /login with 64 KiB + 1 of anything",
    );

    for path in ["/counter/%FF", "/counter/%C3%28"] {
        let response = browser.get(path).await;
        expect_bad_request(&response, &format!("GET {path}"));
        let content_type = response.header("content-type").unwrap_or("");
        assert!(
            content_type.starts_with("application/json"),
            "GET {path}: expected JSON, got {content_type:?}"
        );
        let response = browser.post(path).await;
        expect_bad_request(&response, &format!("POST {path}"));
    }
    let what = "GET /counter/caf%C3%A9 decodes the path";
    let answer = json!({"key": "café", "value": 0});
    expect_get(&mut browser, "/counter/caf%C3%A9", 200, answer, what).await;
    expect_user(&mut browser, Some("alice"), "GET /me after the rejections").await;
    expect_cart(&mut browser, &[], "GET /cart after the rejections").await;
}

/// Login, counters, flash and logout, with `app` on the store `store` (a TOML inline table).
async fn session_flow<A: DemoApp + ?Sized>(app: &A, store: &str) {
    let config = config_with_store("app", store);
    let client = client_for(app, &config, KeyRing::generate(), TestStore::default()).await;
    let mut browser = Browser::new(&*client);
    login(&mut browser, "alice").await;
    expect_user(&mut browser, Some("alice"), "GET /me").await;
    for value in 1..=2 {
        expect_counter(&mut browser, "POST", "k", value, "POST /counter/k").await;
    }
    post_flash(&mut browser, "saved").await;
    expect_flash(&mut browser, &["saved"], "GET /flash").await;
    expect_flash(&mut browser, &[], "GET /flash again").await;
    let old = browser.cookie(APP_COOKIE).unwrap_or_default().to_string();
    expect_ok(&mut browser, "/logout", "POST /logout").await;
    let mut replay = Browser::new(&*client);
    replay.set_cookie(APP_COOKIE, old);
    expect_user(&mut replay, None, "GET /me with the logged-out cookie").await;
    expect_counter(&mut replay, "GET", "k", 0, "the record is gone").await;
    expect_metrics(&mut browser, store).await;
}

/// `GET /metrics` after a session flow on `store`: the contract's *Metrics* section in
/// Prometheus text format, with the flow's store operations timed; it sets no cookie. (Tests
/// share one recorder per process, so counts are checked for presence, not value.)
async fn expect_metrics(browser: &mut Browser<'_>, store: &str) {
    let response = browser.get("/metrics").await;
    assert_eq!(response.status, 200, "GET /metrics on {store}");
    assert_eq!(
        response.header("content-type"),
        Some(crate::METRICS_CONTENT_TYPE),
        "GET /metrics on {store}"
    );
    expect_no_set_cookie(&response, &format!("GET /metrics on {store}"));
    let text = response.text();
    let counters = [
        "session_created_total",
        "session_destroyed_total",
        "session_regenerated_total",
        "session_revoked_total",
        "session_too_large_total",
        "session_corrupt_total",
        "session_store_errors_total",
    ];
    for counter in counters {
        for expected in [
            format!("# TYPE {counter} counter"),
            format!("{counter}{{session=\"app\"}} "),
        ] {
            assert!(
                text.contains(&expected),
                "GET /metrics on {store}: no `{expected}` in\n{text}"
            );
        }
    }
    let histogram = "session_store_duration_seconds";
    let mut expected = vec![
        "# TYPE session_cross_origin_refused_total counter".to_string(),
        "\nsession_cross_origin_refused_total ".to_string(),
        format!("# TYPE {histogram} histogram"),
    ];
    // The flow loaded, created, moved (login) and deleted (logout) the `app` session.
    for op in ["load", "create", "regenerate", "delete"] {
        expected.push(format!("{histogram}_count{{session=\"app\",op=\"{op}\"}} "));
        expected.push(format!(
            "{histogram}_bucket{{session=\"app\",op=\"{op}\",le=\"0.001\"}} "
        ));
    }
    for expected in expected {
        assert!(
            text.contains(&expected),
            "GET /metrics on {store}: no `{expected}` in\n{text}"
        );
    }
}

/// 50 concurrent requests, each incrementing its own counter of one session: all persist.
async fn concurrent_counters<A: DemoApp + ?Sized>(app: &A, store: &str) {
    const REQUESTS: usize = 50;
    let config = config_with_store("app", store);
    let client = client_for(app, &config, KeyRing::generate(), TestStore::default()).await;
    let mut browser = Browser::new(&*client);
    login(&mut browser, "alice").await;

    let requests: Vec<TestRequest> = (0..REQUESTS)
        .map(|index| browser.prepare(TestRequest::post(format!("/counter/c{index}"))))
        .collect();
    let responses =
        futures_util::future::join_all(requests.into_iter().map(|request| client.send(request)))
            .await;
    for (index, response) in responses.iter().enumerate() {
        let key = format!("c{index}");
        expect(
            response,
            200,
            json!({"key": key, "value": 1}),
            "concurrent POST /counter",
        );
        browser.absorb(response);
    }
    for index in 0..REQUESTS {
        let key = format!("c{index}");
        expect_counter(&mut browser, "GET", &key, 1, "a concurrent update was lost").await;
    }
    expect_user(
        &mut browser,
        Some("alice"),
        "GET /me after concurrent updates",
    )
    .await;
}

on::flow_on_stores!(session_flow, "demo", "The whole flow with `app`, only the configuration text changing,":
    session_flow_on_memory_store => Memory,
    session_flow_on_file_store => File,
    session_flow_on_redis_store => Redis,
    session_flow_on_redis_cluster_store => RedisCluster,
    session_flow_on_postgres_store => Postgres,
    session_flow_on_mysql_store => Mysql,
    session_flow_on_sqlite_store => Sqlite,
);

on::flow_on_stores!(concurrent_counters, "counters", "50 concurrent counter increments of one session all persist,":
    concurrent_counters_persist_on_memory_store => Memory,
    concurrent_counters_persist_on_file_store => File,
    concurrent_counters_persist_on_redis_store => Redis,
);

/// Runs every scenario, in order (the Redis ones need `REDIS_URL`).
pub async fn run_all<A: DemoApp + ?Sized>(app: &A) {
    crate::__with_scenarios!(__run_scenarios(app));
}
