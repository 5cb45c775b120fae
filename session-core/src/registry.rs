//! The store registry: store type names to constructors, so configuration alone picks a store.
//!
//! [`StoreRegistry::new`] knows `cookie` (the client-side store, which lives in this crate because
//! it is sealing and nothing else). `session-stores` adds `memory`, `file` and `redis`; an
//! application adds its own with [`StoreRegistry::register`]:
//!
//! ```
//! use std::sync::Arc;
//! use session_core::{Backend, StoreRegistry};
//! # use session_core::{async_trait, Record, SessionId, Store, StoreError};
//! # struct MyStore;
//! # #[async_trait] impl Store for MyStore {
//! #   async fn load(&self, _: &SessionId) -> Result<Option<Record>, StoreError> { Ok(None) }
//! #   async fn create(&self, _: &Record) -> Result<(), StoreError> { Ok(()) }
//! #   async fn save(&self, _: &Record) -> Result<(), StoreError> { Ok(()) }
//! #   async fn delete(&self, _: &SessionId) -> Result<(), StoreError> { Ok(()) }
//! #   async fn cleanup(&self) -> Result<u64, StoreError> { Ok(0) }
//! # }
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct MyOptions { table: String }
//!
//! let mut registry = StoreRegistry::new();
//! registry.register("mine", |options| async move {
//!     let MyOptions { table: _ } = options.parse()?;
//!     Ok(Backend::Server(Arc::new(MyStore)))
//! });
//! assert!(registry.kinds().any(|kind| kind == "mine"));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::config::{ConfigError, StoreConfig};
use crate::store::{BoxError, Store};

/// Where a named session's record lives.
#[derive(Clone)]
pub enum Backend {
    /// On the server, in a [`Store`]; the client holds a signed id.
    Server(Arc<dyn Store>),
    /// In the client's cookie or header, sealed; nothing on the server.
    Cookie(CookieStoreOptions),
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Server(_) => f.write_str("Backend::Server(..)"),
            Backend::Cookie(options) => f.debug_tuple("Backend::Cookie").field(options).finish(),
        }
    }
}

/// The most cookies one client-side session may be split across.
pub const MAX_COOKIE_CHUNKS: usize = 8;

/// Options of the client-side `cookie` store.
///
/// A sealed session must fit one 4096-byte cookie; saving a larger one fails with
/// [`Error::CookieTooLarge`](crate::Error::CookieTooLarge). With `max_chunks` above 1 the value is
/// split across cookies `name`, `name.1`, … `name.{max_chunks-1}` and reassembled (and verified as
/// one value) on the next request. Mind servers' request-header limits (often 8 KiB in all) before
/// raising it.
///
/// A client-side session cannot be revoked before it expires, except by rotating keys: every
/// value the client was once given opens until its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookieStoreOptions {
    /// How many cookies one session may use, 1 to [`MAX_COOKIE_CHUNKS`]. Default 1.
    pub max_chunks: usize,
}

impl Default for CookieStoreOptions {
    fn default() -> Self {
        CookieStoreOptions { max_chunks: 1 }
    }
}

/// What a store constructor is given: the session it is for and its options table.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The session name, for messages.
    pub session: String,
    /// The store type.
    pub kind: String,
    /// The options (everything in the `store` table but `type`).
    pub options: serde_json::Map<String, serde_json::Value>,
}

impl StoreOptions {
    /// Deserializes the options into the store's own type; errors name the session and field.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        serde_json::from_value(serde_json::Value::Object(self.options.clone()))
            .map_err(|error| self.error(error))
    }

    /// A configuration error for this session's store.
    pub fn error(&self, error: impl Into<BoxError>) -> ConfigError {
        ConfigError::Store {
            session: self.session.clone(),
            kind: self.kind.clone(),
            source: error.into(),
        }
    }
}

/// The future a store constructor returns.
pub type BackendFuture = Pin<Box<dyn Future<Output = Result<Backend, ConfigError>> + Send>>;
type Factory = Arc<dyn Fn(StoreOptions) -> BackendFuture + Send + Sync>;

/// Store type names to constructors.
#[derive(Clone)]
pub struct StoreRegistry {
    factories: BTreeMap<String, Factory>,
}

impl Default for StoreRegistry {
    fn default() -> Self {
        StoreRegistry::new()
    }
}

impl fmt::Debug for StoreRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.factories.keys()).finish()
    }
}

impl StoreRegistry {
    /// A registry that knows the client-side `cookie` store.
    pub fn new() -> Self {
        let mut registry = StoreRegistry {
            factories: BTreeMap::new(),
        };
        registry.register("cookie", |options| async move {
            let cookie: CookieStoreOptions = options.parse()?;
            if !(1..=MAX_COOKIE_CHUNKS).contains(&cookie.max_chunks) {
                return Err(options.error(format!(
                    "max_chunks must be 1 to {MAX_COOKIE_CHUNKS}, got {}",
                    cookie.max_chunks
                )));
            }
            Ok(Backend::Cookie(cookie))
        });
        registry
    }

    /// Registers (or replaces) the constructor for store type `kind`.
    pub fn register<F, Fut>(&mut self, kind: impl Into<String>, factory: F) -> &mut Self
    where
        F: Fn(StoreOptions) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Backend, ConfigError>> + Send + 'static,
    {
        self.factories.insert(
            kind.into(),
            Arc::new(move |options| Box::pin(factory(options)) as BackendFuture),
        );
        self
    }

    /// The registered store types.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Builds the backend of session `session` from its store configuration.
    pub async fn build(&self, session: &str, config: &StoreConfig) -> Result<Backend, ConfigError> {
        let Some(factory) = self.factories.get(&config.kind) else {
            return Err(ConfigError::UnknownStore {
                session: session.to_string(),
                kind: config.kind.clone(),
                known: self.kinds().collect::<Vec<_>>().join(", "),
            });
        };
        factory(StoreOptions {
            session: session.to_string(),
            kind: config.kind.clone(),
            options: config.options.clone(),
        })
        .await
    }
}
