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
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use session_core::{RequestSessions, SessionName};

use crate::middleware;
use crate::rejection::SessionRejection;

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The default session (the configuration's `default`, or its only session).
///
/// Dereferences to [`session_core::Session`], so every session method is available on it:
/// `session.get::<String>("user")?`, `session.insert("user", "alice")?`, `session.flash(..)`,
/// `session.regenerate_id()`, `session.destroy()`.
///
/// ```
/// use actix_web::HttpResponse;
/// use session_actix::{Error, Session};
///
/// async fn count(session: Session) -> Result<HttpResponse, Error> {
///     let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
///     session.insert("visits", visits)?;
///     Ok(HttpResponse::Ok().body(visits.to_string()))
/// }
/// ```
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

impl From<Session> for session_core::Session {
    fn from(session: Session) -> Self {
        session.0
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Session").field(&self.0).finish()
    }
}

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
            Ok(Session(session))
        })
    }
}

/// The session named by `N` ([`SessionName::NAME`]), for applications with several sessions:
/// `NamedSession<Cart>` in a handler's arguments is the `cart` session.
///
/// Dereferences to [`session_core::Session`]. A name that is not configured is a 500 whose body
/// says which `[sessions.<name>]` table to add.
///
/// ```
/// use actix_web::HttpResponse;
/// use session_actix::{Error, NamedSession, SessionName};
///
/// struct Cart;
/// impl SessionName for Cart {
///     const NAME: &'static str = "cart";
/// }
///
/// async fn add(cart: NamedSession<Cart>) -> Result<HttpResponse, Error> {
///     let mut items: Vec<String> = cart.get("items")?.unwrap_or_default();
///     items.push("apple".to_string());
///     cart.insert("items", &items)?;
///     Ok(HttpResponse::Ok().json(items))
/// }
/// ```
pub struct NamedSession<N> {
    session: session_core::Session,
    name: PhantomData<fn() -> N>,
}

impl<N> NamedSession<N> {
    /// The session handle itself.
    pub fn into_inner(self) -> session_core::Session {
        self.session
    }
}

impl<N> Clone for NamedSession<N> {
    fn clone(&self) -> Self {
        NamedSession {
            session: self.session.clone(),
            name: PhantomData,
        }
    }
}

impl<N> Deref for NamedSession<N> {
    type Target = session_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.session
    }
}

impl<N> From<NamedSession<N>> for session_core::Session {
    fn from(session: NamedSession<N>) -> Self {
        session.session
    }
}

impl<N: SessionName> fmt::Debug for NamedSession<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedSession")
            .field("name", &N::NAME)
            .field("session", &self.session)
            .finish()
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
            Ok(NamedSession {
                session,
                name: PhantomData,
            })
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
    middleware::request_sessions(request).ok_or(SessionRejection::MissingMiddleware)
}
