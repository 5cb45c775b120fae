//! The [`Session`] handle handlers use.
//!
//! A handle is cheap to clone and `Send + Sync`: every clone (extracted twice, moved into a
//! spawned task) sees the same values. Its methods are synchronous; nothing touches a store until
//! the request ends, when the adapter asks the [`SessionManager`](crate::SessionManager) to save
//! what changed.
//!
//! Change tracking records which keys were set or removed, whether the id must change and whether
//! the session was destroyed. It drives both "an untouched session writes nothing" and delta
//! saves, which let parallel requests that change different keys all persist.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::device::DEVICE_KEY;
use crate::error::Error;
use crate::expiry::{Expiry, ExpiryPolicy};
use crate::flash::{Flash, FlashLevel, FLASH_KEY};
use crate::id::SessionId;
use crate::observe::SessionObserver;
use crate::record::{now_ms, DataKey, RawJson};
use crate::store::Store;

mod limit;
mod login;
mod state;

pub(crate) use limit::{Measure, SizeLimit, MAX_OWNER_LEN};
pub(crate) use state::{Lifecycle, State};

/// A session: typed values, flash messages, id regeneration, destroy and per-session expiry.
///
/// # Changes after the response
///
/// A session is saved once, with its request's response. A clone moved into a task the handler
/// spawned can still read it afterwards, but a change made after the save would be lost, so it
/// is refused and logged at warn: the methods that return a `Result` give
/// [`Error::AlreadySaved`]; the others (`remove`, `clear`, `take_flashes`, `regenerate_id`,
/// `destroy`, `logout`, `reset_expiry`, `clear_owner`) change nothing. Make every change before the
/// handler returns, or await the task inside the handler.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Shared>,
}

/// What every clone of a handle shares: the state, and what the handle knows of its
/// configuration.
struct Shared {
    state: Mutex<State>,
    /// The session's store; `None` for a client-side session (and a handle made outside a
    /// manager), whose device operations answer [`Error::NotServerSide`].
    store: Option<Arc<dyn Store>>,
    /// Its metrics and event hook, for the revocations a handler makes.
    observer: Option<Arc<SessionObserver>>,
    /// The configured expiry policy, for [`Session::remember`].
    policy: ExpiryPolicy,
}

/// How errors of [`Session::get_as`] and [`Session::set_as`] name the value.
/// Keys the library keeps in the values and handlers cannot write: the flash queue and the
/// device record.
fn is_reserved(key: &str) -> bool {
    key == FLASH_KEY || key == DEVICE_KEY
}

const TYPED_KEY: &str = "<typed session>";

impl Session {
    pub(crate) fn from_state(state: State) -> Self {
        Session::attached(state, None, None, &ExpiryPolicy::default())
    }

    /// A handle on `state`, with its store (server-side sessions) and configured policy.
    pub(crate) fn attached(
        state: State,
        store: Option<Arc<dyn Store>>,
        observer: Option<Arc<SessionObserver>>,
        policy: &ExpiryPolicy,
    ) -> Self {
        Session {
            inner: Arc::new(Shared {
                state: Mutex::new(state),
                store,
                observer,
                policy: policy.clone(),
            }),
        }
    }

    /// A new, empty session that has never been saved; its id is drawn when first needed. It
    /// has no store (its device operations answer [`Error::NotServerSide`]) and
    /// [`remember`](Self::remember) uses the default policy's windows.
    ///
    /// ```
    /// use session_core::{Expiry, Session};
    ///
    /// let session = Session::new_unsaved(&Expiry::default());
    /// assert!(session.is_empty() && !session.is_modified());
    /// ```
    pub fn new_unsaved(expiry: &Expiry) -> Self {
        Session::from_state(State::unsaved(expiry, now_ms()))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data (every method
        // completes its change before it can panic), so poisoning is not a reason to fail.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The value of `key`, deserialized as `T`; `None` when absent.
    ///
    /// Errors with [`Error::Deserialize`] when the stored value is not a `T`.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.insert("visits", 3u32)?;
    /// assert_eq!(session.get::<u32>("visits")?, Some(3));
    /// assert_eq!(session.get::<u32>("missing")?, None);
    /// assert!(session.get::<String>("visits").is_err()); // stored as a number
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let state = self.lock();
        let Some(raw) = state.data().get(key) else {
            return Ok(None);
        };
        serde_json::from_str(raw.get())
            .map(Some)
            .map_err(|source| Error::Deserialize {
                key: key.to_string(),
                source,
            })
    }

    /// Sets `key` to `value`. Setting a key to the value it already has changes nothing.
    ///
    /// Errors with [`Error::Serialize`] when `value` cannot be serialized to JSON, with
    /// [`Error::ReservedKey`] for the flash queue's key, and with [`Error::SessionTooLarge`]
    /// when the session would pass its size limit; the session is then unchanged (adapters
    /// answer 413 for it).
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.insert("cart", vec!["book", "pen"])?;
    /// assert_eq!(session.get::<Vec<String>>("cart")?.map(|cart| cart.len()), Some(2));
    /// assert!(session.is_modified());
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn insert<T: Serialize>(&self, key: impl Into<DataKey>, value: T) -> Result<(), Error> {
        let key = key.into();
        if is_reserved(&key) {
            return Err(Error::ReservedKey(key.into()));
        }
        let raw = RawJson::to_json(&value).map_err(|source| Error::Serialize {
            key: key.to_string(),
            source,
        })?;
        self.lock().set_raw(key, raw)
    }

    /// The whole session as one typed value (Ktor's `sessions.get<T>()`): every key but the
    /// flash queue becomes a field of a JSON object, deserialized as `T`. Fields `T` does not
    /// know are ignored unless it denies them; missing ones follow `T`'s serde defaults.
    ///
    /// ```
    /// # use session_core::{Expiry, Session};
    /// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Default)]
    /// struct Profile { user: String, visits: u32 }
    ///
    /// let session = Session::new_unsaved(&Expiry::default());
    /// session.set_as(&Profile { user: "alice".into(), visits: 1 })?;
    /// assert_eq!(session.get::<u32>("visits")?, Some(1)); // each field is a key
    /// assert_eq!(session.get_as::<Profile>()?, Profile { user: "alice".into(), visits: 1 });
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn get_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let state = self.lock();
        let mut object = String::with_capacity(state.data_bytes() + 2 + 4 * state.data().len());
        object.push('{');
        for (key, value) in state.data().iter().filter(|(key, _)| !is_reserved(key)) {
            if object.len() > 1 {
                object.push(',');
            }
            // Keys are strings: serializing one cannot fail.
            object.push_str(&serde_json::to_string(key).unwrap_or_default());
            object.push(':');
            object.push_str(value.get());
        }
        object.push('}');
        serde_json::from_str(&object).map_err(|source| Error::Deserialize {
            key: TYPED_KEY.to_string(),
            source,
        })
    }

    /// Writes a whole typed value as the session's values: each top-level field of `value`
    /// (which must serialize to a JSON object) is a key, set as [`insert`](Self::insert) would.
    /// Unchanged fields are not changes, so two requests that change different fields both
    /// persist; keys that are not fields of `value` stay as they are.
    ///
    /// All or nothing: on any error (not an object, a reserved key, past the size limit) the
    /// session is unchanged.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// #[derive(serde::Serialize)]
    /// struct Login { user: String, role: String }
    ///
    /// session.insert("theme", "dark")?;
    /// session.set_as(&Login { user: "alice".into(), role: "admin".into() })?;
    /// assert_eq!(session.keys(), ["role", "theme", "user"]); // `theme` stays
    /// assert!(session.set_as(&42).is_err()); // not an object
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn set_as<T: Serialize>(&self, value: &T) -> Result<(), Error> {
        let serialize_error = |source| Error::Serialize {
            key: TYPED_KEY.to_string(),
            source,
        };
        let fields = match serde_json::to_value(value).map_err(serialize_error)? {
            serde_json::Value::Object(fields) => fields,
            other => {
                return Err(serialize_error(serde::ser::Error::custom(format_args!(
                    "a typed session must serialize to a JSON object (a struct or map), not {other}"
                ))))
            }
        };
        self.lock().all_or_nothing(|state| {
            for (key, field) in fields {
                if is_reserved(&key) {
                    return Err(Error::ReservedKey(key));
                }
                let raw = RawJson::to_json(&field).map_err(serialize_error)?;
                state.set_raw(key.into(), raw)?;
            }
            Ok(())
        })
    }

    /// Removes `key`; returns whether it was present.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.insert("cart", 3)?;
    /// assert!(session.remove("cart"));
    /// assert!(!session.remove("cart")); // already gone
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn remove(&self, key: &str) -> bool {
        !is_reserved(key) && self.lock().remove_key(key)
    }

    /// Removes `key` and returns its value deserialized as `T`.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.insert("return_to", "/checkout")?;
    /// let return_to: Option<String> = session.take("return_to")?;
    /// assert_eq!(return_to.as_deref(), Some("/checkout"));
    /// assert!(!session.contains("return_to"));
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let value = self.get(key)?;
        self.remove(key);
        Ok(value)
    }

    /// Removes every value (flash messages included). The id stays.
    ///
    /// Saved as the removal of every key this request saw, so a value another request adds
    /// meanwhile survives, and a session another request destroyed stays destroyed.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.insert("user", "alice")?;
    /// session.flash(FlashLevel::Info, "bye")?;
    /// let id = session.id();
    /// session.clear();
    /// assert!(session.is_empty());
    /// assert_eq!(session.id(), id); // unlike destroy, the id stays
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn clear(&self) {
        let mut state = self.lock();
        // The device record belongs to the login, not to the values: it goes with the owner.
        let keys: Vec<DataKey> = state
            .data()
            .keys()
            .filter(|key| *key != DEVICE_KEY)
            .cloned()
            .collect();
        for key in keys {
            state.remove_key(&key);
        }
    }

    /// Whether `key` holds a value.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.insert("user", "alice")?;
    /// assert!(session.contains("user"));
    /// assert!(!session.contains("cart"));
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn contains(&self, key: &str) -> bool {
        !is_reserved(key) && self.lock().data().contains_key(key)
    }

    /// The keys that hold values, in order.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.insert("user", "alice")?;
    /// session.insert("cart", 2)?;
    /// session.flash(FlashLevel::Info, "not a key")?;
    /// assert_eq!(session.keys(), ["cart", "user"]);
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn keys(&self) -> Vec<String> {
        self.lock()
            .data()
            .keys()
            .filter(|key| !is_reserved(key))
            .map(|key| key.to_string())
            .collect()
    }

    /// The bytes the session's values take (keys and JSON text, flash messages included), as its
    /// size limit counts them.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// assert_eq!(session.size(), 0);
    /// session.insert("user", "alice")?;
    /// assert_eq!(session.size(), "user".len() + r#""alice""#.len());
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn size(&self) -> usize {
        self.lock().data_bytes()
    }

    /// Whether the session holds no values and no flash messages.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// assert!(session.is_empty());
    /// session.flash(FlashLevel::Info, "saved")?;
    /// assert!(!session.is_empty()); // a flash message counts
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.lock().data().is_empty()
    }

    /// The session's id: the one it is stored under, or will be once saved.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// let id = session.id();
    /// assert_eq!(session.id(), id); // drawn once, then stable
    /// assert_eq!(id.to_string().len(), session_core::ID_LEN);
    /// ```
    pub fn id(&self) -> SessionId {
        self.lock().assign_id()
    }

    /// Gives the session a fresh id, keeping its values; the record under the old id is removed
    /// when the request ends. Call it on login and privilege changes (session fixation defence).
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.insert("cart", 2)?;
    /// let before = session.id();
    /// session.regenerate_id(); // at login
    /// assert_ne!(session.id(), before);
    /// assert_eq!(session.get::<u32>("cart")?, Some(2)); // values kept
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn regenerate_id(&self) {
        self.lock().regenerate();
    }

    /// Ends the session: values removed, the stored record deleted and the cookie expired when
    /// the request ends. Values inserted afterwards start a new session under a new id.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.insert("user", "alice")?;
    /// let before = session.id();
    /// session.destroy(); // at logout
    /// assert!(session.is_empty() && session.is_destroyed());
    /// session.insert("note", "bye")?;
    /// assert_ne!(session.id(), before); // a new session
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn destroy(&self) {
        self.lock().destroy(now_ms());
    }

    /// Whether [`destroy`](Self::destroy) was called in this request.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// assert!(!session.is_destroyed());
    /// session.destroy();
    /// assert!(session.is_destroyed());
    /// ```
    pub fn is_destroyed(&self) -> bool {
        self.lock().is_destroyed()
    }

    /// Overrides the configured lifetime for this session only. Stored with the session, so
    /// later requests honour it too. For "remember me", [`remember`](Self::remember) sets the
    /// configured one and counts its end from the login.
    ///
    /// Errors with [`Error::SessionTooLarge`] when a client-side session's cookie would no
    /// longer fit with the override (it travels in the cookie); the session is then unchanged,
    /// and the adapter answers 413 here rather than a 500 after the handler.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// let remember_me = Expiry::persistent(Duration::from_secs(30 * 86400));
    /// session.set_expiry(remember_me.clone())?;
    /// assert_eq!(session.expiry(), Some(remember_me));
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn set_expiry(&self, expiry: Expiry) -> Result<(), Error> {
        self.lock().set_expiry(expiry)
    }

    /// Returns this session to the configured lifetime.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.set_expiry(Expiry::persistent(Duration::from_secs(30 * 86400)))?;
    /// session.reset_expiry(); // "remember me" unticked
    /// assert_eq!(session.expiry(), None);
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn reset_expiry(&self) {
        self.lock().reset_expiry();
    }

    /// Binds the session to `owner` (the logged-in user's id), so that the owner's sessions can
    /// be listed and ended together ([`SessionManager::owner_sessions`](crate::SessionManager::owner_sessions),
    /// [`SessionManager::revoke_owner`](crate::SessionManager::revoke_owner)). This is the
    /// binding alone: at login, call [`login`](Self::login), which also gives a fresh id and
    /// keeps nothing of a previous user's. Owners are kept in clear in the store's index: use an
    /// id, not a secret.
    ///
    /// Errors with [`Error::InvalidOwner`] for an owner that is empty, longer than 256 bytes or
    /// holds a control character, and with [`Error::SessionTooLarge`] when the owner would take
    /// the session past its limit (it counts toward `max_bytes`, and a client-side session's
    /// owner travels in its cookie); the session is then unchanged.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// // At login: a fresh id, bound to the user.
    /// session.regenerate_id();
    /// session.set_owner("user-42")?;
    /// assert_eq!(session.owner().as_deref(), Some("user-42"));
    /// assert!(session.set_owner("").is_err());
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn set_owner(&self, owner: impl Into<String>) -> Result<(), Error> {
        self.lock().set_owner(owner.into())
    }

    /// Unbinds the session from its owner.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.set_owner("user-42")?;
    /// session.clear_owner();
    /// assert_eq!(session.owner(), None);
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn clear_owner(&self) {
        self.lock().clear_owner();
    }

    /// The owner the session is bound to, if any.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// assert_eq!(session.owner(), None);
    /// session.set_owner("user-42")?;
    /// assert_eq!(session.owner().as_deref(), Some("user-42"));
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn owner(&self) -> Option<String> {
        self.lock().record().owner.clone()
    }

    /// The per-session lifetime set with [`set_expiry`](Self::set_expiry), if any.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// assert_eq!(session.expiry(), None); // the configured lifetime
    /// let short = Expiry::browser_session(Duration::from_secs(600), None);
    /// session.set_expiry(short.clone())?;
    /// assert_eq!(session.expiry(), Some(short));
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn expiry(&self) -> Option<Expiry> {
        self.lock().record().expiry.clone()
    }

    /// When the session expires unless used again (milliseconds since the Unix epoch).
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// use session_core::now_ms;
    ///
    /// let in_a_day = now_ms() + 24 * 3600 * 1000; // the default idle timeout
    /// assert!(session.expires_at() > now_ms() && session.expires_at() <= in_a_day);
    /// ```
    pub fn expires_at(&self) -> u64 {
        self.lock().record().expires_at
    }

    /// Adds a text flash message, shown until read with [`take_flashes`](Self::take_flashes).
    ///
    /// Errors with [`Error::SessionTooLarge`] when the session would pass its size limit; the
    /// queue is then unchanged.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.flash(FlashLevel::Success, "Profile saved")?;
    /// // On the next page:
    /// let shown = session.take_flashes();
    /// assert_eq!(shown[0].text(), Some("Profile saved"));
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn flash(&self, level: FlashLevel, message: impl Into<String>) -> Result<(), Error> {
        self.push_flash(Flash {
            level,
            value: serde_json::Value::String(message.into()),
        })
    }

    /// Adds a flash message carrying any serializable value.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.flash_value(FlashLevel::Error, serde_json::json!({ "field": "email", "error": "taken" }))?;
    /// let flash = &session.take_flashes()[0];
    /// assert_eq!(flash.value["field"], "email");
    /// assert_eq!(flash.text(), None); // not a string
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn flash_value<T: Serialize>(&self, level: FlashLevel, value: T) -> Result<(), Error> {
        let value = serde_json::to_value(value).map_err(|source| Error::Serialize {
            key: FLASH_KEY.to_string(),
            source,
        })?;
        self.push_flash(Flash { level, value })
    }

    fn push_flash(&self, flash: Flash) -> Result<(), Error> {
        let mut state = self.lock();
        let mut queue = state.flashes();
        queue.push(flash);
        let raw = RawJson::to_json(&queue).map_err(|source| Error::Serialize {
            key: FLASH_KEY.to_string(),
            source,
        })?;
        state.set_raw(FLASH_KEY.into(), raw)
    }

    /// Returns every flash message and removes them, so each is shown once.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.flash(FlashLevel::Info, "one")?;
    /// session.flash(FlashLevel::Warning, "two")?;
    /// let texts: Vec<_> = session.take_flashes().iter().filter_map(|f| f.text().map(String::from)).collect();
    /// assert_eq!(texts, ["one", "two"]);
    /// assert!(session.take_flashes().is_empty()); // each is shown once
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn take_flashes(&self) -> Vec<Flash> {
        let mut state = self.lock();
        let queue = state.flashes();
        state.remove_key(FLASH_KEY);
        queue
    }

    /// Returns every flash message without removing them.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.flash(FlashLevel::Info, "hello")?;
    /// assert_eq!(session.peek_flashes().len(), 1);
    /// assert_eq!(session.take_flashes().len(), 1); // peeking removed nothing
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn peek_flashes(&self) -> Vec<Flash> {
        self.lock().flashes()
    }

    /// Whether anything in this request changed the session (values, id, expiry, destroy).
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// assert!(!session.is_modified()); // reading is no change
    /// let _ = session.get::<String>("user")?;
    /// assert!(!session.is_modified());
    /// session.insert("user", "alice")?;
    /// assert!(session.is_modified());
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn is_modified(&self) -> bool {
        self.lock().is_modified()
    }
}

impl fmt::Debug for Session {
    /// Shows the id prefix and the keys, never the values (they may be secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Session")
            .field("id", &(!state.id_pending()).then_some(state.record().id))
            .field("keys", &state.data().keys().collect::<Vec<_>>())
            .field("modified", &state.is_modified())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ID_BYTES;
    use crate::record::Record;

    fn loaded_session() -> Session {
        let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
        record.data.insert(
            "user".into(),
            RawJson::from_string("\"alice\"".into()).unwrap(),
        );
        Session::from_state(State::loaded(record, false))
    }

    #[test]
    fn typed_values_round_trip() {
        let session = Session::new_unsaved(&Expiry::default());
        session.insert("count", 3u32).unwrap();
        session.insert("tags", vec!["a", "b"]).unwrap();
        assert_eq!(session.get::<u32>("count").unwrap(), Some(3));
        assert_eq!(
            session.get::<Vec<String>>("tags").unwrap().unwrap(),
            ["a", "b"]
        );
        assert_eq!(session.get::<u32>("missing").unwrap(), None);
        assert!(matches!(
            session.get::<u32>("tags"),
            Err(Error::Deserialize { .. })
        ));
    }

    #[test]
    fn unserializable_values_are_a_typed_error() {
        let session = Session::new_unsaved(&Expiry::default());
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1u8], 1);
        assert!(matches!(
            session.insert("bad", map),
            Err(Error::Serialize { .. })
        ));
        assert!(!session.is_modified());
    }

    #[test]
    fn reads_do_not_modify_and_same_value_writes_are_not_changes() {
        let session = loaded_session();
        let _ = session.get::<String>("user");
        assert!(!session.is_modified());
        session.insert("user", "alice").unwrap();
        assert!(!session.is_modified());
        session.insert("user", "bob").unwrap();
        assert!(session.is_modified());
    }

    #[test]
    fn a_replaced_value_counts_once_toward_the_size() {
        let session = loaded_session();
        let before = session.size();
        session.insert("note", "x".repeat(100)).unwrap();
        // The key and the JSON string, quotes included.
        assert_eq!(session.size(), before + 4 + 102);
        session.insert("note", "y".repeat(100)).unwrap();
        session.insert("note", "z".repeat(10)).unwrap();
        assert_eq!(session.size(), before + 4 + 12);
        assert!(session.remove("note"));
        assert_eq!(session.size(), before);
    }

    #[test]
    fn change_tracking_feeds_the_delta() {
        let session = loaded_session();
        session.insert("a", 1).unwrap();
        assert!(session.remove("user"));
        assert!(!session.remove("user"));
        let delta = session.lock().delta();
        assert_eq!(delta.changed.len(), 1);
        assert_eq!(delta.changed[0].0, "a");
        assert_eq!(delta.removed, ["user"]);
    }

    #[test]
    fn reinserting_a_removed_key_is_a_change_not_a_removal() {
        let session = loaded_session();
        session.remove("user");
        session.insert("user", "carol").unwrap();
        let delta = session.lock().delta();
        assert!(delta.removed.is_empty());
        assert_eq!(delta.changed[0].0, "user");
    }

    #[test]
    fn flashes_live_until_taken() {
        let session = Session::new_unsaved(&Expiry::default());
        session.flash(FlashLevel::Success, "saved").unwrap();
        session
            .flash_value(FlashLevel::Info, serde_json::json!({"n": 1}))
            .unwrap();
        assert_eq!(session.peek_flashes().len(), 2);
        assert_eq!(session.peek_flashes().len(), 2);
        let taken = session.take_flashes();
        assert_eq!(taken[0].text(), Some("saved"));
        assert_eq!(taken[1].level, FlashLevel::Info);
        assert!(session.take_flashes().is_empty());
        assert!(session.keys().is_empty());
    }

    /// Asserts that a handler can neither write, see nor remove the reserved `key`, which
    /// `session` holds.
    fn assert_reserved(session: &Session, key: &str) {
        assert!(
            matches!(session.insert(key, 1), Err(Error::ReservedKey(_))),
            "{key}"
        );
        assert!(!session.contains(key), "{key}");
        assert!(!session.remove(key), "{key}");
    }

    #[test]
    fn the_device_key_is_reserved_and_survives_clear() {
        let session = Session::new_unsaved(&Expiry::default());
        let device = crate::device::Device::at_login(1, &Default::default(), false);
        session.lock().set_device(&device);
        session.insert("k", 1).unwrap();
        assert_eq!(session.keys(), ["k"]);
        assert_reserved(&session, DEVICE_KEY);
        session.clear();
        assert!(session.is_empty() || session.keys().is_empty());
        assert_eq!(session.lock().device(), Some(device));
    }

    #[test]
    fn the_flash_key_is_reserved() {
        let session = Session::new_unsaved(&Expiry::default());
        session.flash(FlashLevel::Info, "x").unwrap();
        assert_reserved(&session, FLASH_KEY);
    }

    #[test]
    fn regenerate_keeps_values_and_retires_the_stored_id() {
        let session = loaded_session();
        let old = session.id();
        session.regenerate_id();
        session.regenerate_id();
        assert_ne!(session.id(), old);
        assert_eq!(session.get::<String>("user").unwrap().unwrap(), "alice");
        assert_eq!(session.lock().lifecycle(), Lifecycle::Regenerated { old });
    }

    #[test]
    fn destroy_clears_everything_and_later_inserts_start_afresh() {
        let session = loaded_session();
        let old = session.id();
        session.destroy();
        assert!(session.is_empty());
        assert!(session.is_destroyed());
        session.insert("note", "bye").unwrap();
        assert_ne!(session.id(), old);
        assert_eq!(
            session.lock().lifecycle(),
            Lifecycle::Destroyed { retired: Some(old) }
        );
    }

    #[test]
    fn an_id_is_drawn_once_when_first_needed() {
        let session = Session::new_unsaved(&Expiry::default());
        assert!(session.lock().id_pending());
        let id = session.id();
        assert_ne!(id, SessionId::from_bytes([0; ID_BYTES]));
        assert_eq!(session.id(), id);
        let other = Session::new_unsaved(&Expiry::default());
        assert_ne!(other.id(), id);
    }

    #[test]
    fn clones_share_state() {
        let session = Session::new_unsaved(&Expiry::default());
        let clone = session.clone();
        clone.insert("k", true).unwrap();
        assert_eq!(session.get::<bool>("k").unwrap(), Some(true));
    }

    #[test]
    fn debug_shows_keys_not_values() {
        let session = loaded_session();
        let printed = format!("{session:?}");
        assert!(printed.contains("user"));
        assert!(!printed.contains("alice"));
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Default)]
    struct Profile {
        user: String,
        visits: u32,
        #[serde(default)]
        theme: Option<String>,
    }

    #[test]
    fn typed_sessions_keep_per_field_deltas() {
        let session = loaded_session();
        // `visits` is missing: not a Profile yet.
        assert!(matches!(
            session.get_as::<Profile>(),
            Err(Error::Deserialize { .. })
        ));
        session
            .set_as(&Profile {
                user: "alice".into(),
                visits: 2,
                theme: None,
            })
            .unwrap();
        let delta = session.lock().delta();
        // `user` was already "alice": only the new fields are changes.
        let changed: Vec<_> = delta.changed.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(changed, ["theme", "visits"]);
        session.flash(FlashLevel::Info, "kept apart").unwrap();
        assert_eq!(
            session.get_as::<Profile>().unwrap(),
            Profile {
                user: "alice".into(),
                visits: 2,
                theme: None
            }
        );
    }

    #[test]
    fn typed_writes_are_all_or_nothing() {
        let session = loaded_session();
        assert!(matches!(session.set_as(&3), Err(Error::Serialize { .. })));
        let mut with_flash = serde_json::Map::new();
        // Written before the reserved key in the object's order, then rolled back.
        with_flash.insert("A".into(), 1.into());
        with_flash.insert(FLASH_KEY.into(), 2.into());
        assert!(matches!(
            session.set_as(&with_flash),
            Err(Error::ReservedKey(_))
        ));
        assert_eq!(session.keys(), ["user"]);
        assert!(!session.is_modified());
    }

    #[test]
    fn session_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Session>();
    }
}
