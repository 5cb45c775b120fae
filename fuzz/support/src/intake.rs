//! Target `cookie_intake`: a request's `Cookie` headers and session header, through
//! `SessionManager::request`, then every session opened with the cookie store (chunked up to 4
//! and 3 cookies), then a change saved and sent back as a browser would.
//!
//! Input: lines (`\n`); every line but the last is one `Cookie` header (lines that are not UTF-8
//! are skipped, as adapters skip such headers), the last is the `x-session` header.
//!
//! The seeds are sessions sealed under every key of [`keys`](crate::keys), each holding its own
//! session name and the label of the key that sealed it, so any session that opens can say where
//! it came from: it must be one sealed for its own name under a listed key.

use std::future::Future;
use std::sync::OnceLock;

use session_core::{
    Error, KeyRing, ResponseHeader, Session, SessionManager, SessionsConfig, StoreRegistry,
};

use crate::block_on;
use crate::keys::{self, Role, ROLES};

/// The sessions: two chunked cookie sessions (one encrypted, one signed) and a header session,
/// the ones session-core's invariant tests use.
pub const CONFIG: &str = include_str!("../../../session-core/tests/chunked_sessions.toml");

/// The session names of [`CONFIG`].
pub const SESSIONS: [&str; 3] = ["app", "signed", "api"];
const HEADER: &str = "x-session";
/// Where a seed session says which session it was sealed for.
const FOR_SESSION: &str = "for_session";
/// Where a seed session says which key sealed it.
const SEALED_BY: &str = "sealed_by";
/// The most characters of input the round trip stores (past the chunk budget, so the
/// too-large refusal is exercised too).
const ECHO_LIMIT: usize = 20_000;

fn manager_with(keys: KeyRing) -> SessionManager {
    let config = match SessionsConfig::from_toml(CONFIG) {
        Ok(config) => config,
        Err(error) => panic!("the intake configuration is valid: {error}"),
    };
    match block_on(SessionManager::from_config(
        &config,
        &StoreRegistry::new(),
        keys,
    )) {
        Ok(manager) => manager,
        Err(error) => panic!("the intake manager builds: {error}"),
    }
}

fn manager() -> &'static SessionManager {
    static MANAGER: OnceLock<SessionManager> = OnceLock::new();
    MANAGER.get_or_init(|| {
        keys::assert_collisions();
        manager_with(keys::ring())
    })
}

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    let mut lines: Vec<&[u8]> = data.split(|byte| *byte == b'\n').collect();
    let header = if lines.len() > 1 { lines.pop() } else { None };
    let header = header.and_then(|line| std::str::from_utf8(line).ok());
    let cookies: Vec<&str> = lines
        .iter()
        .filter_map(|line| std::str::from_utf8(line).ok())
        .collect();
    // Built outside the runtime: building blocks on it.
    let manager = manager();
    block_on(check_request(manager, data, cookies, header));
}

async fn check_request(
    manager: &SessionManager,
    data: &[u8],
    cookies: Vec<&str>,
    header: Option<&str>,
) {
    let request = manager.request(cookies.iter().copied(), |name| {
        (name == HEADER).then_some(header).flatten()
    });
    for name in SESSIONS {
        let session = open(request.session(name)).await;
        check_provenance(name, &session);
    }

    // Round trip: a change to `app` is saved, sent back the way a browser would, and reads back
    // exactly.
    let app = open(request.session("app")).await;
    let echo: String = crate::text(data).chars().take(ECHO_LIMIT).collect();
    let before = contents(&app);
    match app.insert("echo", &echo) {
        Ok(()) => {}
        Err(error) if error.is_too_large() => {
            assert_eq!(
                contents(&app),
                before,
                "a refused change changed the session"
            );
        }
        Err(error) => panic!("inserting a string failed: {error}"),
    }
    let expected = contents(&app);
    // A change the session accepted fits its cookies: saving it cannot fail.
    let headers = match manager.save_request(request).await {
        Ok(headers) => headers,
        Err(error) => panic!("saving an accepted cookie session failed: {error}"),
    };
    // The browser replaces the app session's cookies when the response sets any of them, and
    // otherwise sends the same ones again.
    let jar = browser_cookies(&headers);
    let replaced = headers.iter().any(|header| {
        let name = header.value().split('=').next().unwrap_or_default();
        matches!(header, ResponseHeader::SetCookie(_))
            && (name == "app" || name.starts_with("app."))
    });
    let again = if replaced {
        manager.request(jar.iter().map(String::as_str), |_| None)
    } else {
        manager.request(cookies.iter().copied(), |_| None)
    };
    let reopened = open(again.session("app")).await;
    assert_eq!(
        contents(&reopened),
        expected,
        "the app session did not read back what was saved"
    );
}

async fn open(session: impl Future<Output = Result<Session, Error>>) -> Session {
    match session.await {
        Ok(session) => session,
        Err(error) => panic!("opening a cookie-store session failed: {error}"),
    }
}

/// A session that opened with values must be a seed sealed for this very session under a
/// listed key: nothing else could have produced it.
fn check_provenance(name: &str, session: &Session) {
    if session.is_empty() {
        return;
    }
    let for_session = session.get::<String>(FOR_SESSION).ok().flatten();
    assert_eq!(
        for_session.as_deref(),
        Some(name),
        "session `{name}` opened holding {:?}, which was not sealed for it",
        session.keys()
    );
    let sealed_by = session.get::<String>(SEALED_BY).ok().flatten();
    let role = ROLES
        .iter()
        .find(|role| Some(role.label) == sealed_by.as_deref());
    assert!(
        role.is_some_and(|role| role.listed),
        "session `{name}` opened although sealed by {sealed_by:?}, a key the ring does not list"
    );
}

fn contents(session: &Session) -> Vec<(String, Option<serde_json::Value>)> {
    session
        .keys()
        .into_iter()
        .map(|key| {
            let value = session.get::<serde_json::Value>(&key).ok().flatten();
            (key, value)
        })
        .collect()
}

/// The `name=value` pairs a browser keeps from `headers` (removals dropped), checking that every
/// cookie fits the browser limit.
fn browser_cookies(headers: &[ResponseHeader]) -> Vec<String> {
    let mut jar = Vec::new();
    for header in headers {
        let ResponseHeader::SetCookie(text) = header else {
            continue;
        };
        assert!(
            text.len() <= session_core::COOKIE_SIZE_LIMIT,
            "a {}-byte Set-Cookie",
            text.len()
        );
        let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
        if attributes.contains("Max-Age=0") {
            continue;
        }
        jar.push(pair.to_string());
    }
    jar
}

/// The cookies a browser holds for a session sealed by `role`'s key, of about `size` bytes.
fn sealed_cookies(manager: &SessionManager, role: Role, session: &str, size: usize) -> Vec<String> {
    block_on(async {
        let request = manager.request(None, |_| None);
        let opened = open(request.session(session)).await;
        for (key, value) in [
            (FOR_SESSION, session.to_string()),
            (SEALED_BY, role.label.to_string()),
            ("pad", "p".repeat(size)),
        ] {
            if let Err(error) = opened.insert(key, value) {
                panic!("inserting a seed value failed: {error}");
            }
        }
        match manager.save_request(request).await {
            Ok(headers) => {
                let mut values = browser_cookies(&headers);
                values.extend(headers.iter().filter_map(|header| match header {
                    ResponseHeader::Header { value, .. } => Some(format!("{HEADER}:{value}")),
                    ResponseHeader::SetCookie(_) => None,
                }));
                values
            }
            Err(error) => panic!("a seed session did not save: {error}"),
        }
    })
}

/// Cookie headers (and session headers) holding sessions sealed under every key, some of them
/// chunked, some swapped between sessions.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for role in ROLES {
        let manager = manager_with(keys::sealer(role));
        for size in [8, 5_000, 9_000] {
            let app = sealed_cookies(&manager, role, "app", size);
            let signed = sealed_cookies(&manager, role, "signed", size.min(5_000));
            let api = sealed_cookies(&manager, role, "api", 8);
            let header = api
                .iter()
                .find_map(|value| value.strip_prefix(&format!("{HEADER}:")))
                .unwrap_or("");
            let cookie_line =
                [app.join("; "), signed.join("; "), "theme=dark".to_string()].join("; ");
            seeds.push(format!("{cookie_line}\n{header}").into_bytes());
            // The same values under each other's names, and split over two Cookie headers.
            let swapped = cookie_line.replace("app", "tmp").replace("signed", "app");
            seeds.push(format!("{swapped}\n{header}").into_bytes());
            seeds.push(format!("{}\n{}\n", app.join("; "), signed.join("; ")).into_bytes());
        }
    }
    seeds
}
