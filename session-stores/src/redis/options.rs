//! The options of the Redis store, as configuration files give them.

use serde::{Deserialize, Serialize};

/// Options of the Redis store (`store = { type = "redis", ... }`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisOptions {
    /// The server, as a `redis://` (or `rediss://` if the `redis` crate has TLS enabled) URL;
    /// a password goes in the URL (`redis://:secret@host/`). Default `redis://127.0.0.1:6379/`.
    /// On a cluster, the seed node when `urls` is empty.
    pub url: String,
    /// Whether the server is a Redis Cluster. Default `false`.
    pub cluster: bool,
    /// The cluster's seed nodes (with `cluster = true`); any reachable one is enough.
    pub urls: Vec<String>,
    /// How many multiplexed connections to spread requests over, 1 to 64 (single server only).
    /// Default 4.
    pub pool_size: usize,
    /// Prefix of every session key. Default `session:`.
    pub key_prefix: String,
    /// Milliseconds to wait for a connection or a reply before failing. Default 2000.
    pub timeout_ms: u64,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            url: "redis://127.0.0.1:6379/".into(),
            cluster: false,
            urls: Vec::new(),
            pool_size: 4,
            key_prefix: "session:".into(),
            timeout_ms: 2000,
        }
    }
}

impl std::fmt::Debug for RedisOptions {
    /// Hides passwords in the URLs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redacted(&self.url))
            .field("cluster", &self.cluster)
            .field(
                "urls",
                &self
                    .urls
                    .iter()
                    .map(|url| redacted(url))
                    .collect::<Vec<_>>(),
            )
            .field("pool_size", &self.pool_size)
            .field("key_prefix", &self.key_prefix)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Most connections a store opens.
pub(super) const MAX_POOL: usize = 64;

impl RedisOptions {
    /// Checks the options; the error names the field and says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_POOL).contains(&self.pool_size) {
            return Err(format!(
                "`pool_size` must be 1 to {MAX_POOL}, got {}",
                self.pool_size
            ));
        }
        if self.timeout_ms == 0 {
            return Err("`timeout_ms` must be at least 1".into());
        }
        if !self.cluster && !self.urls.is_empty() {
            return Err(
                "`urls` lists a cluster's seed nodes: add `cluster = true`, or give one server \
                 as `url`"
                    .into(),
            );
        }
        for (field, url) in self.seeds() {
            if let Err(error) = redis::Client::open(url) {
                return Err(format!(
                    "`{field}` is not a Redis URL ({error}); write it like redis://host:6379/"
                ));
            }
        }
        Ok(())
    }

    /// The URLs to connect to, with the field each comes from.
    pub(super) fn seeds(&self) -> Vec<(&'static str, &str)> {
        if self.urls.is_empty() {
            vec![("url", self.url.as_str())]
        } else {
            self.urls.iter().map(|url| ("urls", url.as_str())).collect()
        }
    }
}

/// The URL with any password replaced, for messages and logs.
pub(super) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redacted("redis://:hunter2@db.example:6379/0"),
            "redis://***@db.example:6379/0"
        );
        assert_eq!(redacted("redis://127.0.0.1/"), "redis://127.0.0.1/");
        let options = RedisOptions {
            url: "redis://user:hunter2@db/".into(),
            urls: vec!["redis://:hunter3@node/".into()],
            cluster: true,
            ..RedisOptions::default()
        };
        let printed = format!("{options:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("hunter3"));
    }

    #[test]
    fn options_are_validated_with_field_names() {
        let pool = RedisOptions {
            pool_size: 0,
            ..RedisOptions::default()
        };
        assert!(pool.validate().unwrap_err().contains("pool_size"));
        let url = RedisOptions {
            url: "http://nope".into(),
            ..RedisOptions::default()
        };
        assert!(url.validate().unwrap_err().contains("url"));
        let seeds_without_cluster = RedisOptions {
            urls: vec!["redis://a/".into()],
            ..RedisOptions::default()
        };
        assert!(seeds_without_cluster
            .validate()
            .unwrap_err()
            .contains("cluster = true"));
        let bad_seed = RedisOptions {
            cluster: true,
            urls: vec!["redis://a/".into(), "nope".into()],
            ..RedisOptions::default()
        };
        assert!(bad_seed.validate().unwrap_err().contains("`urls`"));
        assert!(RedisOptions::default().validate().is_ok());
    }
}
