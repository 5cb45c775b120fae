//! Headless Chromium, through chromedriver, clicks through the axum demo's page: log in (the
//! browser keeps the Secure cookie of http://127.0.0.1), counters, a flash message shown once,
//! the cart, remember me, a second browser as a second device, the device list, ending the other
//! device, log out other devices, and, from a page on a second origin (another loopback port,
//! which the browser calls same-site and so sends the `SameSite=Lax` cookie to), a `no-cors`
//! fetch and a `text/plain` form post that the demo refuses; then log out everywhere.
//! It checks what the page shows and the cookies each browser holds.
//!
//! chromedriver comes from `CHROMEDRIVER` or `PATH`, Chromium from `CHROMIUM` or `PATH`
//! (`chromium`, `chromium-browser`, `google-chrome`). `scripts/with-chromedriver.sh` installs
//! both when missing and sets `BROWSER_TEST_REQUIRED`, under which a missing chromedriver fails
//! the test instead of skipping it.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use session_axum::{KeyRing, SessionManager, SessionsConfig};

/// The whole test's bound: starting everything, both browsers and every click.
const WHOLE_TEST: Duration = Duration::from_secs(180);
/// How long one click may take to show its result.
const ONE_ACTION: Duration = Duration::from_secs(15);
const THIRTY_DAYS: u64 = 30 * 24 * 60 * 60;
/// The End buttons of the device list.
const END_BUTTONS: &str = "#sessions-result button.end-device";
/// The End button of the device that is not this browser.
const OTHER_DEVICE_END: &str = "#sessions-result tr.other-device button.end-device";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_drives_every_route_in_a_real_browser() {
    let Some(chromedriver) = find_chromedriver() else {
        if std::env::var_os("BROWSER_TEST_REQUIRED").is_some() {
            panic!(
                "chromedriver not found (set CHROMEDRIVER, or install Debian's chromium-driver)"
            );
        }
        eprintln!(
            "skipping the browser test: chromedriver not found; `bash scripts/test.sh` installs \
             chromium and chromium-driver and runs it"
        );
        return;
    };
    let chromium = find_chromium().unwrap_or_else(|| {
        panic!("Chromium not found (set CHROMIUM, or install Debian's chromium)")
    });
    tokio::time::timeout(WHOLE_TEST, click_through(&chromedriver, &chromium))
        .await
        .unwrap_or_else(|_| panic!("the browser test did not finish within {WHOLE_TEST:?}"));
}

async fn click_through(chromedriver: &Path, chromium: &Path) {
    let demo = start_demo().await;
    let driver = Chromedriver::start(chromedriver);
    let base = format!("http://{}/", demo.addr);

    let (laptop, _laptop_profile) = driver.browser(chromium).await;
    laptop.goto(&base).await.expect("open the page");
    let laptop = Page::new(laptop).await;
    assert_eq!(laptop.text("who").await, "Not logged in");
    assert!(laptop.cookie("app_session").await.is_none());

    // Log in: the browser keeps the Secure, HttpOnly session cookie of http://127.0.0.1.
    laptop.log_in("alice").await;
    assert_eq!(laptop.text("account-result").await, "Logged in as alice");
    let session = laptop.kept_cookie("app_session", "after login").await;
    assert_eq!(session.secure(), Some(true), "{session:?}");
    assert_eq!(session.http_only(), Some(true), "{session:?}");
    assert!(
        session.expires_datetime().is_none(),
        "before remember me the cookie lasts the browser session: {session:?}"
    );
    laptop.expect_me(Some("alice")).await;

    // Counters.
    laptop.click("counter-increment").await;
    laptop
        .click_shows("counter-increment", "counter-result", "visits = 2")
        .await;
    laptop.fill("counter-name", "other").await;
    laptop
        .click_shows("counter-read", "counter-result", "other = 0")
        .await;

    // A flash message, shown once.
    laptop.fill("flash-message", "saved").await;
    let added = "Added; it shows once";
    laptop.click_shows("flash-add", "flash-result", added).await;
    laptop
        .click_shows("flash-take", "flash-result", "saved")
        .await;
    laptop
        .click_shows("flash-take", "flash-result", "No messages")
        .await;

    // The cart, in its own sealed cookie.
    laptop.fill("cart-item", "apple").await;
    laptop.click("cart-add").await;
    laptop.fill("cart-item", "pear").await;
    laptop.click("cart-add").await;
    assert_eq!(laptop.text("cart-result").await, "apple\npear");
    let cart = laptop.kept_cookie("cart", "after adding items").await;
    assert!(!cart.value().contains("apple"), "the cart cookie is sealed");

    // Remember me: the session cookie now lasts 30 days.
    let shown = "Remembered for 30 days";
    laptop
        .click_shows("remember", "account-result", shown)
        .await;
    let remembered = laptop.kept_cookie("app_session", "after remember me").await;
    let expires = remembered
        .expires_datetime()
        .map(|at| at.unix_timestamp())
        .unwrap_or_else(|| panic!("a remembered cookie has an expiry: {remembered:?}"));
    let left = expires - unix_now();
    assert!(
        (THIRTY_DAYS as i64 - 120..=THIRTY_DAYS as i64 + 5).contains(&left),
        "the remembered cookie expires in 30 days, not in {left} s"
    );

    // A second browser, with a profile of its own, is alice's second device.
    let (phone, _phone_profile) = driver.browser(chromium).await;
    phone.goto(&base).await.expect("open the page on the phone");
    let phone = Page::new(phone).await;
    assert_eq!(phone.text("who").await, "Not logged in");
    phone.log_in("alice").await;
    phone.click("cart-show").await;
    assert_eq!(
        phone.text("cart-result").await,
        "The cart is empty",
        "the cart belongs to the laptop's browser"
    );

    // My devices: both listed, this one marked, each with an End button.
    laptop.click("sessions-list").await;
    let listing = laptop.text("sessions-result").await;
    assert!(listing.starts_with("2 devices"), "{listing}");
    assert_eq!(listing.matches("(this browser)").count(), 1, "{listing}");
    assert!(
        listing.contains("Chrome"),
        "each device shows its User-Agent: {listing}"
    );
    assert_eq!(laptop.count(END_BUTTONS).await, 2, "{listing}");
    laptop.screenshot().await;

    // End the other device from the laptop: the phone is logged out, the laptop is not.
    laptop.click_css(OTHER_DEVICE_END).await;
    let listing = laptop.text("sessions-result").await;
    assert!(listing.starts_with("1 device"), "{listing}");
    assert_eq!(listing.matches("(this browser)").count(), 1, "{listing}");
    phone.expect_me(None).await;
    laptop.expect_me(Some("alice")).await;

    // Log out the other devices: the phone, logged in again, ends; the laptop stays.
    phone.log_in("alice").await;
    let ended = "Ended 1 other device";
    laptop
        .click_shows("logout-others", "sessions-result", ended)
        .await;
    phone.expect_me(None).await;
    laptop.expect_me(Some("alice")).await;
    phone.log_in("alice").await;

    // A page on a second origin posts to the demo from the laptop's browser, which sends the
    // session cookie (another port of the same host is same-site): a `no-cors` fetch of "log out
    // everywhere" and a `text/plain` form that would log the browser in as mallory. Both are
    // refused before any handler; nothing changes.
    let refused_before = cross_origin_refusals();
    let other_origin = start_other_origin(demo.addr).await;
    laptop.open(&format!("http://{}/", other_origin.addr)).await;
    laptop.click("fetch-logout-everywhere").await;
    assert_eq!(laptop.text("fetch-result").await, "sent");
    assert_eq!(
        cross_origin_refusals() - refused_before,
        1,
        "the fetch reached the demo and was refused"
    );
    laptop.submit_form("login-as-mallory").await;
    assert_eq!(
        laptop.body_text().await,
        r#"{"error":"cross-origin request refused"}"#,
        "the form post is refused as a cross-origin write, before its body is read"
    );
    assert_eq!(cross_origin_refusals() - refused_before, 2);
    laptop.open(&base).await;
    assert_eq!(laptop.text("who").await, "Logged in as alice");
    phone.expect_me(Some("alice")).await;
    other_origin.stop().await;

    // Log out everywhere, from the laptop: the phone is logged out too.
    let ended = "Ended 2 sessions on every device";
    laptop
        .click_shows("logout-everywhere", "sessions-result", ended)
        .await;
    assert_eq!(laptop.text("who").await, "Not logged in");
    assert!(
        laptop.cookie("app_session").await.is_none(),
        "log out everywhere removes this browser's session cookie"
    );
    phone.expect_me(None).await;
    assert_eq!(phone.text("who").await, "Not logged in");
    phone.click("sessions-list").await;
    assert_eq!(
        phone.text("sessions-result").await,
        "401: not logged in",
        "the phone's session ended"
    );

    phone.close().await;
    laptop.close().await;
    demo.stop().await;
}

/// An axum app served on a free loopback port until stopped.
struct Served {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(app: axum::Router) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Served { addr, stop, server }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => panic!("the server at {} failed: {error}", self.addr),
            Err(error) => panic!("the server task at {} failed: {error}", self.addr),
        }
    }
}

/// The demo, served by `axum_demo::app`.
async fn start_demo() -> Served {
    // Before the manager, whose metric handles register with the recorder at build.
    demo_contract::install_metrics();
    let config = SessionsConfig::from_toml(demo_contract::DEFAULT_CONFIG)
        .expect("the embedded configuration parses");
    let manager =
        SessionManager::from_config(&config, &demo_contract::registry(), KeyRing::generate())
            .await
            .expect("the demo's sessions build");
    Served::start(axum_demo::app(manager)).await
}

/// How many writes the demo has refused as cross-origin, from its Prometheus recorder (the
/// demo runs in this process).
fn cross_origin_refusals() -> u64 {
    let text = demo_contract::metrics_text();
    text.lines()
        .find_map(|line| line.strip_prefix("session_cross_origin_refused_total "))
        .map_or(0, |value| {
            value
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("not a count: {value}"))
        })
}

/// A page served on another loopback port than the demo's: its button sends a `no-cors` fetch
/// of `POST /logout-everywhere` with the browser's cookies, and its form posts `text/plain` that
/// reads as JSON to `POST /login`.
async fn start_other_origin(demo: SocketAddr) -> Served {
    let page = format!(
        r#"<!doctype html>
<html><body data-done="0">
<button id="fetch-logout-everywhere" onclick="attack()">Fetch</button>
<p id="fetch-result"></p>
<form id="login-as-mallory" method="post" action="http://{demo}/login" enctype="text/plain">
<input type="hidden" name='{{"user":"mallory","padding":"' value='"}}'>
</form>
<script>
async function attack() {{
  try {{
    await fetch("http://{demo}/logout-everywhere",
      {{ method: "POST", mode: "no-cors", credentials: "include" }});
    document.getElementById("fetch-result").textContent = "sent";
  }} catch (error) {{
    document.getElementById("fetch-result").textContent = "failed: " + error;
  }}
  document.body.dataset.done = String(Number(document.body.dataset.done) + 1);
}}
document.body.dataset.done = "1";
</script>
</body></html>"#
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    Served::start(app).await
}

/// A chromedriver on a free loopback port, killed when dropped.
struct Chromedriver {
    url: String,
    child: Child,
}

impl Chromedriver {
    fn start(binary: &Path) -> Chromedriver {
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("could not start {}: {error}", binary.display()));
        let driver = Chromedriver {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// A new headless Chromium with a fresh profile (returned, so it lives as long as the
    /// browser).
    async fn browser(&self, chromium: &Path) -> (Client, tempfile::TempDir) {
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--window-size=1100,1300".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": args,
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("the capabilities are an object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|error| panic!("chromedriver could not start Chromium: {error}"));
        (client, profile)
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo's page in one browser.
struct Page {
    client: Client,
}

impl Page {
    /// The page once its first request (who am I) has shown.
    async fn new(client: Client) -> Page {
        let page = Page { client };
        page.wait_until_done(0).await;
        page
    }

    /// How many actions the page has finished (`body[data-done]`).
    async fn done(&self) -> u64 {
        let value = self
            .client
            .execute("return Number(document.body.dataset.done);", Vec::new())
            .await
            .expect("read body[data-done]");
        value.as_u64().unwrap_or(0)
    }

    async fn wait_until_done(&self, before: u64) {
        let started = Instant::now();
        while self.done().await <= before {
            assert!(
                started.elapsed() < ONE_ACTION,
                "the page did not finish an action within {ONE_ACTION:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Opens `url` in this browser and waits until its page has finished its first action.
    async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|error| panic!("could not open {url}: {error}"));
        self.wait_until_done(0).await;
    }

    /// The one element `locator` finds.
    async fn element(&self, locator: Locator<'_>) -> Element {
        self.client
            .find(locator)
            .await
            .unwrap_or_else(|error| panic!("no {locator:?} on the page: {error}"))
    }

    /// Submits form `id` and waits until the browser shows the answer's document.
    async fn submit_form(&self, id: &str) {
        let before = self.client.current_url().await.expect("the current URL");
        self.client
            .form(Locator::Id(id))
            .await
            .unwrap_or_else(|error| panic!("no form #{id} on the page: {error}"))
            .submit_direct()
            .await
            .unwrap_or_else(|error| panic!("could not submit #{id}: {error}"));
        let started = Instant::now();
        while self.client.current_url().await.expect("the current URL") == before {
            assert!(
                started.elapsed() < ONE_ACTION,
                "the form's answer did not show within {ONE_ACTION:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The visible text of the whole document.
    async fn body_text(&self) -> String {
        let body = self.element(Locator::Css("body")).await;
        body.text().await.expect("read the body's text")
    }

    /// Clicks button `id` and waits until the page has shown the result.
    async fn click(&self, id: &str) {
        self.click_on(Locator::Id(id)).await;
    }

    /// Clicks the one element `selector` (CSS) finds and waits until the page has shown the
    /// result.
    async fn click_css(&self, selector: &str) {
        self.click_on(Locator::Css(selector)).await;
    }

    async fn click_on(&self, locator: Locator<'_>) {
        let before = self.done().await;
        let element = self.element(locator).await;
        element
            .click()
            .await
            .unwrap_or_else(|error| panic!("could not click {locator:?}: {error}"));
        self.wait_until_done(before).await;
    }

    /// Clicks button `id`, then asserts that element `output` shows exactly `expected`.
    async fn click_shows(&self, id: &str, output: &str, expected: &str) {
        self.click(id).await;
        assert_eq!(self.text(output).await, expected, "#{output} after #{id}");
    }

    /// Logs in as `user` with the page's form and asserts the header shows it.
    async fn log_in(&self, user: &str) {
        self.fill("user", user).await;
        let logged_in = format!("Logged in as {user}");
        self.click_shows("login", "who", &logged_in).await;
    }

    /// Clicks "Who am I?" and asserts the answer: `user`, or not logged in.
    async fn expect_me(&self, user: Option<&str>) {
        let expected = user.map_or_else(
            || "Not logged in".to_string(),
            |user| format!("You are {user}"),
        );
        self.click_shows("me", "account-result", &expected).await;
    }

    /// How many elements `selector` (CSS) finds.
    async fn count(&self, selector: &str) -> usize {
        self.client
            .find_all(Locator::Css(selector))
            .await
            .unwrap_or_else(|error| panic!("could not look for {selector}: {error}"))
            .len()
    }

    /// Replaces the text of input `id`.
    async fn fill(&self, id: &str, text: &str) {
        let input = self.element(Locator::Id(id)).await;
        input.clear().await.expect("clear the input");
        input.send_keys(text).await.expect("type into the input");
    }

    /// The visible text of element `id`.
    async fn text(&self, id: &str) -> String {
        let element = self.element(Locator::Id(id)).await;
        element
            .text()
            .await
            .unwrap_or_else(|error| panic!("could not read #{id}: {error}"))
    }

    /// The browser's cookie `name` for the page, HttpOnly ones included.
    async fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.client
            .get_all_cookies()
            .await
            .expect("read the browser's cookies")
            .into_iter()
            .find(|cookie| cookie.name() == name)
    }

    /// The browser's cookie `name`, which it must hold `when`.
    async fn kept_cookie(&self, name: &str, when: &str) -> Cookie<'static> {
        self.cookie(name)
            .await
            .unwrap_or_else(|| panic!("the browser keeps the {name} cookie {when}"))
    }

    /// Saves a screenshot to the target directory's `tmp/browser-test-page.png`.
    async fn screenshot(&self) {
        let png = self.client.screenshot().await.expect("take a screenshot");
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-test-page.png");
        std::fs::write(&path, png)
            .unwrap_or_else(|error| panic!("could not write {}: {error}", path.display()));
        eprintln!("screenshot of the page: {}", path.display());
    }

    async fn close(self) {
        self.client.close().await.expect("end the browser session");
    }
}

fn find_chromedriver() -> Option<PathBuf> {
    from_env_or_path("CHROMEDRIVER", &["chromedriver"])
}

fn find_chromium() -> Option<PathBuf> {
    from_env_or_path(
        "CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    )
}

/// The file named by environment variable `variable`, else the first of `names` on `PATH`.
fn from_env_or_path(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable).filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("find a free loopback port")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}
