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

/// Asserts that `text` is refused with a message holding `named`.
fn assert_refused(text: &str, named: &str) {
    let message = error_of(text);
    assert!(message.contains(named), "{text}: {message}");
}

#[test]
fn unknown_fields_are_named() {
    assert_refused(
        "[sessions.app]\ntransport = { type = \"cookie\", name = \"a\", secrue = true }\nstore = { type = \"memory\" }",
        "secrue",
    );
}

#[test]
fn cookie_prefixes_are_matched_case_insensitively() {
    for name in ["__host-s", "__HOST-s", "__Host-s"] {
        assert_refused(
            &format!(
                "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"{name}\", path = \"/app\" }}\nstore = {{ type = \"memory\" }}"
            ),
            "__Host-",
        );
    }
    for name in ["__secure-s", "__SECURE-s"] {
        assert_refused(
            &format!(
                "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"{name}\", secure = false }}\nstore = {{ type = \"memory\" }}"
            ),
            "__Secure-",
        );
    }
}

/// Asserts that `faulty` is refused with a message holding each of `named`, and that `fixed`,
/// the same configuration without the fault, parses.
fn assert_refused_until_fixed(faulty: &str, named: &[&str], fixed: &str) {
    for part in named {
        assert_refused(faulty, part);
    }
    assert!(SessionsConfig::from_toml(fixed).is_ok(), "{fixed}");
}

#[test]
fn host_prefix_rules_are_enforced() {
    assert_refused_until_fixed(
        "[sessions.app]\ntransport = { type = \"cookie\", name = \"__Host-s\", domain = \"example.com\" }\nstore = { type = \"memory\" }",
        &["session `app`", "__Host-"],
        "[sessions.app]\ntransport = { type = \"cookie\", name = \"__Host-s\" }\nstore = { type = \"memory\" }",
    );
}

#[test]
fn clashing_cookie_names_are_rejected() {
    assert_refused(
        "default = \"a\"\n[sessions.a]\ntransport = { type = \"cookie\", name = \"s\" }\nstore = { type = \"memory\" }\n[sessions.b]\ntransport = { type = \"cookie\", name = \"s\" }\nstore = { type = \"cookie\" }",
        "already used by session `a`",
    );
}

#[test]
fn cookie_names_that_look_like_another_sessions_chunks_are_rejected() {
    assert_refused_until_fixed(
        "default = \"a\"\n[sessions.a]\ntransport = { type = \"cookie\", name = \"s\" }\nstore = { type = \"cookie\" }\n[sessions.b]\ntransport = { type = \"cookie\", name = \"s.1\" }\nstore = { type = \"memory\" }",
        &["session `b`", "chunk of session `a`"],
        "default = \"a\"\n[sessions.a]\ntransport = { type = \"cookie\", name = \"s\" }\nstore = { type = \"cookie\" }\n[sessions.b]\ntransport = { type = \"cookie\", name = \"s.one\" }\nstore = { type = \"memory\" }",
    );
}

#[test]
fn cookie_paths_with_control_characters_are_rejected() {
    for path in ["/a;b", "/a\\u0000", "/a\\t", "/a\\u007f", "relative"] {
        assert_refused(
            &format!(
                "[sessions.a]\ntransport = {{ type = \"cookie\", name = \"a\", path = \"{path}\" }}\nstore = {{ type = \"memory\" }}"
            ),
            "transport.path",
        );
    }
}

#[test]
fn default_must_exist_when_several_sessions() {
    let two = "[sessions.a]\ntransport = { type = \"cookie\", name = \"a\" }\nstore = { type = \"memory\" }\n[sessions.b]\ntransport = { type = \"cookie\", name = \"b\" }\nstore = { type = \"memory\" }";
    assert_refused(two, "default = ");
    assert_refused(&format!("default = \"c\"\n{two}"), "`c` is not configured");
}

#[test]
fn bad_values_name_the_field() {
    assert_refused(
        "[sessions.a]\ntransport = { type = \"cookie\", name = \"a b\" }\nstore = { type = \"memory\" }",
        "transport.name",
    );
    assert_refused(
        "[sessions.a]\ntransport = { type = \"cookie\", name = \"a\" }\nstore = { type = \"memory\" }\nexpiry = { idle_timeout_secs = 0 }",
        "expiry.idle_timeout_secs",
    );
    assert_refused(
        "[sessions.a]\ntransport = { type = \"cookie\", name = \"a\", same_site = \"none\", secure = false }\nstore = { type = \"memory\" }",
        "same_site",
    );
    assert_refused("", "no sessions");
    assert_refused(
        "[sessions.a]\ntransport = { type = \"pigeon\", name = \"a\" }\nstore = { type = \"memory\" }",
        "pigeon",
    );
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
        assert_refused(&format!("[sessions.a]\ntransport = {{ type = \"cookie\", name = \"a\" }}\nstore = {{ type = \"memory\" }}\nexpiry = {{ {field} = 0 }}"), &format!("expiry.{field}"));
    }
}
