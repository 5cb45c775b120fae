//! Configuration in code: a fluent form of the same [`SessionsConfig`] a TOML file gives.
//!
//! Each method reads like the TOML key it sets, so the two forms sit side by side:
//!
//! ```
//! use std::time::Duration;
//! use session_core::{Protection, SameSite, SessionConfig, SessionsConfig, StoreConfig};
//!
//! let in_code = SessionsConfig::new()
//!     .default_session("app")
//!     .session(
//!         "app",
//!         SessionConfig::cookie("app_session")
//!             .same_site(SameSite::Strict)
//!             .store(StoreConfig::new("memory").option("max_sessions", 100_000))
//!             .idle_timeout(Duration::from_secs(3600))
//!             .absolute_timeout(Some(Duration::from_secs(86_400)))
//!             .max_bytes(8 * 1024),
//!     )
//!     .session(
//!         "cart",
//!         SessionConfig::cookie("cart")
//!             .store(StoreConfig::new("cookie").option("max_chunks", 2))
//!             .protection(Protection::Signed),
//!     )
//!     .session("api", SessionConfig::header("x-session").store(StoreConfig::new("memory")));
//!
//! let from_toml = SessionsConfig::from_toml(r#"
//!     default = "app"
//!
//!     [sessions.app]
//!     transport = { type = "cookie", name = "app_session", same_site = "strict" }
//!     store = { type = "memory", max_sessions = 100000 }
//!     expiry = { idle_timeout_secs = 3600, absolute_timeout_secs = 86400 }
//!     max_bytes = 8192
//!
//!     [sessions.cart]
//!     transport = { type = "cookie", name = "cart" }
//!     store = { type = "cookie", max_chunks = 2 }
//!     protection = "signed"
//!
//!     [sessions.api]
//!     transport = { type = "header", name = "x-session" }
//!     store = { type = "memory" }
//! "#)?;
//! assert_eq!(in_code, from_toml);
//! # Ok::<(), session_core::ConfigError>(())
//! ```
//!
//! Build the manager from either with
//! [`SessionManager::from_config`](crate::SessionManager::from_config); validation is the same.

use std::time::Duration;

use crate::config::{
    CookieConfig, HeaderConfig, SameSite, SessionConfig, SessionsConfig, StoreConfig, Transport,
};
use crate::seal::Protection;

impl SessionsConfig {
    /// No sessions yet; add them with [`session`](Self::session).
    pub fn new() -> Self {
        SessionsConfig::default()
    }

    /// Adds (or replaces) the session `name`: `[sessions.<name>]`.
    pub fn session(mut self, name: impl Into<String>, session: SessionConfig) -> Self {
        self.sessions.insert(name.into(), session);
        self
    }

    /// Names the default session (needed when there are several): `default = "<name>"`.
    pub fn default_session(mut self, name: impl Into<String>) -> Self {
        self.default = Some(name.into());
        self
    }
}

impl SessionConfig {
    /// A session carried in the cookie `name`, with the secure defaults (`Secure`, `HttpOnly`,
    /// `SameSite=Lax`, `Path=/`), the `memory` store and the default expiry:
    /// `transport = { type = "cookie", name = "<name>" }`.
    pub fn cookie(name: impl Into<String>) -> Self {
        SessionConfig::new(
            Transport::Cookie(CookieConfig::new(name)),
            StoreConfig::new("memory"),
        )
    }

    /// A session carried in the request and response header `name`:
    /// `transport = { type = "header", name = "<name>" }`.
    pub fn header(name: impl Into<String>) -> Self {
        SessionConfig::new(
            Transport::Header(HeaderConfig { name: name.into() }),
            StoreConfig::new("memory"),
        )
    }

    /// Where the session lives: `store = { type = "...", ... }`.
    pub fn store(mut self, store: StoreConfig) -> Self {
        self.store = store;
        self
    }

    fn cookie_mut(&mut self) -> Option<&mut CookieConfig> {
        match &mut self.transport {
            Transport::Cookie(cookie) => Some(cookie),
            Transport::Header(_) => None,
        }
    }

    /// The cookie's `Secure` attribute (default `true`); no effect on a header session.
    pub fn secure(mut self, secure: bool) -> Self {
        if let Some(cookie) = self.cookie_mut() {
            cookie.secure = secure;
        }
        self
    }

    /// The cookie's `HttpOnly` attribute (default `true`); no effect on a header session.
    pub fn http_only(mut self, http_only: bool) -> Self {
        if let Some(cookie) = self.cookie_mut() {
            cookie.http_only = http_only;
        }
        self
    }

    /// The cookie's `SameSite` attribute (default `Lax`); no effect on a header session.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        if let Some(cookie) = self.cookie_mut() {
            cookie.same_site = same_site;
        }
        self
    }

    /// The cookie's `Path` (default `/`); no effect on a header session.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        if let Some(cookie) = self.cookie_mut() {
            cookie.path = path.into();
        }
        self
    }

    /// The cookie's `Domain` (default none: host-only); no effect on a header session.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        if let Some(cookie) = self.cookie_mut() {
            cookie.domain = Some(domain.into());
        }
        self
    }

    /// Inactivity after which the session ends: `expiry.idle_timeout_secs`.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.expiry.idle_timeout_secs = idle.as_secs();
        self
    }

    /// Age after which the session ends however active: `expiry.absolute_timeout_secs`.
    pub fn absolute_timeout(mut self, absolute: Option<Duration>) -> Self {
        self.expiry.absolute_timeout_secs = absolute.map(|limit| limit.as_secs());
        self
    }

    /// Persistent cookies (`Max-Age`) rather than browser-session ones: `expiry.persistent`.
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.expiry.persistent = persistent;
        self
    }

    /// The idle window of a remembered session ([`Session::remember`](crate::Session::remember)):
    /// `expiry.remember_idle_secs`.
    pub fn remember_idle(mut self, idle: Duration) -> Self {
        self.expiry.remember_idle_secs = idle.as_secs();
        self
    }

    /// How long after its login a remembered session ends however active:
    /// `expiry.remember_absolute_secs`.
    pub fn remember_absolute(mut self, absolute: Duration) -> Self {
        self.expiry.remember_absolute_secs = absolute.as_secs();
        self
    }

    /// Whether reads slide the idle deadline: `expiry.reads_are_activity`.
    pub fn reads_are_activity(mut self, reads: bool) -> Self {
        self.expiry.reads_are_activity = reads;
        self
    }

    /// How far the deadline must move before an unchanged session is rewritten:
    /// `expiry.touch_after_secs`.
    pub fn touch_after(mut self, after: Duration) -> Self {
        self.expiry.touch_after_secs = after.as_secs();
        self
    }

    /// Encrypted (default) or signed: `protection`.
    pub fn protection(mut self, protection: Protection) -> Self {
        self.protection = protection;
        self
    }

    /// The owner policy: `owners` (a cap on one owner's live sessions, device addresses).
    pub fn owners(mut self, owners: crate::device::OwnersConfig) -> Self {
        self.owners = owners;
        self
    }

    /// The most bytes of values the session may hold: `max_bytes`.
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }
}

impl StoreConfig {
    /// Sets the store option `key` (as in the TOML table: `dir`, `url`, `max_sessions`, ...).
    /// A value that does not serialize to JSON is ignored (every number, string and bool does).
    pub fn option(mut self, key: impl Into<String>, value: impl serde::Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.options.insert(key.into(), value);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setter_lands_where_its_toml_key_does() {
        let built = SessionConfig::cookie("s")
            .secure(false)
            .http_only(false)
            .same_site(SameSite::None)
            .path("/app")
            .domain("example.com")
            .persistent(true)
            .reads_are_activity(false)
            .touch_after(Duration::from_secs(5))
            .remember_idle(Duration::from_secs(7))
            .remember_absolute(Duration::from_secs(8))
            .store(StoreConfig::new("file").option("dir", "sessions"));
        let toml = SessionsConfig::from_toml(
            r#"
            [sessions.s]
            transport = { type = "cookie", name = "s", secure = false, http_only = false, same_site = "none", path = "/app", domain = "example.com" }
            store = { type = "file", dir = "sessions" }
            expiry = { persistent = true, reads_are_activity = false, touch_after_secs = 5, remember_idle_secs = 7, remember_absolute_secs = 8 }
            "#,
        );
        // SameSite=None without Secure is refused by validation, in both forms alike.
        assert!(toml.is_err());
        let config = SessionsConfig::new().session("s", built);
        assert!(config.validate().is_err());
        let fixed = config
            .clone()
            .session("s", config.sessions["s"].clone().secure(true));
        assert!(fixed.validate().is_ok());
        let Transport::Cookie(cookie) = &fixed.sessions["s"].transport else {
            panic!("a cookie session")
        };
        assert_eq!(
            (
                cookie.path.as_str(),
                cookie.domain.as_deref(),
                cookie.http_only
            ),
            ("/app", Some("example.com"), false)
        );
        let expiry = &fixed.sessions["s"].expiry;
        assert!(expiry.persistent && !expiry.reads_are_activity && expiry.touch_after_secs == 5);
        assert_eq!(
            (expiry.remember_idle_secs, expiry.remember_absolute_secs),
            (7, 8)
        );
    }

    #[test]
    fn cookie_setters_leave_a_header_session_alone() {
        let header = SessionConfig::header("x-s").secure(false).path("/x");
        assert!(matches!(header.transport, Transport::Header(_)));
    }
}
