//! What every command starts from: the application's configuration file and keys.

use std::path::Path;
use std::sync::Arc;

use session_core::{
    Backend, ConfigError, Key, KeyError, KeyRing, SessionConfig, SessionManager, SessionsConfig,
    Store, StoreError,
};

use crate::Failure;

/// The variable the keys are read from, as in the application.
pub const KEYS_VARIABLE: &str = "SESSION_KEYS";

pub struct Context {
    pub config: SessionsConfig,
    /// The ring and each of its keys by position (0 = primary), or why `SESSION_KEYS` gives
    /// none. Only `inspect` needs keys: counting, listing, revoking and cleaning up open no
    /// value, so they run without the application's secrets.
    keys: Result<(KeyRing, Vec<Key>), KeyError>,
}

impl Context {
    pub fn load(path: &Path) -> Result<Context, Failure> {
        let config = SessionsConfig::from_path(path).map_err(|error| {
            Failure::Usage(format!(
                "{error} (the file comes from --config or SESSIONS_CONFIG, default sessions.toml)"
            ))
        })?;
        let keys = KeyRing::from_env(KEYS_VARIABLE).map(|ring| (ring, keys_by_position()));
        Ok(Context { config, keys })
    }

    /// The key ring and its keys by position, or a usage failure naming `SESSION_KEYS`.
    pub fn keys(&self) -> Result<(&KeyRing, &[Key]), Failure> {
        match &self.keys {
            Ok((ring, keys)) => Ok((ring, keys)),
            Err(error) => Err(Failure::Usage(error.to_string())),
        }
    }

    /// The configuration of session `name`, or a failure listing the configured ones.
    pub fn session(&self, name: &str) -> Result<&SessionConfig, Failure> {
        self.config.sessions.get(name).ok_or_else(|| {
            Failure::Usage(format!(
                "no session `{name}` in the configuration; configured: {}",
                self.names().join(", ")
            ))
        })
    }

    /// `name`, or the configuration's default session.
    pub fn session_or_default<'a>(&'a self, name: Option<&'a str>) -> Result<&'a str, Failure> {
        match name {
            Some(name) => self.session(name).map(|_| name),
            None => self
                .config
                .default_name()
                .map_err(|error| Failure::Usage(format!("{error}, or pass --session"))),
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.config.sessions.keys().map(String::as_str).collect()
    }

    /// Whether session `name` keeps its records in a store this process can reach: not the
    /// client's cookie, not the memory of the application's process.
    pub fn reachable_store(&self, name: &str) -> Result<(), Failure> {
        match self.session(name)?.store.kind.as_str() {
            "cookie" => Err(Failure::Usage(format!(
                "session `{name}` keeps its data in the client's cookie; there is nothing on the server to operate on"
            ))),
            "memory" => Err(Failure::Usage(format!(
                "session `{name}` uses the memory store, which lives inside the application's process and cannot be reached from another one; use a store shared between processes (file, redis, postgres, mysql or sqlite) to operate on it from here"
            ))),
            _ => Ok(()),
        }
    }

    /// A manager over the sessions `names` only, so that no other session's store is started.
    pub async fn manager(&self, names: &[&str]) -> Result<SessionManager, Failure> {
        for name in names {
            self.file_store_dir_exists(name)?;
        }
        let mut config = SessionsConfig {
            default: names.first().map(|name| name.to_string()),
            ..SessionsConfig::default()
        };
        for name in names {
            config
                .sessions
                .insert(name.to_string(), self.session(name)?.clone());
        }
        let keys = match &self.keys {
            Ok((ring, _)) => ring.clone(),
            // No value is opened or sealed through this manager.
            Err(_) => KeyRing::generate(),
        };
        SessionManager::from_config(&config, &session_stores::registry(), keys)
            .await
            .map_err(start_failure)
    }

    /// Fails when session `name` is on a file store whose directory does not exist. The store
    /// creates its directory when it starts, which is right for the application and wrong
    /// here: the tool would count, list, revoke and look up sessions in a new empty directory
    /// and report `app: 0` or no session for what is a wrong `dir`, a volume not mounted, or a
    /// run from another working directory than the application's.
    fn file_store_dir_exists(&self, name: &str) -> Result<(), Failure> {
        let store = &self.session(name)?.store;
        if store.kind != "file" {
            return Ok(());
        }
        // Options the store refuses are a configuration error, which it reports when it starts.
        let Ok(options) = serde_json::from_value::<session_stores::file::FileOptions>(
            serde_json::Value::Object(store.options.clone()),
        ) else {
            return Ok(());
        };
        let dir = &options.dir;
        match std::fs::metadata(dir) {
            Err(error)
                if !dir.as_os_str().is_empty() && error.kind() == std::io::ErrorKind::NotFound =>
            {
                Err(Failure::Store(format!(
                    "session `{name}`: store `file`: the directory `{}` does not exist (a relative `dir` is relative to the working directory); the application creates it when it starts, this tool does not",
                    dir.display()
                )))
            }
            _ => Ok(()),
        }
    }

    /// The store of the server-side session `name`.
    pub async fn store(&self, name: &str) -> Result<Arc<dyn Store>, Failure> {
        let session = self.session(name)?;
        self.file_store_dir_exists(name)?;
        match session_stores::registry().build(name, &session.store).await {
            Ok(Backend::Server(store)) => Ok(store),
            Ok(Backend::ClientSide(_)) => Err(Failure::Usage(format!(
                "session `{name}` keeps its data in the client's cookie"
            ))),
            Err(error) => Err(start_failure(error)),
        }
    }
}

/// Why a store did not start, as the exit code tells it: the store itself failing (a server
/// that does not answer, a directory that cannot be created) is a store failure; anything else
/// (an unknown store type, an option it refuses) is the configuration's fault.
pub fn start_failure(error: ConfigError) -> Failure {
    let store_failed = matches!(
        &error,
        ConfigError::Store { source, .. } if source
            .downcast_ref::<StoreError>()
            .is_some_and(|error| !is_bad_url(error))
    );
    if store_failed {
        Failure::Store(error.to_string())
    } else {
        Failure::Usage(error.to_string())
    }
}

/// Whether a store failed to start because the URL in the configuration is no URL of its
/// database: the SQL stores find that out when they connect and say it as a store error, but it
/// is the configuration's fault, which no retry against the server mends.
fn is_bad_url(error: &StoreError) -> bool {
    #[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
    {
        use session_stores::sql::SqlStoreError;
        matches!(
            error,
            StoreError::Backend(source)
                if matches!(source.downcast_ref::<SqlStoreError>(), Some(SqlStoreError::Url { .. }))
        )
    }
    #[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
    {
        let _ = error;
        false
    }
}

/// The keys of `SESSION_KEYS` one by one, as `KeyRing::from_base64_list` reads them (it has
/// already accepted the list), so that a report can say which key opened a value.
fn keys_by_position() -> Vec<Key> {
    std::env::var(KEYS_VARIABLE)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| Key::from_base64(entry).ok())
        .collect()
}
