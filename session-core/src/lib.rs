//! Framework-agnostic HTTP sessions.
//!
//! `session-core` holds everything about sessions that does not depend on a web framework or a
//! storage backend: the [`Session`] handle handlers use (typed values, flash messages, id
//! regeneration, destroy, per-session expiry), [`SessionId`]s from the OS CSPRNG, the sealing
//! codec (AES-256-GCM or HMAC-SHA256) with key rotation ([`KeyRing`]), the [`Store`] trait,
//! configuration ([`SessionsConfig`]), the [`StoreRegistry`] that turns a store type name into a
//! store, and the [`SessionManager`] that the framework adapters drive.
//!
//! # Example
//!
//! What an adapter does for one request, here by hand with the client-side cookie store:
//!
//! ```
//! use session_core::{FlashLevel, KeyRing, SessionManager, SessionsConfig, StoreRegistry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionsConfig::from_toml(r#"
//!     [sessions.app]
//!     transport = { type = "cookie", name = "app_session" }
//!     store = { type = "cookie" }
//! "#)?;
//! let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await?;
//!
//! // First request: no cookie. The handler writes to the session.
//! let request = manager.request(None, |_| None);
//! let session = request.default_session().await?;
//! session.insert("user", "alice")?;
//! session.flash(FlashLevel::Success, "welcome back")?;
//! let headers = manager.save_request(request).await?;
//! let set_cookie = headers[0].value();
//! assert!(set_cookie.starts_with("app_session=") && set_cookie.contains("HttpOnly"));
//!
//! // Second request: the browser sends the cookie back.
//! let cookie = set_cookie.split(';').next().unwrap();
//! let request = manager.request([cookie], |_| None);
//! let session = request.default_session().await?;
//! assert_eq!(session.get::<String>("user")?.as_deref(), Some("alice"));
//! assert_eq!(session.take_flashes()[0].text(), Some("welcome back"));
//!
//! // A tampered cookie is no session at all.
//! let tampered = cookie.replacen('=', "=A", 1);
//! let request = manager.request([tampered.as_str()], |_| None);
//! assert!(request.default_session().await?.get::<String>("user")?.is_none());
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/ARCHITECTURE.md` for how the pieces fit and `docs/WIRE_FORMAT.md` for the sealed
//! format.

mod config;
mod data;
mod device;
mod envelope;
mod error;
mod expiry;
mod flash;
mod id;
mod keys;
mod manager;
mod name;
mod observe;
mod origin;
mod record;
mod registry;
mod rule;
mod seal;
mod session;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod wrappers;

pub use async_trait::async_trait;
pub use config::{
    ConfigError, CookieConfig, HeaderConfig, SameSite, SessionConfig, SessionsConfig, StoreConfig,
    Transport, DEFAULT_MAX_BYTES,
};
pub use data::{Data, DataIter};
pub use device::{ClientInfo, Device, OwnersConfig, WhenFull, DEVICE_KEY, MAX_USER_AGENT_CHARS};
pub use error::{
    Error, INTERNAL_ERROR_BODY, INVALID_OWNER_BODY, NOT_LOGGED_IN_BODY, STORE_UNAVAILABLE_BODY,
    TOO_LARGE_BODY, TOO_MANY_SESSIONS_BODY,
};
pub use expiry::{Expiry, ExpiryPolicy};
pub use flash::{Flash, FlashLevel, FLASH_KEY};
pub use id::{InvalidSessionId, SessionId, ID_BYTES, ID_LEN};
pub use keys::{Key, KeyError, KeyRing, MIN_SECRET_LEN};
pub use manager::{
    DeferredSessions, RequestSessions, ResponseHeader, SessionManager, SessionManagerBuilder,
    COOKIE_SIZE_LIMIT,
};
pub use name::SessionName;
pub use observe::{
    request_span, Refusal, RevokeScope, SessionEvent, SessionEventKind, SESSION_CORRUPT_TOTAL,
    SESSION_CREATED_TOTAL, SESSION_CROSS_ORIGIN_REFUSED_TOTAL, SESSION_DESTROYED_TOTAL,
    SESSION_REGENERATED_TOTAL, SESSION_REVOKED_TOTAL, SESSION_STORE_DURATION_SECONDS,
    SESSION_STORE_ERRORS_TOTAL, SESSION_TOO_LARGE_TOTAL,
};
pub use origin::{
    CrossOriginConfig, CrossOriginGuard, CrossOriginRefused, CrossOriginRequest, CROSS_ORIGIN_BODY,
};
pub use record::{now_ms, DataKey, Delta, InvalidRecordBytes, RawJson, Record};
pub use registry::{
    Backend, BackendFuture, CookieStoreOptions, StoreOptions, StoreRegistry, MAX_COOKIE_CHUNKS,
};
pub use rule::{save_rule, SaveRule};
pub use seal::{
    open_id, open_record, seal_id, seal_record, OpenError, Opened, Protection, SealError,
    FORMAT_ENCRYPTED, FORMAT_SIGNED, FORMAT_SIGNED_ID, MAX_SEALED_LEN,
};
pub use session::Session;
pub use store::{spawn_cleanup, BoxError, Cleanup, OwnerSession, Store, StoreError};

/// The core items every adapter re-exports, listed once so the three adapters offer the same
/// names: `pub use session_core::__adapter_exports::*;`.
#[doc(hidden)]
pub mod __adapter_exports {
    pub use crate::{
        session_name, CrossOriginConfig, CrossOriginGuard, Expiry, ExpiryPolicy, Flash, FlashLevel,
        KeyRing, OwnerSession, Protection, Refusal, RequestSessions, RevokeScope, SameSite,
        SessionConfig, SessionEvent, SessionEventKind, SessionId, SessionManager, SessionName,
        SessionsConfig, StoreConfig, StoreRegistry, INTERNAL_ERROR_BODY, STORE_UNAVAILABLE_BODY,
        TOO_LARGE_BODY,
    };
}
