//! The binary itself: start-up from the environment and the contract over real TCP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

const RANDOM_KEY_WARNING: &str = "will not survive a restart";

/// The running demo; killed when dropped.
struct Demo {
    child: Child,
    addr: String,
}

impl Demo {
    fn start(envs: &[(&str, &str)]) -> Demo {
        let mut command = Command::new(env!("CARGO_BIN_EXE_axum-demo"));
        command
            .env("ADDR", "127.0.0.1:0")
            .env_remove("SESSIONS_CONFIG")
            .env_remove("SESSION_KEYS")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the demo binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the demo prints a line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Demo { child, addr }
    }

    /// Sends one HTTP/1.1 request and returns the whole response text.
    fn request(&self, method: &str, path: &str, headers: &[&str], body: &str) -> String {
        let mut stream = TcpStream::connect(&self.addr).expect("the demo accepts connections");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        );
        for header in headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).expect("request sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response read");
        response
    }

    /// Stops the demo and returns what it logged.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut logged = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut logged);
        }
        logged
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_cookie_pair(response: &str, name: &str) -> Option<String> {
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

#[test]
fn binary_prints_the_listening_line_and_serves_the_contract() {
    let demo = Demo::start(&[]);

    let health = demo.request("GET", "/health", &[], "");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with(r#"{"ok":true}"#), "{health}");
    assert!(
        !health.to_ascii_lowercase().contains("set-cookie"),
        "{health}"
    );

    let login = demo.request("POST", "/login", &[], r#"{"user":"alice"}"#);
    assert!(login.ends_with(r#"{"user":"alice"}"#), "{login}");
    let cookie = set_cookie_pair(&login, "app_session").expect("login sets app_session");
    let me = demo.request("GET", "/me", &[&format!("cookie: {cookie}")], "");
    assert!(me.ends_with(r#"{"user":"alice"}"#), "{me}");

    let logged = demo.stop();
    assert_eq!(
        logged.matches(RANDOM_KEY_WARNING).count(),
        1,
        "exactly one line announces the random key: {logged}"
    );
}

#[test]
fn keys_from_session_keys_need_no_warning() {
    let key = "c2Vzc2lvbi1rZXktZm9yLXRoZS1zdGFydHVwLXRlc3Qtb25seQ==";
    let demo = Demo::start(&[("SESSION_KEYS", key)]);
    let health = demo.request("GET", "/health", &[], "");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let logged = demo.stop();
    assert!(!logged.contains(RANDOM_KEY_WARNING), "{logged}");
}

#[test]
fn unreadable_config_file_stops_start_up_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_axum-demo"))
        .env("ADDR", "127.0.0.1:0")
        .env("SESSIONS_CONFIG", "no/such/sessions.toml")
        .output()
        .expect("the demo binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SESSIONS_CONFIG"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing is listening");
}
