//! The rules of a configuration that serde cannot check: names, cookie prefixes, clashes,
//! timeouts.

use std::collections::BTreeMap;

use super::{ConfigError, CookieConfig, SameSite, SessionConfig, SessionsConfig, Transport};

impl SessionsConfig {
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
        crate::origin::CrossOriginGuard::new(&self.cross_origin)?;
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
        if self.owners.max_sessions == Some(0) {
            return Err(invalid(
                name,
                "owners.max_sessions",
                "must be at least 1 (leave it out for no cap)",
            ));
        }
        if self.owners.max_sessions.is_some() && self.store.kind == "cookie" {
            return Err(invalid(
                name,
                "owners.max_sessions",
                "needs a server-side store: a client-side `cookie` store cannot list or end an owner's sessions",
            ));
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
                "must be at least 1 second (`null` in JSON, or `absolute_timeout(None)` in code, for none)",
            ));
        }
        // No remembered session lives without an absolute end: both windows are required.
        for (field, secs) in [
            ("expiry.remember_idle_secs", self.expiry.remember_idle_secs),
            (
                "expiry.remember_absolute_secs",
                self.expiry.remember_absolute_secs,
            ),
        ] {
            if secs == 0 {
                return Err(invalid(name, field, "must be at least 1 second"));
            }
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
