//! [`SessionError`]: what the middleware and the extractors answer when a session cannot be used.
//!
//! Every variant is a `500 Internal Server Error`. Misuse (no middleware, an unconfigured name)
//! says in the body what to change, because only the developer ever sees it. Failures of a store,
//! of sealing or of a value's (de)serialization are logged with their detail at error level and
//! answered with a body that says nothing about them.

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Why a session could not be extracted or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A handler extracted a session on a route that [`SessionMiddleware`](crate::SessionMiddleware)
    /// does not wrap.
    #[error(
        "no session middleware on this route: wrap the app or scope with \
         `.wrap(SessionMiddleware::new(manager))` before extracting a session"
    )]
    MissingMiddleware,
    /// A [`NamedSession`](crate::NamedSession) asked for a name the manager does not know.
    #[error(
        "no session named `{0}` is configured; add a [sessions.{0}] table to the configuration \
         or fix the name in the `SessionName` implementation"
    )]
    UnknownSession(String),
    /// Loading, saving or sealing failed, or a value did not (de)serialize. The detail is logged;
    /// the response says only that the session is unavailable.
    #[error("session failed: {0}")]
    Session(#[source] session_core::Error),
    /// The core produced a response header actix-web does not accept (a bug: report it).
    #[error("the session header `{0}` is not a valid HTTP header")]
    InvalidHeader(String),
}

impl From<session_core::Error> for SessionError {
    fn from(error: session_core::Error) -> Self {
        match error {
            session_core::Error::UnknownSession(name) => SessionError::UnknownSession(name),
            other => SessionError::Session(other),
        }
    }
}

impl SessionError {
    /// The text a client may see: the full message for misuse, nothing detailed for failures.
    pub fn public_message(&self) -> String {
        match self {
            SessionError::Session(session_core::Error::Store(_)) => {
                "session store unavailable".to_string()
            }
            SessionError::Session(_) | SessionError::InvalidHeader(_) => {
                "session unavailable".to_string()
            }
            misuse => misuse.to_string(),
        }
    }
}

impl ResponseError for SessionError {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::InternalServerError()
            .insert_header(ContentType::plaintext())
            .body(self.public_message())
    }
}
