//! The extractors: [`Session`] for the default session, [`NamedSession`] for any other.
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

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::error::SessionError;
use crate::middleware::RequestState;

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The default session (the configuration's `default`, or its only session).
///
/// ```
/// use actix_web::HttpResponse;
/// use session_actix::{Session, SessionError};
///
/// async fn count(session: Session) -> Result<HttpResponse, SessionError> {
///     let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
///     session.insert("visits", visits)?;
///     Ok(HttpResponse::Ok().body(visits.to_string()))
/// }
/// ```
#[derive(Clone)]
pub struct Session(session_core::Session);

impl Session {
    /// The core handle.
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
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.extensions().get::<RequestState>().cloned();
        Box::pin(async move {
            let state = state.ok_or(SessionError::MissingMiddleware)?;
            let opened = state.sessions.default_session().await;
            opened
                .map(Session)
                .map_err(|error| reject(&state, None, error))
        })
    }
}

/// Names a session for [`NamedSession`]: implement it on a marker type.
///
/// ```
/// use session_actix::SessionName;
///
/// /// The `cart` session of the configuration.
/// pub struct Cart;
///
/// impl SessionName for Cart {
///     const NAME: &'static str = "cart";
/// }
/// ```
pub trait SessionName {
    /// The session's name in the configuration (`[sessions.NAME]`).
    const NAME: &'static str;
}

/// The session named by `N`.
///
/// ```
/// use actix_web::HttpResponse;
/// use session_actix::{NamedSession, SessionError, SessionName};
///
/// struct Cart;
/// impl SessionName for Cart {
///     const NAME: &'static str = "cart";
/// }
///
/// async fn add(cart: NamedSession<Cart>) -> Result<HttpResponse, SessionError> {
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
    /// The core handle.
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
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.extensions().get::<RequestState>().cloned();
        Box::pin(async move {
            let state = state.ok_or(SessionError::MissingMiddleware)?;
            match state.sessions.session(N::NAME).await {
                Ok(session) => Ok(NamedSession {
                    session,
                    name: PhantomData,
                }),
                Err(error) => Err(reject(&state, Some(N::NAME), error)),
            }
        })
    }
}

/// Logs why a session did not open and renders the 500.
fn reject(
    state: &RequestState,
    name: Option<&str>,
    error: session_core::Error,
) -> actix_web::Error {
    let error = SessionError::from(error);
    let session = name.unwrap_or("(default)");
    tracing::error!(session, %error, "could not open the session; answering 500");
    let response = state.render(&error);
    InternalError::from_response(error, response).into()
}
