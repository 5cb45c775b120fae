//! The `session-cli` binary, run as an operator runs it: against a configuration file in a
//! temporary directory, a file store and keys in `SESSION_KEYS`. Sealed values come from a
//! `SessionManager` built from the same file, as the application would build it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use session_core::seal_record;
use session_core::{
    Expiry, Key, KeyRing, Protection, Record, SessionId, SessionManager, SessionsConfig,
};
use tempfile::TempDir;

struct Setup {
    dir: TempDir,
    config: PathBuf,
    primary: String,
    old: String,
    /// `SESSIONS_<NAME>_STORE_URL` variables set for the application and the tool.
    store_urls: Vec<(String, String)>,
}

impl Setup {
    /// The file store for `app`, the cookie store for `cart` and `prefs`, memory for `api`.
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let sessions = dir.path().join("sessions");
        Setup::with_config(
            dir,
            &format!(
                r#"
default = "app"

[sessions.app]
transport = {{ type = "cookie", name = "app_session" }}
store = {{ type = "file", dir = "{}" }}

[sessions.cart]
transport = {{ type = "cookie", name = "cart" }}
store = {{ type = "cookie" }}

[sessions.prefs]
transport = {{ type = "cookie", name = "prefs" }}
store = {{ type = "cookie" }}
protection = "signed"

[sessions.api]
transport = {{ type = "header", name = "x-session" }}
store = {{ type = "memory" }}
"#,
                sessions.display()
            ),
        )
    }

    fn with_config(dir: TempDir, toml: &str) -> Setup {
        let config = dir.path().join("sessions.toml");
        std::fs::write(&config, toml).unwrap();
        Setup {
            dir,
            config,
            primary: Key::generate_secret_base64(),
            old: Key::generate_secret_base64(),
            store_urls: Vec::new(),
        }
    }

    fn keys(&self) -> String {
        format!("{},{}", self.primary, self.old)
    }

    /// A manager over the same file, sealing with `keys` (a `SESSION_KEYS`-style list), with
    /// the store URL overrides of `self.store_urls` (what the application's environment sets).
    async fn manager(&self, keys: &str) -> SessionManager {
        let mut config =
            SessionsConfig::from_toml(&std::fs::read_to_string(&self.config).unwrap()).unwrap();
        config.apply_store_url_overrides(|variable| {
            self.store_urls
                .iter()
                .find(|(name, _)| name == variable)
                .map(|(_, url)| url.clone())
        });
        SessionManager::from_config(
            &config,
            &session_stores::registry(),
            KeyRing::from_base64_list(keys).unwrap(),
        )
        .await
        .unwrap()
    }

    /// What one request that writes `key = value` (and, for server-side sessions, binds
    /// `owner`) to session `name` sends back as the cookie or header value.
    async fn sealed(&self, keys: &str, name: &str, owner: Option<&str>) -> String {
        let manager = self.manager(keys).await;
        let request = manager.request(None, |_| None);
        let session = request.session(name).await.unwrap();
        session.insert("user", "alice").unwrap();
        session.insert("items", ["apple", "pear"]).unwrap();
        if let Some(owner) = owner {
            session.set_owner(owner).unwrap();
        }
        let headers = manager.save_request(request).await.unwrap();
        let value = headers[0].value();
        let pair = value.split(';').next().unwrap();
        pair.split_once('=')
            .map_or(pair, |(_, value)| value)
            .to_string()
    }

    fn cli(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_session-cli"));
        command
            .arg("--config")
            .arg(&self.config)
            .env("SESSION_KEYS", self.keys())
            .env_remove("SESSIONS_CONFIG")
            .envs(self.store_urls.iter().map(|(name, url)| (name, url)))
            .current_dir(self.dir.path());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cli().args(args).output().unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
}

#[test]
fn keygen_prints_a_fresh_32_byte_key_without_any_configuration() {
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_session-cli"))
            .arg("keygen")
            .env_remove("SESSION_KEYS")
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap()
    };
    let (first, second) = (run(), run());
    assert_exit(&first, 0);
    let key = stdout(&first).trim().to_string();
    assert_eq!(key.len(), 44, "{key}");
    assert!(KeyRing::from_base64_list(&key).is_ok());
    assert_ne!(key, stdout(&second).trim());
}

#[test]
fn every_command_has_help() {
    for command in ["keygen", "inspect", "count", "list", "revoke", "gc"] {
        let output = Command::new(env!("CARGO_BIN_EXE_session-cli"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert_exit(&output, 0);
        assert!(
            stdout(&output).contains("Usage: session-cli"),
            "{command}: {}",
            stdout(&output)
        );
    }
    let top = Command::new(env!("CARGO_BIN_EXE_session-cli"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(stdout(&top).contains("Exit codes"), "{}", stdout(&top));
}

#[test]
fn usage_errors_exit_2() {
    let setup = Setup::new();
    assert_exit(&setup.run(&["list"]), 2); // --owner is required
    assert_exit(&setup.run(&["frobnicate"]), 2);
}

#[tokio::test]
async fn a_client_side_cookie_shows_its_session_key_and_data() {
    let setup = Setup::new();
    let value = setup.sealed(&setup.keys(), "cart", None).await;
    let output = setup.run(&["inspect", &format!("cart={value}")]);
    assert_exit(&output, 0);
    let out = stdout(&output);
    assert!(out.contains("session: cart"), "{out}");
    assert!(out.contains("key: #1 of 2 (primary)"), "{out}");
    assert!(
        out.contains(r#""user": "alice""#) && out.contains(r#""pear""#),
        "{out}"
    );
    assert!(out.contains("expires: 20"), "{out}");
}

#[tokio::test]
async fn a_value_read_from_stdin_without_a_name_is_tried_as_every_session() {
    let setup = Setup::new();
    let value = setup.sealed(&setup.keys(), "prefs", None).await;
    let mut child = setup
        .cli()
        .args(["inspect", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{value}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("session: prefs"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn a_value_sealed_under_an_old_key_says_which() {
    let setup = Setup::new();
    let value = setup.sealed(&setup.old, "cart", None).await;
    let output = setup.run(&["inspect", "--session", "cart", &value]);
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("key: #2 of 2 (old"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn a_tampered_value_does_not_open_and_says_so() {
    let setup = Setup::new();
    let value = setup.sealed(&setup.keys(), "cart", None).await;
    let middle = value.len() / 2;
    let flipped = if &value[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{flipped}{}", &value[..middle], &value[middle + 1..]);
    let output = setup.run(&["inspect", &format!("cart={tampered}")]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("does not verify: tampered"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn a_value_under_a_key_not_in_the_ring_says_so() {
    let setup = Setup::new();
    let foreign = Key::generate_secret_base64();
    let value = setup.sealed(&foreign, "cart", None).await;
    let output = setup.run(&["inspect", &format!("cart={value}")]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("not in SESSION_KEYS"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn a_value_of_another_session_names_the_session_it_belongs_to() {
    let setup = Setup::new();
    let value = setup.sealed(&setup.keys(), "prefs", None).await;
    // Replayed as a cookie of a session with the same protection: the seal binds the name.
    let output = setup.run(&["inspect", "--session", "cart", &value]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("it was sealed for session `prefs`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_expired_value_verifies_but_says_it_expired() {
    let setup = Setup::new();
    let keys = KeyRing::from_base64_list(&setup.keys()).unwrap();
    let expiry = Expiry::persistent(std::time::Duration::from_secs(60));
    let record = Record::new(SessionId::generate(), &expiry, 1_000);
    let value = seal_record(&keys, Protection::Encrypted, "cart", &record).unwrap();
    let output = setup.run(&["inspect", &format!("cart={value}")]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("verifies (key #1 of 2 (primary)), but has expired"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn a_server_side_id_is_verified_and_its_record_loaded_from_the_store() {
    let setup = Setup::new();
    let value = setup.sealed(&setup.keys(), "app", Some("alice")).await;
    let output = setup.run(&["inspect", &format!("Cookie: app_session={value}")]);
    assert_exit(&output, 0);
    let out = stdout(&output);
    assert!(out.contains("kind: server-side, store `file`"), "{out}");
    assert!(out.contains("storage key: "), "{out}");
    assert!(
        out.contains("owner: alice") && out.contains(r#""user": "alice""#),
        "{out}"
    );
    assert!(
        !out.contains(&value),
        "the token itself is never printed: {out}"
    );
}

#[tokio::test]
async fn a_server_side_id_whose_record_is_gone_is_not_found() {
    let setup = Setup::new();
    let value = setup.sealed(&setup.keys(), "app", None).await;
    std::fs::remove_dir_all(setup.dir.path().join("sessions")).unwrap();
    let output = setup.run(&["inspect", &format!("app_session={value}")]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("holds no live session"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_keys_name_the_variable_and_exit_2() {
    let setup = Setup::new();
    let output = setup
        .cli()
        .env_remove("SESSION_KEYS")
        .args(["inspect", "abc"])
        .output()
        .unwrap();
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("`SESSION_KEYS` is not set")
            && stderr(&output).contains("session-cli keygen"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_missing_configuration_file_is_named_and_exits_2() {
    let setup = Setup::new();
    let missing: &Path = &setup.dir.path().join("nope.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_session-cli"))
        .arg("count")
        .env("SESSIONS_CONFIG", missing)
        .output()
        .unwrap();
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains(&format!("`{}`", missing.display())),
        "{}",
        stderr(&output)
    );
}

#[test]
fn sessions_the_tool_cannot_reach_are_explained() {
    let setup = Setup::new();
    let memory = setup.run(&["count", "api"]);
    assert_exit(&memory, 2);
    assert!(
        stderr(&memory).contains("inside the application's process"),
        "{}",
        stderr(&memory)
    );
    let cookie = setup.run(&["list", "--owner", "alice", "--session", "cart"]);
    assert_exit(&cookie, 2);
    assert!(
        stderr(&cookie).contains("client's cookie"),
        "{}",
        stderr(&cookie)
    );
    let unknown = setup.run(&["count", "nope"]);
    assert_exit(&unknown, 2);
    assert!(
        stderr(&unknown).contains("configured: api, app, cart, prefs"),
        "{}",
        stderr(&unknown)
    );
}

#[tokio::test]
async fn gc_removes_expired_records_and_reports_how_many() {
    let setup = Setup::new();
    setup.sealed(&setup.keys(), "app", None).await;
    let store = {
        let manager = setup.manager(&setup.keys()).await;
        match manager.backend("app") {
            Some(session_core::Backend::Server(store)) => store.clone(),
            _ => panic!("app is server-side"),
        }
    };
    let expiry = Expiry::persistent(std::time::Duration::from_secs(60));
    for _ in 0..2 {
        store
            .create(&Record::new(SessionId::generate(), &expiry, 1_000))
            .await
            .unwrap();
    }
    let output = setup.run(&["gc"]);
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("removed 2 expired session(s)"),
        "{}",
        stdout(&output)
    );
    let again = setup.run(&["gc"]);
    assert!(
        stdout(&again).contains("removed 0 expired"),
        "{}",
        stdout(&again)
    );
}

/// The private server of `scripts/test.sh`, or `None` (the test is skipped, saying so) when
/// `REDIS_URL` is unset.
fn redis_url() -> Option<String> {
    let url = std::env::var("REDIS_URL").ok();
    if url.is_none() {
        eprintln!(
            "skipped: REDIS_URL is not set; run the tests with `bash scripts/test.sh`, which \
             starts a private redis-server for them"
        );
    }
    url
}

/// `app` on Redis under a prefix of its own; the file names a server that is not there, and
/// `SESSIONS_APP_STORE_URL` points the application and the tool at the real one.
fn redis_setup(url: &str) -> Setup {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("cli-test-{}-{nanos}:", std::process::id());
    let mut setup = Setup::with_config(
        tempfile::tempdir().unwrap(),
        &format!(
            r#"
[sessions.app]
transport = {{ type = "cookie", name = "app_session" }}
store = {{ type = "redis", url = "redis://127.0.0.1:1/", key_prefix = "{prefix}", timeout_ms = 500 }}
"#
        ),
    );
    setup
        .store_urls
        .push(("SESSIONS_APP_STORE_URL".to_string(), url.to_string()));
    setup
}

#[tokio::test]
async fn list_revoke_and_count_reach_the_store_the_environment_names() {
    let Some(url) = redis_url() else { return };
    let setup = redis_setup(&url);
    for owner in ["alice", "alice", "bob"] {
        setup.sealed(&setup.keys(), "app", Some(owner)).await;
    }

    let count = setup.run(&["count"]);
    assert_exit(&count, 0);
    assert_eq!(stdout(&count).trim(), "app: 3");

    let list = setup.run(&["list", "--owner", "alice"]);
    assert_exit(&list, 0);
    assert_eq!(stdout(&list).lines().count(), 2, "{}", stdout(&list));

    let revoke = setup.run(&["revoke", "--owner", "alice", "--session", "app"]);
    assert_exit(&revoke, 0);
    assert!(
        stdout(&revoke).contains("revoked 2 session(s) of `alice` in session `app`"),
        "{}",
        stdout(&revoke)
    );
    assert_exit(&setup.run(&["list", "--owner", "alice"]), 1);
    assert_exit(&setup.run(&["revoke", "--owner", "alice"]), 1);
    assert_eq!(stdout(&setup.run(&["count", "app"])).trim(), "app: 1");
    assert_exit(&setup.run(&["list", "--owner", "bob"]), 0);
}

#[tokio::test]
async fn a_revoked_session_no_longer_opens() {
    let Some(url) = redis_url() else { return };
    let setup = redis_setup(&url);
    let value = setup.sealed(&setup.keys(), "app", Some("carol")).await;
    assert_exit(&setup.run(&["inspect", &format!("app_session={value}")]), 0);
    assert_exit(&setup.run(&["revoke", "--owner", "carol"]), 0);
    let after = setup.run(&["inspect", &format!("app_session={value}")]);
    assert_exit(&after, 1);
    assert!(
        stderr(&after).contains("holds no live session"),
        "{}",
        stderr(&after)
    );
}

#[test]
fn an_unreachable_store_exits_3() {
    // The file's own URL, without the override: nothing listens on port 1.
    let mut setup = redis_setup("unused");
    setup.store_urls.clear();
    let output = setup.run(&["count"]);
    assert_exit(&output, 3);
    assert!(
        stderr(&output).contains("session `app`"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn list_revoke_and_count_work_on_the_file_store_across_processes() {
    let setup = Setup::new();
    for owner in ["alice", "alice", "bob"] {
        setup.sealed(&setup.keys(), "app", Some(owner)).await;
    }
    let count = setup.run(&["count", "app"]);
    assert_exit(&count, 0);
    assert_eq!(stdout(&count).trim(), "app: 3");

    let list = setup.run(&["list", "--owner", "alice"]);
    assert_exit(&list, 0);
    assert_eq!(stdout(&list).lines().count(), 2, "{}", stdout(&list));

    let revoke = setup.run(&["revoke", "--owner", "alice", "--session", "app"]);
    assert_exit(&revoke, 0);
    assert!(
        stdout(&revoke).contains("revoked 2 session(s) of `alice`"),
        "{}",
        stdout(&revoke)
    );

    assert_exit(&setup.run(&["list", "--owner", "alice"]), 1);
    assert_exit(&setup.run(&["revoke", "--owner", "alice"]), 1);
    assert_eq!(stdout(&setup.run(&["count"])).trim(), "app: 1");
}
