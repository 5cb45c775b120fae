//! Login on the handle: logging in and out, "remember me", and the logged-in user's devices,
//! each one call from a handler.

use std::sync::Arc;

use super::Session;
use crate::error::Error;
use crate::id::SessionId;
use crate::observe::{EventDetail, RevokeScope, SessionEventKind};
use crate::record::now_ms;
use crate::store::{OwnerSession, Store};

impl Session {
    /// Logs `owner` (the user's id) in: the session gets a fresh id (session fixation defence)
    /// and is bound to `owner`. When the response is saved, the device is recorded and the
    /// configured cap on the owner's sessions applies (`owners.max_sessions`).
    ///
    /// An anonymous visitor keeps their values (a cart survives logging in). A session bound to
    /// *another* owner starts from nothing: the previous user's values, flash messages and
    /// lifetime are gone and their session ends. Logging in again as the bound owner keeps the
    /// values and the device record (the login time included), under a fresh id.
    ///
    /// Errors with [`Error::InvalidOwner`] (400) for an owner that is empty, longer than 256
    /// bytes or holds a control character, and with [`Error::SessionTooLarge`] when the owner
    /// would take the session past its limit; the session is then unchanged.
    ///
    /// ```
    /// # use session_core::{Expiry, FlashLevel, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.insert("cart", vec!["book"])?; // an anonymous visitor's cart
    /// session.login("alice")?;
    /// assert_eq!(session.owner().as_deref(), Some("alice"));
    /// assert!(session.contains("cart")); // kept
    ///
    /// session.flash(FlashLevel::Info, "for alice")?;
    /// session.login("bob")?; // another user on the same browser
    /// assert!(session.is_empty()); // nothing of alice's
    /// assert!(session.login("").is_err());
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn login(&self, owner: impl Into<String>) -> Result<(), Error> {
        self.lock().login(owner.into(), now_ms())
    }

    /// Logs out: the session is destroyed (its record removed, its cookie expired by the
    /// response), as [`destroy`](Self::destroy) does.
    ///
    /// ```
    /// # use session_core::{Expiry, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.login("alice")?;
    /// session.logout();
    /// assert!(session.is_destroyed() && session.owner().is_none());
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn logout(&self) {
        self.destroy();
    }

    /// "Remember me": the session gets a fresh id and its own lifetime from the configuration: a
    /// persistent cookie, an idle window of `expiry.remember_idle_secs`, and an end
    /// `expiry.remember_absolute_secs` after the login however active the session is (after its
    /// creation when it has no login). A stolen cookie therefore never outlives that end, and a
    /// cookie taken before the call no longer opens anything. Call it after
    /// [`login`](Self::login), in the same request or a later one; [`reset_expiry`](Self::reset_expiry)
    /// undoes it.
    ///
    /// Errors with [`Error::SessionTooLarge`] when a client-side session's cookie would no longer
    /// fit with its own lifetime; the session is then unchanged.
    ///
    /// ```
    /// # use session_core::{Expiry, Session};
    /// # let session = Session::new_unsaved(&Expiry::default());
    /// session.login("alice")?;
    /// session.remember()?;
    /// let lifetime = session.expiry().expect("its own lifetime");
    /// assert!(lifetime.persistent);
    /// assert_eq!(lifetime.idle_timeout_secs, 30 * 86_400); // the default remember_idle_secs
    /// assert!(lifetime.absolute_timeout_secs.is_some()); // never without an end
    /// # Ok::<(), session_core::Error>(())
    /// ```
    pub fn remember(&self) -> Result<(), Error> {
        self.lock().remember(&self.inner.policy, now_ms())
    }

    /// The logged-in owner's live sessions in the store ("your devices"), most recently seen
    /// first, each with its device record and an opaque [`handle`](OwnerSession::handle) for
    /// [`end_device`](Self::end_device); this session is marked
    /// [`current`](OwnerSession::current). Empty when no owner is bound. A login made in this
    /// request is listed from the next request on, once it is stored.
    ///
    /// Errors with [`Error::NotServerSide`] for a client-side session (no store lists it), and
    /// with [`Error::Store`] when the store fails.
    ///
    /// ```
    /// # use session_core::{Error, Session};
    /// async fn devices_page(session: &Session) -> Result<String, Error> {
    ///     let mut page = String::new();
    ///     for device in session.devices().await? {
    ///         let agent = device.device.and_then(|d| d.user_agent).unwrap_or_default();
    ///         let this = if device.current { " (this device)" } else { "" };
    ///         page += &format!("{agent}{this} <button value={}>End</button>\n", device.handle);
    ///     }
    ///     Ok(page)
    /// }
    /// ```
    pub async fn devices(&self) -> Result<Vec<OwnerSession>, Error> {
        let store = self.store()?;
        let (owner, current) = self.owner_and_stored_id();
        let Some(owner) = owner else {
            return Ok(Vec::new());
        };
        let mut sessions = store.owner_sessions(&owner).await?;
        let current = current.map(|id| id.storage_key());
        for session in &mut sessions {
            session.current = current.as_deref() == Some(session.handle.as_str());
        }
        // Ties broken by handle, so the order is stable between requests.
        sessions.sort_by(|a, b| (b.last_seen_at(), &b.handle).cmp(&(a.last_seen_at(), &a.handle)));
        Ok(sessions)
    }

    /// Ends the logged-in owner's session whose [`handle`](OwnerSession::handle) is `handle`
    /// ("end that device"); returns whether there was one. A handle that is not one of the
    /// owner's live sessions (another user's, a made-up one) ends nothing, so a handle taken
    /// from the request needs no other check. Ending this session's own handle also destroys
    /// this handle, so the response expires its cookie.
    ///
    /// Errors with [`Error::NotServerSide`] for a client-side session and with
    /// [`Error::Store`] when the store fails.
    ///
    /// ```
    /// # use session_core::{Error, Session};
    /// async fn end_device(session: &Session, handle: &str) -> Result<u16, Error> {
    ///     Ok(if session.end_device(handle).await? { 204 } else { 404 })
    /// }
    /// ```
    pub async fn end_device(&self, handle: &str) -> Result<bool, Error> {
        let store = self.store()?;
        let (owner, current) = self.owner_and_stored_id();
        let Some(owner) = owner else {
            return Ok(false);
        };
        // Handles are storage keys, which have the shape of an id; anything else is no handle,
        // and never reaches the store.
        if handle.parse::<SessionId>().is_err() {
            return Ok(false);
        }
        let ended = store.delete_owned(&owner, handle).await?;
        self.revoked(RevokeScope::One, u64::from(ended), &owner, Some(handle));
        if ended && current.is_some_and(|id| id.storage_key() == handle) {
            self.destroy();
        }
        Ok(ended)
    }

    /// Ends every other session of the logged-in owner ("log out my other devices"; after a
    /// password change, with [`regenerate_id`](Self::regenerate_id) for this one); returns how
    /// many. This session stays. Nothing is ended when no owner is bound.
    ///
    /// Errors with [`Error::NotServerSide`] for a client-side session and with
    /// [`Error::Store`] when the store fails.
    ///
    /// ```
    /// # use session_core::{Error, Session};
    /// async fn password_changed(session: &Session) -> Result<u64, Error> {
    ///     let ended = session.end_other_devices().await?;
    ///     session.regenerate_id(); // and a fresh id for this one
    ///     Ok(ended)
    /// }
    /// ```
    pub async fn end_other_devices(&self) -> Result<u64, Error> {
        let store = self.store()?;
        let (owner, current) = self.owner_and_stored_id();
        let Some(owner) = owner else {
            return Ok(0);
        };
        // A session not stored yet (a login in this request) has nothing to spare: it is
        // written after this call, when the response is saved.
        let keep = current.map(|id| id.storage_key());
        let ended = store.delete_owner(&owner, keep.as_deref()).await?;
        self.revoked(RevokeScope::Others, ended, &owner, None);
        Ok(ended)
    }

    /// Ends every session of the logged-in owner, this one included ("log out everywhere");
    /// returns how many were stored. This handle is destroyed, so the response expires its
    /// cookie; without an owner, that is all it does.
    ///
    /// Errors with [`Error::NotServerSide`] for a client-side session, with [`Error::Store`]
    /// when the store fails (this session is then left as it was), and with
    /// [`Error::AlreadySaved`] after the response was saved.
    ///
    /// ```
    /// # use session_core::{Error, Session};
    /// async fn log_out_everywhere(session: &Session) -> Result<u64, Error> {
    ///     session.end_everywhere().await
    /// }
    /// ```
    pub async fn end_everywhere(&self) -> Result<u64, Error> {
        let store = self.store()?;
        self.lock().check_open()?;
        let (owner, _) = self.owner_and_stored_id();
        let ended = match owner {
            Some(owner) => {
                let ended = store.delete_owner(&owner, None).await?;
                self.revoked(RevokeScope::Everywhere, ended, &owner, None);
                ended
            }
            None => 0,
        };
        self.destroy();
        Ok(ended)
    }

    /// The session's store, or [`Error::NotServerSide`] for a client-side session.
    fn store(&self) -> Result<Arc<dyn Store>, Error> {
        match &self.inner.store {
            Some(store) => Ok(Arc::clone(store)),
            None => Err(Error::NotServerSide(self.lock().name().to_string())),
        }
    }

    /// Counts a revocation a handler made and gives it to the event hook: with the `ended`
    /// session's handle for one device, else with this session's handle and device record (the
    /// session that asked), computed only when a hook is installed.
    fn revoked(&self, scope: RevokeScope, count: u64, owner: &str, ended: Option<&str>) {
        let (Some(observer), 1..) = (&self.inner.observer, count) else {
            return;
        };
        let kind = SessionEventKind::Revoked { scope, count };
        if !observer.has_hook() {
            observer.record(kind, Some(owner));
            return;
        }
        let (asking, device) = {
            let state = self.lock();
            let asking = state.stored_id().map(|id| id.storage_key());
            (asking, ended.is_none().then(|| state.device()).flatten())
        };
        let detail = EventDetail {
            owner: Some(owner),
            handle: ended.or(asking.as_deref()),
            device: device.as_ref(),
        };
        observer.record_with(kind, &detail);
    }

    /// The owner bound now, and the id the store holds this session under, if any.
    fn owner_and_stored_id(&self) -> (Option<String>, Option<SessionId>) {
        let state = self.lock();
        (state.record().owner.clone(), state.stored_id())
    }
}
