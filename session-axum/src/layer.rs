//! The [`SessionLayer`]: reads session cookies and headers before the handler, saves the sessions
//! and sets their cookies and headers after it.
//!
//! The layer itself opens nothing. Before the inner service runs it scans the `Cookie` header and
//! the configured session headers into a [`RequestSessions`], stored in the request's extensions
//! as an `Arc<RequestSessions>`. Sessions are opened (decrypted, or loaded from their store) only
//! when a handler extracts them, so a route that extracts no session costs a header scan and
//! nothing else. After the inner service answers, [`RequestSessions::finish`] saves what changed
//! and the layer appends the `Set-Cookie` and session headers it returns.
//!
//! When saving fails, the handler's response is logged (its status) and replaced by a 500 that
//! carries no session header at all, so a browser never receives a cookie for a session that was
//! not stored.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::{IntoResponse, Response};
use axum::BoxError;
use http::header::{HeaderName, HeaderValue, COOKIE};
use http::Request;
use session_core::{RequestSessions, SessionManager};
use tower_layer::Layer;
use tower_service::Service;

use crate::rejection::{failure_response, internal_error};

/// A tower [`Layer`] that gives every request its sessions. Add it with `Router::layer`, or wrap
/// any [`Service`] over [`http::Request`] with it.
///
/// Cheap to clone: it holds a [`SessionManager`], itself an `Arc`.
#[derive(Debug, Clone)]
pub struct SessionLayer {
    manager: SessionManager,
}

impl SessionLayer {
    /// A layer serving the sessions of `manager`.
    pub fn new(manager: SessionManager) -> Self {
        SessionLayer { manager }
    }

    /// The manager this layer serves.
    pub fn manager(&self) -> &SessionManager {
        &self.manager
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            manager: self.manager.clone(),
        }
    }
}

/// The [`Service`] that [`SessionLayer`] wraps around an inner service.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    manager: SessionManager,
}

/// The future of [`SessionService`]'s responses.
pub type ResponseFuture<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let sessions = Arc::new(scan(&self.manager, &request));
        request.extensions_mut().insert(Arc::clone(&sessions));
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(finish(&sessions, response).await)
        })
    }
}

/// Reads the request's cookies and session headers; opens nothing.
fn scan<B>(manager: &SessionManager, request: &Request<B>) -> RequestSessions {
    let headers = request.headers();
    let cookies = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok());
    manager.request(cookies, |name| {
        headers.get(name).and_then(|value| value.to_str().ok())
    })
}

/// Saves the request's sessions and adds their headers to `response`, or answers 500.
async fn finish<B>(sessions: &RequestSessions, response: http::Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = response.into_parts();
    match sessions.finish().await {
        Ok(headers) => {
            for header in headers {
                let name = HeaderName::from_bytes(header.name().as_bytes());
                let value = HeaderValue::from_str(header.value());
                let (Ok(name), Ok(value)) = (name, value) else {
                    tracing::error!(
                        header = header.name(),
                        status = %parts.status,
                        "a session header is not a valid HTTP header; answering 500 instead of the handler's response"
                    );
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
