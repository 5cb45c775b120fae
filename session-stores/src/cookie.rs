//! The cookie store: the whole session travels, sealed, in the client's cookie (or header).
//!
//! It is implemented in `session-core`, because it is nothing but sealing, and registered by
//! [`StoreRegistry::new`](session_core::StoreRegistry::new) (so also by
//! [`registry`](crate::registry)) as type `cookie`. This module re-exports its options so that all
//! four stores can be found in this crate.
//!
//! ```toml
//! [sessions.prefs]
//! transport = { type = "cookie", name = "prefs" }
//! store = { type = "cookie", max_chunks = 1 }
//! ```
//!
//! What to know before choosing it:
//!
//! - **Nothing on the server.** The record is sealed with the key ring (AES-256-GCM, or
//!   HMAC-SHA256 in signed mode), with its deadlines inside the sealed payload, so the server
//!   enforces expiry whatever the browser does.
//! - **Size.** Browsers keep at most 4096 bytes per cookie. Saving a session whose `Set-Cookie`
//!   would be larger fails with [`Error::CookieTooLarge`](session_core::Error::CookieTooLarge)
//!   rather than being silently dropped by the browser. With the opt-in `max_chunks` option
//!   (1 to [`MAX_COOKIE_CHUNKS`], default 1) the value
//!   is split across `name`, `name.1`, … and verified as one value; mind the servers'
//!   request-header limits before raising it.
//! - **No revocation.** A cookie session cannot be revoked before it expires: every value a client
//!   was ever given opens until its deadline, even after "destroy" (which only asks the browser to
//!   forget it). The only way to invalidate issued values early is to rotate the keys. Use a
//!   server-side store (memory, file, Redis, SQL) when sessions must be revocable, e.g. for logins.
//! - **Concurrency.** Two parallel requests each reseal the whole session; the last response the
//!   browser processes wins. Server-side stores merge per-key changes instead.

pub use session_core::CookieStoreOptions;
pub use session_core::MAX_COOKIE_CHUNKS;
