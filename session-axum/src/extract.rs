//! The extractors: [`Session`] (the default session), [`NamedSession`] (a session chosen by a
//! marker type) and [`Sessions`] (any session by name, chosen at run time).
//!
//! A session is opened when it is first extracted in a request, not before: decrypted when it
//! travels in its cookie, or loaded from its store. Extracting the same session again in the same
//! request (in another extractor, a middleware, or twice in one handler) gives the same handle,
//! so every clone sees the same values.

use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use session_core::{RequestSessions, SessionName};

use crate::rejection::SessionRejection;

session_core::__define_session_handles!(Session, NamedSession<N>);

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let sessions = request_sessions(parts)?;
        let session = sessions
            .default_session()
            .await
            .map_err(SessionRejection::Open)?;
        Ok(Session::wrap(session))
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
        Ok(NamedSession::wrap(session))
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
    crate::layer::request_sessions(&parts.extensions).ok_or(SessionRejection::NotInstalled)
}
