//! Logging a user in from an application's own tests (feature `testing`).
//!
//! [`TestSession`] mints a session through the application's [`SessionManager`](crate::SessionManager)
//! (bound to an owner with [`TestSession::logged_in`], or holding whatever
//! [`TestSession::with`] puts in it); [`WithSession::with_session`] adds the headers that carry
//! it to a test request (rocket's `LocalRequest`). To log in through the application instead, send its login request
//! and keep the `Set-Cookie` values: a tracked `rocket::local` client keeps them like a browser.

pub use session_stores::testing::{TestSession, TestSessionError};

/// Adds a [`TestSession`]'s headers to a request.
pub trait WithSession {
    /// This request, carrying `session`.
    fn with_session(self, session: &TestSession) -> Self;
}

/// `session`'s headers as Rocket headers.
fn headers(session: &TestSession) -> impl Iterator<Item = rocket::http::Header<'static>> + '_ {
    session
        .headers()
        .map(|(name, value)| rocket::http::Header::new(name.to_string(), value.to_string()))
}

impl WithSession for rocket::local::asynchronous::LocalRequest<'_> {
    fn with_session(self, session: &TestSession) -> Self {
        headers(session).fold(self, |request, header| request.header(header))
    }
}

impl WithSession for rocket::local::blocking::LocalRequest<'_> {
    fn with_session(self, session: &TestSession) -> Self {
        headers(session).fold(self, |request, header| request.header(header))
    }
}
