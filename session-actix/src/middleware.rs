//! [`SessionMiddleware`]: the actix-web middleware that runs a request's sessions.
//!
//! Before the handler it keeps the request's `Cookie` and session headers as they are at this
//! point (cheap: header values are reference-counted) and puts them in the request's extensions;
//! no store is touched and nothing is parsed or decrypted. The first extractor scans them into a
//! [`RequestSessions`] and opens sessions from there on demand, so a request whose handler
//! extracts no session never scans its cookies. After the handler, when a session was extracted,
//! it asks the manager to save what changed and appends the resulting `Set-Cookie` and session
//! headers as raw values (actix-web's own cookie type is another `cookie` crate version than the
//! core's, so none crosses over). When saving fails the handler's response is replaced by a 500
//! that carries no session header, and the detail is logged.
//!
//! Before all that, a write from another origin is refused with a 403 (see
//! [`SessionMiddleware::cross_origin`]). After the handler, the core's
//! [`save_rule`](session_core::save_rule) decides: a response of 500 or more, a `HEAD` request
//! and the session's own size refusal (413 from [`Error`](crate::Error)) save nothing and get no
//! session header. A handler that panics saves nothing: the panic unwinds through the
//! middleware before any save.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue, COOKIE, SET_COOKIE, USER_AGENT};
use actix_web::{HttpMessage, HttpRequest};
use pin_project_lite::pin_project;
use session_core::{
    request_span, ClientInfo, CrossOriginGuard, DeferredSessions, RequestSessions, ResponseHeader,
    SessionManager,
};

use crate::origin::refusal;
use crate::rejection::{failure_response, internal_error};
use crate::rule::discards;

session_core::__define_adapter_entry! {
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
    /// Cheap to clone and `Send + Sync` (it holds a [`SessionManager`], itself an `Arc`), so one
    /// instance can be built before `HttpServer::new` and cloned into each worker's `App`.
    pub struct SessionMiddleware in session_actix, "middleware", "#[actix_web::main]";
    /// A refused write answers `403 {"error":"cross-origin request refused"}` before the
    /// handler runs; it touches no session and sets no cookie. See [`CrossOriginGuard`] for
    /// what is refused.
    cross_origin { "# drop(middleware);" }
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
            manager: self.manager.clone(),
            cross_origin: Arc::clone(&self.cross_origin),
        }))
    }
}

/// The service [`SessionMiddleware`] wraps around the application.
pub struct SessionService<S> {
    service: S,
    manager: SessionManager,
    cross_origin: Arc<CrossOriginGuard>,
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
    type Future = ResponseFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        if let Some(refusal) = refusal(&self.cross_origin, &request) {
            self.manager.record_cross_origin_refused();
            let response = request.into_response(refusal).map_into_right_body();
            return ResponseFuture {
                stage: Stage::Saving {
                    saving: Box::pin(std::future::ready(response)),
                },
            };
        }
        let headers = request.headers();
        let mut deferred = self
            .manager
            .defer(headers.get_all(COOKIE).cloned(), |name| {
                headers.get(name).cloned()
            });
        deferred.set_span(request_span(|| (request.method().as_str(), request.path())));
        let state = Rc::new(RequestState(deferred));
        request.extensions_mut().insert(Rc::clone(&state));
        ResponseFuture {
            stage: Stage::Inner {
                response: self.service.call(request),
                state,
            },
        }
    }
}

pin_project! {
    /// The future of [`SessionService`]'s responses: the inner service's response, then, only
    /// when a handler opened a session, the saving of what changed. A request that opened none
    /// allocates nothing here and answers as soon as the inner service does.
    pub struct ResponseFuture<F, B> {
        #[pin]
        stage: Stage<F, B>,
    }
}

pin_project! {
    #[project = StageProjection]
    enum Stage<F, B> {
        Inner {
            #[pin]
            response: F,
            state: Rc<RequestState>,
        },
        Saving {
            saving: Pin<Box<dyn Future<Output = ServiceResponse<EitherBody<B>>>>>,
        },
    }
}

impl<F, B> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody + 'static,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut stage = self.project().stage;
        loop {
            match stage.as_mut().project() {
                StageProjection::Inner { response, state } => {
                    let response = ready!(response.poll(cx))?;
                    // No extractor ran: nothing was opened, so nothing is saved and no header
                    // is added. A failed request (the core's rule) saves nothing either.
                    if state.0.scanned().is_none() || discards(&response) {
                        return Poll::Ready(Ok(response.map_into_left_body()));
                    }
                    let state = Rc::clone(state);
                    stage.set(Stage::Saving {
                        saving: Box::pin(async move { finish(&state.0, response).await }),
                    });
                }
                StageProjection::Saving { saving } => return saving.as_mut().poll(cx).map(Ok),
            }
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let saving = matches!(self.stage, Stage::Saving { .. });
        f.debug_struct("ResponseFuture")
            .field("saving", &saving)
            .finish()
    }
}

/// What the middleware leaves in a request's extensions: a type of this crate's own, so that
/// handlers cannot reach it and finish the request themselves.
struct RequestState(DeferredSessions<HeaderValue>);

/// The sessions of the request that passed through the middleware, or `None` without it; the
/// first call scans the session headers the request had when it passed.
pub(crate) fn request_sessions(request: &HttpRequest) -> Option<Arc<RequestSessions>> {
    request
        .extensions()
        .get::<Rc<RequestState>>()
        .map(|state| Arc::clone(state.0.get_or_scan(HeaderValue::as_bytes, Vec::new)))
}

/// Saves the request's sessions and adds their headers to `response`, or answers 500.
async fn finish<B>(
    sessions: &DeferredSessions<HeaderValue>,
    mut response: ServiceResponse<B>,
) -> ServiceResponse<EitherBody<B>> {
    // Read only for a login's device record. The peer is the socket's; behind a proxy, see
    // actix's `ConnectionInfo::realip_remote_addr` and configure the proxy to be trusted.
    let request = response.request().clone();
    let client_info = || ClientInfo {
        user_agent: request
            .headers()
            .get(USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
            .map(str::to_string),
        ip: request.peer_addr().map(|peer| peer.ip().to_string()),
    };
    let failure = match sessions.save_scanned_with(client_info).await {
        Ok(headers) => match headers
            .into_iter()
            .map(convert)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(headers) => {
                let map = response.headers_mut();
                for (name, value) in headers {
                    map.append(name, value);
                }
                return response.map_into_left_body();
            }
            Err(header) => {
                tracing::error!(
                    header,
                    status = %response.status(),
                    "a session header is not a valid HTTP header; answering 500 instead of the handler's response"
                );
                internal_error()
            }
        },
        Err(error) => {
            tracing::error!(
                %error,
                status = %response.status(),
                "saving the session failed; answering 500 instead of the handler's response"
            );
            failure_response(&error)
        }
    };
    let (request, _) = response.into_parts();
    ServiceResponse::new(request, failure).map_into_right_body()
}

/// The header as actix-web's types (the value moved, not copied), or its name when it is not a
/// valid header.
fn convert(header: ResponseHeader) -> Result<(HeaderName, HeaderValue), String> {
    let name = match &header {
        ResponseHeader::SetCookie(_) => Ok(SET_COOKIE),
        ResponseHeader::Header { name, .. } => HeaderName::from_bytes(name.as_bytes()),
    };
    let Ok(name) = name else {
        return Err(header.name().to_string());
    };
    match HeaderValue::try_from(header.into_value()) {
        Ok(value) => Ok((name, value)),
        Err(_) => Err(name.to_string()),
    }
}
