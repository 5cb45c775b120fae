//! The core's [`save_rule`], applied to axum's responses.

use http::{Extensions, Method, StatusCode};
use session_core::{save_rule, SaveRule};

/// Put in the extensions of the response [`Error`](crate::Error) builds for the session's own
/// size refusal, so that the layer saves nothing of the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SizeRefusal;

/// Whether the request's sessions are left as they were: the core's rule for `method` and
/// `status`, or the handler answered with the session's size refusal.
pub(crate) fn discards(method: &Method, status: StatusCode, extensions: &Extensions) -> bool {
    let discard = save_rule(method.as_str(), status.as_u16()) == SaveRule::Discard
        || extensions.get::<SizeRefusal>().is_some();
    if discard {
        tracing::debug!(%method, %status, "a failed request saves none of its sessions");
    }
    discard
}
