//! Configuration of named sessions, deserializable from TOML or JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::device::OwnersConfig;

mod builder;
mod load;
mod validate;

use crate::expiry::ExpiryPolicy;
use crate::origin::CrossOriginConfig;
use crate::seal::Protection;
use crate::store::BoxError;

/// Every named session of an application.
///
///
/// ```toml
/// default = "app"
///
/// [sessions.app]
/// transport = { type = "cookie", name = "app_session" }
/// store = { type = "memory", max_sessions = 100000 }
/// expiry = { idle_timeout_secs = 3600, absolute_timeout_secs = 86400 }
///
/// [sessions.cart]
/// transport = { type = "cookie", name = "cart" }
/// store = { type = "cookie" }
/// protection = "encrypted"
///
/// [sessions.api]
/// transport = { type = "header", name = "x-session" }
/// store = { type = "memory" }
/// ```
///
/// Keys are never read from configuration: they come from the environment or code
/// ([`KeyRing::from_env`](crate::KeyRing::from_env)).
///
/// # Reading the file, and the environment override
///
/// [`SessionsConfig::from_path`] reads a file (JSON when its name ends in `.json`, TOML
/// otherwise); its errors name the file. It then applies one override from the environment, so a
/// deployment points at its own Redis or database without editing the file: the variable
/// `SESSIONS_<NAME>_STORE_URL` (the session name upper-cased, every character other than a
/// letter or digit turned into `_`; see [`SessionsConfig::store_url_variable`]) replaces the
/// `url` option of session `<NAME>`'s store. For `[sessions.app]`:
///
/// ```sh
/// SESSIONS_APP_STORE_URL=redis://redis.internal:6379/ ./my-app
/// ```
///
/// [`from_toml`](SessionsConfig::from_toml) and [`from_json`](SessionsConfig::from_json) read
/// only the text they are given.
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
    /// The owner policy: a cap on one owner's live sessions, and whether device records keep the
    /// client's address.
    #[serde(default, skip_serializing_if = "is_default")]
    pub owners: OwnersConfig,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
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

impl SessionConfig {
    /// A session with the given transport and store and default expiry and protection.
    pub fn new(transport: Transport, store: StoreConfig) -> Self {
        SessionConfig {
            transport,
            store,
            expiry: ExpiryPolicy::default(),
            protection: Protection::default(),
            max_bytes: None,
            owners: OwnersConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests;
