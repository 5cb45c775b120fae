//! [`Error`]: a session error a handler can return with `?`.

use axum::response::{IntoResponse, Response};

use crate::rejection::failure_response;

session_core::__define_handler_error! {
    /// A [`session_core::Error`] that renders as a response, so handlers can use `?` on session
    /// calls (`session.insert(..)?`, `session.get::<T>(..)?`).
    ///
    /// It renders as a 500 that leaks no detail: `{"error":"session store unavailable"}` for a store
    /// failure, `{"error":"session error"}` otherwise. The detail is logged at error level.
    pub struct Error;
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if self.0.is_too_large() {
            tracing::info!(error = %self.0, "a session change was refused");
        } else {
            tracing::error!(error = %self.0, "a session operation failed in a handler");
        }
        let too_large = self.0.is_too_large();
        let mut response = failure_response(&self.0).into_response();
        if too_large {
            // The layer then saves nothing of the request's sessions.
            response.extensions_mut().insert(crate::DiscardSessions);
        }
        response
    }
}
