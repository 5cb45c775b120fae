//! [`SessionMiddleware`]: the actix-web middleware that runs a request's sessions.
//!
//! Before the handler it scans the request's `Cookie` and session headers into a
//! [`RequestSessions`] and puts it in the request's extensions; no store is touched and nothing
//! is decrypted. The extractors open sessions from there on demand. After the handler it asks the
//! manager to save what changed and appends the resulting `Set-Cookie` and session headers as raw
//! values (actix-web's own cookie type is another `cookie` crate version than the core's, so none
//! crosses over). When saving fails the handler's response is replaced by a 500 that carries no
//! session header, and the detail is logged.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue, COOKIE};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use session_core::{RequestSessions, ResponseHeader, SessionManager};

use crate::error::SessionError;

type ErrorRenderer = Arc<dyn Fn(&SessionError) -> HttpResponse + Send + Sync>;
type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Runs the sessions of a [`SessionManager`] for every request it wraps.
///
/// ```
/// use actix_web::App;
/// use session_actix::{KeyRing, SessionManager, SessionMiddleware, SessionsConfig, StoreRegistry};
///
/// # #[actix_web::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = SessionsConfig::from_toml(r#"
///     [sessions.app]
///     transport = { type = "cookie", name = "app_session" }
///     store = { type = "cookie" }
/// "#)?;
/// let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await?;
/// let app = App::new().wrap(SessionMiddleware::new(manager));
/// # drop(app);
/// # Ok(())
/// # }
/// ```
///
/// It is `Clone + Send + Sync`, so one instance can be built before `HttpServer::new` and cloned
/// into each worker's `App`.
#[derive(Clone)]
pub struct SessionMiddleware {
    shared: Arc<Shared>,
}

struct Shared {
    manager: SessionManager,
    on_error: Option<ErrorRenderer>,
}

impl fmt::Debug for SessionMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionMiddleware")
            .field("manager", &self.shared.manager)
            .field("custom_error_response", &self.shared.on_error.is_some())
            .finish()
    }
}

impl SessionMiddleware {
    /// A middleware running `manager`'s sessions.
    pub fn new(manager: SessionManager) -> Self {
        SessionMiddleware {
            shared: Arc::new(Shared {
                manager,
                on_error: None,
            }),
        }
    }

    /// Renders the 500 answered when a session fails to load or save (by default a plain-text
    /// body, `session store unavailable` for store failures). Use it to answer in your API's
    /// format; keep the detail out of the body, it is already logged.
    ///
    /// ```
    /// # use session_actix::{SessionManager, SessionMiddleware};
    /// # fn with(manager: SessionManager) -> SessionMiddleware {
    /// use actix_web::HttpResponse;
    ///
    /// SessionMiddleware::new(manager).error_response(|error| {
    ///     HttpResponse::InternalServerError()
    ///         .json(serde_json::json!({ "error": error.public_message() }))
    /// })
    /// # }
    /// ```
    pub fn error_response<F>(self, render: F) -> Self
    where
        F: Fn(&SessionError) -> HttpResponse + Send + Sync + 'static,
    {
        SessionMiddleware {
            shared: Arc::new(Shared {
                manager: self.shared.manager.clone(),
                on_error: Some(Arc::new(render)),
            }),
        }
    }

    /// The manager whose sessions this middleware runs.
    pub fn manager(&self) -> &SessionManager {
        &self.shared.manager
    }
}

impl From<SessionManager> for SessionMiddleware {
    fn from(manager: SessionManager) -> Self {
        SessionMiddleware::new(manager)
    }
}

/// What the middleware leaves in a request's extensions for the extractors.
#[derive(Clone)]
pub(crate) struct RequestState {
    pub(crate) sessions: Arc<RequestSessions>,
    on_error: Option<ErrorRenderer>,
}

impl RequestState {
    /// The response for a failed session, through the application's renderer if it set one.
    pub(crate) fn render(&self, error: &SessionError) -> HttpResponse {
        match &self.on_error {
            Some(render) => render(error),
            None => error.error_response(),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(SessionService {
            service,
            shared: Arc::clone(&self.shared),
        }))
    }
}

/// The service [`SessionMiddleware`] wraps around the application; not used directly.
pub struct SessionService<S> {
    service: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService").finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let sessions = {
            let headers = request.headers();
            let cookies = headers
                .get_all(COOKIE)
                .filter_map(|value| value.to_str().ok());
            Arc::new(self.shared.manager.request(cookies, |name| {
                headers.get(name).and_then(|value| value.to_str().ok())
            }))
        };
        let state = RequestState {
            sessions: Arc::clone(&sessions),
            on_error: self.shared.on_error.clone(),
        };
        request.extensions_mut().insert(state.clone());
        let response = self.service.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            match finish(&sessions).await {
                Ok(headers) => {
                    let map = response.headers_mut();
                    for (name, value) in headers {
                        map.append(name, value);
                    }
                    Ok(response.map_into_left_body())
                }
                Err(error) => {
                    tracing::error!(%error, "could not save the session; answering 500");
                    let failure = state.render(&error);
                    let (request, _) = response.into_parts();
                    Ok(ServiceResponse::new(request, failure).map_into_right_body())
                }
            }
        })
    }
}

/// Saves the request's sessions and converts the headers to add, all or none.
async fn finish(
    sessions: &RequestSessions,
) -> Result<Vec<(HeaderName, HeaderValue)>, SessionError> {
    let headers = sessions.finish().await?;
    headers.iter().map(convert).collect()
}

fn convert(header: &ResponseHeader) -> Result<(HeaderName, HeaderValue), SessionError> {
    let invalid = || SessionError::InvalidHeader(header.name().to_string());
    let name = HeaderName::from_bytes(header.name().as_bytes()).map_err(|_| invalid())?;
    let value = HeaderValue::from_str(header.value()).map_err(|_| invalid())?;
    Ok((name, value))
}
