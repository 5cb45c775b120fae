//! The store registry: store type names to constructors, so configuration alone picks a store.
//!
//! [`StoreRegistry::new`] knows `cookie` (the client-side store, which lives in this crate because
//! it is sealing and nothing else). `session_stores::registry()` adds `memory`, `file` and, each
//! behind the Cargo feature of its name, `redis` (on by default), `postgres`, `mysql` and
//! `sqlite`; an application adds its own with [`StoreRegistry::register`]:
//!
//! ```
//! use std::sync::Arc;
//! use session_core::{Backend, StoreRegistry};
//! # use session_core::{async_trait, Delta, OwnerSession, Record, SessionId, Store, StoreError};
//! # struct MyStore;
//! # #[async_trait] impl Store for MyStore {
//! #   async fn load(&self, _: &SessionId) -> Result<Option<Record>, StoreError> { Ok(None) }
//! #   async fn create(&self, _: &Record) -> Result<(), StoreError> { Ok(()) }
//! #   async fn update(&self, _: &SessionId, _: &Delta) -> Result<bool, StoreError> { Ok(false) }
//! #   async fn regenerate(&self, _: &SessionId, _: &SessionId, _: &Delta) -> Result<bool, StoreError> { Ok(false) }
//! #   async fn delete(&self, _: &SessionId) -> Result<(), StoreError> { Ok(()) }
//! #   async fn owner_sessions(&self, _: &str) -> Result<Vec<OwnerSession>, StoreError> { Ok(vec![]) }
//! #   async fn delete_owned(&self, _: &str, _: &str) -> Result<bool, StoreError> { Ok(false) }
//! #   async fn delete_owner(&self, _: &str, _: Option<&str>) -> Result<u64, StoreError> { Ok(0) }
//! #   async fn count(&self) -> Result<u64, StoreError> { Ok(0) }
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

use serde::de::value::MapDeserializer;
use serde::de::{DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde::Deserialize;

use crate::config::{ConfigError, StoreConfig};
use crate::store::{BoxError, Store};

/// Where a named session's record lives.
#[derive(Clone)]
pub enum Backend {
    /// On the server, in a [`Store`]; the client holds a signed id.
    Server(Arc<dyn Store>),
    /// In the client's cookie or header, sealed; nothing on the server.
    ClientSide(CookieStoreOptions),
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Server(_) => f.write_str("Backend::Server(..)"),
            Backend::ClientSide(options) => {
                f.debug_tuple("Backend::ClientSide").field(options).finish()
            }
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
///
/// `Debug` shows the option names but not their values, which may hold credentials.
#[derive(Clone)]
pub struct StoreOptions {
    /// The session name, for messages.
    pub session: String,
    /// The store type.
    pub kind: String,
    /// The options (everything in the `store` table but `type`).
    pub options: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreOptions")
            .field("session", &self.session)
            .field("kind", &self.kind)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl StoreOptions {
    /// Deserializes the options into the store's own type; errors name the session and field.
    ///
    /// An option of the wrong type is reported with its name (``store `file`: `dir`: invalid
    /// type ...``), which plain `serde_json::from_value` would leave out.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let fields = self.options.iter().map(|(key, value)| {
            (
                key.clone(),
                NamedOption {
                    key: key.clone(),
                    value: value.clone(),
                },
            )
        });
        T::deserialize(MapDeserializer::<_, serde_json::Error>::new(fields))
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

/// One option's value, deserialized with errors prefixed by the option's name.
struct NamedOption {
    key: String,
    value: serde_json::Value,
}

impl NamedOption {
    fn annotate(key: &str, error: serde_json::Error) -> serde_json::Error {
        serde::de::Error::custom(format_args!("`{key}`: {error}"))
    }
}

impl<'de> IntoDeserializer<'de, serde_json::Error> for NamedOption {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// Forwards `deserialize_*` methods to the JSON value, naming the option in errors.
macro_rules! forward_named {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, serde_json::Error> {
                let NamedOption { key, value } = self;
                value
                    .$method($($arg,)* visitor)
                    .map_err(|error| NamedOption::annotate(&key, error))
            }
        )*
    };
}

impl<'de> Deserializer<'de> for NamedOption {
    type Error = serde_json::Error;

    forward_named! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }
}

/// The store types of `session-stores` that each come with the Cargo feature of their name.
const FEATURE_STORES: [&str; 4] = ["redis", "postgres", "mysql", "sqlite"];

/// What to do about an unknown store type `kind`, given the registered types `known`: for a
/// type `session-stores` provides, the crate, its feature and its registry; for any other, the
/// registered types.
pub(crate) fn unknown_store_hint(kind: &str, known: &str) -> String {
    if FEATURE_STORES.contains(&kind) {
        format!(
            "it comes with the `{kind}` feature of the `session-stores` crate: depend on `session-stores = {{ version = \"0.1\", features = [\"{kind}\"] }}` and build the manager with `session_stores::registry()` (registered types: {known})"
        )
    } else if kind == "memory" || kind == "file" {
        format!(
            "it comes with the `session-stores` crate: depend on it and build the manager with `session_stores::registry()` (registered types: {known})"
        )
    } else {
        format!(
            "registered types: {known}; a store of your own is added with `StoreRegistry::register`"
        )
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
            Ok(Backend::ClientSide(cookie))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Safe,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Options {
        dir: String,
        shards: Option<u32>,
        #[serde(default)]
        tags: Vec<String>,
        mode: Mode,
    }

    fn options(json: serde_json::Value) -> StoreOptions {
        let serde_json::Value::Object(options) = json else {
            panic!("options are a JSON object");
        };
        StoreOptions {
            session: "app".into(),
            kind: "file".into(),
            options,
        }
    }

    async fn unknown_type_message(registry: &StoreRegistry, kind: &str) -> String {
        match registry.build("app", &StoreConfig::new(kind)).await {
            Err(error @ ConfigError::UnknownStore { .. }) => error.to_string(),
            Err(other) => panic!("{kind}: expected an unknown store type, got {other}"),
            Ok(_) => panic!("{kind}: expected an unknown store type, got a store"),
        }
    }

    #[tokio::test]
    async fn a_store_type_behind_a_feature_names_the_feature_and_the_crate() {
        for kind in ["postgres", "mysql", "sqlite", "redis"] {
            let message = unknown_type_message(&StoreRegistry::new(), kind).await;
            assert!(
                message.contains(&format!(
                    "the `{kind}` feature of the `session-stores` crate"
                )) && message.contains(&format!("features = [\"{kind}\"]"))
                    && message.contains("registered types: cookie"),
                "{message}"
            );
        }
        let message = unknown_type_message(&StoreRegistry::new(), "file").await;
        assert!(
            message.contains("comes with the `session-stores` crate")
                && message.contains("session_stores::registry()"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn any_other_unknown_store_type_lists_the_registered_ones() {
        let message = unknown_type_message(&StoreRegistry::new(), "reddis").await;
        assert!(
            message.contains("unknown store type `reddis`")
                && message.contains("registered types: cookie")
                && message.contains("StoreRegistry::register")
                && !message.contains("feature"),
            "{message}"
        );
    }

    #[test]
    fn debug_shows_option_names_not_values() {
        let options = options(serde_json::json!({"url": "redis://:hunter2@cache:6379"}));
        let config = StoreConfig {
            kind: "redis".into(),
            options: options.options.clone(),
        };
        for printed in [format!("{options:?}"), format!("{config:?}")] {
            assert!(printed.contains("url"), "{printed}");
            assert!(!printed.contains("hunter2"), "{printed}");
        }
    }

    #[test]
    fn options_parse_into_the_store_type() {
        let parsed: Options = options(serde_json::json!({
            "dir": "sessions", "shards": 16, "tags": ["a"], "mode": "safe"
        }))
        .parse()
        .unwrap();
        assert_eq!(
            parsed,
            Options {
                dir: "sessions".into(),
                shards: Some(16),
                tags: vec!["a".into()],
                mode: Mode::Safe,
            }
        );
        let parsed: Options =
            options(serde_json::json!({"dir": "d", "shards": null, "mode": "fast"}))
                .parse()
                .unwrap();
        assert_eq!(parsed.shards, None);
    }

    #[test]
    fn option_errors_name_the_session_store_and_field() {
        for (json, field) in [
            (serde_json::json!({"dir": 5, "mode": "fast"}), "`dir`"),
            (
                serde_json::json!({"dir": "d", "shards": -1, "mode": "fast"}),
                "`shards`",
            ),
            (serde_json::json!({"dir": "d", "mode": "slow"}), "`mode`"),
            (
                serde_json::json!({"dir": "d", "tags": [1], "mode": "fast"}),
                "`tags`",
            ),
            (serde_json::json!({"mode": "fast"}), "`dir`"),
            (
                serde_json::json!({"dir": "d", "mode": "fast", "dri": 1}),
                "`dri`",
            ),
        ] {
            let message = options(json.clone())
                .parse::<Options>()
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("session `app`")
                    && message.contains("store `file`")
                    && message.contains(field),
                "{json}: {message}"
            );
        }
    }
}
