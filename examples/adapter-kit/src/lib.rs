//! The behaviours every adapter shares, written once and run on each: scenarios over a
//! framework-free client ([`DemoClient`]) and a fixed set of routes that the axum, actix-web and
//! rocket test apps (`tests/axum.rs`, `tests/actix.rs`, `tests/rocket.rs`) each provide with
//! their own extractors, answering with what the handlers of [`routes`] return.
//!
//! | route | extracts | does ([`routes`]) |
//! | --- | --- | --- |
//! | `GET /whoami` | `Session` | [`routes::whoami`] |
//! | `POST /login` | `Session` | [`routes::login`] |
//! | `POST /logout` | `Session` | [`routes::logout`] |
//! | `POST /visit` | `Session` | [`routes::visit`] |
//! | `GET /plain` | nothing | answers `plain` |
//! | `GET /twice` | `Session` twice, `NamedSession<Cart>` twice | [`routes::twice`] |
//! | `GET /missing` | `NamedSession<Missing>` | never runs: `missing` is not configured |
//! | `POST /cart` | `NamedSession<Cart>` | [`routes::add_to_cart`] |
//! | `GET /both` | `Session`, `NamedSession<Cart>` | [`routes::both`] |
//! | `POST /api/login` | `NamedSession<Api>` | [`routes::api_login`] |
//! | `GET /api/me` | `NamedSession<Api>` | [`routes::api_me`] |
//! | `POST /api/logout` | `NamedSession<Api>` | [`routes::api_logout`] |
//! | `GET /wrong-type` | `Session` | [`routes::wrong_type`], its error returned with `?` as the adapter's error |
//! | `GET /by-name` | `Sessions`, `Session`, `NamedSession<Cart>` | [`routes::by_name`] with `sessions.get("cart")` and `sessions.default_session()` |
//! | `GET /by-name/nope` | `Sessions` | `sessions.get("nope")`, its error returned with `?` |
//! | `POST /huge` | `Session` | [`routes::huge`] |
//! | `POST /cart-huge` | `NamedSession<Cart>` | [`routes::cart_huge`] |
//! | `GET /typed/{page}` | `Session` | [`routes::typed`] |
//! | `HEAD /typed/{page}` | `Session` | the same (saves nothing) |
//! | `POST /hooks/visit` | `Session` | [`routes::visit`] (a route exempt from the cross-origin check where configured) |
//! | `POST /owner-login` | `Session` | [`routes::bind_alice`] |
//! | `GET /me` | `LoggedIn` | the owner |
//! | `GET /me-page` | `Result<LoggedIn, LoginRejection>` | `page of {owner}`, or the rejection as a `303` to `/login-page` |
//! | `POST /write-then/{status}` | `Session` | [`routes::write_mallory`], answered with `status` |
//! | `POST /write-then-panic` | `Session` | [`routes::write_mallory`], then panics |
//! | `POST /write-then-discard` | `Session` | [`routes::write_mallory`], answered `422` and marked with the adapter's way to discard the request's sessions |
//! | `POST /login-huge` | `Session` | [`routes::login_huge`] (a 413 by `?`) |
//!
//! Every handler error goes back through the adapter's own error type (`?`), so the adapter
//! chooses the answer: 413 for a change past the size limit, 500 with the core's public JSON
//! body otherwise (rocket's test app renders them in its 413 and 500 catchers).
//!
//! The sessions come from [`manager`]: `app` (the default, server-side in a counting
//! [`TestStore`], cookie `app_session`), `cart` (client-side, cookie `cart`) and `api`
//! (server-side, header `x-session`).

use std::sync::Arc;

pub use demo_contract::{async_trait, DemoClient, TestRequest, TestResponse};
use futures_util::FutureExt;
pub use session_core::{CrossOriginGuard, SessionManager};
use session_core::{
    SessionsConfig, CROSS_ORIGIN_BODY, INTERNAL_ERROR_BODY, STORE_UNAVAILABLE_BODY, TOO_LARGE_BODY,
};
use session_stores::testing::{StoreCalls, TestStore, ADAPTER_TEST_CONFIG, FAILURE_DETAIL};

mod observe;
pub mod routes;

pub use observe::metrics_spans_and_events_are_recorded_and_carry_no_id;

session_core::session_name! {
    /// The client-side `cart` session.
    pub Cart = "cart";
    /// The `api` session, in header `x-session`.
    pub Api = "api";
    /// A name the manager does not know.
    pub Missing = "missing";
}

/// The header of the `api` session.
pub const API_HEADER: &str = "x-session";

/// A manager for [`ADAPTER_TEST_CONFIG`] (`app` and `api` in `store`, `cart` client-side), with
/// a fresh key.
pub async fn manager(store: &Arc<TestStore>) -> SessionManager {
    store
        .manager(ADAPTER_TEST_CONFIG)
        .await
        .unwrap_or_else(|error| panic!("the kit's manager: {error}"))
}

/// A test app: the routes of this crate behind one adapter, reached through that framework's
/// own test client.
#[async_trait(?Send)]
pub trait AdapterApp {
    /// The adapter's type that an application adds (`SessionLayer`, ...), which the 500 of an
    /// extractor without it names.
    fn adapter_name(&self) -> &'static str;

    /// The whole body of that 500, as the adapter documents it.
    fn missing_adapter_body(&self) -> String;

    /// The routes behind the adapter serving `manager`, or with `None` the same routes without
    /// the adapter.
    async fn client(&self, manager: Option<SessionManager>) -> Box<dyn DemoClient>;

    /// The routes behind the adapter serving `manager`, judging writes with `guard` (the
    /// adapter's `cross_origin(guard)`).
    async fn cross_origin_client(
        &self,
        manager: SessionManager,
        guard: CrossOriginGuard,
    ) -> Box<dyn DemoClient>;
}

/// Defines the [`AdapterApp`] `$app`: its client for a manager (or `None`) is `$client` (run in
/// an async function, so it may `.await`), its adapter's type is named `$adapter`, and the 500
/// of an extractor without the adapter has the body `$missing_body`.
///
/// ```ignore
/// adapter_kit::adapter_app!(
///     AxumApp,
///     |manager| demo_contract::clients::axum(match manager {
///         Some(manager) => routes().layer(SessionLayer::new(manager)),
///         None => routes(),
///     }),
///     "SessionLayer",
///     SessionRejection::NotInstalled.body_text()
/// );
/// ```
#[macro_export]
macro_rules! adapter_app {
    (
        $app:ident,
        |$manager:ident| $client:expr,
        |$guarded:ident, $guard:ident| $cross_origin_client:expr,
        $adapter:literal,
        $missing_body:expr $(,)?
    ) => {
        /// The kit's routes behind the adapter.
        struct $app;

        #[$crate::async_trait(?Send)]
        impl $crate::AdapterApp for $app {
            fn adapter_name(&self) -> &'static str {
                $adapter
            }

            fn missing_adapter_body(&self) -> String {
                $missing_body
            }

            async fn client(
                &self,
                $manager: Option<$crate::SessionManager>,
            ) -> Box<dyn $crate::DemoClient> {
                $client
            }

            async fn cross_origin_client(
                &self,
                $guarded: $crate::SessionManager,
                $guard: $crate::CrossOriginGuard,
            ) -> Box<dyn $crate::DemoClient> {
                $cross_origin_client
            }
        }
    };
}

/// Defines the handler `twice`, with the adapter's extractors: the default session
/// (`$session`) and the cart (`$cart`), each extracted twice, answering [`routes::twice`] or
/// the adapter's `$error`. The framework's route attribute, if it has one, comes first:
/// `adapter_kit::twice_handler!(#[get("/twice")] Session, NamedSession<Cart>, Error);`.
#[macro_export]
macro_rules! twice_handler {
    ($(#[$route:meta])* $session:ty, $cart:ty, $error:ty) => {
        $(#[$route])*
        async fn twice(
            first: $session,
            second: $session,
            cart: $cart,
            cart_again: $cart,
        ) -> ::std::result::Result<::std::string::String, $error> {
            ::std::result::Result::Ok($crate::routes::twice(&first, &second, &cart, &cart_again)?)
        }
    };
}

/// Generates one test per scenario for the [`AdapterApp`] `$app`, with the framework's async
/// test attribute: `adapter_kit::adapter_tests!(#[tokio::test] AxumApp);`.
#[macro_export]
macro_rules! adapter_tests {
    (#[$test:meta] $app:expr) => {
        $crate::adapter_tests!(@each #[$test] $app;
            extracting_twice_gives_the_same_handle,
            an_extractor_without_the_adapter_is_a_500_that_says_to_add_it,
            an_unconfigured_named_session_is_a_500_that_names_it,
            named_sessions_travel_in_their_own_cookies,
            header_transport_answers_in_the_session_header_and_reads_it_back,
            a_handler_without_a_session_sets_no_cookie_and_touches_no_store,
            reading_without_a_cookie_touches_no_store,
            a_session_that_is_only_read_is_not_written,
            a_tampered_cookie_is_no_session_and_never_reaches_the_store,
            a_store_failure_while_loading_is_a_500_without_detail_or_cookie,
            a_store_failure_while_saving_is_a_500_without_detail_or_cookie,
            session_errors_returned_with_question_mark_are_a_500_without_detail,
            sessions_opens_sessions_by_name_and_shares_handles,
            a_change_past_the_size_limit_is_413_and_the_session_keeps_what_it_had,
            a_typed_session_reads_and_writes_a_whole_struct,
            login_regenerates_the_id_and_retires_the_old_record,
            logout_deletes_the_record_and_expires_the_cookie,
            metrics_spans_and_events_are_recorded_and_carry_no_id,
            cross_origin_writes_are_refused_before_the_handler,
            same_origin_headerless_and_safe_requests_pass,
            trusted_origins_and_exempt_routes_pass,
            the_configured_cross_origin_table_applies_by_default,
            a_login_records_the_device_of_the_client,
            the_cross_origin_check_can_be_turned_off,
            the_login_guard_is_a_json_401_without_an_owner,
            the_login_guard_yields_the_owner,
            the_login_guard_redirects_html_routes,
            a_server_error_saves_nothing_and_sets_no_cookie,
            a_panicking_handler_saves_nothing,
            a_size_refusal_saves_nothing_of_the_request,
            head_saves_nothing,
            other_statuses_save_what_the_handler_changed,
            a_response_marked_to_discard_saves_nothing,
        );
    };
    (@each #[$test:meta] $app:expr; $($name:ident,)*) => {
        $(
            #[$test]
            async fn $name() {
                $crate::$name(&$app).await;
            }
        )*
    };
}

/// Every `Set-Cookie` line of `response`.
fn set_cookies(response: &TestResponse) -> Vec<&str> {
    response.header_values("set-cookie")
}

/// The `name=value` pairs of `response`'s `Set-Cookie` lines, as a `Cookie` header.
pub(crate) fn cookie_header(response: &TestResponse) -> String {
    set_cookies(response)
        .iter()
        .map(|line| line.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Sends `request` with `cookie` as its `Cookie` header.
async fn send_with_cookie(
    client: &dyn DemoClient,
    request: TestRequest,
    cookie: &str,
) -> TestResponse {
    client.send(with_cookie(request, cookie)).await
}

/// `request` with a `Cookie` header.
pub(crate) fn with_cookie(request: TestRequest, cookie: &str) -> TestRequest {
    request.header("cookie", cookie)
}

/// A fresh counting store and the app around it.
async fn app_with_store(app: &dyn AdapterApp) -> (Arc<TestStore>, Box<dyn DemoClient>) {
    let store = Arc::new(TestStore::default());
    let client = app.client(Some(manager(&store).await)).await;
    (store, client)
}

/// Logs in and returns the `Cookie` header that carries the session.
async fn logged_in(client: &dyn DemoClient) -> String {
    let response = client.send(TestRequest::post("/login")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let cookie = cookie_header(&response);
    assert!(cookie.starts_with("app_session="), "{cookie}");
    cookie
}

/// The user `GET /whoami` answers with `cookie`.
async fn whoami(client: &dyn DemoClient, cookie: &str) -> String {
    let response = send_with_cookie(client, TestRequest::get("/whoami"), cookie).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.text()
}

/// Extracting one session twice in a handler gives one handle: what one writes, the other
/// reads, and the request saves one session once.
pub async fn extracting_twice_gives_the_same_handle(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::get("/twice")).await;
    assert_eq!(response.text(), "true");
    assert_eq!(set_cookies(&response).len(), 2, "one cookie per session");
    assert_eq!(
        store.calls(),
        StoreCalls {
            loads: 0,
            writes: 1,
            deletes: 0
        },
        "one record created, nothing loaded"
    );
}

/// A session extractor on a route the adapter does not serve is a 500 that says what to add.
pub async fn an_extractor_without_the_adapter_is_a_500_that_says_to_add_it(app: &dyn AdapterApp) {
    let client = app.client(None).await;
    for request in [TestRequest::get("/whoami"), TestRequest::post("/cart")] {
        let response = client.send(request).await;
        assert_eq!(response.status, 500);
        assert!(set_cookies(&response).is_empty());
        let body = response.text();
        assert!(body.contains(app.adapter_name()), "{body}");
        assert_eq!(body, app.missing_adapter_body());
    }
}

/// A named session that is not configured is a 500 that names the table to add.
pub async fn an_unconfigured_named_session_is_a_500_that_names_it(app: &dyn AdapterApp) {
    let (_store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::get("/missing")).await;
    assert_eq!(response.status, 500);
    assert!(set_cookies(&response).is_empty());
    let body = response.text();
    assert!(body.contains("[sessions.missing]"), "{body}");
}

/// A named session is separate from the default one and travels sealed in its own cookie.
pub async fn named_sessions_travel_in_their_own_cookies(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let login = logged_in(&*client).await;

    let response = send_with_cookie(&*client, TestRequest::post("/cart"), &login).await;
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1, "only the cart changed: {cookies:?}");
    assert!(cookies[0].starts_with("cart="), "{cookies:?}");
    let cart = cookie_header(&response);
    assert!(!cart.contains("apple"), "the cart is sealed: {cart}");
    assert_eq!(store.len(), 1, "the cart lives in its cookie");

    let response = send_with_cookie(
        &*client,
        TestRequest::get("/both"),
        &format!("{login}; {cart}"),
    )
    .await;
    assert!(set_cookies(&response).is_empty(), "reading writes nothing");
    assert_eq!(
        response.json(),
        serde_json::json!(["alice", ["apple"], null])
    );
    let response = send_with_cookie(&*client, TestRequest::get("/both"), &cart).await;
    assert_eq!(response.json(), serde_json::json!([null, ["apple"], null]));
}

/// A header session answers in its header, sets no cookie, reads the header back (not a cookie
/// of that value) and, ended, answers an empty header.
pub async fn header_transport_answers_in_the_session_header_and_reads_it_back(
    app: &dyn AdapterApp,
) {
    let (_store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::post("/api/login")).await;
    assert_eq!(response.status, 200);
    assert!(
        set_cookies(&response).is_empty(),
        "a header session sets no cookie"
    );
    let token = response.header(API_HEADER).unwrap_or_default().to_string();
    assert!(!token.is_empty());

    let response = client
        .send(TestRequest::get("/api/me").header(API_HEADER, token.as_str()))
        .await;
    assert_eq!(response.text(), "bob");
    assert_eq!(response.header(API_HEADER), None, "unchanged: not resent");
    let as_cookie = with_cookie(TestRequest::get("/api/me"), &format!("app_session={token}"));
    assert_eq!(
        client.send(as_cookie).await.text(),
        "",
        "the header value is no cookie"
    );
    assert_eq!(client.send(TestRequest::get("/api/me")).await.text(), "");

    let response = client
        .send(TestRequest::post("/api/logout").header(API_HEADER, token.as_str()))
        .await;
    assert_eq!(
        response.header(API_HEADER),
        Some(""),
        "ended: an empty header"
    );
    let response = client
        .send(TestRequest::get("/api/me").header(API_HEADER, token.as_str()))
        .await;
    assert_eq!(response.text(), "");
}

/// A handler that extracts no session sets no cookie or header and touches no store, whatever
/// the request carries.
pub async fn a_handler_without_a_session_sets_no_cookie_and_touches_no_store(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;
    let before = store.calls();

    let request = with_cookie(TestRequest::get("/plain"), &cookie).header(API_HEADER, "anything");
    let response = client.send(request).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "plain");
    assert!(set_cookies(&response).is_empty());
    assert_eq!(response.header(API_HEADER), None);
    assert_eq!(store.calls(), before, "no store access without sessions");
}

/// Reading a session the request has no cookie for opens an empty one without the store.
pub async fn reading_without_a_cookie_touches_no_store(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::get("/whoami")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "");
    assert!(set_cookies(&response).is_empty());
    assert_eq!(store.calls().total(), 0);
}

/// A session that is only read is loaded once and not written back.
pub async fn a_session_that_is_only_read_is_not_written(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;
    let before = store.calls();

    let response = send_with_cookie(&*client, TestRequest::get("/whoami"), &cookie).await;
    assert!(set_cookies(&response).is_empty());
    assert_eq!(response.text(), "alice");
    assert_eq!(
        store.calls(),
        StoreCalls {
            loads: before.loads + 1,
            ..before
        }
    );
}

/// A cookie changed by one character is no session, and its id never reaches the store.
pub async fn a_tampered_cookie_is_no_session_and_never_reaches_the_store(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;
    let tampered = cookie.replacen("app_session=", "app_session=A", 1);
    let before = store.calls();

    let response = send_with_cookie(&*client, TestRequest::get("/whoami"), &tampered).await;
    assert_eq!(response.status, 200);
    assert!(set_cookies(&response).is_empty());
    assert_eq!(response.text(), "");
    assert_eq!(store.calls(), before, "a forged id never reaches the store");
}

/// A store that fails while a session loads is a JSON 500 that hides the cause and sets no
/// cookie.
pub async fn a_store_failure_while_loading_is_a_500_without_detail_or_cookie(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;
    store.fail();

    let response = send_with_cookie(&*client, TestRequest::get("/whoami"), &cookie).await;
    assert_eq!(response.status, 500);
    assert!(set_cookies(&response).is_empty());
    assert_eq!(response.text(), STORE_UNAVAILABLE_BODY);
    assert_eq!(response.header("content-type"), Some("application/json"));
}

/// A store that fails while a session saves turns the handler's answer into a JSON 500 that
/// hides the cause and sets no cookie for the session that was not saved.
pub async fn a_store_failure_while_saving_is_a_500_without_detail_or_cookie(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    store.fail();

    let response = client.send(TestRequest::post("/login")).await;
    assert_eq!(response.status, 500);
    assert!(set_cookies(&response).is_empty());
    let body = response.text();
    assert!(!body.contains(FAILURE_DETAIL), "{body}");
    assert_eq!(body, STORE_UNAVAILABLE_BODY);
}

/// A session error a handler returns with `?` is a 500 without detail. (Whether the request
/// still saves what it changed before the error differs: rocket saves nothing, which its own
/// tests check.)
pub async fn session_errors_returned_with_question_mark_are_a_500_without_detail(
    app: &dyn AdapterApp,
) {
    let (_store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::get("/wrong-type")).await;
    assert_eq!(response.status, 500);
    let body = response.text();
    assert_eq!(body, INTERNAL_ERROR_BODY);
    assert!(!body.contains("text"), "{body}");
}

/// `Sessions` opens configured sessions by a name chosen at run time, with the same handles
/// as the typed extractors; an unknown name is a 500.
pub async fn sessions_opens_sessions_by_name_and_shares_handles(app: &dyn AdapterApp) {
    let (_store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::get("/by-name")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let cookies = set_cookies(&response);
    assert!(
        cookies.len() == 1 && cookies[0].starts_with("cart="),
        "{cookies:?}"
    );
    assert_eq!(response.json(), serde_json::json!([true, true]));

    let response = client.send(TestRequest::get("/by-name/nope")).await;
    assert_eq!(response.status, 500);
    assert!(set_cookies(&response).is_empty());
}

/// A change past the size limit is a JSON 413, and the session keeps what it had.
pub async fn a_change_past_the_size_limit_is_413_and_the_session_keeps_what_it_had(
    app: &dyn AdapterApp,
) {
    let (_store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;
    for path in ["/huge", "/cart-huge"] {
        let response = send_with_cookie(&*client, TestRequest::post(path), &cookie).await;
        assert_eq!(response.status, 413, "{path}");
        assert_eq!(response.text(), TOO_LARGE_BODY, "{path}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert!(
            set_cookies(&response).is_empty(),
            "nothing changed, nothing sent"
        );
    }
    assert_eq!(whoami(&*client, &cookie).await, "alice");
}

/// A whole struct read and written as the session keeps its fields across requests.
pub async fn a_typed_session_reads_and_writes_a_whole_struct(app: &dyn AdapterApp) {
    let (_store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::get("/typed/home")).await;
    assert_eq!(response.text(), "1 home");
    let cookie = cookie_header(&response);
    let response = send_with_cookie(&*client, TestRequest::get("/typed/cart"), &cookie).await;
    assert_eq!(response.text(), "2 cart");
}

/// Logging in gives a new id in a new cookie, and the pre-login record is gone.
pub async fn login_regenerates_the_id_and_retires_the_old_record(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::post("/visit")).await;
    let anonymous = cookie_header(&response);
    assert!(anonymous.starts_with("app_session="), "{anonymous}");
    assert_eq!(store.len(), 1);

    let response = send_with_cookie(&*client, TestRequest::post("/login"), &anonymous).await;
    let fresh = cookie_header(&response);
    assert!(
        fresh.starts_with("app_session=") && fresh != anonymous,
        "{fresh}"
    );
    assert_eq!(store.len(), 1, "the pre-login record is gone");

    assert_eq!(
        whoami(&*client, &anonymous).await,
        "",
        "the old id is no session"
    );
    assert_eq!(whoami(&*client, &fresh).await, "alice");
}

/// Logging out deletes the record and expires the cookie; replaying the cookie is no session.
pub async fn logout_deletes_the_record_and_expires_the_cookie(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;

    let response = send_with_cookie(&*client, TestRequest::post("/logout"), &cookie).await;
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(
        cookies[0].starts_with("app_session=;") && cookies[0].contains("Max-Age=0"),
        "{cookies:?}"
    );
    assert!(store.is_empty());
    assert_eq!(whoami(&*client, &cookie).await, "");
}

/// The host every cross-origin request of the kit is sent to.
const HOST: &str = "app.example";

/// `POST /visit` to [`HOST`] with `headers`.
fn visit_with(headers: &[(&str, &str)]) -> TestRequest {
    headers.iter().fold(
        TestRequest::post("/visit").header("host", HOST),
        |request, (name, value)| request.header(name, *value),
    )
}

/// Header names and values.
type Headers = &'static [(&'static str, &'static str)];

/// The cross-origin headers of a `POST /visit`, each with a label and whether the default guard
/// refuses the write.
const WRITE_HEADERS: &[(&str, Headers, bool)] = &[
    ("cross-site", &[("sec-fetch-site", "cross-site")], true),
    ("same-site", &[("sec-fetch-site", "same-site")], true),
    (
        "cross-site with our own origin",
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://app.example"),
        ],
        true,
    ),
    (
        "another origin",
        &[("origin", "https://evil.example")],
        true,
    ),
    (
        "another port of our host",
        &[("origin", "http://app.example:4000")],
        true,
    ),
    ("null origin", &[("origin", "null")], true),
    ("same-origin", &[("sec-fetch-site", "same-origin")], false),
    ("none", &[("sec-fetch-site", "none")], false),
    (
        "same-origin with a foreign origin",
        &[
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://evil.example"),
        ],
        false,
    ),
    ("our own origin", &[("origin", "http://app.example")], false),
    ("neither header", &[], false),
];

/// A cross-site `POST /visit` whose `Origin` is `origin`.
fn cross_site_from(origin: &str) -> TestRequest {
    cross_site(TestRequest::post("/visit"), origin)
}

/// `request` to our host, marked cross-site and from `origin`.
fn cross_site(request: TestRequest, origin: &str) -> TestRequest {
    request
        .header("host", HOST)
        .header("sec-fetch-site", "cross-site")
        .header("origin", origin)
}

/// Asserts that `client` lets a cross-site write from the trusted `https://partner.example`
/// through (`trusted` says why it is trusted) and refuses one from `https://other.example`.
async fn assert_only_the_partner_passes(client: &dyn DemoClient, trusted: &str) {
    let partner = client
        .send(cross_site_from("https://partner.example"))
        .await;
    assert_passed(&partner, trusted);
    let other = client.send(cross_site_from("https://other.example")).await;
    assert_refused(&other, "untrusted origin");
}

/// Asserts `response` is the cross-origin refusal.
fn assert_refused(response: &TestResponse, label: &str) {
    assert_json_error(response, 403, CROSS_ORIGIN_BODY, label);
}

/// Asserts `response` is a JSON error: `status`, exactly `body`, and no cookie.
fn assert_json_error(response: &TestResponse, status: u16, body: &str, label: &str) {
    assert_eq!(response.status, status, "{label}: {}", response.text());
    assert_eq!(response.text(), body, "{label}");
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{label}"
    );
    assert!(set_cookies(response).is_empty(), "{label}: no cookie");
}

/// Asserts `response` passed to the handler, which wrote the session.
fn assert_passed(response: &TestResponse, label: &str) {
    assert_eq!(response.status, 200, "{label}: {}", response.text());
    assert!(
        !set_cookies(response).is_empty(),
        "{label}: the handler ran"
    );
}

/// On by default: a write that `Sec-Fetch-Site` marks as from another site or origin, or
/// (without it) whose `Origin` is not the request's own (`null` included), is a JSON 403 before
/// the handler, whatever its method: no session is opened, no store touched, no cookie set.
pub async fn cross_origin_writes_are_refused_before_the_handler(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;
    let before = store.calls();
    for (label, headers, _) in WRITE_HEADERS.iter().filter(|(_, _, refused)| *refused) {
        let response = send_with_cookie(&*client, visit_with(headers), &cookie).await;
        assert_refused(&response, label);
    }
    for method in ["PUT", "PATCH", "DELETE"] {
        let request = TestRequest::new(method, "/visit")
            .header("host", HOST)
            .header("sec-fetch-site", "cross-site");
        assert_refused(&client.send(request).await, method);
    }
    assert_eq!(store.calls(), before, "a refused write touches no store");
    assert_eq!(whoami(&*client, &cookie).await, "alice");
}

/// `Sec-Fetch-Site: same-origin` or `none`, an `Origin` that is the request's own, a request
/// with neither header (curl) and a safe method whatever its headers all reach the handler.
pub async fn same_origin_headerless_and_safe_requests_pass(app: &dyn AdapterApp) {
    let (_store, client) = app_with_store(app).await;
    for (label, headers, _) in WRITE_HEADERS.iter().filter(|(_, _, refused)| !*refused) {
        assert_passed(&client.send(visit_with(headers)).await, label);
    }
    let safe = cross_site(TestRequest::get("/typed/home"), "https://evil.example");
    assert_passed(&client.send(safe).await, "GET");
}

/// A trusted origin passes whatever the headers say, and so does an exempt route; the others
/// are still refused. The guard comes from the configuration's `[cross_origin]` table.
pub async fn trusted_origins_and_exempt_routes_pass(app: &dyn AdapterApp) {
    let store = Arc::new(TestStore::default());
    let config = SessionsConfig::from_toml(&format!(
        "{ADAPTER_TEST_CONFIG}\n[cross_origin]\n\
         trusted_origins = [\"https://partner.example\"]\n\
         exempt_paths = [\"/hooks/*\"]\n"
    ))
    .unwrap_or_else(|error| panic!("{error}"));
    let guard =
        CrossOriginGuard::new(&config.cross_origin).unwrap_or_else(|error| panic!("{error}"));
    let client = app.cross_origin_client(manager(&store).await, guard).await;
    assert_only_the_partner_passes(&*client, "trusted origin").await;
    let hook = cross_site(TestRequest::post("/hooks/visit"), "https://idp.example");
    assert_passed(&client.send(hook).await, "exempt route");
}

/// A login through the adapter records the client's `User-Agent` in the session's device
/// record, which the owner's device list shows; a request that binds no owner reads nothing.
pub async fn a_login_records_the_device_of_the_client(app: &dyn AdapterApp) {
    let store = Arc::new(TestStore::default());
    let manager = manager(&store).await;
    let client = app.client(Some(manager.clone())).await;
    let login = TestRequest::post("/login").header("user-agent", "KitBrowser/1.0");
    let response = client.send(login).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let devices = manager
        .owner_sessions("app", "alice", None)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(devices.len(), 1);
    let device = devices[0].device.as_ref().expect("a device record");
    assert_eq!(device.user_agent.as_deref(), Some("KitBrowser/1.0"));
    assert_eq!(
        device.ip, None,
        "addresses are kept only with owners.record_ip"
    );
    assert!(device.logged_in_at > 0 && device.last_seen_at >= device.logged_in_at);
}

/// The configuration's `[cross_origin]` table applies through the manager, with no guard given
/// to the adapter in code.
pub async fn the_configured_cross_origin_table_applies_by_default(app: &dyn AdapterApp) {
    let store = Arc::new(TestStore::default());
    let configured = store
        .manager(&format!(
            "{ADAPTER_TEST_CONFIG}\n[cross_origin]\ntrusted_origins = [\"https://partner.example\"]\n"
        ))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let client = app.client(Some(configured)).await;
    assert_only_the_partner_passes(&*client, "origin trusted by the configuration").await;
}

/// With the check turned off, a cross-site write reaches the handler.
pub async fn the_cross_origin_check_can_be_turned_off(app: &dyn AdapterApp) {
    let store = Arc::new(TestStore::default());
    let client = app
        .cross_origin_client(manager(&store).await, CrossOriginGuard::disabled())
        .await;
    let request = cross_site_from("https://evil.example");
    assert_passed(&client.send(request).await, "off");
}

/// The login guard (`GET /me`) answers `401 {"error":"not logged in"}` as JSON to a request
/// without a session, and to a session with values but no owner.
pub async fn the_login_guard_is_a_json_401_without_an_owner(app: &dyn AdapterApp) {
    let (_store, client) = app_with_store(app).await;
    // `visited` written, no owner bound.
    let visited = client.send(TestRequest::post("/visit")).await;
    assert_eq!(visited.status, 200, "{}", visited.text());
    let values_only = cookie_header(&visited);
    for (label, request) in [
        ("no cookie", TestRequest::get("/me")),
        (
            "no owner",
            with_cookie(TestRequest::get("/me"), &values_only),
        ),
    ] {
        let response = client.send(request).await;
        assert_json_error(&response, 401, r#"{"error":"not logged in"}"#, label);
    }
}

/// Once an owner is bound (`POST /owner-login`), the guard yields it.
pub async fn the_login_guard_yields_the_owner(app: &dyn AdapterApp) {
    let (_store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::post("/owner-login")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let cookie = cookie_header(&response);
    let response = send_with_cookie(&*client, TestRequest::get("/me"), &cookie).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "alice");
}

/// An HTML route turns the guard's rejection into a `303` to the login page.
pub async fn the_login_guard_redirects_html_routes(app: &dyn AdapterApp) {
    let (_store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::get("/me-page")).await;
    assert_eq!(response.status, 303, "{}", response.text());
    assert_eq!(response.header("location"), Some("/login-page"));
    let response = client.send(TestRequest::post("/owner-login")).await;
    let cookie = cookie_header(&response);
    let response = send_with_cookie(&*client, TestRequest::get("/me-page"), &cookie).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "page of alice");
}

/// A handler that writes and then answers 500 or 503 saves nothing: no cookie is set, the
/// store is not written, and the session is as it was.
pub async fn a_server_error_saves_nothing_and_sets_no_cookie(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;
    let before = store.calls();
    for status in [500, 503] {
        let path = format!("/write-then/{status}");
        for request in [
            TestRequest::post(path.as_str()),
            with_cookie(TestRequest::post(path.as_str()), &cookie),
        ] {
            let response = client.send(request).await;
            assert_eq!(response.status, status);
            assert!(set_cookies(&response).is_empty(), "{status}");
        }
    }
    assert_eq!(store.calls().writes, before.writes, "nothing written");
    assert_eq!(store.len(), 1, "no record for the anonymous failures");
    assert_eq!(whoami(&*client, &cookie).await, "alice");
}

/// A handler that writes and then panics saves nothing: whether the framework answers a 500 or
/// lets the panic through, no cookie is set and the session is as it was.
pub async fn a_panicking_handler_saves_nothing(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;
    let before = store.calls();
    for request in [
        TestRequest::post("/write-then-panic"),
        with_cookie(TestRequest::post("/write-then-panic"), &cookie),
    ] {
        let sent = std::panic::AssertUnwindSafe(client.send(request))
            .catch_unwind()
            .await;
        if let Ok(response) = sent {
            assert_eq!(response.status, 500);
            assert!(set_cookies(&response).is_empty());
        }
    }
    assert_eq!(store.calls().writes, before.writes, "nothing written");
    assert_eq!(whoami(&*client, &cookie).await, "alice");
}

/// A login that writes, regenerates and then fails on a value past the size limit (a 413 by
/// `?`) saves nothing of the request: no cookie, the old id still opens the session as it was.
pub async fn a_size_refusal_saves_nothing_of_the_request(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;
    let before = store.calls();
    let response = send_with_cookie(&*client, TestRequest::post("/login-huge"), &cookie).await;
    assert_eq!(response.status, 413, "{}", response.text());
    assert_eq!(response.text(), TOO_LARGE_BODY);
    assert!(set_cookies(&response).is_empty(), "no cookie");
    assert_eq!(store.calls().writes, before.writes, "nothing written");
    assert_eq!(store.calls().deletes, before.deletes, "the old id lives");
    assert_eq!(whoami(&*client, &cookie).await, "alice");
}

/// A `HEAD` request to a route that writes saves nothing and sets no cookie.
pub async fn head_saves_nothing(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let response = client.send(TestRequest::get("/typed/home")).await;
    let cookie = cookie_header(&response);
    let before = store.calls();
    for request in [
        TestRequest::new("HEAD", "/typed/home"),
        with_cookie(TestRequest::new("HEAD", "/typed/home"), &cookie),
    ] {
        let response = client.send(request).await;
        assert_eq!(response.status, 200);
        assert!(set_cookies(&response).is_empty());
    }
    assert_eq!(store.calls().writes, before.writes, "nothing written");
    let response = send_with_cookie(&*client, TestRequest::get("/typed/cart"), &cookie).await;
    assert_eq!(response.text(), "2 cart", "the HEADs counted nothing");
}

/// Any other status (a 404, a 400) saves what the handler changed.
pub async fn other_statuses_save_what_the_handler_changed(app: &dyn AdapterApp) {
    let (_store, client) = app_with_store(app).await;
    for status in [404, 400] {
        let response = client
            .send(TestRequest::post(format!("/write-then/{status}")))
            .await;
        assert_eq!(response.status, status);
        let cookie = cookie_header(&response);
        assert!(cookie.starts_with("app_session="), "{status}: {cookie}");
        assert_eq!(whoami(&*client, &cookie).await, "mallory", "{status}");
    }
}

/// A response the application marks with the adapter's way to discard (its own rendering of a
/// session error) saves nothing, whatever its status.
pub async fn a_response_marked_to_discard_saves_nothing(app: &dyn AdapterApp) {
    let (store, client) = app_with_store(app).await;
    let cookie = logged_in(&*client).await;
    let before = store.calls();
    let response =
        send_with_cookie(&*client, TestRequest::post("/write-then-discard"), &cookie).await;
    assert_eq!(response.status, 422);
    assert!(set_cookies(&response).is_empty());
    assert_eq!(store.calls().writes, before.writes, "nothing written");
    assert_eq!(whoami(&*client, &cookie).await, "alice");
}
