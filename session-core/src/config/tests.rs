use super::*;

const DEMO: &str = r#"
    default = "app"
    [sessions.app]
    transport = { type = "cookie", name = "app_session" }
    store = { type = "memory", max_sessions = 10 }
    expiry = { idle_timeout_secs = 60, persistent = true }
    [sessions.cart]
    transport = { type = "cookie", name = "cart", same_site = "strict" }
    store = { type = "cookie" }
    protection = "signed"
    [sessions.api]
    transport = { type = "header", name = "x-session" }
    store = { type = "memory" }
"#;

#[test]
fn toml_with_three_sessions_parses_with_secure_defaults() {
    let config = SessionsConfig::from_toml(DEMO).unwrap();
    assert_eq!(config.default_name().unwrap(), "app");
    let app = &config.sessions["app"];
    let Transport::Cookie(cookie) = &app.transport else {
        panic!("app should use a cookie");
    };
    assert!(cookie.secure && cookie.http_only);
    assert_eq!(cookie.path, "/");
    assert_eq!(cookie.same_site, SameSite::Lax);
    assert_eq!(app.store.options["max_sessions"], 10);
    assert_eq!(app.expiry.idle_timeout_secs, 60);
    assert!(app.expiry.persistent);
    assert_eq!(config.sessions["cart"].protection, Protection::Signed);
}

#[test]
fn json_parses_too() {
    let config = SessionsConfig::from_json(
        r#"{"sessions":{"s":{"transport":{"type":"header","name":"x-s"},"store":{"type":"memory"}}}}"#,
    )
    .unwrap();
    assert_eq!(config.default_name().unwrap(), "s");
}

fn error_of(text: &str) -> String {
    SessionsConfig::from_toml(text).unwrap_err().to_string()
}

#[test]
fn unknown_fields_are_named() {
    let message = error_of(
        "[sessions.app]\ntransport = { type = \"cookie\", name = \"a\", secrue = true }\nstore = { type = \"memory\" }",
    );
    assert!(message.contains("secrue"), "{message}");
}

#[test]
fn cookie_prefixes_are_matched_case_insensitively() {
    for name in ["__host-s", "__HOST-s", "__Host-s"] {
        let message = error_of(&format!(
            "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"{name}\", path = \"/app\" }}\nstore = {{ type = \"memory\" }}"
        ));
        assert!(message.contains("__Host-"), "{name}: {message}");
    }
    for name in ["__secure-s", "__SECURE-s"] {
        let message = error_of(&format!(
            "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"{name}\", secure = false }}\nstore = {{ type = \"memory\" }}"
        ));
        assert!(message.contains("__Secure-"), "{name}: {message}");
    }
}

#[test]
fn host_prefix_rules_are_enforced() {
    let message = error_of(
        "[sessions.app]\ntransport = { type = \"cookie\", name = \"__Host-s\", domain = \"example.com\" }\nstore = { type = \"memory\" }",
    );
    assert!(
        message.contains("session `app`") && message.contains("__Host-"),
        "{message}"
    );
    assert!(SessionsConfig::from_toml(
        "[sessions.app]\ntransport = { type = \"cookie\", name = \"__Host-s\" }\nstore = { type = \"memory\" }"
    )
    .is_ok());
}

#[test]
fn clashing_cookie_names_are_rejected() {
    let message = error_of(
        "default = \"a\"\n[sessions.a]\ntransport = { type = \"cookie\", name = \"s\" }\nstore = { type = \"memory\" }\n[sessions.b]\ntransport = { type = \"cookie\", name = \"s\" }\nstore = { type = \"cookie\" }",
    );
    assert!(message.contains("already used by session `a`"), "{message}");
}

#[test]
fn cookie_names_that_look_like_another_sessions_chunks_are_rejected() {
    let message = error_of(
        "default = \"a\"\n[sessions.a]\ntransport = { type = \"cookie\", name = \"s\" }\nstore = { type = \"cookie\" }\n[sessions.b]\ntransport = { type = \"cookie\", name = \"s.1\" }\nstore = { type = \"memory\" }",
    );
    assert!(
        message.contains("session `b`") && message.contains("chunk of session `a`"),
        "{message}"
    );
    assert!(SessionsConfig::from_toml(
        "default = \"a\"\n[sessions.a]\ntransport = { type = \"cookie\", name = \"s\" }\nstore = { type = \"cookie\" }\n[sessions.b]\ntransport = { type = \"cookie\", name = \"s.one\" }\nstore = { type = \"memory\" }"
    )
    .is_ok());
}

#[test]
fn cookie_paths_with_control_characters_are_rejected() {
    for path in ["/a;b", "/a\\u0000", "/a\\t", "/a\\u007f", "relative"] {
        let message = error_of(&format!(
            "[sessions.a]\ntransport = {{ type = \"cookie\", name = \"a\", path = \"{path}\" }}\nstore = {{ type = \"memory\" }}"
        ));
        assert!(message.contains("transport.path"), "{path}: {message}");
    }
}

#[test]
fn default_must_exist_when_several_sessions() {
    let two = "[sessions.a]\ntransport = { type = \"cookie\", name = \"a\" }\nstore = { type = \"memory\" }\n[sessions.b]\ntransport = { type = \"cookie\", name = \"b\" }\nstore = { type = \"memory\" }";
    assert!(error_of(two).contains("default = "));
    assert!(error_of(&format!("default = \"c\"\n{two}")).contains("`c` is not configured"));
}

#[test]
fn bad_values_name_the_field() {
    assert!(error_of("[sessions.a]\ntransport = { type = \"cookie\", name = \"a b\" }\nstore = { type = \"memory\" }").contains("transport.name"));
    assert!(error_of("[sessions.a]\ntransport = { type = \"cookie\", name = \"a\" }\nstore = { type = \"memory\" }\nexpiry = { idle_timeout_secs = 0 }").contains("expiry.idle_timeout_secs"));
    assert!(error_of("[sessions.a]\ntransport = { type = \"cookie\", name = \"a\", same_site = \"none\", secure = false }\nstore = { type = \"memory\" }").contains("same_site"));
    assert!(error_of("").contains("no sessions"));
    assert!(error_of("[sessions.a]\ntransport = { type = \"pigeon\", name = \"a\" }\nstore = { type = \"memory\" }").contains("pigeon"));
}

#[test]
fn remember_me_windows_default_to_thirty_days_and_must_be_set_to_at_least_a_second() {
    let config = SessionsConfig::from_toml(
        "[sessions.a]\ntransport = { type = \"cookie\", name = \"a\" }\nstore = { type = \"memory\" }",
    )
    .unwrap();
    let expiry = &config.sessions["a"].expiry;
    assert_eq!(expiry.remember_idle_secs, 30 * 86_400);
    assert_eq!(expiry.remember_absolute_secs, 30 * 86_400);
    // The absolute end may be shorter than the idle window; neither may be zero.
    assert!(SessionsConfig::from_toml("[sessions.a]\ntransport = { type = \"cookie\", name = \"a\" }\nstore = { type = \"memory\" }\nexpiry = { remember_idle_secs = 600, remember_absolute_secs = 60 }").is_ok());
    for field in ["remember_idle_secs", "remember_absolute_secs"] {
        let message = error_of(&format!("[sessions.a]\ntransport = {{ type = \"cookie\", name = \"a\" }}\nstore = {{ type = \"memory\" }}\nexpiry = {{ {field} = 0 }}"));
        assert!(message.contains(&format!("expiry.{field}")), "{message}");
    }
}
