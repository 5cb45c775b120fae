//! A Redis outage and restart under a steady stream of requests, through the demo's router: while
//! Redis is down every session request is a 500 with the contract's body and no detail, `/health`
//! stays 200 and nothing panics; once Redis is back every request succeeds (no request is lost to
//! a pooled connection that died with the old server).
//!
//! The test runs its own `redis-server` (on a free loopback port, in a temporary directory), so it
//! can stop and restart it. `scripts/test.sh` installs redis-server; elsewhere the test skips,
//! saying so, when the binary is missing.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use demo_contract::{config_with_store, test_manager, toml_string, TestStore};
use session_axum::{KeyRing, STORE_UNAVAILABLE_BODY};
use tower::ServiceExt;

struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    fn start(port: u16, dir: tempfile::TempDir) -> Option<RedisServer> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = RedisServer { child, port, dir };
        // Bounded: 10 s at most for the server to listen.
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start listening on port {port}");
    }

    fn stop(mut self) -> (u16, tempfile::TempDir) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = self.port;
        let dir = tempfile::tempdir().expect("temporary directory");
        (port, std::mem::replace(&mut self.dir, dir))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

async fn send(
    app: &Router,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> (u16, String, Vec<String>) {
    let mut request = http::Request::builder().method(method).uri(path);
    if !cookie.is_empty() {
        request = request.header("cookie", cookie);
    }
    if !body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(Body::from(body.to_string())).expect("request");
    let Ok(response) = app.clone().oneshot(request).await;
    let status = response.status().as_u16();
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .map(String::from)
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        String::from_utf8_lossy(&bytes).into_owned(),
        cookies,
    )
}

async fn log_in(app: &Router, user: &str) -> String {
    let (status, body, cookies) = send(
        app,
        "POST",
        "/login",
        "",
        &format!("{{\"user\":\"{user}\"}}"),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, format!("{{\"user\":\"{user}\"}}").as_str())
    );
    cookies
        .into_iter()
        .find(|pair| pair.starts_with("app_session="))
        .expect("login sets the app cookie")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_clean_500s_and_a_restart_costs_no_request() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some(server) = RedisServer::start(port, dir) else {
        assert!(
            std::env::var_os("REDIS_URL").is_none(),
            "redis-server is not on PATH, though scripts/test.sh installs it"
        );
        eprintln!("skipped: redis-server is not installed; run `bash scripts/test.sh`");
        return;
    };
    let store = format!(
        "{{ type = \"redis\", url = {}, pool_size = 2, timeout_ms = 500 }}",
        toml_string(&format!("redis://127.0.0.1:{port}/"))
    );
    let manager = test_manager(
        &config_with_store("app", &store),
        KeyRing::generate(),
        TestStore::default(),
    )
    .await;
    let app = axum_demo::app(manager);

    let cookie = log_in(&app, "alice").await;
    for _ in 0..10 {
        let (status, body, _) = send(&app, "GET", "/me", &cookie, "").await;
        assert_eq!((status, body.as_str()), (200, r#"{"user":"alice"}"#));
    }

    let (port, dir) = server.stop();
    for _ in 0..10 {
        let (status, body, cookies) = send(&app, "GET", "/me", &cookie, "").await;
        assert_eq!(
            (status, body.as_str()),
            (500, STORE_UNAVAILABLE_BODY),
            "while Redis is down"
        );
        assert!(cookies.is_empty(), "no cookie while the store is down");
        let (status, body, cookies) = send(&app, "POST", "/login", "", r#"{"user":"bob"}"#).await;
        assert_eq!((status, body.as_str()), (500, STORE_UNAVAILABLE_BODY));
        assert!(cookies.is_empty());
        let (status, _, _) = send(&app, "GET", "/health", "", "").await;
        assert_eq!(status, 200, "/health touches no session and stays up");
    }

    // The same port, a fresh (empty) server: the old sessions are gone, but no request fails.
    let _server = RedisServer::start(port, dir).expect("redis-server restarts");
    let cookie = log_in(&app, "carol").await;
    for _ in 0..20 {
        let (status, body, _) = send(&app, "GET", "/me", &cookie, "").await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"user":"carol"}"#),
            "every request after the restart succeeds"
        );
    }
}
