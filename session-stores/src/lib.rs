//! Session stores for `session-core`: [memory](mod@memory), [file](mod@file), `redis` (feature
//! `redis`, on by default), `postgres`, `mysql` and `sqlite` (features of those names) and the
//! client-side [cookie] store, plus a [registry] that lets a configuration file alone pick one,
//! and (feature `conformance`) the test suite every store passes.
//!
//! | type     | where sessions live              | shared between processes | revocable |
//! |----------|----------------------------------|--------------------------|-----------|
//! | `cookie` | sealed in the client's cookie    | yes (nothing to share)   | no        |
//! | `memory` | this process, sharded and bounded| no                       | yes       |
//! | `file`   | one file per session in `dir`    | yes, same machine        | yes       |
//! | `redis`  | a Redis server, Sentinel or Cluster | yes, any machine      | yes       |
//! | `postgres`, `mysql`, `sqlite` | a table of a database (module `sql`, features of those names) | yes (SQLite: same machine) | yes |
//!
//! Server-side stores key records by [`SessionId::storage_key`](session_core::SessionId::storage_key),
//! a SHA-256 of the id, and never persist the id itself: a copy of the store (a backup, a copied
//! directory, a Redis dump) does not hand out live session tokens.
//!
//! # Example
//!
//! ```
//! use session_core::{KeyRing, SessionManager, SessionsConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionsConfig::from_toml(r#"
//!     [sessions.app]
//!     transport = { type = "cookie", name = "app_session" }
//!     store = { type = "memory", max_sessions = 100000 }
//! "#)?;
//! let manager =
//!     SessionManager::from_config(&config, &session_stores::registry(), KeyRing::generate()).await?;
//!
//! let request = manager.request(None, |_| None);
//! request.default_session().await?.insert("user", "alice")?;
//! let headers = manager.save_request(request).await?;
//! assert!(headers[0].value().starts_with("app_session="));
//! # Ok(())
//! # }
//! ```
//!
//! Changing `type = "memory"` to `type = "file", dir = "sessions"` or
//! `type = "redis", url = "redis://127.0.0.1/"` needs no code change.

use std::sync::Arc;

use session_core::{Backend, StoreRegistry};

mod codec;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod cookie;
pub mod file;
#[cfg(any(test, feature = "conformance"))]
mod fixtures;
pub mod memory;
mod options;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub mod sql;
#[cfg(feature = "conformance")]
pub mod testing;

/// A registry of every store this crate provides: `cookie` (from `session-core`), `memory`,
/// `file` and, each with the feature of its name, `redis`, `postgres`, `mysql` and `sqlite`.
///
/// Options are checked when the store is built: unknown fields and out-of-range values are a
/// [`ConfigError`](session_core::ConfigError) naming the session and the field.
pub fn registry() -> StoreRegistry {
    let mut registry = StoreRegistry::new();
    registry.register("memory", |options| async move {
        let memory: memory::MemoryOptions = options.parse()?;
        memory
            .validate()
            .map_err(|message| options.error(message))?;
        Ok(Backend::Server(Arc::new(memory::MemoryStore::new(memory))))
    });
    registry.register("file", |options| async move {
        let file: file::FileOptions = options.parse()?;
        if file.dir.as_os_str().is_empty() {
            return Err(options.error("`dir` must name the directory sessions are kept in"));
        }
        let store = tokio::task::spawn_blocking(move || file::FileStore::new(file))
            .await
            .map_err(|error| options.error(error.to_string()))?
            .map_err(|error| options.error(error))?;
        Ok(Backend::Server(Arc::new(store)))
    });
    #[cfg(feature = "redis")]
    registry.register("redis", |options| async move {
        let redis: redis::RedisOptions = options.parse()?;
        redis.validate().map_err(|message| options.error(message))?;
        let store = redis::RedisStore::connect(redis)
            .await
            .map_err(|error| options.error(error))?;
        Ok(Backend::Server(Arc::new(store)))
    });
    #[cfg(feature = "postgres")]
    registry.register("postgres", |options| async move {
        let sql: sql::SqlOptions = options.parse()?;
        sql.validate().map_err(|message| options.error(message))?;
        let store = sql::postgres::PostgresStore::connect(sql)
            .await
            .map_err(|error| options.error(error))?;
        Ok(Backend::Server(Arc::new(store)))
    });
    #[cfg(feature = "mysql")]
    registry.register("mysql", |options| async move {
        let sql: sql::SqlOptions = options.parse()?;
        sql.validate().map_err(|message| options.error(message))?;
        let store = sql::mysql::MySqlStore::connect(sql)
            .await
            .map_err(|error| options.error(error))?;
        Ok(Backend::Server(Arc::new(store)))
    });
    #[cfg(feature = "sqlite")]
    registry.register("sqlite", |options| async move {
        let sql: sql::SqlOptions = options.parse()?;
        sql.validate().map_err(|message| options.error(message))?;
        let store = sql::sqlite::SqliteStore::connect(sql)
            .await
            .map_err(|error| options.error(error))?;
        Ok(Backend::Server(Arc::new(store)))
    });
    registry
}

#[cfg(test)]
mod tests {
    use session_core::{ConfigError, StoreConfig};

    use super::*;

    fn config(toml_options: serde_json::Value) -> StoreConfig {
        let serde_json::Value::Object(mut options) = toml_options else {
            panic!("options must be an object");
        };
        let kind = options
            .remove("type")
            .and_then(|kind| kind.as_str().map(str::to_string))
            .unwrap_or_default();
        StoreConfig { kind, options }
    }

    #[tokio::test]
    async fn the_registry_knows_every_store() {
        let kinds: Vec<_> = registry().kinds().map(str::to_string).collect();
        assert!(kinds.contains(&"cookie".to_string()));
        assert!(kinds.contains(&"memory".to_string()));
        assert!(kinds.contains(&"file".to_string()));
        assert_eq!(
            kinds.contains(&"redis".to_string()),
            cfg!(feature = "redis")
        );
    }

    #[tokio::test]
    async fn memory_options_come_from_configuration() {
        let backend = registry()
            .build(
                "app",
                &config(serde_json::json!({ "type": "memory", "max_sessions": 10 })),
            )
            .await
            .unwrap();
        assert!(matches!(backend, Backend::Server(_)));
    }

    #[tokio::test]
    async fn unknown_memory_options_name_the_session_and_field() {
        let error = registry()
            .build(
                "app",
                &config(serde_json::json!({ "type": "memory", "max_sesions": 10 })),
            )
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, ConfigError::Store { .. }));
        assert!(
            message.contains("`app`") && message.contains("max_sesions"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn out_of_range_memory_options_name_the_field() {
        let error = registry()
            .build(
                "app",
                &config(serde_json::json!({ "type": "memory", "max_sessions": 0 })),
            )
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`app`") && message.contains("max_sessions"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_file_store_without_a_dir_names_the_field() {
        for options in [
            serde_json::json!({ "type": "file" }),
            serde_json::json!({ "type": "file", "dir": "" }),
        ] {
            let error = registry()
                .build("app", &config(options))
                .await
                .unwrap_err()
                .to_string();
            assert!(error.contains("`app`") && error.contains("dir"), "{error}");
        }
    }
}
