//! Refusal of cross-origin writes before routing, by the [`SessionFairing`](crate::SessionFairing).
//!
//! A fairing cannot answer a request itself: a refused request is rewritten to an internal
//! route, mounted by the fairing, whose only answer is the 403. No handler of the application
//! runs, so no guard opens a session and no cookie is set.

use rocket::http::uri::Origin;
use rocket::http::{ContentType, Method, Status};
use rocket::route::{self, Route};
use rocket::{Data, Request};
use session_core::{CrossOriginGuard, CROSS_ORIGIN_BODY};

/// The path of the internal route refused requests are rewritten to.
const REFUSED_PATH: &str = "/__session-rocket/cross-origin-refused";

/// Ahead of any application route that could match the path.
const REFUSED_RANK: isize = -1_000_000;

/// Whether `guard` refuses `request` as a cross-origin write. A safe method reads no header.
pub(crate) fn refuses(guard: &CrossOriginGuard, request: &Request<'_>) -> bool {
    let headers = request.headers();
    // Rocket's request URI is origin-form: it has no authority.
    guard
        .check_headers(
            request.method().as_str(),
            request.uri().path().as_str(),
            None,
            |name| headers.get_one(name).map(str::as_bytes),
        )
        .is_err()
}

/// Sends `request` to the internal route that answers the 403.
pub(crate) fn reroute(request: &mut Request<'_>) {
    request.set_method(Method::Post);
    request.set_uri(Origin::path_only(REFUSED_PATH));
}

/// The internal route [`reroute`] sends refused requests to.
pub(crate) fn refused_route() -> Route {
    Route::ranked(REFUSED_RANK, Method::Post, REFUSED_PATH, refuse)
}

fn refuse<'r>(request: &'r Request<'_>, _data: Data<'r>) -> route::BoxFuture<'r> {
    let outcome = route::Outcome::from(
        request,
        (Status::Forbidden, (ContentType::JSON, CROSS_ORIGIN_BODY)),
    );
    Box::pin(std::future::ready(outcome))
}
