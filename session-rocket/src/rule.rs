//! The core's [`save_rule`], applied to rocket's responses.

use std::sync::atomic::{AtomicBool, Ordering};

use rocket::{Request, Response};
use session_core::{save_rule, SaveRule};

/// What the request-local cache keeps for the rule: whether the request came as `HEAD` (rocket
/// answers it with its `GET` route and says `GET` by the time response fairings run), and
/// whether the handler answered with the session's own size refusal, or the application called
/// [`discard_sessions`].
#[derive(Default)]
struct Facts {
    head: AtomicBool,
    discard: AtomicBool,
}

fn facts<'r>(request: &'r Request<'_>) -> &'r Facts {
    request.local_cache(Facts::default)
}

/// Notes the request's method before routing.
pub(crate) fn note_method(request: &Request<'_>) {
    if request.method() == rocket::http::Method::Head {
        facts(request).head.store(true, Ordering::Relaxed);
    }
}

/// Makes the [`SessionFairing`](crate::SessionFairing) save nothing of `request`'s sessions and
/// add no session header, whatever the response.
///
/// A handler's [`Error`](crate::Error) for the session's own size refusal does it. An
/// application that renders session errors with its own type calls it where it answers:
///
/// ```
/// use rocket::http::Status;
/// use rocket::request::Request;
/// use rocket::response::{self, Responder};
///
/// struct TooLarge;
///
/// impl<'r> Responder<'r, 'static> for TooLarge {
///     fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
///         session_rocket::discard_sessions(request);
///         (Status::PayloadTooLarge, "too large").respond_to(request)
///     }
/// }
/// ```
pub fn discard_sessions(request: &Request<'_>) {
    facts(request).discard.store(true, Ordering::Relaxed);
}

/// Whether the request's sessions are left as they were: the core's rule for the method and
/// status (a panicking handler answers through the 500 catcher, a 500), or [`discard_sessions`].
pub(crate) fn discards(request: &Request<'_>, response: &Response<'_>) -> bool {
    let facts = facts(request);
    let method = if facts.head.load(Ordering::Relaxed) {
        "HEAD"
    } else {
        request.method().as_str()
    };
    let status = response.status();
    let discard = save_rule(method, status.code) == SaveRule::Discard
        || facts.discard.load(Ordering::Relaxed);
    if discard {
        tracing::debug!(method, %status, "a failed request saves none of its sessions");
    }
    discard
}
