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
    register_server(&mut registry, "redis", redis::RedisStore::connect);
    #[cfg(feature = "postgres")]
    register_server(
        &mut registry,
        "postgres",
        sql::postgres::PostgresStore::connect,
    );
    #[cfg(feature = "mysql")]
    register_server(&mut registry, "mysql", sql::mysql::MySqlStore::connect);
    #[cfg(feature = "sqlite")]
    register_server(&mut registry, "sqlite", sql::sqlite::SqliteStore::connect);
    registry
}

/// The options of a store on a server, which the registry checks before connecting.
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
pub(crate) trait ServerOptions: serde::de::DeserializeOwned + Send + 'static {
    /// Refuses options out of range, saying which and why.
    fn check(&self) -> Result<(), String>;
}

/// Registers `kind`, a store on a server: its options are parsed, checked and given to
/// `connect`, and any failure is a configuration error naming the session.
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
fn register_server<O, S, Connect, Connecting>(
    registry: &mut StoreRegistry,
    kind: &str,
    connect: Connect,
) where
    O: ServerOptions,
    S: session_core::Store + 'static,
    Connect: Fn(O) -> Connecting + Copy + Send + Sync + 'static,
    Connecting: std::future::Future<Output = Result<S, session_core::StoreError>> + Send,
{
    registry.register(kind, move |options| async move {
        let parsed: O = options.parse()?;
        parsed.check().map_err(|message| options.error(message))?;
        let store = connect(parsed)
            .await
            .map_err(|error| options.error(error))?;
        Ok(Backend::Server(Arc::new(store)))
    });
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

    /// Builds the `app` session's store of `options` (a JSON object with the store's `type`).
    async fn build(options: serde_json::Value) -> Result<Backend, ConfigError> {
        registry().build("app", &config(options)).await
    }

    /// The error the registry refuses `options` with, which must name the `app` session and
    /// `field`.
    async fn refusal_naming(options: serde_json::Value, field: &str) -> ConfigError {
        let error = build(options).await.unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`app`") && message.contains(field),
            "{message}"
        );
        error
    }

    #[tokio::test]
    async fn memory_options_come_from_configuration() {
        let options = serde_json::json!({ "type": "memory", "max_sessions": 10 });
        let backend = build(options).await.unwrap();
        assert!(matches!(backend, Backend::Server(_)));
    }

    #[tokio::test]
    async fn unknown_memory_options_name_the_session_and_field() {
        let options = serde_json::json!({ "type": "memory", "max_sesions": 10 });
        let error = refusal_naming(options, "max_sesions").await;
        assert!(matches!(error, ConfigError::Store { .. }));
    }

    #[tokio::test]
    async fn out_of_range_memory_options_name_the_field() {
        for (field, value) in [("max_sessions", 0), ("max_bytes", 100), ("shards", 0)] {
            let options = serde_json::json!({ "type": "memory", field: value });
            refusal_naming(options, field).await;
        }
    }

    #[tokio::test]
    async fn a_file_store_without_a_dir_names_the_field() {
        for options in [
            serde_json::json!({ "type": "file" }),
            serde_json::json!({ "type": "file", "dir": "" }),
        ] {
            refusal_naming(options, "dir").await;
        }
    }
}
