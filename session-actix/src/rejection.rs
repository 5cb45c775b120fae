//! [`SessionRejection`]: why a session extractor failed, rendered as a 500.

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use session_core::{Error, INTERNAL_ERROR_BODY};

const NOT_INSTALLED_MESSAGE: &str = "Missing session middleware: the session extractors \
need `SessionMiddleware`. Add `.wrap(SessionMiddleware::new(manager))` to the `App` or scope that \
holds the routes that extract sessions.";

session_core::__define_session_rejection! {
    /// Why a [`Session`](crate::Session), [`NamedSession`](crate::NamedSession) or
    /// [`Sessions`](crate::Sessions) extractor failed. Every variant renders as a
    /// `500 Internal Server Error` and is logged at error level with its detail; the response body
    /// never carries store details.
    pub enum SessionRejection: StatusCode = StatusCode::INTERNAL_SERVER_ERROR {
        /// The request did not pass through a [`SessionMiddleware`](crate::SessionMiddleware).
        /// The response body says to add it.
        NotInstalled = NOT_INSTALLED_MESSAGE,
        /// The session could not be opened: its store failed (body
        /// `{"error":"session store unavailable"}`), or no session of the requested name is
        /// configured (body: what to add to the configuration).
        Open,
    }
}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            SessionRejection::NotInstalled => {
                tracing::error!("{NOT_INSTALLED_MESSAGE}");
                HttpResponse::InternalServerError()
                    .insert_header(ContentType::plaintext())
                    .body(NOT_INSTALLED_MESSAGE)
            }
            SessionRejection::Open(error @ Error::UnknownSession(_)) => {
                tracing::error!(%error, "a handler asked for a session that is not configured");
                HttpResponse::InternalServerError()
                    .insert_header(ContentType::plaintext())
                    .body(error.to_string())
            }
            SessionRejection::Open(error) => {
                tracing::error!(%error, "opening a session failed");
                failure_response(error)
            }
        }
    }
}

fn json_500(body: &'static str) -> HttpResponse {
    HttpResponse::InternalServerError()
        .insert_header(ContentType::json())
        .body(body)
}

/// The 500 for any other session failure.
pub(crate) fn internal_error() -> HttpResponse {
    json_500(INTERNAL_ERROR_BODY)
}

/// The response for a core error, without its detail: 413 for a session past its size limit,
/// 500 for the rest.
pub(crate) fn failure_response(error: &Error) -> HttpResponse {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header(ContentType::json())
        .body(error.public_body())
}
