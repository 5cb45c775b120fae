//! The core's [`save_rule`], applied to rocket's responses.

use std::sync::atomic::{AtomicBool, Ordering};

use rocket::{Request, Response};
use session_core::{save_rule, SaveRule};

/// What the request-local cache keeps for the rule: whether the request came as `HEAD` (rocket
/// answers it with its `GET` route and says `GET` by the time response fairings run), and
/// whether the handler answered with the session's own size refusal.
#[derive(Default)]
struct Facts {
    head: AtomicBool,
    size_refusal: AtomicBool,
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

/// Notes that the handler answered with the session's own size refusal.
pub(crate) fn note_size_refusal(request: &Request<'_>) {
    facts(request).size_refusal.store(true, Ordering::Relaxed);
}

/// Whether the request's sessions are left as they were: the core's rule for the method and
/// status (a panicking handler answers through the 500 catcher, a 500), or the size refusal.
pub(crate) fn discards(request: &Request<'_>, response: &Response<'_>) -> bool {
    let facts = facts(request);
    let method = if facts.head.load(Ordering::Relaxed) {
        "HEAD"
    } else {
        request.method().as_str()
    };
    let status = response.status();
    let discard = save_rule(method, status.code) == SaveRule::Discard
        || facts.size_refusal.load(Ordering::Relaxed);
    if discard {
        tracing::debug!(method, %status, "a failed request saves none of its sessions");
    }
    discard
}
