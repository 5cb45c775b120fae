//! The extractors: [`Session`] (the default session), [`NamedSession`] (a session chosen by a
//! marker type) and [`Sessions`] (any session by name, chosen at run time).
//!
//! Extracting opens the session: it verifies or decrypts a client-side value, or verifies a
//! signed id and loads the record from the store. That happens once per name per request;
//! extracting again (in the same handler, or in a middleware and then the handler) gives the same
//! handle. A handler that extracts nothing costs no store access and sets no cookie.
//!
//! Both extractors dereference to [`session_core::Session`], whose methods are synchronous and
//! which is `Clone + Send + Sync`, so a handle can be moved into a spawned task.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use session_core::{RequestSessions, SessionName};

use crate::middleware;
use crate::rejection::SessionRejection;

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

session_core::__define_session_handles!(Session, NamedSession<N>);

impl FromRequest for Session {
    type Error = SessionRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let sessions = request_sessions(request);
        Box::pin(async move {
            let session = sessions?
                .default_session()
                .await
                .map_err(SessionRejection::Open)?;
            Ok(Session::wrap(session))
        })
    }
}

impl<N: SessionName> FromRequest for NamedSession<N> {
    type Error = SessionRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let sessions = request_sessions(request);
        Box::pin(async move {
            let session = sessions?
                .session(N::NAME)
                .await
                .map_err(SessionRejection::Open)?;
            Ok(NamedSession::wrap(session))
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

impl FromRequest for Sessions {
    type Error = SessionRejection;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(request_sessions(request).map(Sessions))
    }
}

/// What the middleware left in the request.
fn request_sessions(request: &HttpRequest) -> Result<Arc<RequestSessions>, SessionRejection> {
    middleware::request_sessions(request).ok_or(SessionRejection::NotInstalled)
}
