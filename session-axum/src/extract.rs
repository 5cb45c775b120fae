//! The extractors: [`Session`] (the default session), [`NamedSession`] (a session chosen by a
//! marker type) and [`Sessions`] (any session by name, chosen at run time).
//!
//! A session is opened when it is first extracted in a request, not before: decrypted when it
//! travels in its cookie, or loaded from its store. Extracting the same session again in the same
//! request (in another extractor, a middleware, or twice in one handler) gives the same handle,
//! so every clone sees the same values.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use session_core::{RequestSessions, SessionName};

use crate::rejection::SessionRejection;

/// The default session of the request (the configuration's `default`).
///
/// Dereferences to [`session_core::Session`], so every session method is available on it:
/// `session.get::<String>("user")?`, `session.insert("user", "alice")?`, `session.flash(..)`,
/// `session.regenerate_id()`, `session.destroy()`.
#[derive(Clone)]
pub struct Session(session_core::Session);

impl Session {
    /// The session handle itself, e.g. to move it into a spawned task.
    pub fn into_inner(self) -> session_core::Session {
        self.0
    }
}

impl Deref for Session {
    type Target = session_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let sessions = request_sessions(parts)?;
        let session = sessions
            .default_session()
            .await
            .map_err(SessionRejection::Open)?;
        Ok(Session(session))
    }
}

/// The session named by `N` ([`SessionName::NAME`]), for applications with several sessions:
/// `NamedSession<Cart>` in a handler's arguments is the `cart` session.
///
/// Dereferences to [`session_core::Session`]. A name that is not configured is a 500 whose body
/// says which `[sessions.<name>]` table to add.
pub struct NamedSession<N: SessionName> {
    session: session_core::Session,
    name: PhantomData<fn() -> N>,
}

impl<N: SessionName> NamedSession<N> {
    /// The session handle itself.
    pub fn into_inner(self) -> session_core::Session {
        self.session
    }
}

impl<N: SessionName> Clone for NamedSession<N> {
    fn clone(&self) -> Self {
        NamedSession {
            session: self.session.clone(),
            name: PhantomData,
        }
    }
}

impl<N: SessionName> Deref for NamedSession<N> {
    type Target = session_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.session
    }
}

impl<N: SessionName> fmt::Debug for NamedSession<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NamedSession")
            .field(&N::NAME)
            .field(&self.session)
            .finish()
    }
}

impl<S: Send + Sync, N: SessionName> FromRequestParts<S> for NamedSession<N> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let sessions = request_sessions(parts)?;
        let session = sessions
            .session(N::NAME)
            .await
            .map_err(SessionRejection::Open)?;
        Ok(NamedSession {
            session,
            name: PhantomData,
        })
    }
}

/// All of the request's sessions, opened by name at run time:
/// `sessions.get("cart").await?`. Prefer [`Session`] and [`NamedSession`] when the name is
/// known at compile time.
#[derive(Clone)]
pub struct Sessions(Arc<RequestSessions>);

impl Sessions {
    /// The session `name`, opened on first use; the same handle on every later call.
    pub async fn get(&self, name: &str) -> Result<session_core::Session, SessionRejection> {
        self.0.session(name).await.map_err(SessionRejection::Open)
    }

    /// The default session.
    pub async fn default_session(&self) -> Result<session_core::Session, SessionRejection> {
        self.0
            .default_session()
            .await
            .map_err(SessionRejection::Open)
    }

    /// The request's sessions as the core sees them.
    pub fn request_sessions(&self) -> &RequestSessions {
        &self.0
    }
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sessions").field(&self.0).finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Sessions {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        request_sessions(parts).map(Sessions)
    }
}

fn request_sessions(parts: &Parts) -> Result<Arc<RequestSessions>, SessionRejection> {
    crate::layer::request_sessions(&parts.extensions).ok_or(SessionRejection::MissingLayer)
}
