//! Start-up from the environment, the same for every demo.
//!
//! | variable          | meaning                                                       | default                    |
//! |-------------------|---------------------------------------------------------------|----------------------------|
//! | `ADDR`            | the address to listen on                                      | `127.0.0.1:3000`           |
//! | `SESSIONS_CONFIG` | a TOML file with the session configuration                   | [`DEFAULT_CONFIG`]         |
//! | `SESSION_KEYS`    | comma-separated base64 secrets (32+ bytes each), primary first | a random key (logged once) |
//! | `TRUSTED_ORIGINS` | comma-separated origins whose cross-origin writes pass        | none                       |

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use session_core::{ConfigError, KeyError, KeyRing, SessionManager, SessionsConfig, StoreRegistry};

/// The embedded session configuration: `app` (cookie `app_session`, memory store, the default),
/// `cart` (cookie `cart`, client-side cookie store) and `api` (header `x-session`, memory store).
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Where the demos listen when `ADDR` is not set.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// Why a demo could not start. Each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// `SESSIONS_CONFIG` names a file that cannot be read.
    #[error("could not read the session configuration `{path}` named by SESSIONS_CONFIG: {source}; point SESSIONS_CONFIG at a readable TOML file or unset it for the default")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration is invalid, or a store could not be built from it.
    #[error("invalid session configuration ({origin}): {source}")]
    Config {
        /// The file, or "embedded default".
        origin: String,
        /// What is wrong.
        source: ConfigError,
    },
    /// `SESSION_KEYS` does not hold valid keys.
    #[error("SESSION_KEYS: {0}")]
    Keys(#[from] KeyError),
    /// `ADDR` is not a socket address.
    #[error("ADDR `{value}` is not an address like 127.0.0.1:3000: {source}")]
    Addr {
        /// The value of `ADDR`.
        value: String,
        /// The parse error.
        source: std::net::AddrParseError,
    },
    /// The address is taken or not ours.
    #[error("could not listen on {addr} (set ADDR to another address): {source}")]
    Listen {
        /// The address from `ADDR`.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The store registry of the demos: `cookie`, `memory`, `file`, `redis`, `postgres`, `mysql` and
/// `sqlite`.
pub fn registry() -> StoreRegistry {
    session_stores::registry()
}

/// The session configuration: the file named by `SESSIONS_CONFIG`, else [`DEFAULT_CONFIG`], with
/// the origins of `TRUSTED_ORIGINS` added to `cross_origin.trusted_origins`. Returns the
/// configuration and where it came from.
pub fn config_from_env() -> Result<(SessionsConfig, String), StartupError> {
    let (text, origin) = match std::env::var_os("SESSIONS_CONFIG") {
        Some(path) => {
            let path = PathBuf::from(path);
            let text =
                std::fs::read_to_string(&path).map_err(|source| StartupError::ReadConfig {
                    path: path.clone(),
                    source,
                })?;
            (text, path.display().to_string())
        }
        None => (DEFAULT_CONFIG.to_string(), "embedded default".to_string()),
    };
    let mut config = SessionsConfig::from_toml(&text).map_err(|source| StartupError::Config {
        origin: origin.clone(),
        source,
    })?;
    if let Ok(list) = std::env::var("TRUSTED_ORIGINS") {
        add_trusted_origins(&mut config, &list).map_err(|source| StartupError::Config {
            origin: format!("{origin} with TRUSTED_ORIGINS"),
            source,
        })?;
    }
    Ok((config, origin))
}

/// Adds the comma-separated origins of `list` (the value of `TRUSTED_ORIGINS`) to the
/// configuration's `cross_origin.trusted_origins`, so their cross-origin writes pass. Empty items
/// are skipped; an origin that is not `scheme://host[:port]` is refused here, at start-up.
///
/// ```
/// let mut config = session_core::SessionsConfig::from_toml(demo_contract::DEFAULT_CONFIG)?;
/// demo_contract::add_trusted_origins(&mut config, "https://partner.example, ")?;
/// assert_eq!(config.cross_origin.trusted_origins, ["https://partner.example"]);
/// assert!(demo_contract::add_trusted_origins(&mut config, "partner").is_err());
/// # Ok::<(), session_core::ConfigError>(())
/// ```
pub fn add_trusted_origins(config: &mut SessionsConfig, list: &str) -> Result<(), ConfigError> {
    let mut changed = config.clone();
    changed.cross_origin.trusted_origins.extend(
        list.split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_string),
    );
    // The same check the manager makes, so a bad origin names `TRUSTED_ORIGINS` in its error.
    changed.validate()?;
    *config = changed;
    Ok(())
}

/// The keys from `SESSION_KEYS`, or a random key when it is unset or empty. The random key is
/// announced with one warning: sessions will not survive a restart.
pub fn keys_from_env() -> Result<KeyRing, StartupError> {
    match std::env::var("SESSION_KEYS") {
        Ok(list) if !list.trim().is_empty() => Ok(KeyRing::from_base64_list(&list)?),
        _ => {
            tracing::warn!(
                "SESSION_KEYS is not set: using a random key, so sessions will not survive a restart"
            );
            Ok(KeyRing::generate())
        }
    }
}

/// The demos' [`SessionManager`]: configuration from [`config_from_env`], keys from
/// [`keys_from_env`], stores from [`registry`].
pub async fn manager_from_env() -> Result<SessionManager, StartupError> {
    let (config, origin) = config_from_env()?;
    let keys = keys_from_env()?;
    // Before the manager: it takes its metric handles from the recorder installed then.
    crate::install_metrics();
    let manager = SessionManager::from_config(&config, &registry(), keys)
        .await
        .map_err(|source| StartupError::Config {
            origin: origin.clone(),
            source,
        })?;
    crate::audit_log(&manager);
    tracing::info!(config = %origin, sessions = ?manager.session_names().collect::<Vec<_>>(), "sessions ready");
    Ok(manager)
}

/// The address to listen on: `ADDR`, else [`DEFAULT_ADDR`].
pub fn listen_addr() -> Result<SocketAddr, StartupError> {
    let value = std::env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_string());
    value
        .parse()
        .map_err(|source| StartupError::Addr { value, source })
}

/// The end of a demo's `main`: success, or the error on stderr after the demo's name and a
/// failure exit code.
pub fn exit_code(demo: &str, outcome: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{demo}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A demo's whole `main`: logging ([`init_logging`]), then the manager ([`manager_from_env`])
/// and the address ([`listen_addr`]) from the environment, then `serve` with them until it ends;
/// the exit code of [`exit_code`].
pub async fn run_demo<F, Fut>(demo: &str, serve: F) -> ExitCode
where
    F: FnOnce(SessionManager, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    init_logging();
    exit_code(demo, start(serve).await)
}

/// What [`run_demo`] runs after logging.
async fn start<F, Fut>(serve: F) -> Result<(), Box<dyn std::error::Error>>
where
    F: FnOnce(SessionManager, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    let manager = manager_from_env().await?;
    let addr = listen_addr()?;
    serve(manager, addr).await
}

/// The line a demo prints once it accepts connections: `listening on http://ADDR`.
pub fn listening_line(addr: SocketAddr) -> String {
    format!("listening on http://{addr}")
}

/// Sends `tracing` events to stderr, filtered by `RUST_LOG` (a level such as `debug`, or
/// directives such as `info,session_core=debug`; default `info`; `debug` shows why a session
/// value was rejected). Call it first in `main`; calling it again (or after another subscriber
/// was installed) does nothing.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
