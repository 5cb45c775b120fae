//! The kit itself: its configurations, body parsing and (feature `scenarios`) the test utilities.

use demo_contract::{parse_body, registry, LoginRequest, DEFAULT_CONFIG};
use session_core::{KeyRing, SessionManager, SessionsConfig};

fn parse(text: &str) -> SessionsConfig {
    SessionsConfig::from_toml(text).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

#[tokio::test]
async fn default_config_builds_with_the_demo_registry() {
    let manager =
        SessionManager::from_config(&parse(DEFAULT_CONFIG), &registry(), KeyRing::generate())
            .await
            .unwrap();
    assert_eq!(manager.default_name(), "app");
    let mut names: Vec<_> = manager.session_names().collect();
    names.sort_unstable();
    assert_eq!(names, ["api", "app", "cart"]);
}

#[test]
fn sample_configs_differ_from_the_default_only_in_the_app_store() {
    let default = parse(DEFAULT_CONFIG);
    for (file, kind) in [
        (include_str!("../../config/file.toml"), "file"),
        (include_str!("../../config/redis.toml"), "redis"),
        (include_str!("../../config/redis-cluster.toml"), "redis"),
        (include_str!("../../config/redis-sentinel.toml"), "redis"),
        (include_str!("../../config/postgres.toml"), "postgres"),
        (include_str!("../../config/mysql.toml"), "mysql"),
        (include_str!("../../config/sqlite.toml"), "sqlite"),
    ] {
        let mut sample = parse(file);
        assert_eq!(sample.sessions["app"].store.kind, kind);
        let app = sample.sessions.get_mut("app").unwrap();
        app.store = default.sessions["app"].store.clone();
        assert_eq!(
            sample, default,
            "the {kind} sample changes more than the app store"
        );
    }
}

#[test]
fn bodies_must_be_json_objects_of_the_right_shape() {
    assert_eq!(
        parse_body::<LoginRequest>(b" {\"user\":\"alice\"}")
            .unwrap()
            .user,
        "alice"
    );
    for body in [
        &b""[..],
        b"null",
        b"[\"alice\"]",
        b"{\"user\":1}",
        b"{\"user\":\"a\",\"x\":1}",
    ] {
        let error = parse_body::<LoginRequest>(body).unwrap_err();
        assert!(error.error.starts_with("malformed body"), "{}", error.error);
    }
}

#[cfg(feature = "scenarios")]
mod scenarios {
    use demo_contract::{config_with_store, config_with_stores, SetCookie, TestResponse};

    use super::*;

    #[test]
    fn config_with_store_replaces_only_that_sessions_store() {
        let config = parse(&config_with_store("app", r#"{ type = "file", dir = "x" }"#));
        let default = parse(DEFAULT_CONFIG);
        assert_eq!(config.sessions["app"].store.kind, "file");
        assert_eq!(config.sessions["api"], default.sessions["api"]);
        assert_eq!(config.sessions["cart"], default.sessions["cart"]);

        let both = parse(&config_with_stores(&[
            ("app", r#"{ type = "failing" }"#),
            ("api", r#"{ type = "failing" }"#),
        ]));
        assert_eq!(both.sessions["api"].store.kind, "failing");
        assert_eq!(both.sessions["app"].store.kind, "failing");
    }

    #[test]
    fn removal_cookies_are_recognised() {
        let removal = SetCookie::parse(
            "app_session=; HttpOnly; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        );
        assert!(removal.is_removal());
        assert_eq!(removal.path.as_deref(), Some("/"));
        let live = SetCookie::parse("app_session=abc; HttpOnly; Path=/");
        assert!(!live.is_removal());
        assert_eq!(live.value, "abc");
    }

    #[test]
    fn response_headers_are_case_insensitive() {
        let response = TestResponse {
            status: 200,
            headers: vec![
                ("Set-Cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
            ],
            body: Vec::new(),
        };
        assert_eq!(response.header_values("SET-COOKIE"), ["a=1", "b=2"]);
        assert_eq!(response.set_cookie("b").map(|c| c.value), Some("2".into()));
    }
}
