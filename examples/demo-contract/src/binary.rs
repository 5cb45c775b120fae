//! The demo binaries themselves, over real TCP: start-up from the environment, the contract to a
//! plain HTTP/1.1 client, and the bytes a framework's test client cannot send (a `Cookie` header
//! that is not UTF-8).
//!
//! A demo's `tests/binary.rs` generates one test per check with
//! [`binary_tests!`](crate::binary_tests), naming its binary and what its framework does with a
//! `Cookie` header that is not UTF-8:
//!
//! ```ignore
//! demo_contract::binary_tests!(env!("CARGO_BIN_EXE_axum-demo"), NonUtf8Cookies::PairSkipped);
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// The line a demo logs once when it makes up a key.
const RANDOM_KEY_WARNING: &str = "will not survive a restart";

/// A sibling application's cookie whose value is Latin-1, not UTF-8: `legacy=café`.
pub const LEGACY_COOKIE: &[u8] = b"legacy=caf\xe9";

/// What a framework does with a `Cookie` header that holds a byte sequence that is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonUtf8Cookies {
    /// Only the pair that is not UTF-8 is skipped; the session beside it opens (axum and
    /// actix-web, whose adapters scan the header's bytes).
    PairSkipped,
    /// The framework drops the whole header before any fairing or guard sees it, so a session
    /// cookie in the same header is not seen (rocket 0.5); a session cookie in another `Cookie`
    /// header still opens.
    HeaderDropped,
}

/// A demo binary listening on a free loopback port; killed when dropped.
pub struct RunningDemo {
    child: Child,
    addr: String,
}

impl std::fmt::Debug for RunningDemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningDemo")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningDemo {
    /// Starts `binary` with `ADDR=127.0.0.1:0`, the default configuration, the framework's own
    /// logging at its default, and `envs`; waits for its `listening on http://ADDR` line.
    pub fn start(binary: &str, envs: &[(&str, &str)]) -> RunningDemo {
        let mut child = Command::new(binary)
            .env("ADDR", "127.0.0.1:0")
            .env_remove("SESSIONS_CONFIG")
            .env_remove("SESSION_KEYS")
            .env_remove("TRUSTED_ORIGINS")
            .env_remove("ROCKET_LOG_LEVEL")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{binary} does not start: {error}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|error| panic!("{binary} printed no line: {error}"));
        let addr = line
            .trim_end()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        assert!(
            addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
            "{addr}"
        );
        RunningDemo { child, addr }
    }

    /// Sends one HTTP/1.1 request (`headers` are whole lines, any bytes) and returns the raw
    /// response, read lossily.
    pub fn request(&self, method: &str, path: &str, headers: &[&[u8]], body: &str) -> String {
        let mut stream = TcpStream::connect(&self.addr).expect("the demo accepts connections");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        if !body.is_empty() {
            request.extend_from_slice(b"content-type: application/json\r\n");
        }
        for header in headers {
            request.extend_from_slice(header);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body.as_bytes());
        stream.write_all(&request).expect("the request is sent");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .expect("the response is read");
        String::from_utf8_lossy(&response).into_owned()
    }

    /// Logs `user` in and returns the `app_session=...` pair it set.
    pub fn log_in(&self, user: &str) -> String {
        let login = self.request("POST", "/login", &[], &format!(r#"{{"user":"{user}"}}"#));
        assert_eq!(body(&login), format!(r#"{{"user":"{user}"}}"#), "{login}");
        set_cookie_pair(&login, "app_session").expect("login sets app_session")
    }

    /// Stops the demo and returns what it logged.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut logged = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut logged);
        }
        logged
    }
}

impl Drop for RunningDemo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a raw response.
pub fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// The `name=value` pair of the `Set-Cookie` header for `name`, if any.
pub fn set_cookie_pair(response: &str, name: &str) -> Option<String> {
    response
        .lines()
        .filter_map(|line| {
            let (header, value) = line.split_once(':')?;
            header
                .eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim())
        })
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// The binary prints exactly its listening line, serves the contract over TCP to a client that
/// sends other cookies beside the session's, and announces its made-up key exactly once.
pub fn prints_the_listening_line_and_serves_the_contract(binary: &str) {
    let demo = RunningDemo::start(binary, &[]);
    let health = demo.request("GET", "/health", &[], "");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(body(&health), r#"{"ok":true}"#, "{health}");
    assert!(
        !health.to_ascii_lowercase().contains("set-cookie"),
        "{health}"
    );

    let cookie = demo.log_in("alice");
    let me = demo.request(
        "GET",
        "/me",
        &[format!("cookie: theme=dark; {cookie}").as_bytes()],
        "",
    );
    assert_eq!(body(&me), r#"{"user":"alice"}"#, "{me}");

    let logged = demo.stop();
    assert_eq!(
        logged.matches(RANDOM_KEY_WARNING).count(),
        1,
        "exactly one line announces the random key: {logged}"
    );
}

/// Keys from `SESSION_KEYS` start the demo without the random-key warning.
pub fn keys_from_session_keys_need_no_warning(binary: &str) {
    let key = "c2Vzc2lvbi1rZXktZm9yLXRoZS1zdGFydHVwLXRlc3Qtb25seQ==";
    let demo = RunningDemo::start(binary, &[("SESSION_KEYS", key)]);
    let health = demo.request("GET", "/health", &[], "");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let logged = demo.stop();
    assert!(!logged.contains(RANDOM_KEY_WARNING), "{logged}");
}

/// A `SESSIONS_CONFIG` that cannot be read stops start-up with a message naming the variable,
/// before anything listens.
pub fn unreadable_config_file_stops_start_up_naming_the_variable(binary: &str) {
    let env = [("SESSIONS_CONFIG", Some("no/such/sessions.toml"))];
    expect_start_up_refused(binary, &env, "SESSIONS_CONFIG");
}

/// Runs `binary` with `env` (a `None` value removes the variable) and asserts that start-up
/// stops with a message naming `variable`, before anything listens.
fn expect_start_up_refused(binary: &str, env: &[(&str, Option<&str>)], variable: &str) {
    let mut command = Command::new(binary);
    command.env("ADDR", "127.0.0.1:0");
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{binary} does not run: {error}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(variable), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing is listening");
}

/// `TRUSTED_ORIGINS` is read at start-up: origins start the demo, and a value that is not an
/// origin stops start-up with a message naming the variable, before anything listens.
pub fn trusted_origins_are_checked_at_start_up(binary: &str) {
    let demo = RunningDemo::start(
        binary,
        &[(
            "TRUSTED_ORIGINS",
            "https://partner.example, http://127.0.0.1:8080",
        )],
    );
    let health = demo.request("GET", "/health", &[], "");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    demo.stop();

    let env = [
        ("SESSIONS_CONFIG", None),
        ("TRUSTED_ORIGINS", Some("partner.example")),
    ];
    expect_start_up_refused(binary, &env, "TRUSTED_ORIGINS");
}

/// A sibling application's cookie that is not UTF-8 ([`LEGACY_COOKIE`]), in the same `Cookie`
/// header as the session's and in a header of its own, before and after it: never a 5xx, and
/// the session opens or not as `expected` says.
pub fn a_cookie_that_is_not_utf8_beside_the_session(binary: &str, expected: NonUtf8Cookies) {
    let demo = RunningDemo::start(binary, &[]);
    let session = demo.log_in("alice");
    let user = |headers: &[&[u8]]| {
        let me = demo.request("GET", "/me", headers, "");
        assert!(
            me.starts_with("HTTP/1.1 200") || me.starts_with("HTTP/1.1 401"),
            "{me}"
        );
        body(&me).to_string()
    };
    let alice = r#"{"user":"alice"}"#;
    let nobody = r#"{"error":"not logged in"}"#;

    let same_header_answer = match expected {
        NonUtf8Cookies::PairSkipped => alice,
        NonUtf8Cookies::HeaderDropped => nobody,
    };
    for line in [
        [b"cookie: ", LEGACY_COOKIE, b"; ", session.as_bytes()].concat(),
        [b"cookie: ", session.as_bytes(), b"; ", LEGACY_COOKIE].concat(),
    ] {
        assert_eq!(
            user(&[&line]),
            same_header_answer,
            "{}",
            String::from_utf8_lossy(&line)
        );
    }

    let legacy = [b"cookie: ", LEGACY_COOKIE].concat();
    let own = format!("cookie: {session}");
    assert_eq!(user(&[&legacy, own.as_bytes()]), alice);
    assert_eq!(user(&[own.as_bytes(), &legacy]), alice);
}

/// Generates one test per check of this module for the demo binary `$binary` (an
/// `env!("CARGO_BIN_EXE_...")`) whose framework treats cookies that are not UTF-8 as
/// `$non_utf8` (a [`NonUtf8Cookies`]).
#[macro_export]
macro_rules! binary_tests {
    (@each $binary:expr; $($check:ident,)*) => {
        $(
            #[test]
            fn $check() {
                $crate::binary::$check($binary);
            }
        )*
    };
    ($binary:expr, $non_utf8:expr) => {
        $crate::binary_tests!(@each $binary;
            prints_the_listening_line_and_serves_the_contract,
            keys_from_session_keys_need_no_warning,
            unreadable_config_file_stops_start_up_naming_the_variable,
            trusted_origins_are_checked_at_start_up,
        );

        #[test]
        fn a_cookie_that_is_not_utf8_beside_the_session() {
            $crate::binary::a_cookie_that_is_not_utf8_beside_the_session($binary, $non_utf8);
        }
    };
}
