//! The [`SessionLayer`]: reads session cookies and headers before the handler, saves the sessions
//! and sets their cookies and headers after it.
//!
//! The layer itself parses and opens nothing. Before the inner service runs it keeps the request's
//! `Cookie` and configured session headers as they are at this point (cheap: header values are
//! reference-counted) in the request's extensions. The first extractor scans them into a
//! [`RequestSessions`]; sessions are opened (decrypted, or loaded from their store) only when a
//! handler extracts them, so a route that extracts no session parses no cookie. After the inner
//! service answers, when a session was extracted, [`DeferredSessions::save_scanned`] saves what changed
//! and the layer appends the `Set-Cookie` and session headers it returns.
//!
//! Before all that, a write from another origin is refused with a 403 (see
//! [`SessionLayer::cross_origin`]). After the handler, the core's
//! [`save_rule`](session_core::save_rule) decides: a response of 500 or more, a `HEAD` request
//! and the session's own size refusal (413 from [`Error`](crate::Error)) save nothing and get no
//! session header. A handler that panics saves nothing either: the panic unwinds through the
//! layer before any save, and with tower-http's `CatchPanicLayer` inside this layer the 500 it
//! answers is a 500 like any other.
//!
//! When saving fails, the handler's response is logged (its status) and replaced by a 500 that
//! carries no session header at all, so a browser never receives a cookie for a session that was
//! not stored.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::{IntoResponse, Response};
use axum::BoxError;
use http::header::{HeaderMap, HeaderName, HeaderValue, COOKIE, SET_COOKIE, USER_AGENT};
use http::Request;
use pin_project_lite::pin_project;
use session_core::{
    request_span, ClientInfo, CrossOriginGuard, DeferredSessions, RequestSessions, ResponseHeader,
    SessionManager,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::origin::refusal;
use crate::rejection::{failure_response, internal_error};
use crate::rule::discards;

session_core::__define_adapter_entry! {
    /// A tower [`Layer`] that gives every request its sessions. Add it with `Router::layer`, or
    /// wrap any [`Service`] over [`http::Request`] with it.
    ///
    /// Cheap to clone: it holds a [`SessionManager`], itself an `Arc`.
    pub struct SessionLayer in session_axum, "layer", "#[tokio::main(flavor = \"current_thread\")]";
    /// A refused write answers `403 {"error":"cross-origin request refused"}` before the inner
    /// service runs; it touches no session and sets no cookie. See [`CrossOriginGuard`] for
    /// what is refused.
    cross_origin { "# drop(layer);" }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            manager: self.manager.clone(),
            cross_origin: Arc::clone(&self.cross_origin),
        }
    }
}

/// The [`Service`] that [`SessionLayer`] wraps around an inner service.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    manager: SessionManager,
    cross_origin: Arc<CrossOriginGuard>,
}

pin_project! {
    /// The future of [`SessionService`]'s responses: the inner service's response, then, only
    /// when a handler opened a session, the saving of what changed. A request that opened none
    /// allocates nothing here and answers as soon as the inner service does.
    pub struct ResponseFuture<F> {
        #[pin]
        stage: Stage<F>,
    }
}

pin_project! {
    #[project = StageProjection]
    enum Stage<F> {
        Inner {
            #[pin]
            response: F,
            state: Arc<RequestState>,
            method: http::Method,
        },
        Saving {
            saving: Pin<Box<dyn Future<Output = Response> + Send>>,
        },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut stage = self.project().stage;
        loop {
            match stage.as_mut().project() {
                StageProjection::Inner {
                    response,
                    state,
                    method,
                } => {
                    let response = ready!(response.poll(cx))?;
                    // No extractor ran: nothing was opened, so nothing is saved and no header
                    // is added. A failed request (the core's rule) saves nothing either.
                    if state.sessions.scanned().is_none()
                        || discards(method, response.status(), response.extensions())
                    {
                        return Poll::Ready(Ok(response.map(Body::new)));
                    }
                    let state = Arc::clone(state);
                    stage.set(Stage::Saving {
                        saving: Box::pin(async move { finish(&state, response).await }),
                    });
                }
                StageProjection::Saving { saving } => return saving.as_mut().poll(cx).map(Ok),
            }
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let saving = matches!(self.stage, Stage::Saving { .. });
        f.debug_struct("ResponseFuture")
            .field("saving", &saving)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if let Some(refusal) = refusal(&self.cross_origin, &request) {
            self.manager.record_cross_origin_refused();
            return ResponseFuture {
                stage: Stage::Saving {
                    saving: Box::pin(std::future::ready(refusal)),
                },
            };
        }
        let method = request.method().clone();
        let headers = request.headers();
        let mut sessions = self
            .manager
            .defer(headers.get_all(COOKIE).into_iter().cloned(), |name| {
                headers.get(name).cloned()
            });
        sessions.set_span(request_span(|| {
            (request.method().as_str(), request.uri().path())
        }));
        let state = Arc::new(RequestState {
            sessions,
            client: OnceLock::new(),
        });
        request.extensions_mut().insert(Arc::clone(&state));
        ResponseFuture {
            stage: Stage::Inner {
                response: self.inner.call(request),
                state,
                method,
            },
        }
    }
}

/// The sessions of `request`, which passed through a [`SessionLayer`]; `None` without the layer.
/// For services that are not axum handlers; handlers use the extractors.
///
/// The first call scans the session cookies and headers the request had when it passed the layer.
pub fn request_sessions<B>(request: &Request<B>) -> Option<Arc<RequestSessions>> {
    sessions_of(request.headers(), request.extensions())
}

/// [`request_sessions`] of a request's headers and extensions (a request's or its parts').
pub(crate) fn sessions_of(
    headers: &HeaderMap,
    extensions: &http::Extensions,
) -> Option<Arc<RequestSessions>> {
    let state = extensions.get::<Arc<RequestState>>()?;
    // Kept, not read: a login's device record takes them when the response is saved, after the
    // request's headers are gone. Looked up here rather than in the layer, so that a request
    // that extracts no session does not pay for it.
    state.client.get_or_init(|| KeptClient {
        user_agent: headers.get(USER_AGENT).cloned(),
        // axum's `ConnectInfo` needs its server feature; the application puts the address it
        // trusts (the peer, or a proxy's forwarded one) in the extensions instead.
        peer: extensions.get::<IpAddr>().copied(),
    });
    Some(Arc::clone(
        state.sessions.get_or_scan(HeaderValue::as_bytes, Vec::new),
    ))
}

/// What the layer leaves in a request's extensions: a type of this crate's own, so that handlers
/// cannot reach it and finish the request themselves.
struct RequestState {
    sessions: DeferredSessions<HeaderValue>,
    /// What the client sent, from the first extraction; read only when a login is saved.
    client: OnceLock<KeptClient>,
}

/// What a login's device record may take from the request.
struct KeptClient {
    user_agent: Option<HeaderValue>,
    peer: Option<IpAddr>,
}

/// The header as axum's types (the value moved, not copied), or `None`, logged, when it is not
/// a valid header.
fn convert(header: ResponseHeader, status: http::StatusCode) -> Option<(HeaderName, HeaderValue)> {
    let name = match &header {
        ResponseHeader::SetCookie(_) => Ok(SET_COOKIE),
        ResponseHeader::Header { name, .. } => HeaderName::from_bytes(name.as_bytes()),
    };
    let invalid = |name: &str| {
        tracing::error!(
            header = name,
            %status,
            "a session header is not a valid HTTP header; answering 500 instead of the handler's response"
        );
    };
    let Ok(name) = name else {
        invalid(header.name());
        return None;
    };
    match HeaderValue::try_from(header.into_value()) {
        Ok(value) => Some((name, value)),
        Err(_) => {
            invalid(name.as_str());
            None
        }
    }
}

/// Saves the request's sessions and adds their headers to `response`, or answers 500.
async fn finish<B>(state: &RequestState, response: http::Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let RequestState { sessions, client } = state;
    // Converted only for a login's device record.
    let client_info = || {
        let client = client.get();
        ClientInfo {
            user_agent: client
                .and_then(|client| client.user_agent.as_ref())
                .and_then(|agent| agent.to_str().ok())
                .map(str::to_string),
            ip: client
                .and_then(|client| client.peer)
                .map(|ip| ip.to_string()),
        }
    };
    let (mut parts, body) = response.into_parts();
    match sessions.save_scanned_with(client_info).await {
        Ok(headers) => {
            for header in headers {
                let Some((name, value)) = convert(header, parts.status) else {
                    return internal_error().into_response();
                };
                parts.headers.append(name, value);
            }
            Response::from_parts(parts, Body::new(body))
        }
        Err(error) => {
            tracing::error!(
                %error,
                status = %parts.status,
                "saving the session failed; answering 500 instead of the handler's response"
            );
            failure_response(&error).into_response()
        }
    }
}
