//! [`Error`]: a session error a handler can return with `?`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::rejection::failure_response;

session_core::__define_handler_error! {
    /// A [`session_core::Error`] that renders as a response, so handlers can use `?` on session
    /// calls (`session.insert(..)?`, `session.get::<T>(..)?`).
    ///
    /// It renders as a response that leaks no detail: `413 {"error":"session too large"}` for a
    /// change past the session's size limit, `500 {"error":"session store unavailable"}` for a store
    /// failure, `500 {"error":"session error"}` otherwise. The detail is logged.
    pub struct Error;
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if self.0.is_too_large() {
            tracing::info!(error = %self.0, "a session change was refused");
        } else {
            tracing::error!(error = %self.0, "a session operation failed in a handler");
        }
        failure_response(&self.0)
    }
}
