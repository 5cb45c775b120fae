//! Target `config`: `SessionsConfig::from_toml` and `from_json` (which validate), then building a
//! manager from what they accept.
//!
//! Input: the configuration text; a first byte `{` (after spaces) is read as JSON, else TOML, and
//! both parsers see every input.
//!
//! Invariants: no panic; an accepted configuration validates, survives JSON (and, where TOML can
//! hold it, TOML) serialization exactly, and either builds a manager or is refused by its store
//! with a configuration error.

use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for config in [
        SessionsConfig::from_toml(text),
        SessionsConfig::from_json(text),
    ]
    .into_iter()
    .flatten()
    {
        check_accepted(&config);
    }
}

fn check_accepted(config: &SessionsConfig) {
    if let Err(error) = config.validate() {
        panic!("a parsed configuration does not validate: {error}");
    }
    let json = match serde_json::to_string(config) {
        Ok(json) => json,
        Err(error) => panic!("an accepted configuration does not serialize to JSON: {error}"),
    };
    match SessionsConfig::from_json(&json) {
        Ok(again) => assert_eq!(&again, config, "JSON round trip changed the configuration"),
        Err(error) => panic!("an accepted configuration does not read back from JSON: {error}"),
    }
    // TOML has no null; a configuration holding one has no TOML form, which is not an error here.
    if let Ok(text) = toml::to_string(config) {
        match SessionsConfig::from_toml(&text) {
            Ok(again) => assert_eq!(&again, config, "TOML round trip changed the configuration"),
            Err(error) => panic!("an accepted configuration does not read back from TOML: {error}"),
        }
    }
    // The client-side store is the only one registered, so no file or network is touched; any
    // other store type must be refused as unknown, any bad option of the cookie store named.
    let _ = crate::block_on(SessionManager::from_config(
        config,
        &StoreRegistry::new(),
        KeyRing::new(crate::keys::key(crate::keys::PRIMARY)),
    ));
}

/// The demos' configurations and their JSON forms, and one of each option.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut texts = vec![
        include_str!("../../../examples/demo-contract/src/default.toml").to_string(),
        include_str!("../../../examples/config/file.toml").to_string(),
        include_str!("../../../examples/config/redis.toml").to_string(),
        crate::intake::CONFIG.to_string(),
        r#"
default = "app"

[sessions.app]
transport = { type = "cookie", name = "__Host-app", secure = true, http_only = true, same_site = "strict", path = "/" }
store = { type = "cookie", max_chunks = 8 }
expiry = { idle_timeout_secs = 3600, absolute_timeout_secs = 86400, persistent = true, reads_are_activity = false, touch_after_secs = 5 }
protection = "signed"

[sessions.api]
transport = { type = "header", name = "X-Api-Session" }
store = { type = "memory", max_sessions = 10, shards = 2, nested = { list = [1.5, -0.0, 1e300] } }
"#
        .to_string(),
    ];
    let json: Vec<String> = texts
        .iter()
        .filter_map(|text| SessionsConfig::from_toml(text).ok())
        .filter_map(|config| serde_json::to_string_pretty(&config).ok())
        .collect();
    texts.extend(json);
    texts.into_iter().map(String::into_bytes).collect()
}
