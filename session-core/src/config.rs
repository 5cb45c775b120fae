//! Configuration of named sessions, deserializable from TOML or JSON.
//!
//! ```toml
//! default = "app"
//!
//! [sessions.app]
//! transport = { type = "cookie", name = "app_session" }
//! store = { type = "memory", max_sessions = 100000 }
//! expiry = { idle_timeout_secs = 3600, absolute_timeout_secs = 86400 }
//!
//! [sessions.cart]
//! transport = { type = "cookie", name = "cart" }
//! store = { type = "cookie" }
//! protection = "encrypted"
//!
//! [sessions.api]
//! transport = { type = "header", name = "x-session" }
//! store = { type = "memory" }
//! ```
//!
//! Keys are never read from configuration: they come from the environment or code
//! ([`KeyRing::from_env`](crate::KeyRing::from_env)).
//!
//! # Reading the file, and the environment override
//!
//! [`SessionsConfig::from_path`] reads a file (JSON when its name ends in `.json`, TOML
//! otherwise); its errors name the file. It then applies one override from the environment, so a
//! deployment points at its own Redis or database without editing the file: the variable
//! `SESSIONS_<NAME>_STORE_URL` (the session name upper-cased, every character other than a
//! letter or digit turned into `_`; see [`SessionsConfig::store_url_variable`]) replaces the
//! `url` option of session `<NAME>`'s store. For `[sessions.app]`:
//!
//! ```sh
//! SESSIONS_APP_STORE_URL=redis://redis.internal:6379/ ./my-app
//! ```
//!
//! [`from_toml`](SessionsConfig::from_toml) and [`from_json`](SessionsConfig::from_json) read
//! only the text they are given.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::expiry::ExpiryPolicy;
use crate::origin::{CrossOriginConfig, CrossOriginGuard};
use crate::seal::Protection;
use crate::store::BoxError;

/// Every named session of an application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// The session that the plain `Session` extractor gives. Optional when only one session is
    /// configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The sessions by name.
    #[serde(default)]
    pub sessions: BTreeMap<String, SessionConfig>,
    /// How writes from other origins are refused (on by default; see [`CrossOriginConfig`]).
    #[serde(default)]
    pub cross_origin: CrossOriginConfig,
}

/// One named session: where its value travels, where it is stored, how long it lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Cookie or header.
    pub transport: Transport,
    /// The store type and its options.
    pub store: StoreConfig,
    /// Idle and absolute timeouts, cookie persistence, touch policy.
    #[serde(default)]
    pub expiry: ExpiryPolicy,
    /// Encrypted (default) or signed.
    #[serde(default)]
    pub protection: Protection,
    /// The most bytes of values (keys and their JSON text, flash messages included) the session
    /// may hold; a change past it is refused with
    /// [`Error::SessionTooLarge`](crate::Error::SessionTooLarge) where the handler makes it.
    /// Default: [`DEFAULT_MAX_BYTES`] for server-side stores; for the client-side `cookie` store
    /// the limit is what fits its cookies, and this can only lower it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<usize>,
}

/// The default size limit of a server-side session's values: 16 KiB.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024;

/// How a session's value travels between client and server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Transport {
    /// A cookie, for browsers.
    Cookie(CookieConfig),
    /// A request/response header, for API clients.
    Header(HeaderConfig),
}

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    /// Sent on same-site requests only.
    Strict,
    /// Sent on same-site requests and top-level navigations (the default).
    #[default]
    Lax,
    /// Sent on every request; requires `secure`.
    None,
}

/// A session cookie's name and attributes. The defaults are the secure ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieConfig {
    /// The cookie name. A `__Host-` prefix requires `secure`, `path = "/"` and no `domain`.
    pub name: String,
    /// `Secure` (HTTPS only). Default `true`; browsers accept it on `http://localhost` too.
    #[serde(default = "yes")]
    pub secure: bool,
    /// `HttpOnly` (not readable from scripts). Default `true`.
    #[serde(default = "yes")]
    pub http_only: bool,
    /// `SameSite`. Default `lax`.
    #[serde(default)]
    pub same_site: SameSite,
    /// `Path`. Default `/`.
    #[serde(default = "root_path")]
    pub path: String,
    /// `Domain`. Default none (host-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl CookieConfig {
    /// A cookie named `name` with the secure defaults.
    pub fn new(name: impl Into<String>) -> Self {
        CookieConfig {
            name: name.into(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            path: root_path(),
            domain: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn root_path() -> String {
    "/".to_string()
}

/// A header that carries the session value both ways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderConfig {
    /// The header name, e.g. `x-session`.
    pub name: String,
}

/// A store type and its options, e.g. `{ type = "file", dir = "sessions" }`.
///
/// `Debug` shows the option names but not their values, which may hold credentials (a Redis URL
/// with a password).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreConfig {
    /// The registered store type: `cookie`, `memory`, `file`, `redis`, `postgres`, `mysql`,
    /// `sqlite`, or one of your own.
    #[serde(rename = "type")]
    pub kind: String,
    /// The store's own options.
    #[serde(flatten)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("kind", &self.kind)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl StoreConfig {
    /// A store config of type `kind` with no options.
    pub fn new(kind: impl Into<String>) -> Self {
        StoreConfig {
            kind: kind.into(),
            options: serde_json::Map::new(),
        }
    }
}

/// What is wrong with a configuration. Messages name the session and the field.
///
/// `Debug` prints the same message as `Display`, so that a `main` returning this error (or a
/// `Box<dyn Error>` holding it) tells the user what to change.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the session configuration file `{}`: {source}; create it, or give the path of an existing one", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The configuration file was read, but what it holds is wrong.
    #[error("in `{}`: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        source: Box<ConfigError>,
    },
    /// The text does not parse.
    #[error("could not parse the session configuration: {0}")]
    Parse(String),
    /// No sessions are configured.
    #[error("no sessions configured; add at least one [sessions.<name>] table")]
    Empty,
    /// A field has an invalid value.
    #[error("session `{session}`: `{field}`: {message}")]
    Invalid {
        /// The session name.
        session: String,
        /// The field.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// The default session is not one of the configured ones, or is missing.
    #[error("the default session {0}")]
    Default(String),
    /// No store of that type is registered.
    #[error(
        "session `{session}`: unknown store type `{kind}`; {}",
        crate::registry::unknown_store_hint(kind, known)
    )]
    UnknownStore {
        /// The session name.
        session: String,
        /// The store type asked for.
        kind: String,
        /// The registered types.
        known: String,
    },
    /// The `[cross_origin]` table has an invalid value.
    #[error("`cross_origin.{field}`: {message}")]
    CrossOrigin {
        /// The field.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// The store refused its options or could not start.
    #[error("session `{session}`: store `{kind}`: {source}")]
    Store {
        /// The session name.
        session: String,
        /// The store type.
        kind: String,
        /// The store's error.
        source: BoxError,
    },
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl SessionsConfig {
    /// Reads, parses and validates the file at `path` (JSON when the name ends in `.json`, TOML
    /// otherwise), then applies the environment override of each store's URL (see the
    /// [module docs](self)). Every error names the file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
        let parsed = if is_json {
            SessionsConfig::from_json(&text)
        } else {
            SessionsConfig::from_toml(&text)
        };
        let mut config = parsed.map_err(|error| ConfigError::File {
            path: path.to_path_buf(),
            source: Box::new(error),
        })?;
        config.apply_store_url_overrides(|variable| std::env::var(variable).ok());
        Ok(config)
    }

    /// The environment variable whose value [`from_path`](Self::from_path) puts in the `url`
    /// option of session `session`'s store: `SESSIONS_<NAME>_STORE_URL`, e.g.
    /// `SESSIONS_APP_STORE_URL` for `app`.
    pub fn store_url_variable(session: &str) -> String {
        let name: String = session
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("SESSIONS_{name}_STORE_URL")
    }

    /// Sets the `url` option of each session's store to `lookup(variable)` where it returns a
    /// value, `variable` being [`store_url_variable`](Self::store_url_variable) of the session.
    /// [`from_path`](Self::from_path) calls it with the process environment.
    pub fn apply_store_url_overrides(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        for (name, session) in &mut self.sessions {
            if let Some(url) = lookup(&SessionsConfig::store_url_variable(name)) {
                session
                    .store
                    .options
                    .insert("url".to_string(), serde_json::Value::String(url));
            }
        }
    }

    /// Parses TOML and validates it.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: SessionsConfig =
            toml::from_str(text).map_err(|error| ConfigError::Parse(error.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses JSON and validates it.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let config: SessionsConfig =
            serde_json::from_str(text).map_err(|error| ConfigError::Parse(error.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The name of the default session.
    pub fn default_name(&self) -> Result<&str, ConfigError> {
        match &self.default {
            Some(name) if self.sessions.contains_key(name) => Ok(name),
            Some(name) => Err(ConfigError::Default(format!(
                "`{name}` is not configured; name one of the [sessions.*] tables"
            ))),
            None if self.sessions.len() == 1 => Ok(self.sessions.keys().next().map_or("", |n| n)),
            None => Err(ConfigError::Default(
                "is not set; with several sessions, set `default = \"<name>\"`".to_string(),
            )),
        }
    }

    /// Checks every rule serde cannot: names, cookie prefixes, clashes, timeouts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.sessions.is_empty() {
            return Err(ConfigError::Empty);
        }
        self.default_name()?;
        CrossOriginGuard::new(&self.cross_origin)?;
        let mut transports: BTreeMap<String, &str> = BTreeMap::new();
        for (name, session) in &self.sessions {
            session.validate(name)?;
            let key = match &session.transport {
                Transport::Cookie(cookie) => format!("cookie {}", cookie.name),
                Transport::Header(header) => format!("header {}", header.name.to_ascii_lowercase()),
            };
            if let Some(other) = transports.insert(key.clone(), name) {
                return Err(invalid(
                    name,
                    "transport.name",
                    format!(
                        "{key} is already used by session `{other}`; give each session its own"
                    ),
                ));
            }
        }
        // A client-side session split into chunks uses cookies `name`, `name.1`, `name.2`, ...:
        // another session's cookie must not look like one of them.
        for (name, session) in &self.sessions {
            let Transport::Cookie(cookie) = &session.transport else {
                continue;
            };
            for (other, other_session) in &self.sessions {
                let Transport::Cookie(base) = &other_session.transport else {
                    continue;
                };
                let is_chunk_name = cookie
                    .name
                    .strip_prefix(base.name.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|index| {
                        !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())
                    });
                if is_chunk_name {
                    return Err(invalid(
                        name,
                        "transport.name",
                        format!(
                            "cookie `{}` looks like a chunk of session `{other}`'s cookie `{}`; choose a name that is not `{}.<number>`",
                            cookie.name, base.name, base.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn invalid(session: &str, field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        session: session.to_string(),
        field,
        message: message.into(),
    }
}

/// RFC 7230 `token` characters, the only ones allowed in cookie and header names.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl SessionConfig {
    /// A session with the given transport and store and default expiry and protection.
    pub fn new(transport: Transport, store: StoreConfig) -> Self {
        SessionConfig {
            transport,
            store,
            expiry: ExpiryPolicy::default(),
            protection: Protection::default(),
            max_bytes: None,
        }
    }

    /// Checks this session's settings; `name` is used in messages.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        if name.is_empty() || name.len() > 64 {
            return Err(invalid(
                name,
                "name",
                "session names are 1 to 64 characters",
            ));
        }
        match &self.transport {
            Transport::Cookie(cookie) => validate_cookie(name, cookie)?,
            Transport::Header(header) => {
                if !is_token(&header.name) {
                    return Err(invalid(
                        name,
                        "transport.name",
                        format!("`{}` is not a valid header name", header.name),
                    ));
                }
            }
        }
        if self.max_bytes == Some(0) {
            return Err(invalid(name, "max_bytes", "must be at least 1 byte"));
        }
        if self.expiry.idle_timeout_secs == 0 {
            return Err(invalid(
                name,
                "expiry.idle_timeout_secs",
                "must be at least 1 second",
            ));
        }
        if self.expiry.absolute_timeout_secs == Some(0) {
            return Err(invalid(
                name,
                "expiry.absolute_timeout_secs",
                "must be at least 1 second, or left out for no absolute timeout",
            ));
        }
        if self.store.kind.is_empty() {
            return Err(invalid(
                name,
                "store.type",
                "name a store type, e.g. \"memory\"",
            ));
        }
        Ok(())
    }
}

fn validate_cookie(name: &str, cookie: &CookieConfig) -> Result<(), ConfigError> {
    if !is_token(&cookie.name) {
        return Err(invalid(
            name,
            "transport.name",
            format!("`{}` is not a valid cookie name", cookie.name),
        ));
    }
    if !cookie.path.starts_with('/') || cookie.path.chars().any(|c| c == ';' || c.is_control()) {
        return Err(invalid(
            name,
            "transport.path",
            "must start with `/` and hold no `;` or control characters",
        ));
    }
    if let Some(domain) = &cookie.domain {
        if domain.is_empty()
            || !domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        {
            return Err(invalid(
                name,
                "transport.domain",
                format!("`{domain}` is not a domain name"),
            ));
        }
    }
    // Browsers match the prefixes case-insensitively, so a `__host-` cookie is held to the same
    // rules (RFC 6265bis).
    let has_prefix = |prefix: &str| {
        cookie
            .name
            .get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    };
    if has_prefix("__Host-") && (!cookie.secure || cookie.path != "/" || cookie.domain.is_some()) {
        return Err(invalid(
            name,
            "transport.name",
            "a `__Host-` cookie needs secure = true, path = \"/\" and no domain",
        ));
    }
    if has_prefix("__Secure-") && !cookie.secure {
        return Err(invalid(
            name,
            "transport.secure",
            "a `__Secure-` cookie needs secure = true",
        ));
    }
    if cookie.same_site == SameSite::None && !cookie.secure {
        return Err(invalid(
            name,
            "transport.same_site",
            "SameSite=None needs secure = true (browsers drop it otherwise)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
}
