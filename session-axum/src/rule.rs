//! The core's [`save_rule`], applied to axum's responses.

use http::{Extensions, Method, StatusCode};
use session_core::{save_rule, SaveRule};

/// A response extension that makes the [`SessionLayer`](crate::SessionLayer) save nothing of the
/// request's sessions and add no session header, whatever the status.
///
/// [`Error`](crate::Error) puts it on the 413 of the session's own size refusal. An application
/// that renders session errors with its own type puts it on that response too:
///
/// ```
/// use axum::http::StatusCode;
/// use axum::response::{IntoResponse, Response};
/// use session_axum::DiscardSessions;
///
/// fn too_large() -> Response {
///     let mut response = (StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response();
///     response.extensions_mut().insert(DiscardSessions);
///     response
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DiscardSessions;

/// Whether the request's sessions are left as they were: the core's rule for `method` and
/// `status`, or the response carries [`DiscardSessions`] (the session's size refusal).
pub(crate) fn discards(method: &Method, status: StatusCode, extensions: &Extensions) -> bool {
    let discard = save_rule(method.as_str(), status.as_u16()) == SaveRule::Discard
        || extensions.get::<DiscardSessions>().is_some();
    if discard {
        tracing::debug!(%method, %status, "a failed request saves none of its sessions");
    }
    discard
}
