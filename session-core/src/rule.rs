//! The one rule for what a request saves: [`save_rule`].

/// Whether an adapter saves the sessions of a finished request ([`save_rule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveRule {
    /// Save what the handler changed and add the session cookies and headers.
    Save,
    /// Save nothing of any session of the request and set or expire no session cookie or
    /// header: the sessions stay exactly as the request found them.
    Discard,
}

/// What a finished request saves, decided once here so every adapter applies the same rule.
///
/// - `HEAD` saves nothing: it must not change state (a `HEAD /flash` consumes nothing).
/// - A status of 500 or more saves nothing: the handler failed, and its earlier writes (a login
///   half done, a rotated token) must not outlive the failure, nor a cookie reach the browser
///   for them.
/// - Anything else (2xx, 3xx, other 4xx, a 404 included) saves what the handler changed.
///
/// Adapters also discard, whatever this answers, when the handler panicked and when the response
/// is the session's own size refusal (`413` built from
/// [`Error::SessionTooLarge`](crate::Error::SessionTooLarge)): the refused change was never
/// applied, and nothing else of the request's sessions is saved either, so the user is exactly
/// as before the request (a login whose name is too large leaves the visitor as they were).
///
/// ```
/// use session_core::{save_rule, SaveRule};
///
/// assert_eq!(save_rule("POST", 200), SaveRule::Save);
/// assert_eq!(save_rule("GET", 404), SaveRule::Save);
/// assert_eq!(save_rule("POST", 500), SaveRule::Discard);
/// assert_eq!(save_rule("HEAD", 200), SaveRule::Discard);
/// ```
#[inline]
pub fn save_rule(method: &str, status: u16) -> SaveRule {
    if status >= 500 || method.eq_ignore_ascii_case("HEAD") {
        SaveRule::Discard
    } else {
        SaveRule::Save
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_and_head_discard_everything_else_saves() {
        for (method, status, expected) in [
            ("GET", 200, SaveRule::Save),
            ("POST", 201, SaveRule::Save),
            ("POST", 303, SaveRule::Save),
            ("POST", 400, SaveRule::Save),
            ("POST", 401, SaveRule::Save),
            ("GET", 404, SaveRule::Save),
            ("POST", 409, SaveRule::Save),
            ("POST", 413, SaveRule::Save),
            ("POST", 499, SaveRule::Save),
            ("POST", 500, SaveRule::Discard),
            ("GET", 502, SaveRule::Discard),
            ("PUT", 503, SaveRule::Discard),
            ("DELETE", 599, SaveRule::Discard),
            ("HEAD", 200, SaveRule::Discard),
            ("HEAD", 404, SaveRule::Discard),
            ("head", 200, SaveRule::Discard),
        ] {
            assert_eq!(save_rule(method, status), expected, "{method} {status}");
        }
    }
}
