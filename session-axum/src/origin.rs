//! Refusal of cross-origin writes before the handler, by the [`SessionLayer`](crate::SessionLayer).

use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, HOST, ORIGIN};
use http::{HeaderValue, Request, StatusCode};
use session_core::{CrossOriginGuard, CrossOriginRequest, CROSS_ORIGIN_BODY};

/// The 403 for `request` when `guard` refuses it as a cross-origin write; `None` when it passes.
/// A safe method reads no header.
pub(crate) fn refusal<B>(guard: &CrossOriginGuard, request: &Request<B>) -> Option<Response> {
    let method = request.method().as_str();
    if !guard.needs_check(method) {
        return None;
    }
    let headers = request.headers();
    let header = |name: &str| headers.get(name).map(HeaderValue::as_bytes);
    let path = request.uri().path();
    let checked = CrossOriginRequest {
        method,
        path,
        // HTTP/2 carries the host in the URI's authority, not in `Host`.
        host: headers
            .get(HOST)
            .map(HeaderValue::as_bytes)
            .or_else(|| request.uri().authority().map(|a| a.as_str().as_bytes())),
        origin: headers.get(ORIGIN).map(HeaderValue::as_bytes),
        sec_fetch_site: header("sec-fetch-site"),
        forwarded_host: header("x-forwarded-host"),
        forwarded_proto: header("x-forwarded-proto"),
    };
    let refused = guard.check(&checked).err()?;
    tracing::info!(reason = %refused, method, path, "refused a cross-origin write");
    Some(
        (
            StatusCode::FORBIDDEN,
            [(CONTENT_TYPE, "application/json")],
            CROSS_ORIGIN_BODY,
        )
            .into_response(),
    )
}
