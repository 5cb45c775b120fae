//! The core's [`save_rule`], applied to actix-web's responses.

use actix_web::dev::ServiceResponse;
use session_core::{save_rule, SaveRule};

/// A response extension that makes the [`SessionMiddleware`](crate::SessionMiddleware) save
/// nothing of the request's sessions and add no session header, whatever the status.
///
/// A handler's [`Error`](crate::Error) for the session's own size refusal has the same effect.
/// An application that renders session errors with its own type puts it on that response:
///
/// ```
/// use actix_web::HttpResponse;
/// use session_actix::DiscardSessions;
///
/// fn too_large() -> HttpResponse {
///     let mut response = HttpResponse::PayloadTooLarge().body("too large");
///     response.extensions_mut().insert(DiscardSessions);
///     response
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DiscardSessions;

/// Whether the request's sessions are left as they were: the core's rule for the request's
/// method and the response's status, or the handler answered with the session's own size
/// refusal (an [`Error`](crate::Error) holding `SessionTooLarge`), or the response carries
/// [`DiscardSessions`].
pub(crate) fn discards<B>(response: &ServiceResponse<B>) -> bool {
    let method = response.request().method();
    let status = response.status();
    let size_refusal = || {
        response
            .response()
            .extensions()
            .get::<DiscardSessions>()
            .is_some()
            || response
                .response()
                .error()
                .and_then(|error| error.as_error::<crate::Error>())
                .is_some_and(|error| error.0.is_too_large())
    };
    let discard =
        save_rule(method.as_str(), status.as_u16()) == SaveRule::Discard || size_refusal();
    if discard {
        tracing::debug!(%method, %status, "a failed request saves none of its sessions");
    }
    discard
}
