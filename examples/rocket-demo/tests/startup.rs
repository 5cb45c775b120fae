//! The binary's start-up contract, over real TCP: it listens on `ADDR`, prints exactly
//! `listening on http://ADDR` once ready, and serves sessions to a plain HTTP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// The demo process, killed when the test ends (passing or not).
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends one HTTP/1.1 request and returns the raw response.
fn http(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("the demo accepts connections");
    stream
        .write_all(request.as_bytes())
        .expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the response is read");
    response
}

fn body(response: &str) -> &str {
    response.split("\r\n\r\n").nth(1).unwrap_or_default()
}

#[test]
fn the_binary_announces_its_address_and_serves_sessions_over_tcp() {
    let child = Command::new(env!("CARGO_BIN_EXE_rocket-demo"))
        .env("ADDR", "127.0.0.1:0")
        .env_remove("SESSIONS_CONFIG")
        .env_remove("ROCKET_LOG_LEVEL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the demo binary starts");
    let mut demo = Demo(child);
    let stdout = demo.0.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a line on stdout");
    let addr = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );

    let health = http(
        &addr,
        "GET /health HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(body(&health), r#"{"ok":true}"#);
    assert!(!health.to_ascii_lowercase().contains("set-cookie"));

    let login_body = r#"{"user":"alice"}"#;
    let login = http(
        &addr,
        &format!(
            "POST /login HTTP/1.1\r\nHost: demo\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{login_body}",
            login_body.len()
        ),
    );
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let cookie = login
        .lines()
        .find_map(|header| {
            let (name, value) = header.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie").then(|| {
                value
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
        })
        .expect("login sets the session cookie");
    assert!(cookie.starts_with("app_session="), "{cookie}");

    let me = http(
        &addr,
        &format!("GET /me HTTP/1.1\r\nHost: demo\r\nConnection: close\r\nCookie: theme=dark; {cookie}\r\n\r\n"),
    );
    assert!(me.starts_with("HTTP/1.1 200"), "{me}");
    assert_eq!(body(&me), r#"{"user":"alice"}"#);
}
