//! Logging a user in from an application's own tests (feature `testing`).
//!
//! [`TestSession`] mints a session through the application's [`SessionManager`](crate::SessionManager)
//! (bound to an owner with [`TestSession::logged_in`], or holding whatever
//! [`TestSession::with`] puts in it); [`WithSession::with_session`] adds the headers that carry
//! it to a test request (`http::Request` or its builder). To log in through the application instead, send its login request
//! and keep the `Set-Cookie` values (`TestSession` is the shape to keep them in).

pub use session_stores::testing::{TestSession, TestSessionError};

/// Adds a [`TestSession`]'s headers to a request.
pub trait WithSession {
    /// This request, carrying `session`.
    fn with_session(self, session: &TestSession) -> Self;
}

impl<B> WithSession for http::Request<B> {
    fn with_session(mut self, session: &TestSession) -> Self {
        for (name, value) in session.headers() {
            // Minted values are cookie and header text, always valid header values.
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::try_from(name),
                http::HeaderValue::try_from(value),
            ) {
                self.headers_mut().append(name, value);
            }
        }
        self
    }
}

impl WithSession for http::request::Builder {
    fn with_session(self, session: &TestSession) -> Self {
        session
            .headers()
            .fold(self, |builder, (name, value)| builder.header(name, value))
    }
}
