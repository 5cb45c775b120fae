//! The `session-cli` binary, run as an operator runs it: against a configuration file in a
//! temporary directory and keys in `SESSION_KEYS`. Sealed values and stored sessions come from
//! a `SessionManager` built from the same file, as the application would build it. The owner
//! commands run on every server-side store type a plain build knows; the ones that need a
//! server read its URL from the variable `scripts/test.sh` exports and skip without it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use session_core::seal_record;
use session_core::{
    Backend, ClientInfo, Expiry, Key, KeyRing, Protection, Record, SessionId, SessionManager,
    SessionsConfig,
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
        Setup::with_config(
            r#"
default = "app"

[sessions.app]
transport = { type = "cookie", name = "app_session" }
store = { type = "file", dir = "{dir}/sessions" }

[sessions.cart]
transport = { type = "cookie", name = "cart" }
store = { type = "cookie" }

[sessions.prefs]
transport = { type = "cookie", name = "prefs" }
store = { type = "cookie" }
protection = "signed"

[sessions.api]
transport = { type = "header", name = "x-session" }
store = { type = "memory" }
"#,
        )
    }

    /// Only session `app`, on `store` (a TOML inline table). With `url`, the file's own URL is
    /// replaced through `SESSIONS_APP_STORE_URL`, as a deployment points at its server.
    fn app_on(store: &str, url: Option<&str>) -> Setup {
        let mut setup = Setup::with_config(&format!(
            "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"app_session\" }}\nstore = {store}\n"
        ));
        if let Some(url) = url {
            setup
                .store_urls
                .push(("SESSIONS_APP_STORE_URL".to_string(), url.to_string()));
        }
        setup
    }

    /// A configuration file made of `toml`, `{dir}` standing for the temporary directory.
    fn with_config(toml: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("sessions.toml");
        let toml = toml.replace("{dir}", &dir.path().display().to_string());
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

    /// What one request that writes two values (and, for server-side sessions, binds `owner`)
    /// to session `name` sends back as the cookie or header value.
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

    /// A login of `owner` to session `app` from a client that sends `user_agent` and has the
    /// address `ip`, as an adapter reports them; what the response sends back as the cookie.
    async fn login(&self, owner: &str, user_agent: &str, ip: &str) -> String {
        let manager = self.manager(&self.keys()).await;
        let request = manager.request(None, |_| None);
        request.set_client_info(ClientInfo {
            user_agent: Some(user_agent.to_string()),
            ip: Some(ip.to_string()),
        });
        let session = request.session("app").await.unwrap();
        session.insert("user", owner).unwrap();
        session.set_owner(owner).unwrap();
        let headers = manager.save_request(request).await.unwrap();
        let value = headers[0].value();
        let pair = value.split(';').next().unwrap();
        pair.to_string()
    }

    /// The sessions `list --owner owner --json` prints, which must succeed.
    #[track_caller]
    fn listed(&self, owner: &str) -> Vec<serde_json::Value> {
        let out = self.succeeds(&["list", "--owner", owner, "--json"]);
        match serde_json::from_str(&out) {
            Ok(serde_json::Value::Array(sessions)) => sessions,
            other => panic!("not a JSON array: {other:?} from {out}"),
        }
    }

    /// The handle of the session `cookie` opens: the storage key `inspect` shows, which is what
    /// `list` gives as the handle.
    #[track_caller]
    fn handle(&self, cookie: &str) -> String {
        let out = self.succeeds(&["inspect", cookie]);
        out.lines()
            .find_map(|line| line.strip_prefix("storage key: "))
            .unwrap_or_else(|| panic!("no storage key in: {out}"))
            .to_string()
    }

    /// The handles of the sessions of `owner` that `list --json` gives, sorted; none when it
    /// finds none.
    #[track_caller]
    fn handles(&self, owner: &str) -> Vec<String> {
        let output = self.run(&["list", "--owner", owner, "--json"]);
        let sessions: Vec<serde_json::Value> = match serde_json::from_str(&stdout(&output)) {
            Ok(serde_json::Value::Array(sessions)) => sessions,
            other => panic!("not a JSON array: {other:?} from {}", stdout(&output)),
        };
        assert_exit(&output, if sessions.is_empty() { 1 } else { 0 });
        let mut handles: Vec<String> = sessions
            .iter()
            .map(|session| session["handle"].as_str().unwrap().to_string())
            .collect();
        handles.sort();
        handles
    }

    fn cli(&self) -> Command {
        let mut command = cli();
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

    /// The standard output of the command `args`, which must succeed.
    #[track_caller]
    fn succeeds(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_exit(&output, 0);
        stdout(&output)
    }

    /// Runs `args`, which must exit with `code` and say each of `needles` on standard error.
    #[track_caller]
    fn fails(&self, args: &[&str], code: i32, needles: &[&str]) {
        assert_fails(&self.run(args), code, needles);
    }

    /// The value of an `app` session sealed and stored in the file store, whose directory
    /// (returned too) is then removed.
    async fn sealed_app_then_store_removed(&self) -> (String, PathBuf) {
        let value = self.sealed(&self.keys(), "app", None).await;
        let dir = self.dir.path().join("sessions");
        std::fs::remove_dir_all(&dir).unwrap();
        (value, dir)
    }

    /// Runs `inspect value` and asserts that it exits 1 (the value does not open) saying
    /// `needle`.
    fn inspect_fails(&self, value: &str, needle: &str) {
        self.fails(&["inspect", value], 1, &[needle]);
    }
}

/// The binary, with nothing set up.
fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_session-cli"))
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

#[track_caller]
fn assert_fails(output: &Output, code: i32, needles: &[&str]) {
    assert_exit(output, code);
    let said = stderr(output);
    for needle in needles {
        assert!(said.contains(needle), "expected `{needle}` in: {said}");
    }
}

/// A name no other test run uses: tables and key prefixes on shared servers.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let next = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{nanos}_{next}", std::process::id())
}

/// The private server of `scripts/test.sh` named by `variable`, or `None` (the test is skipped,
/// saying so) when it is unset.
fn server_url(variable: &str) -> Option<String> {
    let url = std::env::var(variable).ok();
    if url.is_none() {
        eprintln!(
            "skipped: {variable} is not set; run the tests with `bash scripts/test.sh`, which \
             starts a private server for them"
        );
    }
    url
}

/// `app` on Redis under a prefix of its own; the file names a server that is not there, and
/// `url` (when given) is the real one.
#[cfg(feature = "redis")]
fn on_redis(url: Option<&str>) -> Setup {
    let prefix = unique("cli");
    Setup::app_on(
        &format!(
            r#"{{ type = "redis", url = "redis://127.0.0.1:1/", key_prefix = "{prefix}:", timeout_ms = 500 }}"#
        ),
        url,
    )
}

/// `app` on a SQLite database file in the temporary directory.
fn on_sqlite_file() -> Setup {
    Setup::app_on(
        r#"{ type = "sqlite", url = "sqlite://{dir}/sessions.db" }"#,
        None,
    )
}

/// `app` on the SQL store `kind` in a table of its own, at `url`.
fn on_sql(kind: &str, url: &str) -> Setup {
    let table = unique("cli");
    Setup::app_on(
        &format!(
            r#"{{ type = "{kind}", url = "{kind}://nobody@127.0.0.1:1/none", table = "{table}" }}"#
        ),
        Some(url),
    )
}

/// `handles`, sorted.
fn sorted(handles: &[&String]) -> Vec<String> {
    let mut handles: Vec<String> = handles.iter().map(|handle| handle.to_string()).collect();
    handles.sort();
    handles
}

/// Three logins of alice (phone, laptop, tablet) and one of bob, written as the application
/// writes them, then counted, listed, and revoked through the tool by handle, all but one, and
/// all.
async fn owner_commands_work(setup: &Setup) {
    let mut cookies = Vec::new();
    for (owner, agent) in [
        ("alice", "Phone/1"),
        ("alice", "Laptop/2"),
        ("alice", "Tablet/3"),
        ("bob", "Desk/4"),
    ] {
        cookies.push(setup.login(owner, agent, "192.0.2.1").await);
    }
    let [phone, laptop, tablet, desk] = [0, 1, 2, 3].map(|index| setup.handle(&cookies[index]));
    assert_eq!(setup.succeeds(&["count"]).trim(), "app: 4");

    let table = setup.succeeds(&["list", "--owner", "alice"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three sessions: {table}");
    // Every column, in order, the device's free text last.
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header.join(" "),
        "HANDLE CREATED LAST SEEN LOGGED IN EXPIRES IP USER AGENT",
        "{table}"
    );
    for handle in [&phone, &laptop, &tablet] {
        assert!(
            lines[1..]
                .iter()
                .any(|line| line.starts_with(handle.as_str())),
            "no row for {handle} in: {table}"
        );
    }
    assert_eq!(setup.handles("alice"), sorted(&[&phone, &laptop, &tablet]));

    assert!(setup
        .succeeds(&["revoke", "--owner", "alice", "--handle", &phone])
        .contains("revoked 1 session(s) of `alice` in session `app`"));
    assert_eq!(setup.handles("alice"), sorted(&[&laptop, &tablet]));
    setup.fails(
        &["revoke", "--owner", "alice", "--handle", &phone],
        1,
        &["no live session with handle", "nothing revoked"],
    );
    // A handle is ended only for its owner.
    setup.fails(
        &["revoke", "--owner", "bob", "--handle", &laptop],
        1,
        &["nothing revoked"],
    );
    // A handle to keep that is no live session of the owner ends nothing.
    setup.fails(
        &["revoke", "--owner", "alice", "--keep", &phone],
        1,
        &["to keep; nothing revoked"],
    );
    assert_eq!(setup.handles("alice"), sorted(&[&laptop, &tablet]));

    let kept = setup.succeeds(&["revoke", "--owner", "alice", "--keep", &laptop]);
    assert!(
        kept.contains(&format!(
            "revoked 1 session(s) of `alice` in session `app`, kept {laptop}"
        )),
        "{kept}"
    );
    assert_eq!(setup.handles("alice"), sorted(&[&laptop]));
    setup.fails(
        &["revoke", "--owner", "alice", "--keep", &laptop],
        1,
        &["no other live sessions", "nothing revoked"],
    );

    assert!(setup
        .succeeds(&["revoke", "--owner", "alice", "--session", "app"])
        .contains("revoked 1 session(s) of `alice` in session `app`"));
    setup.fails(
        &["list", "--owner", "alice"],
        1,
        &["`alice` has no live sessions"],
    );
    assert!(setup.handles("alice").is_empty());
    setup.fails(&["revoke", "--owner", "alice"], 1, &["nothing revoked"]);
    assert_eq!(setup.succeeds(&["count", "app"]).trim(), "app: 1");
    assert_eq!(setup.handles("bob"), [desk]);
}

/// Two logins of alice from different clients: `list` shows each one's device record, in the
/// table and as JSON; the client's address only where the configuration records it.
async fn device_records_are_listed(setup: &Setup) {
    let phone = setup.login("alice", "Phone/1", "192.0.2.1").await;
    let laptop = setup.login("alice", "Laptop/2", "192.0.2.2").await;

    let table = setup.succeeds(&["list", "--owner", "alice"]);
    for (cookie, agent) in [(&phone, "Phone/1"), (&laptop, "Laptop/2")] {
        let handle = setup.handle(cookie);
        let row = table
            .lines()
            .find(|line| line.starts_with(&handle))
            .unwrap_or_else(|| panic!("no row for {handle} in: {table}"));
        assert!(row.ends_with(&format!("  -   {agent}")), "{table}");
    }

    let out = setup.succeeds(&["list", "--owner", "alice", "--json"]);
    let sessions: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let mut agents: Vec<&str> = sessions
        .iter()
        .map(|session| session["user_agent"].as_str().unwrap_or_default())
        .collect();
    agents.sort();
    assert_eq!(agents, ["Laptop/2", "Phone/1"], "{out}");
    for session in &sessions {
        assert!(
            session["logged_in_at"].as_u64() >= session["created_at"].as_u64(),
            "{session}"
        );
        assert!(
            session["last_seen_at"].as_u64() >= session["logged_in_at"].as_u64(),
            "{session}"
        );
        assert!(
            session["expires_at"].as_u64() > session["last_seen_at"].as_u64(),
            "{session}"
        );
        assert_eq!(session["ip"], serde_json::Value::Null, "{session}");
    }
}

#[test]
fn keygen_prints_a_fresh_32_byte_key_without_any_configuration() {
    let run = || {
        let output = cli()
            .arg("keygen")
            .env_remove("SESSION_KEYS")
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        assert_exit(&output, 0);
        stdout(&output).trim().to_string()
    };
    let (first, second) = (run(), run());
    assert_eq!(first.len(), 44, "{first}");
    assert!(KeyRing::from_base64_list(&first).is_ok());
    assert_ne!(first, second);
}

#[test]
fn every_command_has_help() {
    for command in [
        "keygen", "inspect", "count", "list", "revoke", "gc", "schema",
    ] {
        let output = cli().args([command, "--help"]).output().unwrap();
        assert_exit(&output, 0);
        assert!(
            stdout(&output).contains("Usage: session-cli"),
            "{command}: {}",
            stdout(&output)
        );
    }
    let top = cli().arg("--help").output().unwrap();
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
    let out = setup.succeeds(&["inspect", &format!("cart={value}")]);
    for expected in [
        "session: cart",
        "key: #1 of 2 (primary)",
        r#""user": "alice""#,
        r#""pear""#,
        "expires: 20",
    ] {
        assert!(out.contains(expected), "expected `{expected}` in: {out}");
    }
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
    let out = setup.succeeds(&["inspect", "--session", "cart", &value]);
    assert!(out.contains("key: #2 of 2 (old"), "{out}");
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
    setup.inspect_fails(&format!("cart={tampered}"), "does not verify: tampered");
}

#[tokio::test]
async fn a_value_under_a_key_not_in_the_ring_says_so() {
    let setup = Setup::new();
    let foreign = Key::generate_secret_base64();
    let value = setup.sealed(&foreign, "cart", None).await;
    setup.inspect_fails(&format!("cart={value}"), "not in SESSION_KEYS");
}

#[tokio::test]
async fn a_value_of_another_session_names_the_session_it_belongs_to() {
    let setup = Setup::new();
    let value = setup.sealed(&setup.keys(), "prefs", None).await;
    // Replayed as a cookie of a session with the same protection: the seal binds the name.
    setup.fails(
        &["inspect", "--session", "cart", &value],
        1,
        &["it was sealed for session `prefs`"],
    );
}

#[test]
fn an_expired_value_verifies_but_says_it_expired() {
    let setup = Setup::new();
    let keys = KeyRing::from_base64_list(&setup.keys()).unwrap();
    let expiry = Expiry::persistent(std::time::Duration::from_secs(60));
    let record = Record::new(SessionId::generate(), &expiry, 1_000);
    let value = seal_record(&keys, Protection::Encrypted, "cart", &record).unwrap();
    setup.inspect_fails(
        &format!("cart={value}"),
        "verifies (key #1 of 2 (primary)), but has expired",
    );
}

#[tokio::test]
async fn a_server_side_id_is_verified_and_its_record_loaded_from_the_store() {
    let setup = Setup::new();
    let value = setup.sealed(&setup.keys(), "app", Some("alice")).await;
    let out = setup.succeeds(&["inspect", &format!("Cookie: app_session={value}")]);
    for expected in [
        "kind: server-side, store `file`",
        "storage key: ",
        "owner: alice",
        r#""user": "alice""#,
    ] {
        assert!(out.contains(expected), "expected `{expected}` in: {out}");
    }
    assert!(
        !out.contains(&value),
        "the token itself is never printed: {out}"
    );
}

#[tokio::test]
async fn a_server_side_id_whose_record_is_gone_is_not_found() {
    let setup = Setup::new();
    let (value, dir) = setup.sealed_app_then_store_removed().await;
    std::fs::create_dir(&dir).unwrap();
    setup.inspect_fails(&format!("app_session={value}"), "holds no live session");
}

#[tokio::test]
async fn a_server_side_id_on_a_file_store_whose_directory_is_missing_fails_and_creates_nothing() {
    let setup = Setup::new();
    let (value, dir) = setup.sealed_app_then_store_removed().await;
    setup.fails(
        &["inspect", &format!("app_session={value}")],
        3,
        &[
            "session `app`",
            &format!("`{}`", dir.display()),
            "does not exist",
        ],
    );
    assert!(!dir.exists());
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
    assert_fails(
        &output,
        2,
        &["`SESSION_KEYS` is not set", "session-cli keygen"],
    );
}

#[test]
fn a_missing_configuration_file_is_named_and_exits_2() {
    let setup = Setup::new();
    let missing: &Path = &setup.dir.path().join("nope.toml");
    let output = cli()
        .arg("count")
        .env("SESSIONS_CONFIG", missing)
        .output()
        .unwrap();
    assert_fails(&output, 2, &[&format!("`{}`", missing.display())]);
}

#[test]
fn configuration_errors_exit_2_and_say_what_is_wrong() {
    for (store, needles) in [
        (
            r#"{ type = "nosuch" }"#,
            &["unknown store type `nosuch`", "registered types: "][..],
        ),
        (
            r#"{ type = "file", dir = "sessions", shards = 4 }"#,
            &["session `app`", "store `file`", "shards"][..],
        ),
        (r#"{ type = "sqlite" }"#, &["store `sqlite`", "url"][..]),
    ] {
        Setup::app_on(store, None).fails(&["count"], 2, needles);
    }
    // A URL that is no database's is the file's fault, not the server's.
    #[cfg(feature = "postgres")]
    Setup::app_on(r#"{ type = "postgres", url = "not a url" }"#, None).fails(
        &["count"],
        2,
        &["store `postgres`", "`url` is not a PostgreSQL URL"],
    );
    #[cfg(feature = "sqlite")]
    for url in ["postgres://nobody@127.0.0.1/db", "sqlite::memory:"] {
        Setup::app_on(&format!(r#"{{ type = "sqlite", url = "{url}" }}"#), None).fails(
            &["count"],
            2,
            &["store `sqlite`", "`url` is not a SQLite URL"],
        );
    }
    #[cfg(feature = "redis")]
    Setup::app_on(r#"{ type = "redis", pool_size = 0 }"#, None).fails(
        &["count"],
        2,
        &["store `redis`", "pool_size"],
    );
}

#[test]
fn sessions_the_tool_cannot_reach_are_explained() {
    let setup = Setup::new();
    setup.fails(
        &["count", "api"],
        2,
        &["inside the application's process", "postgres"],
    );
    setup.fails(
        &["list", "--owner", "alice", "--session", "cart"],
        2,
        &["client's cookie"],
    );
    setup.fails(
        &["count", "nope"],
        2,
        &["configured: api, app, cart, prefs"],
    );
}

#[tokio::test]
async fn gc_removes_expired_records_and_reports_how_many() {
    let setup = Setup::new();
    setup.sealed(&setup.keys(), "app", None).await;
    let manager = setup.manager(&setup.keys()).await;
    let Some(Backend::Server(store)) = manager.backend("app") else {
        panic!("app is server-side");
    };
    let expiry = Expiry::persistent(std::time::Duration::from_secs(60));
    for _ in 0..2 {
        store
            .create(&Record::new(SessionId::generate(), &expiry, 1_000))
            .await
            .unwrap();
    }
    assert!(setup
        .succeeds(&["gc"])
        .contains("removed 2 expired session(s)"));
    assert!(setup.succeeds(&["gc"]).contains("removed 0 expired"));
}

#[test]
fn owner_commands_on_a_file_store_whose_directory_is_missing_fail_and_create_nothing() {
    let setup = Setup::new();
    let dir = setup.dir.path().join("sessions");
    for args in [
        &["count"][..],
        &["count", "app"],
        &["list", "--owner", "alice"],
        &["revoke", "--owner", "alice"],
        &["gc"],
    ] {
        setup.fails(
            args,
            3,
            &[
                "session `app`",
                &format!("`{}`", dir.display()),
                "does not exist",
            ],
        );
        assert!(!dir.exists(), "`{}` created the directory", args.join(" "));
    }
}

#[tokio::test]
async fn owner_commands_work_on_the_file_store_across_processes() {
    owner_commands_work(&Setup::new()).await;
}

#[tokio::test]
async fn device_records_are_listed_on_the_file_store() {
    device_records_are_listed(&Setup::new()).await;
}

#[tokio::test]
async fn device_records_are_listed_on_sqlite() {
    device_records_are_listed(&on_sqlite_file()).await;
}

#[tokio::test]
async fn the_address_is_listed_when_the_configuration_records_it() {
    let setup = Setup::with_config(
        r#"
[sessions.app]
transport = { type = "cookie", name = "app_session" }
store = { type = "file", dir = "{dir}/sessions" }
owners = { record_ip = true }
"#,
    );
    setup.login("alice", "Phone/1", "203.0.113.9").await;
    let table = setup.succeeds(&["list", "--owner", "alice"]);
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(row.contains("203.0.113.9  Phone/1"), "{table}");
    assert_eq!(setup.listed("alice")[0]["ip"], "203.0.113.9");
}

#[tokio::test]
async fn list_json_of_an_owner_without_sessions_is_an_empty_array_and_exit_1() {
    let setup = Setup::new();
    setup.login("bob", "Desk/4", "192.0.2.1").await;
    let output = setup.run(&["list", "--owner", "alice", "--json"]);
    assert_fails(&output, 1, &["`alice` has no live sessions"]);
    assert_eq!(stdout(&output).trim(), "[]");
}

#[tokio::test]
async fn handles_that_start_with_a_hyphen_are_values_not_options() {
    // A handle is base64url, so one in 64 starts with `-`.
    let setup = Setup::new();
    setup.login("alice", "Phone/1", "192.0.2.1").await;
    for option in ["--handle", "--keep"] {
        setup.fails(
            &["revoke", "--owner", "alice", option, "-8not-a-handle"],
            1,
            &["has no live session with handle `-8not-a-handle`"],
        );
    }
    // A bare value to inspect, too, before or after the option.
    for args in [
        ["inspect", "--session", "app", "-8notavalue"],
        ["inspect", "-8notavalue", "--session", "app"],
    ] {
        let output = setup.run(&args);
        assert_ne!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(
            !String::from_utf8_lossy(&output.stderr).contains("unexpected argument"),
            "{args:?}: {output:?}"
        );
    }
}

#[tokio::test]
async fn a_session_revoked_by_handle_no_longer_opens_and_the_others_do() {
    let setup = Setup::new();
    let phone = setup.login("alice", "Phone/1", "192.0.2.1").await;
    let laptop = setup.login("alice", "Laptop/2", "192.0.2.2").await;
    let handle = setup.handle(&phone);
    setup.succeeds(&["revoke", "--owner", "alice", "--handle", &handle]);
    setup.fails(&["inspect", &phone], 1, &["holds no live session"]);
    setup.succeeds(&["inspect", &laptop]);
}

#[test]
fn revoke_takes_a_handle_or_one_to_keep_not_both() {
    let setup = Setup::new();
    setup.fails(
        &["revoke", "--owner", "alice", "--handle", "a", "--keep", "b"],
        2,
        &["--handle", "--keep"],
    );
    setup.fails(&["revoke", "--handle", "a"], 2, &["--owner"]);
}

#[tokio::test]
async fn owner_commands_work_on_sqlite() {
    owner_commands_work(&on_sqlite_file()).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn owner_commands_work_on_redis_at_the_url_the_environment_names() {
    let Some(url) = server_url("REDIS_URL") else {
        return;
    };
    owner_commands_work(&on_redis(Some(&url))).await;
}

#[tokio::test]
async fn owner_commands_work_on_postgres() {
    let Some(url) = server_url("POSTGRES_URL") else {
        return;
    };
    owner_commands_work(&on_sql("postgres", &url)).await;
}

#[tokio::test]
async fn owner_commands_work_on_mysql() {
    let Some(url) = server_url("MYSQL_URL") else {
        return;
    };
    owner_commands_work(&on_sql("mysql", &url)).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a_revoked_session_no_longer_opens() {
    let Some(url) = server_url("REDIS_URL") else {
        return;
    };
    let setup = on_redis(Some(&url));
    let value = setup.sealed(&setup.keys(), "app", Some("carol")).await;
    let cookie = format!("app_session={value}");
    setup.succeeds(&["inspect", &cookie]);
    setup.succeeds(&["revoke", "--owner", "carol"]);
    setup.fails(&["inspect", &cookie], 1, &["holds no live session"]);
}

#[cfg(feature = "redis")]
#[test]
fn an_unreachable_store_exits_3() {
    // The file's own URL, without the override: nothing listens on port 1.
    on_redis(None).fails(&["count"], 3, &["session `app`"]);
}

/// `app` on the SQL store `kind` in a table of its own that the store does not create
/// (`create_table = false`), and the URL of its database. Without `url` (SQLite), the database
/// is a file in the temporary directory.
fn on_sql_without_create_table(kind: &str, url: Option<&str>) -> (Setup, String) {
    let table = unique("schema");
    let file_url = match url {
        Some(_) => format!("{kind}://nobody@127.0.0.1:1/none"),
        None => "sqlite://{dir}/sessions.db".to_string(),
    };
    let setup = Setup::app_on(
        &format!(
            r#"{{ type = "{kind}", url = "{file_url}", table = "{table}", create_table = false }}"#
        ),
        url,
    );
    let url = match url {
        Some(url) => url.to_string(),
        None => format!("sqlite://{}/sessions.db", setup.dir.path().display()),
    };
    (setup, url)
}

/// Runs `sql` on the database `url` of the store `kind`, as a migration tool would.
async fn run_migration(kind: &str, url: &str, sql: &str) {
    use std::str::FromStr;
    match kind {
        "postgres" => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        "mysql" => {
            let pool = sqlx::MySqlPool::connect(url).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        "sqlite" => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        other => panic!("no migration runner for {other}"),
    }
}

/// The store of `setup` starts (in the application's manager and in the tool) and a session
/// written through one is read back through the other.
async fn a_session_round_trips(setup: &Setup) {
    let value = setup.sealed(&setup.keys(), "app", Some("alice")).await;
    let out = setup.succeeds(&["inspect", &format!("app_session={value}")]);
    for expected in ["owner: alice", r#""user": "alice""#, r#""pear""#] {
        assert!(out.contains(expected), "expected `{expected}` in: {out}");
    }
    assert_eq!(setup.succeeds(&["count"]).trim(), "app: 1");
}

/// Without its table, a store that may not create it does not start, and says what to run;
/// the statements `schema` prints, run by hand, make it start and keep sessions.
async fn the_printed_schema_makes_the_store_start(kind: &str, url: Option<&str>) {
    let (setup, url) = on_sql_without_create_table(kind, url);
    setup.fails(&["count"], 3, &["create_table", "CREATE TABLE"]);
    let printed = setup.succeeds(&["schema"]);
    assert!(printed.contains("CREATE TABLE IF NOT EXISTS"), "{printed}");
    run_migration(kind, &url, &printed).await;
    // Reviewed and run twice, as migrations sometimes are: nothing fails.
    run_migration(kind, &url, &printed).await;
    a_session_round_trips(&setup).await;
}

/// `schema --apply` creates the table, says so, finds it there the second time, and the store
/// then starts without creating it.
async fn schema_apply_creates_the_table_once(kind: &str, url: Option<&str>) {
    let (setup, _) = on_sql_without_create_table(kind, url);
    let first = setup.succeeds(&["schema", "--apply"]);
    assert!(first.contains("CREATE TABLE IF NOT EXISTS"), "{first}");
    assert!(first.contains("applied: created table"), "{first}");
    let second = setup.succeeds(&["schema", "app", "--apply"]);
    assert!(second.contains("was already there"), "{second}");
    a_session_round_trips(&setup).await;
}

#[test]
fn schema_prints_each_dialect_without_a_configuration() {
    for (dialect, expected) in [
        ("postgres", r#"CREATE TABLE IF NOT EXISTS "web_sessions""#),
        ("mysql", "CREATE TABLE IF NOT EXISTS `web_sessions`"),
        ("mariadb", "CREATE TABLE IF NOT EXISTS `web_sessions`"),
        ("sqlite", r#"CREATE TABLE IF NOT EXISTS "web_sessions""#),
    ] {
        let output = cli()
            .args(["schema", "--dialect", dialect, "--table", "web_sessions"])
            .env_remove("SESSIONS_CONFIG")
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        assert_exit(&output, 0);
        assert!(stdout(&output).contains(expected), "{}", stdout(&output));
    }
    let default = cli()
        .args(["schema", "--dialect", "sqlite"])
        .output()
        .unwrap();
    assert!(
        stdout(&default).contains(r#"CREATE TABLE IF NOT EXISTS "sessions""#),
        "{}",
        stdout(&default)
    );
}

#[test]
fn schema_refuses_what_it_cannot_print_or_apply() {
    let setup = Setup::new();
    setup.fails(
        &[
            "schema",
            "--dialect",
            "postgres",
            "--table",
            "x; DROP TABLE y",
        ],
        2,
        &["`table` must be"],
    );
    setup.fails(&["schema", "--dialect", "oracle"], 2, &["oracle"]);
    setup.fails(
        &["schema", "--dialect", "sqlite", "--apply"],
        2,
        &["--apply"],
    );
    setup.fails(&["schema"], 2, &["`file` store, which has no table"]);
    setup.fails(&["schema", "cart", "--apply"], 2, &["`cookie` store"]);
    setup.fails(
        &["schema", "nope"],
        2,
        &["configured: api, app, cart, prefs"],
    );
}

#[tokio::test]
async fn schema_apply_on_an_unreachable_database_exits_3() {
    let (setup, _) =
        on_sql_without_create_table("postgres", Some("postgres://nobody@127.0.0.1:1/none"));
    setup.fails(&["schema", "--apply"], 3, &["session `app`"]);
}

/// One test per SQL database of `$check(kind, url)`, named as given: SQLite always (`url`
/// `None`, a file of the check's own), PostgreSQL and MySQL on the servers the test command
/// started (skipped, saying so, without them).
macro_rules! on_every_sql_database {
    ($check:ident: $sqlite:ident, $postgres:ident, $mysql:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $check("sqlite", None).await;
        }

        #[tokio::test]
        async fn $postgres() {
            if let Some(url) = server_url("POSTGRES_URL") {
                $check("postgres", Some(&url)).await;
            }
        }

        #[tokio::test]
        async fn $mysql() {
            if let Some(url) = server_url("MYSQL_URL") {
                $check("mysql", Some(&url)).await;
            }
        }
    };
}

on_every_sql_database!(
    the_printed_schema_makes_the_store_start: the_printed_schema_makes_a_sqlite_store_start,
    the_printed_schema_makes_a_postgres_store_start,
    the_printed_schema_makes_a_mysql_store_start
);

on_every_sql_database!(
    schema_apply_creates_the_table_once: schema_apply_creates_a_sqlite_table_once,
    schema_apply_creates_a_postgres_table_once,
    schema_apply_creates_a_mysql_table_once
);

#[tokio::test]
async fn schema_apply_on_a_table_of_another_layout_fails_and_leaves_it() {
    let (setup, url) = on_sql_without_create_table("sqlite", None);
    let config = std::fs::read_to_string(&setup.config).unwrap();
    let table = config
        .split("table = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    run_migration(
        "sqlite",
        &url,
        &format!("CREATE TABLE \"{table}\" (id TEXT PRIMARY KEY, data TEXT)"),
    )
    .await;
    setup.fails(
        &["schema", "--apply"],
        3,
        &[&format!(
            "table `{table}` may already exist with other columns"
        )],
    );
    // The store still refuses it, and the table keeps its rows' layout.
    setup.fails(&["count"], 3, &["missing or incomplete"]);
}
