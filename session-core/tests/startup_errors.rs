//! What a newcomer sees when start-up fails: the errors of `KeyRing::from_env` and
//! `SessionsConfig::from_path`, printed the way a `main` returning `Box<dyn Error>` prints them
//! (`Debug`) and with `Display`. Each must say what to do.

use std::error::Error;

use session_core::{ConfigError, Key, KeyError, KeyRing, SessionsConfig};

/// What `fn main() -> Result<(), Box<dyn Error>>` prints after `Error: `.
fn as_main_prints(error: impl Error + 'static) -> String {
    let boxed: Box<dyn Error> = Box::new(error);
    format!("{boxed:?}")
}

#[test]
fn a_missing_key_variable_is_named_with_how_to_make_a_key() {
    let error = KeyRing::from_env("STARTUP_ERRORS_UNSET_KEYS").unwrap_err();
    assert_eq!(
        error,
        KeyError::MissingVariable("STARTUP_ERRORS_UNSET_KEYS".into())
    );
    let printed = as_main_prints(error);
    assert!(
        printed.contains("`STARTUP_ERRORS_UNSET_KEYS` is not set")
            && printed.contains("session-cli keygen"),
        "{printed}"
    );
}

#[test]
fn a_key_that_is_not_base64_names_the_variable_and_the_entry() {
    let valid = Key::generate_secret_base64();
    std::env::set_var("STARTUP_ERRORS_BAD_KEYS", format!("{valid},not base64!"));
    let error = KeyRing::from_env("STARTUP_ERRORS_BAD_KEYS").unwrap_err();
    let printed = as_main_prints(error);
    assert!(
        printed.contains("`STARTUP_ERRORS_BAD_KEYS`")
            && printed.contains("session key #2 is not valid base64"),
        "{printed}"
    );
    assert!(
        !printed.contains(&valid),
        "a key is never printed: {printed}"
    );
}

#[test]
fn a_short_key_says_how_long_and_how_to_make_one() {
    std::env::set_var("STARTUP_ERRORS_SHORT_KEYS", "c2hvcnQ=");
    let printed = as_main_prints(KeyRing::from_env("STARTUP_ERRORS_SHORT_KEYS").unwrap_err());
    assert!(
        printed.contains("at least 32 bytes, got 5") && printed.contains("session-cli keygen"),
        "{printed}"
    );
}

#[test]
fn keys_from_the_environment_open_what_they_sealed() {
    let primary = Key::generate_secret_base64();
    let old = Key::generate_secret_base64();
    std::env::set_var("STARTUP_ERRORS_GOOD_KEYS", format!("{primary}, {old}"));
    let ring = KeyRing::from_env("STARTUP_ERRORS_GOOD_KEYS").unwrap();
    assert_eq!(
        ring.primary().id(),
        Key::from_base64(&primary).unwrap().id()
    );
}

#[test]
fn a_missing_configuration_file_is_named() {
    let dir = std::env::temp_dir().join(format!("startup-errors-{}", std::process::id()));
    let path = dir.join("sessions.toml");
    let error = SessionsConfig::from_path(&path).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }), "{error}");
    let printed = as_main_prints(error);
    assert!(
        printed.contains(&format!("`{}`", path.display()))
            && printed.contains("cannot read the session configuration file"),
        "{printed}"
    );
}

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "startup-errors-{}-{}",
        std::process::id(),
        name.replace('.', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn a_file_that_does_not_parse_is_named_with_the_line() {
    let path = temp_file("broken.toml", "[sessions.app\n");
    let printed = as_main_prints(SessionsConfig::from_path(&path).unwrap_err());
    assert!(
        printed.contains(&format!("in `{}`", path.display())) && printed.contains("line 1"),
        "{printed}"
    );
}

#[test]
fn an_invalid_setting_in_a_file_names_the_file_the_session_and_the_field() {
    let path = temp_file(
        "invalid.toml",
        r#"
        [sessions.app]
        transport = { type = "cookie", name = "app session" }
        store = { type = "memory" }
        "#,
    );
    let error = SessionsConfig::from_path(&path).unwrap_err();
    let ConfigError::File { source, .. } = &error else {
        panic!("expected an error in the file, got {error}");
    };
    assert!(matches!(**source, ConfigError::Invalid { .. }));
    let printed = as_main_prints(error);
    assert!(
        printed.contains(&format!("in `{}`", path.display()))
            && printed.contains("session `app`")
            && printed.contains("transport.name"),
        "{printed}"
    );
}

#[test]
fn json_files_are_read_as_json() {
    let path = temp_file(
        "sessions.json",
        r#"{ "sessions": { "app": {
            "transport": { "type": "cookie", "name": "app_session" },
            "store": { "type": "memory" } } } }"#,
    );
    let config = SessionsConfig::from_path(&path).unwrap();
    assert_eq!(config.default_name().unwrap(), "app");
}

#[test]
fn the_store_url_comes_from_the_environment_when_set() {
    let path = temp_file(
        "override.toml",
        r#"
        default = "web-app"
        [sessions.web-app]
        transport = { type = "cookie", name = "app_session" }
        store = { type = "redis", url = "redis://127.0.0.1:6379/" }
        [sessions.api]
        transport = { type = "header", name = "x-session" }
        store = { type = "redis", url = "redis://127.0.0.1:6379/" }
        "#,
    );
    assert_eq!(
        SessionsConfig::store_url_variable("web-app"),
        "SESSIONS_WEB_APP_STORE_URL"
    );
    std::env::set_var("SESSIONS_WEB_APP_STORE_URL", "redis://redis.internal:6380/");
    let config = SessionsConfig::from_path(&path).unwrap();
    assert_eq!(
        config.sessions["web-app"].store.options["url"],
        "redis://redis.internal:6380/"
    );
    assert_eq!(
        config.sessions["api"].store.options["url"], "redis://127.0.0.1:6379/",
        "a session whose variable is unset keeps the file's URL"
    );
}

#[test]
fn text_parsers_ignore_the_environment() {
    let mut config = SessionsConfig::from_toml(
        r#"
        [sessions.cache]
        transport = { type = "cookie", name = "c" }
        store = { type = "file", dir = "sessions" }
        "#,
    )
    .unwrap();
    assert!(!config.sessions["cache"].store.options.contains_key("url"));
    config.apply_store_url_overrides(|variable| {
        (variable == "SESSIONS_CACHE_STORE_URL").then(|| "file:///srv".to_string())
    });
    assert_eq!(config.sessions["cache"].store.options["url"], "file:///srv");
}
