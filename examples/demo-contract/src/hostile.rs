//! Hostile HTTP, written once and sent to each demo through its framework's own test client:
//! cookie headers from 1 byte to far past any server's limit, thousands of cookies, control and
//! non-UTF-8 bytes, deeply nested JSON, 3 MB bodies, path keys with CR, LF or NUL.
//!
//! What every request must get: an answer below 500 (none of these is a store failure, and the
//! stores are in memory) and no panic anywhere in the process, handler or not. A request the
//! framework's own request type cannot even represent (a control byte in a header value, which
//! HTTP forbids and servers refuse while parsing) never reaches the app; only those may be
//! refused by the client, and each group asserts that its requests did reach the app otherwise.
//!
//! Three groups check what odd cookies and a changed policy must and must not change: a stray
//! chunk cookie beside a client-side cart hides nothing ([`a_stray_cart_chunk_keeps_the_cart`]),
//! a dead signed id repeated in one header is looked up once
//! ([`a_dead_id_repeated_is_one_store_lookup`]), and a shortened idle timeout reaches carts
//! already issued, within the documented allowance
//! ([`a_shortened_idle_timeout_reaches_carts_already_issued`]).
//!
//! A demo's tests implement [`DemoApp`] and generate one test per group with
//! [`hostile_tests!`](crate::hostile_tests):
//!
//! ```ignore
//! demo_contract::hostile_tests!(#[tokio::test] AxumDemo);
//! ```

use std::sync::{Mutex, Once, PoisonError};

use session_core::KeyRing;
use session_stores::testing::TestStore;

use crate::client::{DemoApp, DemoClient, RawRequest, SetCookie, TestResponse, SESSION_HEADER};
use crate::startup::DEFAULT_CONFIG;
use crate::stores::{config_with_store, test_manager};

impl RawRequest {
    fn new(method: &str, path: impl Into<String>) -> Self {
        RawRequest {
            method: method.to_string(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn json(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self.header("content-type", "application/json")
    }

    fn cookie(self, value: impl Into<Vec<u8>>) -> Self {
        self.header("cookie", value)
    }

    /// Whether every test client can carry the request as it is: header values of UTF-8 text
    /// without control characters (tab aside), a path of visible ASCII. Only such requests are
    /// required to reach the app; the others are still sent to the clients that can carry them.
    pub fn is_valid_http(&self) -> bool {
        let text = |bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .is_ok_and(|text| !text.chars().any(|c| c.is_control() && c != '\t'))
        };
        self.headers.iter().all(|(_, value)| text(value))
            && self.path.bytes().all(|b| b.is_ascii_graphic())
    }
}

/// Panics since the hook was installed that this test can have caused: on its own thread or on
/// a thread no test runs on (a runtime's worker), not on another test's thread (the test
/// harness names each test's thread after the test), so that a test failing beside this one is
/// not counted as a panic of the app. The hook still prints every panic.
fn panics_so_far() -> usize {
    static PANICS_BY_THREAD: Mutex<Vec<Option<String>>> = Mutex::new(Vec::new());
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current().name().map(String::from);
            PANICS_BY_THREAD
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(thread);
            previous(info);
        }));
    });
    let ours = std::thread::current().name().map(String::from);
    let another_test = |thread: &Option<String>| {
        thread.as_deref().is_some_and(|name| {
            Some(name) != ours.as_deref()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:".contains(&b))
        })
    };
    PANICS_BY_THREAD
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|thread| !another_test(thread))
        .count()
}

/// What a group of requests needs: the client and a logged-in user's cookies.
struct Harness {
    client: Box<dyn DemoClient>,
    /// `app_session=...` and `cart=...` of a logged-in user with one cart item.
    logged_in: String,
    /// The `x-session` value of an API login.
    api_session: Vec<u8>,
}

impl Harness {
    async fn new<A: DemoApp + ?Sized>(app: &A) -> Harness {
        let manager = test_manager(DEFAULT_CONFIG, KeyRing::generate(), TestStore::default()).await;
        let client = app.client(manager).await;
        let mut jar = Vec::new();
        for (path, body) in [
            ("/login", r#"{"user":"alice"}"#),
            ("/cart/items", r#"{"item":"apple"}"#),
        ] {
            let response = client
                .send_raw(RawRequest::new("POST", path).json(body))
                .await
                .unwrap_or_else(|| panic!("POST {path} was refused by the test client"));
            assert_eq!(response.status, 200, "POST {path}: {}", response.text());
            jar.extend(
                response
                    .set_cookies()
                    .into_iter()
                    .map(|cookie: SetCookie| format!("{}={}", cookie.name, cookie.value)),
            );
        }
        let response = client
            .send_raw(RawRequest::new("POST", "/api/login").json(r#"{"user":"bob"}"#))
            .await
            .unwrap_or_else(|| panic!("POST /api/login was refused by the test client"));
        assert_eq!(response.status, 200, "POST /api/login: {}", response.text());
        let api_session = response
            .header(SESSION_HEADER)
            .unwrap_or_else(|| panic!("POST /api/login set no {SESSION_HEADER}"))
            .as_bytes()
            .to_vec();
        Harness {
            client,
            logged_in: jar.join("; "),
            api_session,
        }
    }

    /// Sends every request of a group; asserts no 5xx, no panic, that every request HTTP can
    /// carry reached the app, and that the app still logs a user in afterwards.
    async fn run(&self, group: &str, requests: Vec<RawRequest>) {
        let panics = panics_so_far();
        let required = requests
            .iter()
            .filter(|request| request.is_valid_http())
            .count();
        let mut reached = 0;
        for request in requests {
            let described = format!("{request:?}");
            let Some(response) = self.client.send_raw(request).await else {
                continue;
            };
            reached += 1;
            assert!(
                response.status < 500,
                "{group}: {described} got {} {:?}",
                response.status,
                response.text().chars().take(200).collect::<String>()
            );
        }
        assert_eq!(
            panics_so_far(),
            panics,
            "{group}: something panicked (see above)"
        );
        assert!(
            reached >= required,
            "{group}: only {reached} requests reached the app, expected at least {required}"
        );
        let login = self
            .client
            .send_raw(RawRequest::new("POST", "/login").json(r#"{"user":"carol"}"#))
            .await
            .unwrap_or_else(|| panic!("{group}: POST /login afterwards was refused"));
        assert_eq!(login.status, 200, "{group}: POST /login afterwards");
        let cookies: Vec<String> = login
            .set_cookies()
            .into_iter()
            .map(|cookie| format!("{}={}", cookie.name, cookie.value))
            .collect();
        let me = self
            .client
            .send_raw(RawRequest::new("GET", "/me").cookie(cookies.join("; ")))
            .await
            .map(|response| response.status);
        assert_eq!(me, Some(200), "{group}: GET /me afterwards");
    }
}

/// The routes a hostile cookie or header is sent to: reading and writing each session.
fn session_routes() -> [(&'static str, &'static str); 6] {
    [
        ("GET", "/me"),
        ("POST", "/counter/visits"),
        ("GET", "/cart"),
        ("GET", "/flash"),
        ("POST", "/cart/items"),
        ("GET", "/api/me"),
    ]
}

/// Sizes around every limit on the way: one byte, a browser's cookie, the codec's 64 KiB, a
/// megabyte.
const SIZES: [usize; 12] = [
    1,
    2,
    100,
    4_095,
    4_096,
    4_097,
    8_192,
    16_385,
    65_536,
    65_537,
    262_144,
    1 << 20,
];

/// Cookie headers from 1 byte to a megabyte: junk, session cookies of every size (base64 and
/// not), and the same beside a logged-in user's real cookies.
pub async fn cookie_headers_of_every_size<A: DemoApp + ?Sized>(app: &A) {
    let harness = Harness::new(app).await;
    let mut requests = Vec::new();
    for size in SIZES {
        let values = [
            "a".repeat(size),
            format!("app_session={}", "A".repeat(size.saturating_sub(12))),
            format!("cart={}", "B_-9".repeat(size / 4 + 1)),
            format!("app_session={}; {}", "%".repeat(size), harness.logged_in),
            format!("{}; cart={}", harness.logged_in, "=".repeat(size)),
        ];
        for (index, value) in values.into_iter().enumerate() {
            let (method, path) = session_routes()[index % session_routes().len()];
            requests.push(RawRequest::new(method, path).cookie(value.clone()));
            requests.push(
                RawRequest::new("GET", "/api/me")
                    .header(SESSION_HEADER, value.into_bytes())
                    .cookie(harness.logged_in.as_str()),
            );
        }
    }
    harness.run("cookie sizes", requests).await;
}

/// Thousands of cookies in one header and thousands of `Cookie` headers: unrelated names,
/// thousands of copies of each session cookie, every chunk name, the real cookies last.
pub async fn thousands_of_cookies<A: DemoApp + ?Sized>(app: &A) {
    let harness = Harness::new(app).await;
    let many = |make: &dyn Fn(usize) -> String| (0..5_000).map(make).collect::<Vec<_>>();
    let one_header = [
        many(&|i| format!("c{i}=v{i}")),
        many(&|i| format!("app_session=forged{i}")),
        many(&|i| format!("app_session.{i}=x")),
        many(&|i| format!("cart.{}=AAAA", i % 10)),
        many(&|_| "=".to_string()),
        many(&|_| ";".to_string()),
    ];
    let mut requests = Vec::new();
    for cookies in one_header {
        let header = format!("{}; {}", cookies.join("; "), harness.logged_in);
        for (method, path) in session_routes() {
            requests.push(RawRequest::new(method, path).cookie(header.clone()));
        }
    }
    let mut many_headers = RawRequest::new("GET", "/me");
    for i in 0..2_000 {
        many_headers = many_headers.cookie(format!("app_session=junk{i}"));
    }
    requests.push(many_headers.cookie(harness.logged_in.as_str()));
    harness.run("thousands of cookies", requests).await;
}

/// Every control byte, DEL and non-UTF-8 bytes in cookie names, values and the session header,
/// and in JSON bodies.
pub async fn control_and_non_utf8_bytes<A: DemoApp + ?Sized>(app: &A) {
    let harness = Harness::new(app).await;
    let mut requests = Vec::new();
    for byte in (0u8..0x20).chain([0x7f, 0x80, 0xc3, 0xff]) {
        let value = |text: &[u8]| {
            let mut value = text.to_vec();
            value.push(byte);
            value.extend_from_slice(b"x");
            value
        };
        requests.push(RawRequest::new("GET", "/me").cookie(value(b"app_session=")));
        requests.push(RawRequest::new("GET", "/me").cookie(value(harness.logged_in.as_bytes())));
        requests.push(RawRequest::new("POST", "/cart/items").cookie(value(b"cart")));
        requests.push(
            RawRequest::new("GET", "/api/me").header(SESSION_HEADER, value(&harness.api_session)),
        );
        // In a body they always arrive: raw (invalid JSON) and escaped (valid JSON).
        let mut raw = br#"{"user":"a"#.to_vec();
        raw.push(byte);
        raw.extend_from_slice(br#""}"#);
        requests.push(RawRequest::new("POST", "/login").json(raw));
        let escaped = format!(r#"{{"message":"a\u{:04x}b"}}"#, byte);
        requests.push(RawRequest::new("POST", "/flash").json(escaped));
    }
    requests
        .push(RawRequest::new("POST", "/login").json(r#"{"user":"\u0000\r\nSet-Cookie: x=y"}"#));
    requests.push(RawRequest::new("POST", "/login").json(b"{\"user\":\"\xff\xfe\"}".to_vec()));
    requests.push(RawRequest::new("POST", "/api/login").json(r#"{"user":"\ud800"}"#));
    harness.run("control bytes", requests).await;
}

/// JSON nested far past any parser's recursion limit, and nested values inside valid bodies.
pub async fn deeply_nested_json<A: DemoApp + ?Sized>(app: &A) {
    let harness = Harness::new(app).await;
    let depth = 50_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let open_only = "[{\"a\":".repeat(depth);
    let mut requests = Vec::new();
    for path in ["/login", "/flash", "/cart/items", "/api/login"] {
        for body in [
            arrays.clone(),
            objects.clone(),
            open_only.clone(),
            format!(r#"{{"user":{objects},"message":{arrays},"item":{arrays}}}"#),
            format!(
                r#"{{"user":"alice","extra":{}1{}}}"#,
                "[".repeat(100),
                "]".repeat(100)
            ),
        ] {
            requests.push(
                RawRequest::new("POST", path)
                    .json(body)
                    .cookie(harness.logged_in.as_str()),
            );
        }
    }
    harness.run("nested JSON", requests).await;
}

/// 3 MB bodies (JSON and not) on every route that reads one, and bodies just under and over
/// the contract's 64 KiB, whose strings would take a session past its size limit.
pub async fn three_megabyte_bodies<A: DemoApp + ?Sized>(app: &A) {
    let harness = Harness::new(app).await;
    let mut requests = Vec::new();
    for size in [3 << 20, 65 * 1024, 60 * 1024, 20 * 1024, 5 * 1024] {
        let text = "x".repeat(size);
        for (path, field) in [
            ("/login", "user"),
            ("/flash", "message"),
            ("/cart/items", "item"),
            ("/api/login", "user"),
        ] {
            requests.push(
                RawRequest::new("POST", path)
                    .json(format!(r#"{{"{field}":"{text}"}}"#))
                    .cookie(harness.logged_in.as_str()),
            );
        }
    }
    let junk = vec![b'{'; 3 << 20];
    for path in [
        "/login",
        "/flash",
        "/cart/items",
        "/api/login",
        "/counter/visits",
        "/logout",
        "/me",
    ] {
        requests.push(RawRequest::new("POST", path).json(junk.clone()));
    }
    harness.run("3 MB bodies", requests).await;
}

/// Counter keys holding CR, LF, NUL, header-injection attempts, invalid UTF-8 and 10 KB,
/// percent-encoded (raw ones cannot be represented and never reach an app).
pub async fn path_keys_with_crlf_or_nul<A: DemoApp + ?Sized>(app: &A) {
    let harness = Harness::new(app).await;
    let keys = [
        "%0D%0A".to_string(),
        "a%00b".to_string(),
        "%00".to_string(),
        "x%0D%0ASet-Cookie:%20app_session=forged".to_string(),
        "%0Aflash%0D".to_string(),
        "%E2%80%A8%E2%80%A9".to_string(),
        "%FF%FE".to_string(),
        "%C0%80".to_string(),
        "%2F..%2F..%2Fetc%2Fpasswd".to_string(),
        "_flash".to_string(),
        "%5F%66lash".to_string(),
        "k".repeat(10_000),
        "%".to_string(),
        "%zz".to_string(),
    ];
    let mut requests = Vec::new();
    for key in &keys {
        for method in ["GET", "POST"] {
            requests.push(
                RawRequest::new(method, format!("/counter/{key}"))
                    .cookie(harness.logged_in.as_str()),
            );
        }
    }
    for raw in ["/counter/a\r\nb", "/counter/a\0b"] {
        requests.push(RawRequest::new("GET", raw));
        requests.push(RawRequest::new("POST", raw));
    }
    harness.run("path keys", requests).await;
}

/// The `name=value` pairs a response sets, removals left out, as a `Cookie` header would carry
/// them.
fn cookies_set(response: &TestResponse) -> Vec<String> {
    response
        .set_cookies()
        .into_iter()
        .filter(|cookie| !cookie.is_removal())
        .map(|cookie| format!("{}={}", cookie.name, cookie.value))
        .collect()
}

/// Sends `request`, which every test client can carry, and returns the app's answer.
async fn send(client: &dyn DemoClient, request: RawRequest) -> TestResponse {
    let described = format!("{} {}", request.method, request.path);
    client
        .send_raw(request)
        .await
        .unwrap_or_else(|| panic!("{described} was refused by the test client"))
}

/// The cart's items a response shows, asserting a 200.
fn items_of(response: &TestResponse, what: &str) -> Vec<String> {
    assert_eq!(response.status, 200, "{what}: {}", response.text());
    let items = &response.json()["items"];
    serde_json::from_value(items.clone())
        .unwrap_or_else(|error| panic!("{what}: no items ({error}): {}", response.text()))
}

/// A stray chunk cookie of the cookie-store `cart` (`cart.1=x`, or `cart.N=x` past its last
/// chunk), listed before the real cookies or after them, hides nothing: the cart reads back and
/// the next write keeps its items. Run with `max_chunks = 4`, so `cart.1` to `cart.3` are chunk
/// names, on a cart of one cookie and on one split across several.
pub async fn a_stray_cart_chunk_keeps_the_cart<A: DemoApp + ?Sized>(app: &A) {
    let config = config_with_store("cart", r#"{ type = "cookie", max_chunks = 4 }"#);
    let manager = test_manager(&config, KeyRing::generate(), TestStore::default()).await;
    let client = app.client(manager).await;
    // Items long enough that three of them need more than one cookie (each shows as its
    // number and length when an assertion fails).
    let long = |n: usize| format!("{n}:{}", "p".repeat(1_200));
    for (shape, items) in [
        ("one cookie", vec!["apple".to_string(), "fig".to_string()]),
        ("chunked", (0..3).map(long).collect::<Vec<_>>()),
    ] {
        let mut cookies: Vec<String> = Vec::new();
        for item in &items {
            let mut request = RawRequest::new("POST", "/cart/items")
                .json(serde_json::json!({ "item": item }).to_string());
            if !cookies.is_empty() {
                request = request.cookie(cookies.join("; "));
            }
            let response = send(&*client, request).await;
            items_of(&response, &format!("{shape}: POST /cart/items"));
            let set = cookies_set(&response);
            if !set.is_empty() {
                cookies = set;
            }
        }
        let chunks = cookies.len();
        assert!(
            (shape == "chunked") == (chunks > 1),
            "{shape}: the cart was sent as {cookies:?}"
        );
        let after_last = format!("cart.{chunks}=x");
        let mut headers = Vec::new();
        for stray in ["cart.1=x".to_string(), after_last] {
            let mut before = vec![stray.clone()];
            before.extend(cookies.iter().cloned());
            let mut after = cookies.clone();
            after.push(stray.clone());
            headers.push((format!("`{stray}` before the cart"), before.join("; ")));
            headers.push((format!("`{stray}` after the cart"), after.join("; ")));
        }
        for (stray, header) in headers {
            let what = format!("{shape} ({chunks} cookies), {stray}");
            let read = send(
                &*client,
                RawRequest::new("GET", "/cart").cookie(header.clone()),
            )
            .await;
            assert_eq!(items_of(&read, &what), items, "{what}: GET /cart");
            let write = send(
                &*client,
                RawRequest::new("POST", "/cart/items")
                    .json(r#"{"item":"plum"}"#)
                    .cookie(header.clone()),
            )
            .await;
            let mut expected = items.clone();
            expected.push("plum".to_string());
            assert_eq!(
                items_of(&write, &what),
                expected,
                "{what}: POST /cart/items"
            );
            // What the write sent reads back whole.
            let read = send(
                &*client,
                RawRequest::new("GET", "/cart").cookie(cookies_set(&write).join("; ")),
            )
            .await;
            assert_eq!(
                items_of(&read, &what),
                expected,
                "{what}: GET /cart after the write"
            );
        }
    }
}

/// One dead signed `app` id (its session logged out, so the signature verifies but the store
/// holds no record) repeated eight times in the `Cookie` header costs one store lookup, as
/// once does.
pub async fn a_dead_id_repeated_is_one_store_lookup<A: DemoApp + ?Sized>(app: &A) {
    let counts = TestStore::default();
    let config = config_with_store("app", r#"{ type = "counting" }"#);
    let manager = test_manager(&config, KeyRing::generate(), counts.clone()).await;
    let client = app.client(manager).await;
    let login = send(
        &*client,
        RawRequest::new("POST", "/login").json(r#"{"user":"alice"}"#),
    )
    .await;
    assert_eq!(login.status, 200, "POST /login: {}", login.text());
    let app_cookie = login
        .set_cookies()
        .into_iter()
        .find(|cookie| cookie.name == "app_session" && !cookie.is_removal())
        .unwrap_or_else(|| panic!("POST /login set no app_session cookie"));
    let dead = format!("app_session={}", app_cookie.value);
    let logout = send(
        &*client,
        RawRequest::new("POST", "/logout").cookie(dead.as_str()),
    )
    .await;
    assert_eq!(logout.status, 200, "POST /logout: {}", logout.text());

    for copies in [1, 8] {
        let header = vec![dead.as_str(); copies].join("; ");
        let before = counts.calls();
        let me = send(&*client, RawRequest::new("GET", "/me").cookie(header)).await;
        assert_eq!(me.status, 401, "{copies} dead ids: GET /me: {}", me.text());
        let after = counts.calls();
        assert_eq!(
            (after.loads - before.loads, after.total() - before.total()),
            (1, 1),
            "{copies} copies of one dead id: store lookups, then all store calls"
        );
    }
}

/// A cart issued under a longer idle timeout than the current one opens only while its deadline
/// lies within one current idle window plus the 5-minute clock-skew allowance: records do not
/// store when they were last used, so the check on open is made from the deadline alone.
pub async fn a_shortened_idle_timeout_reaches_carts_already_issued<A: DemoApp + ?Sized>(app: &A) {
    const CURRENT_IDLE_SECS: u64 = 3_600;
    let keys = KeyRing::generate();
    // A client of the demo whose cart cookies carry an idle timeout of `idle_secs`.
    let client = |idle_secs: u64| {
        let config = config_with_store(
            "cart",
            &format!("{{ type = \"cookie\" }}\nexpiry = {{ idle_timeout_secs = {idle_secs} }}"),
        );
        let keys = keys.clone();
        async move {
            let manager = test_manager(&config, keys, TestStore::default()).await;
            app.client(manager).await
        }
    };
    let current = client(CURRENT_IDLE_SECS).await;
    for (issued_idle_secs, opens) in [
        (CURRENT_IDLE_SECS, true),
        // Four minutes more: inside the allowance, so still open.
        (CURRENT_IDLE_SECS + 240, true),
        // Six minutes more, or a month: a deadline the current policy cannot have given.
        (CURRENT_IDLE_SECS + 360, false),
        (30 * 86_400, false),
    ] {
        let issuing = client(issued_idle_secs).await;
        let added = send(
            &*issuing,
            RawRequest::new("POST", "/cart/items").json(r#"{"item":"apple"}"#),
        )
        .await;
        let what = format!("a cart issued with a {issued_idle_secs}-second idle timeout");
        items_of(&added, &what);
        let read = send(
            &*current,
            RawRequest::new("GET", "/cart").cookie(cookies_set(&added).join("; ")),
        )
        .await;
        let expected: Vec<String> = if opens {
            vec!["apple".to_string()]
        } else {
            Vec::new()
        };
        assert_eq!(
            items_of(&read, &what),
            expected,
            "{what}, read under a {CURRENT_IDLE_SECS}-second one"
        );
    }
}

/// Generates one test function per hostile group for the [`DemoApp`] `$app`, with the
/// framework's async test attribute (as [`contract_tests!`](crate::contract_tests) does).
#[macro_export]
macro_rules! hostile_tests {
    (#[$test:meta] $app:expr) => {
        $crate::__tests_of! {
            (#[$test] $app, hostile);
            cookie_headers_of_every_size,
            thousands_of_cookies,
            control_and_non_utf8_bytes,
            deeply_nested_json,
            three_megabyte_bodies,
            path_keys_with_crlf_or_nul,
            a_stray_cart_chunk_keeps_the_cart,
            a_dead_id_repeated_is_one_store_lookup,
            a_shortened_idle_timeout_reaches_carts_already_issued,
        }
    };
}
