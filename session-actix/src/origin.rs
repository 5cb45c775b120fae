//! Refusal of cross-origin writes before the handler, by the
//! [`SessionMiddleware`](crate::SessionMiddleware).

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{ContentType, HeaderValue};
use actix_web::HttpResponse;
use session_core::{CrossOriginGuard, CROSS_ORIGIN_BODY};

/// The 403 for `request` when `guard` refuses it as a cross-origin write; `None` when it passes.
/// A safe method reads no header.
pub(crate) fn refusal(guard: &CrossOriginGuard, request: &ServiceRequest) -> Option<HttpResponse> {
    let headers = request.headers();
    guard
        .check_headers(
            request.method().as_str(),
            request.path(),
            // Not `connection_info().host()`: it believes forwarded headers whatever the
            // configuration.
            request.uri().authority().map(|a| a.as_str().as_bytes()),
            |name| headers.get(name).map(HeaderValue::as_bytes),
        )
        .err()?;
    Some(
        HttpResponse::Forbidden()
            .insert_header(ContentType::json())
            .body(CROSS_ORIGIN_BODY),
    )
}
