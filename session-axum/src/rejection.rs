//! [`SessionRejection`]: why a session extractor failed, rendered as a 500.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use session_core::{Error, INTERNAL_ERROR_BODY};

const NOT_INSTALLED_MESSAGE: &str = "Missing session layer: the session extractors need \
`SessionLayer`. Add `.layer(SessionLayer::new(manager))` to the router, after the routes that \
extract sessions.";

session_core::__define_session_rejection! {
    /// Why a [`Session`](crate::Session), [`NamedSession`](crate::NamedSession) or
    /// [`Sessions`](crate::Sessions) extractor failed. Every variant renders as a
    /// `500 Internal Server Error` and is logged at error level with its detail; the response body
    /// never carries store details.
    pub enum SessionRejection: StatusCode = StatusCode::INTERNAL_SERVER_ERROR {
        /// The request did not pass through a [`SessionLayer`](crate::SessionLayer). The response
        /// body says to add the layer.
        NotInstalled = NOT_INSTALLED_MESSAGE,
        /// The session could not be opened: its store failed (body
        /// `{"error":"session store unavailable"}`), or no session of the requested name is
        /// configured (body: what to add to the configuration).
        Open,
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match &self {
            SessionRejection::NotInstalled => {
                tracing::error!("{NOT_INSTALLED_MESSAGE}");
                (StatusCode::INTERNAL_SERVER_ERROR, NOT_INSTALLED_MESSAGE).into_response()
            }
            SessionRejection::Open(error @ Error::UnknownSession(_)) => {
                tracing::error!(%error, "a handler asked for a session that is not configured");
                (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response()
            }
            SessionRejection::Open(error) => {
                tracing::error!(%error, "opening a session failed");
                failure_response(error).into_response()
            }
        }
    }
}

fn json_500(body: &'static str) -> impl IntoResponse {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
}

/// The response for a core error, without its detail.
pub(crate) fn failure_response(error: &Error) -> impl IntoResponse {
    (
        StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        error.public_body(),
    )
}

/// The 500 for a failure that is not a core error.
pub(crate) fn internal_error() -> impl IntoResponse {
    json_500(INTERNAL_ERROR_BODY)
}
