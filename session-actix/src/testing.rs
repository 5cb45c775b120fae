//! Logging a user in from an application's own tests (feature `testing`).
//!
//! [`TestSession`] mints a session through the application's [`SessionManager`](crate::SessionManager)
//! (bound to an owner with [`TestSession::logged_in`], or holding whatever
//! [`TestSession::with`] puts in it); [`WithSession::with_session`] adds the headers that carry
//! it to a test request (`actix_web::test::TestRequest`). To log in through the application instead, send its login request
//! and keep the `Set-Cookie` values (or use `actix_web::test`'s cookie support).

pub use session_stores::testing::{TestSession, TestSessionError};

/// Adds a [`TestSession`]'s headers to a request.
pub trait WithSession {
    /// This request, carrying `session`.
    fn with_session(self, session: &TestSession) -> Self;
}

impl WithSession for actix_web::test::TestRequest {
    fn with_session(self, session: &TestSession) -> Self {
        session.headers().fold(self, |request, (name, value)| {
            request.append_header((name.to_string(), value.to_string()))
        })
    }
}
