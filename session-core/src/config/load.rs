//! Reading a configuration: from a file, TOML or JSON text, and the environment override of
//! each store's URL.

use std::path::Path;

use super::{ConfigError, SessionsConfig};

impl SessionsConfig {
    /// Reads, parses and validates the file at `path` (JSON when the name ends in `.json`, TOML
    /// otherwise), then applies the environment override of each store's URL (see the
    /// [type docs](SessionsConfig)). Every error names the file.
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
}
