//! Refusal of cross-origin writes before the handler, by the [`SessionLayer`](crate::SessionLayer).

use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, StatusCode};
use session_core::{CrossOriginGuard, CROSS_ORIGIN_BODY};

/// The 403 for `request` when `guard` refuses it as a cross-origin write; `None` when it passes.
/// A safe method reads no header.
pub(crate) fn refusal<B>(guard: &CrossOriginGuard, request: &Request<B>) -> Option<Response> {
    let headers = request.headers();
    let uri = request.uri();
    guard
        .check_headers(
            request.method().as_str(),
            uri.path(),
            uri.authority().map(|a| a.as_str().as_bytes()),
            |name| headers.get(name).map(HeaderValue::as_bytes),
        )
        .err()?;
    Some(
        (
            StatusCode::FORBIDDEN,
            [(CONTENT_TYPE, "application/json")],
            CROSS_ORIGIN_BODY,
        )
            .into_response(),
    )
}
