//! The [`SessionFairing`]: reads session values before routing, saves and writes them back after
//! the handler.
//!
//! # One request
//!
//! `on_request` keeps the values of the `Cookie` headers and the session headers, as they are at
//! that point, in the request-local cache (no store is touched, nothing is parsed or decrypted).
//! The first guard scans them and opens its session; a guard opens a session only when a handler
//! asks for it. `on_response` saves what changed and adds the `Set-Cookie` and session headers;
//! on a request where no guard asked for a session it has nothing to do.
//!
//! # Rocket's cookie jar
//!
//! Rocket writes the changes of its [`CookieJar`](rocket::http::CookieJar) into the response
//! before response fairings run, so this fairing sees them. When a session writes its cookie in a
//! response, it replaces any cookie of the same name the application set through the jar (one
//! `Set-Cookie` per name; a warning is logged, since the application's value would have broken the
//! session). When the session writes nothing, the application's cookie passes through unchanged.
//! Cookies of other names are never touched.
//!
//! # Failures
//!
//! A write from another origin is refused with a 403 before routing (see
//! [`SessionFairing::cross_origin`]). After the handler, the core's
//! [`save_rule`](session_core::save_rule) decides: a response of 500 or more (a panicking
//! handler's included), a `HEAD` request and the session's own size refusal (413 from
//! [`Error`](crate::Error)) save nothing and get no session header.
//!
//! A session that cannot be loaded fails its guard with a 500 (see
//! [`Error`](crate::Error)); nothing is saved in that request. A session that cannot
//! be saved turns the response into the application's own 500 catcher's response (the catcher
//! that would answer a 500 for this path, or an empty 500 without one), with no session headers;
//! the detail is logged, never sent.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{Header, Status};
use rocket::{Build, Data, Request, Response, Rocket};
use session_core::{
    request_span, ClientInfo, DeferredSessions, RequestSessions, ResponseHeader, SessionManager,
};

use crate::{origin, rule, SessionFailure};

session_core::__define_adapter_entry! {
    /// Attach it to rocket to give handlers sessions:
    /// `rocket::build().attach(SessionFairing::new(manager))`.
    ///
    /// Cheap to clone; every clone shares the manager. A singleton fairing: attaching another
    /// replaces it.
    pub struct SessionFairing in session_rocket, "fairing", "#[rocket::main]";
    /// A refused write answers `403 {"error":"cross-origin request refused"}` (JSON) before
    /// routing: the fairing rewrites it to an internal route it mounts, so no handler of the
    /// application runs, no session is touched and no cookie is set. See
    /// [`CrossOriginGuard`](crate::CrossOriginGuard) for what is refused.
    cross_origin {
        "let rocket = rocket::build().attach(fairing);"
        "# drop(rocket);"
    }
}

/// What the fairing keeps in the request-local cache: the request's `Cookie` and session header
/// values as the fairing saw them, scanned into its [`RequestSessions`] when a guard first asks.
/// `None` means the fairing did not run.
pub(crate) struct RequestState(Option<DeferredSessions<String>>);

impl RequestState {
    fn new(manager: &SessionManager, request: &Request<'_>) -> Self {
        let headers = request.headers();
        let mut deferred = manager.defer(headers.get("Cookie").map(String::from), |name| {
            headers.get_one(name).map(String::from)
        });
        deferred.set_span(request_span(|| {
            (request.method().as_str(), request.uri().path().as_str())
        }));
        RequestState(Some(deferred))
    }

    /// This request's sessions, or `None` when the fairing is not attached.
    pub(crate) fn of<'r>(request: &'r Request<'_>) -> Option<&'r RequestSessions> {
        let deferred = request.local_cache(|| RequestState(None)).0.as_ref()?;
        // A served request's cookie jar holds exactly what its `Cookie` headers carry. Rocket's
        // local client can also put cookies straight into the jar (tracked clients,
        // `LocalRequest::cookie`): read the jar when there is no `Cookie` header. The jar's
        // cookies are the ones the request came with; handlers only add pending changes.
        let jar = || {
            if deferred.has_cookie_header() {
                return Vec::new();
            }
            request
                .cookies()
                .iter()
                .map(|cookie| format!("{}={}", cookie.name(), cookie.value()))
                .collect()
        };
        Some(deferred.get_or_scan(String::as_bytes, jar))
    }

    /// This request's sessions if a guard asked for them.
    fn opened<'r>(request: &'r Request<'_>) -> Option<&'r DeferredSessions<String>> {
        let deferred = request.local_cache(|| RequestState(None)).0.as_ref()?;
        deferred.scanned().map(|_| deferred)
    }
}

#[rocket::async_trait]
impl Fairing for SessionFairing {
    fn info(&self) -> Info {
        Info {
            name: "Sessions",
            // Attached twice, only the last one runs: one save per request.
            kind: Kind::Ignite | Kind::Request | Kind::Response | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> rocket::fairing::Result {
        Ok(rocket.mount("/", vec![origin::refused_route()]))
    }

    async fn on_request(&self, request: &mut Request<'_>, _data: &mut Data<'_>) {
        if origin::refuses(&self.cross_origin, request) {
            self.manager.record_cross_origin_refused();
            origin::reroute(request);
            return;
        }
        rule::note_method(request);
        let request: &Request<'_> = request;
        let state = RequestState::new(&self.manager, request);
        request.local_cache(|| state);
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        // No guard asked for a session: nothing was opened, so nothing is saved.
        let Some(sessions) = RequestState::opened(request) else {
            return;
        };
        // A request on which a session failed (load, unknown name, handler error) saves nothing.
        if SessionFailure::of(request).is_some() {
            return;
        }
        // A failed request (the core's rule: 5xx, a panic, HEAD, the size refusal) saves
        // nothing.
        if rule::discards(request, response) {
            return;
        }
        // Read only for a login's device record. `client_ip` is the socket's peer, or the
        // header Rocket's `ip_header` names when the application configured one.
        let client_info = || ClientInfo {
            user_agent: request.headers().get_one("user-agent").map(str::to_string),
            ip: request.client_ip().map(|ip| ip.to_string()),
        };
        match sessions.save_scanned_with(client_info).await {
            Ok(headers) => apply(headers, response),
            // A login past a refusing cap on the owner's sessions: the client's 409, as the
            // other adapters answer it, and nothing saved.
            Err(error @ session_core::Error::TooManySessions { .. }) => {
                tracing::info!(%error, "refused a login");
                let body = error.public_body();
                *response = Response::build()
                    .status(Status::Conflict)
                    .header(rocket::http::ContentType::JSON)
                    .sized_body(body.len(), std::io::Cursor::new(body))
                    .finalize();
            }
            Err(error) => {
                tracing::error!(%error, "could not save the session; answering 500");
                SessionFailure::classify(&error).record(request);
                *response = internal_error(request).await;
            }
        }
    }
}

/// Adds the session headers to `response`, replacing jar cookies of the same names.
fn apply(headers: Vec<ResponseHeader>, response: &mut Response<'_>) {
    let mut cookies = Vec::new();
    for header in headers {
        match header {
            ResponseHeader::SetCookie(value) => cookies.push(value),
            ResponseHeader::Header { name, value } => {
                response.set_header(Header::new(name.to_string(), value));
            }
        }
    }
    if cookies.is_empty() {
        return;
    }
    let ours: Vec<&str> = cookies.iter().map(|value| cookie_name(value)).collect();
    let theirs: Vec<String> = response
        .headers()
        .get("Set-Cookie")
        .map(String::from)
        .collect();
    if theirs
        .iter()
        .any(|value| ours.contains(&cookie_name(value)))
    {
        response.remove_header("Set-Cookie");
        for value in theirs {
            let name = cookie_name(&value);
            if ours.contains(&name) {
                tracing::warn!(cookie = name, "the application set a session's cookie through the cookie jar; the session's value replaces it");
            } else {
                response.adjoin_header(Header::new("Set-Cookie", value));
            }
        }
    }
    for value in cookies {
        response.adjoin_header(Header::new("Set-Cookie", value));
    }
}

/// The name of a rendered `Set-Cookie` value.
fn cookie_name(set_cookie: &str) -> &str {
    let pair = set_cookie.split(';').next().unwrap_or_default();
    pair.split('=').next().unwrap_or_default().trim()
}

/// The response the application's 500 catcher gives for `request`, or an empty 500.
async fn internal_error<'r>(request: &'r Request<'_>) -> Response<'r> {
    let status = Status::InternalServerError;
    let path = request.uri().path();
    // Rocket's own choice: a catcher for the code or a default one whose base prefixes the
    // path; the longest base wins, the one for the code on a tie.
    let catcher = request
        .rocket()
        .catchers()
        .filter(|catcher| catcher.code.is_none_or(|code| code == status.code))
        .filter(|catcher| catcher.base.path().segments().prefix_of(path.segments()))
        .max_by_key(|catcher| (catcher.base.path().segments().len(), catcher.code.is_some()));
    if let Some(catcher) = catcher {
        match catcher.handler.handle(status, request).await {
            Ok(mut response) => {
                response.set_status(status);
                return response;
            }
            Err(failed) => {
                tracing::error!(status = %failed, "the 500 catcher failed; sending an empty 500")
            }
        }
    }
    Response::build().status(status).finalize()
}

#[cfg(test)]
mod tests {
    use super::cookie_name;

    #[test]
    fn cookie_names_are_read_from_rendered_set_cookie_values() {
        assert_eq!(cookie_name("app=abc; Path=/; HttpOnly"), "app");
        assert_eq!(cookie_name("cart.1=x=y"), "cart.1");
        assert_eq!(cookie_name("bare"), "bare");
        assert_eq!(cookie_name(""), "");
    }
}
