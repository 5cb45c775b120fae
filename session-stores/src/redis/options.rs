//! The options of the Redis store, as configuration files give them.

use serde::{Deserialize, Serialize};

pub(super) use crate::options::redacted;
use crate::options::{at_least, debug_hiding, redacted_all, within};

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
    /// A primary watched by Redis Sentinel: the store asks these sentinels where the primary is
    /// and follows it through failovers. Replaces `url`; not with `cluster`. Default none.
    pub sentinel: Option<SentinelOptions>,
    /// The cluster's seed nodes (with `cluster = true`); any reachable one is enough.
    pub urls: Vec<String>,
    /// How many multiplexed connections to spread requests over, 1 to 64 (single server or
    /// Sentinel's primary). Default 4.
    pub pool_size: usize,
    /// Prefix of every session key. Default `session:`.
    pub key_prefix: String,
    /// Milliseconds to wait for a connection or a reply before failing. Default 2000. With
    /// `sentinel`, the most any command takes, asking the sentinels included.
    pub timeout_ms: u64,
}

/// Where Redis Sentinel finds the primary (`sentinel = { master = "...", urls = [...] }`).
///
/// The sentinels and the primary authenticate separately: a sentinel's password (and `rediss://`
/// for TLS) goes in its URL, the primary's in `primary_password` (and `primary_tls`). The
/// primary's settings hold for every server of the group, since any replica may be promoted.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SentinelOptions {
    /// The name the sentinels monitor the primary under (`sentinel monitor <name> ...`).
    pub master: String,
    /// The sentinels, as `redis://host:26379/` URLs; any reachable one is enough, the others are
    /// asked when it is not.
    pub urls: Vec<String>,
    /// The user the store logs in to the primary as (Redis ACLs), if any.
    pub primary_username: Option<String>,
    /// The primary's password, if it has one.
    pub primary_password: Option<String>,
    /// The database on the primary. Default 0.
    pub primary_db: i64,
    /// Whether the primary speaks TLS (needs a TLS feature of the `redis` crate). Default `false`.
    pub primary_tls: bool,
}

debug_hiding! {
    /// Hides the passwords.
    SentinelOptions {
        master,
        urls => redacted_all,
        primary_username,
        primary_password => |password: &Option<String>| password.as_ref().map(|_| "***"),
        primary_db,
        primary_tls,
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            url: "redis://127.0.0.1:6379/".into(),
            cluster: false,
            sentinel: None,
            urls: Vec::new(),
            pool_size: 4,
            key_prefix: "session:".into(),
            timeout_ms: 2000,
        }
    }
}

debug_hiding! {
    /// Hides passwords in the URLs.
    RedisOptions {
        url => redacted,
        cluster,
        sentinel,
        urls => redacted_all,
        pool_size,
        key_prefix,
        timeout_ms,
    }
}

/// Most connections a store opens.
pub(super) const MAX_POOL: usize = 64;

impl crate::ServerOptions for RedisOptions {
    fn check(&self) -> Result<(), String> {
        self.validate()
    }
}

impl RedisOptions {
    /// Checks the options; the error names the field and says what to change.
    pub fn validate(&self) -> Result<(), String> {
        within("pool_size", self.pool_size, 1..=MAX_POOL)?;
        at_least("timeout_ms", self.timeout_ms, 1)?;
        if let Some(sentinel) = &self.sentinel {
            return self.validate_sentinel(sentinel);
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

    fn validate_sentinel(&self, sentinel: &SentinelOptions) -> Result<(), String> {
        if self.cluster {
            return Err(
                "`sentinel` and `cluster = true` are two different deployments: keep the one \
                 your Redis runs as"
                    .into(),
            );
        }
        if !self.urls.is_empty() {
            return Err(
                "`urls` lists a cluster's seed nodes: with `sentinel`, list the sentinels as \
                 `sentinel.urls`"
                    .into(),
            );
        }
        if self.url != RedisOptions::default().url {
            return Err(
                "`url` names one server, but with `sentinel` the sentinels say where the \
                 primary is: remove `url` (the primary's password goes in \
                 `sentinel.primary_password`)"
                    .into(),
            );
        }
        if sentinel.master.is_empty() {
            return Err(
                "`sentinel.master` must be the name the sentinels monitor the primary under \
                 (`sentinel monitor <name> ...`), e.g. \"mymaster\""
                    .into(),
            );
        }
        if sentinel.urls.is_empty() {
            return Err(
                "`sentinel.urls` must list at least one sentinel, like redis://host:26379/".into(),
            );
        }
        for url in &sentinel.urls {
            let info =
                redis::IntoConnectionInfo::into_connection_info(url.as_str()).map_err(|error| {
                    format!(
                        "`sentinel.urls` has {} which is not a Redis URL ({error}); write it \
                         like redis://host:26379/",
                        redacted(url)
                    )
                })?;
            if info.redis_settings().db() != 0 {
                return Err(format!(
                    "`sentinel.urls` has {}, which names a database: sentinels have none; put \
                     the primary's in `sentinel.primary_db`",
                    redacted(url)
                ));
            }
        }
        if sentinel.primary_db < 0 {
            return Err(format!(
                "`sentinel.primary_db` must be 0 or more, got {}",
                sentinel.primary_db
            ));
        }
        if sentinel.primary_tls && redis::Client::open("rediss://127.0.0.1/").is_err() {
            return Err(
                "`sentinel.primary_tls` needs TLS in the `redis` crate: enable its \
                 `tls-rustls` (or `tokio-native-tls-comp`) feature in your Cargo.toml"
                    .into(),
            );
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
        crate::options::assert_each_refused(
            &RedisOptions::default(),
            RedisOptions::validate,
            &[
                ("pool_size", |o| o.pool_size = 0),
                ("url", |o| o.url = "http://nope".into()),
                // Seeds without `cluster`.
                ("cluster = true", |o| o.urls = vec!["redis://a/".into()]),
                ("`urls`", |o| {
                    o.cluster = true;
                    o.urls = vec!["redis://a/".into(), "nope".into()];
                }),
            ],
        );
    }

    fn sentinel(change: impl FnOnce(&mut RedisOptions, &mut SentinelOptions)) -> RedisOptions {
        let mut sentinel = SentinelOptions {
            master: "mymaster".into(),
            urls: vec!["redis://:s3cret@10.0.0.1:26379/".into()],
            primary_password: Some("hunter2".into()),
            ..SentinelOptions::default()
        };
        let mut options = RedisOptions::default();
        change(&mut options, &mut sentinel);
        options.sentinel = Some(sentinel);
        options
    }

    #[test]
    fn sentinel_options_are_validated_with_field_names() {
        assert!(sentinel(|_, _| {}).validate().is_ok());
        let refused = [
            (sentinel(|o, _| o.cluster = true), "cluster = true"),
            (sentinel(|o, _| o.url = "redis://10.0.0.9/".into()), "`url`"),
            (
                sentinel(|o, _| o.urls = vec!["redis://10.0.0.9/".into()]),
                "`sentinel.urls`",
            ),
            (sentinel(|_, s| s.master.clear()), "`sentinel.master`"),
            (sentinel(|_, s| s.urls.clear()), "`sentinel.urls`"),
            (
                sentinel(|_, s| s.urls.push("http://nope".into())),
                "`sentinel.urls`",
            ),
            (
                sentinel(|_, s| s.urls = vec!["redis://10.0.0.1:26379/3".into()]),
                "`sentinel.primary_db`",
            ),
            (sentinel(|_, s| s.primary_db = -1), "`sentinel.primary_db`"),
        ];
        for (options, field) in refused {
            let error = options.validate().unwrap_err();
            assert!(error.contains(field), "{field}: {error}");
            assert!(
                !error.contains("s3cret") && !error.contains("hunter2"),
                "{error}"
            );
        }
    }

    #[test]
    fn sentinel_and_primary_passwords_are_redacted() {
        let options = sentinel(|_, s| s.primary_username = Some("app".into()));
        let printed = format!("{options:?}");
        assert!(
            !printed.contains("s3cret") && !printed.contains("hunter2"),
            "{printed}"
        );
        assert!(
            printed.contains("mymaster") && printed.contains("app"),
            "{printed}"
        );
    }
}
