//! Framework-free requests, responses and a cookie-keeping [`Browser`], for the scenarios.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use session_core::SessionManager;

/// The header that carries the `api` session both ways.
pub const SESSION_HEADER: &str = "x-session";

/// A request, with no framework types: method, path (with query), headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query, e.g. `/counter/visits`.
    pub path: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

impl TestRequest {
    /// A request with no headers and no body.
    pub fn new(method: &str, path: impl Into<String>) -> Self {
        TestRequest {
            method: method.to_string(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        TestRequest::new("GET", path)
    }

    /// `POST path`.
    pub fn post(path: impl Into<String>) -> Self {
        TestRequest::new("POST", path)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json(self, body: &serde_json::Value) -> Self {
        self.body(body.to_string(), "application/json")
    }

    /// Sets a body of the given content type (which may claim JSON for a malformed body).
    pub fn body(mut self, body: impl Into<Vec<u8>>, content_type: &str) -> Self {
        self.body = body.into();
        self.header("content-type", content_type)
    }
}

/// A response, with no framework types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// Header names (any case) and values, in order; one entry per header line.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    /// Every value of header `name` (case-insensitive).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// Every `Set-Cookie` header, parsed. Panics on one that does not parse.
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.header_values("set-cookie")
            .into_iter()
            .map(SetCookie::parse)
            .collect()
    }

    /// The `Set-Cookie` for cookie `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<SetCookie> {
        self.set_cookies()
            .into_iter()
            .find(|cookie| cookie.name == name)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON. Panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "expected a JSON body, got status {} and {:?}: {error}",
                self.status,
                self.text()
            )
        })
    }
}

/// One parsed `Set-Cookie` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// The cookie name.
    pub name: String,
    /// The cookie value.
    pub value: String,
    /// `Max-Age` in seconds, if present.
    pub max_age: Option<i64>,
    /// `Path`, if present.
    pub path: Option<String>,
    /// Whether `Expires` is present and in the past.
    pub expires_in_past: bool,
    /// The header as sent.
    pub raw: String,
}

impl SetCookie {
    /// Parses a `Set-Cookie` value. Panics when it does not parse.
    pub fn parse(raw: &str) -> SetCookie {
        let cookie = cookie::Cookie::parse(raw.to_string())
            .unwrap_or_else(|error| panic!("unparsable Set-Cookie {raw:?}: {error}"));
        let expires_in_past = cookie
            .expires_datetime()
            .is_some_and(|at| at <= cookie::time::OffsetDateTime::now_utc());
        SetCookie {
            name: cookie.name().to_string(),
            value: cookie.value().to_string(),
            max_age: cookie.max_age().map(|age| age.whole_seconds()),
            path: cookie.path().map(str::to_string),
            expires_in_past,
            raw: raw.to_string(),
        }
    }

    /// Whether this header tells the browser to drop the cookie (`Max-Age=0` or an expiry in
    /// the past).
    pub fn is_removal(&self) -> bool {
        self.max_age.is_some_and(|age| age <= 0) || self.expires_in_past
    }
}

/// A request whose header values are bytes (any bytes), unlike [`TestRequest`]: what the
/// hostile suite sends.
#[derive(Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query, percent-encoded where HTTP requires it.
    pub path: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl fmt::Debug for RawRequest {
    /// Sizes only: some of these are megabytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path: String = self.path.chars().take(80).collect();
        f.debug_struct("RawRequest")
            .field("method", &self.method)
            .field("path", &path)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, value)| format!("{name}: <{} bytes>", value.len()))
                    .collect::<Vec<_>>(),
            )
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl From<TestRequest> for RawRequest {
    fn from(request: TestRequest) -> Self {
        RawRequest {
            method: request.method,
            path: request.path,
            headers: request
                .headers
                .into_iter()
                .map(|(name, value)| (name, value.into_bytes()))
                .collect(),
            body: request.body,
        }
    }
}

/// Sends requests to one demo app through its framework's test machinery.
///
/// Futures need not be `Send` (actix-web's test services are not).
#[async_trait(?Send)]
pub trait DemoClient {
    /// Sends one request and returns the whole response, or `None` when the framework's request
    /// type refuses to represent the request (it then never reaches the app). Requests may be in
    /// flight concurrently.
    async fn send_raw(&self, request: RawRequest) -> Option<TestResponse>;

    /// Sends one well-formed request and returns the whole response.
    async fn send(&self, request: TestRequest) -> TestResponse {
        let described = format!("{} {}", request.method, request.path);
        self.send_raw(request.into())
            .await
            .unwrap_or_else(|| panic!("the test client refused the scenario's request {described}"))
    }
}

/// A demo app the scenarios can build around a [`SessionManager`] of their choosing.
#[async_trait(?Send)]
pub trait DemoApp {
    /// The demo app serving `manager`'s sessions, behind a test client.
    async fn client(&self, manager: SessionManager) -> Box<dyn DemoClient>;
}

/// A browser (or API client): keeps a cookie jar and the `x-session` header between requests.
///
/// Cookies are stored from every `Set-Cookie` and dropped on a removal (`Max-Age=0`); the
/// session header is stored from every non-empty `x-session` response header and dropped on an
/// empty one. Both are sent with every request.
pub struct Browser<'c> {
    client: &'c dyn DemoClient,
    cookies: BTreeMap<String, String>,
    session_header: Option<String>,
}

impl fmt::Debug for Browser<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("cookies", &self.cookies.keys().collect::<Vec<_>>())
            .field("session_header", &self.session_header.is_some())
            .finish()
    }
}

impl<'c> Browser<'c> {
    /// A browser with an empty jar, talking to `client`.
    pub fn new(client: &'c dyn DemoClient) -> Self {
        Browser {
            client,
            cookies: BTreeMap::new(),
            session_header: None,
        }
    }

    /// `request` with the jar's cookies and the session header added.
    pub fn prepare(&self, mut request: TestRequest) -> TestRequest {
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ");
            request.headers.push(("cookie".to_string(), cookie));
        }
        if let Some(value) = &self.session_header {
            request
                .headers
                .push((SESSION_HEADER.to_string(), value.clone()));
        }
        request
    }

    /// Updates the jar and the session header from `response`.
    pub fn absorb(&mut self, response: &TestResponse) {
        for cookie in response.set_cookies() {
            if cookie.is_removal() {
                self.cookies.remove(&cookie.name);
            } else {
                self.cookies.insert(cookie.name, cookie.value);
            }
        }
        if let Some(value) = response.header(SESSION_HEADER) {
            self.session_header = (!value.is_empty()).then(|| value.to_string());
        }
    }

    /// Sends `request` with cookies and session header, and absorbs the response.
    pub async fn send(&mut self, request: TestRequest) -> TestResponse {
        let response = self.client.send(self.prepare(request)).await;
        self.absorb(&response);
        response
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> TestResponse {
        self.send(TestRequest::get(path)).await
    }

    /// `POST path` with no body.
    pub async fn post(&mut self, path: &str) -> TestResponse {
        self.send(TestRequest::post(path)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&mut self, path: &str, body: serde_json::Value) -> TestResponse {
        self.send(TestRequest::post(path).json(&body)).await
    }

    /// The jar's value of cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Puts a cookie in the jar (e.g. a tampered or foreign value).
    pub fn set_cookie(&mut self, name: &str, value: impl Into<String>) {
        self.cookies.insert(name.to_string(), value.into());
    }

    /// Drops a cookie from the jar.
    pub fn remove_cookie(&mut self, name: &str) {
        self.cookies.remove(name);
    }

    /// The session header value the browser holds.
    pub fn session_header(&self) -> Option<&str> {
        self.session_header.as_deref()
    }

    /// Sets (or with `None` drops) the session header value.
    pub fn set_session_header(&mut self, value: Option<String>) {
        self.session_header = value;
    }
}
