//! Refusal of cross-origin writes before the handler, by the
//! [`SessionMiddleware`](crate::SessionMiddleware).

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{ContentType, HeaderValue, HOST, ORIGIN};
use actix_web::HttpResponse;
use session_core::{CrossOriginGuard, CrossOriginRequest, CROSS_ORIGIN_BODY};

/// The 403 for `request` when `guard` refuses it as a cross-origin write; `None` when it passes.
/// A safe method reads no header.
pub(crate) fn refusal(guard: &CrossOriginGuard, request: &ServiceRequest) -> Option<HttpResponse> {
    let method = request.method().as_str();
    if !guard.needs_check(method) {
        return None;
    }
    let headers = request.headers();
    let header = |name: &str| headers.get(name).map(HeaderValue::as_bytes);
    let path = request.path();
    let checked = CrossOriginRequest {
        method,
        path,
        // HTTP/2 carries the host in the URI's authority, not in `Host`. (Not
        // `connection_info().host()`: it believes forwarded headers whatever the configuration.)
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
        HttpResponse::Forbidden()
            .insert_header(ContentType::json())
            .body(CROSS_ORIGIN_BODY),
    )
}
