//! Why a session guard or a session operation failed.

use std::sync::OnceLock;

use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder};

/// The message of a guard on a request the fairing did not see: what to attach.
const NOT_INSTALLED_MESSAGE: &str = "no session state on this request: attach the session \
fairing when building rocket, `rocket::build().attach(SessionFairing::new(manager))`";

session_core::__define_session_rejection! {
    /// Why a [`Session`](crate::Session), [`NamedSession`](crate::NamedSession) or
    /// [`Sessions`](crate::Sessions) guard failed, or a session did not open through
    /// [`Sessions::get`](crate::Sessions::get).
    ///
    /// It is a [`Responder`]: a failed guard, or a handler returning it, answers 500 through the
    /// application's 500 catcher and logs its message; the client sees no detail. Take
    /// `Result<Session, SessionRejection>` as a guard to handle it yourself.
    pub enum SessionRejection: Status = Status::InternalServerError {
        /// The guard ran on a request the fairing did not see.
        NotInstalled = NOT_INSTALLED_MESSAGE,
        /// The session could not be opened: an unknown name, or the store failed.
        Open,
    }
}

impl SessionRejection {
    /// The kind of failure, as [`SessionFailure::of`] reports it.
    pub fn failure(&self) -> SessionFailure {
        match self {
            SessionRejection::NotInstalled => SessionFailure::NotInstalled,
            SessionRejection::Open(source) => SessionFailure::classify(source),
        }
    }
}

impl<'r, 'o: 'r> Responder<'r, 'o> for SessionRejection {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'o> {
        Error::Rejected(self).respond_to(request)
    }
}

/// A session error a handler can return with `?`: a session operation that failed
/// (`session.insert(..)?`, `session.get::<T>(..)?`), or a session that did not open
/// (`sessions.get("cart").await?`).
///
/// Unlike the other adapters' `Error`, it also holds a [`SessionRejection`]: rocket answers
/// both through the application's catchers, so one handler error type serves both.
///
/// It is a [`Responder`]. A change past the session's size limit answers 413 through the
/// application's 413 catcher; everything else answers 500 through its 500 catcher and logs its
/// message; the client sees no detail. The catcher can tell a store failure from others with
/// [`SessionFailure::of`]. A request that failed this way saves none of its sessions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A session guard failed, or a session did not open.
    #[error(transparent)]
    Rejected(#[from] SessionRejection),
    /// A session operation in the handler failed (a change past the size limit, a value that
    /// does not serialize, a stored value of another type, a reserved key).
    #[error(transparent)]
    Session(#[from] session_core::Error),
}

impl<'r, 'o: 'r> Responder<'r, 'o> for Error {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'o> {
        let status = self.status();
        if status != Status::InternalServerError {
            // A refused change (too large, an invalid owner): the session keeps what it had,
            // so it still saves.
            tracing::info!(error = %self, %status, "a session change was refused");
            if matches!(&self, Error::Session(error) if error.is_too_large()) {
                crate::discard_sessions(request);
            }
            return Err(status);
        }
        tracing::error!(error = %self, "answering 500");
        self.failure().record(request);
        Err(Status::InternalServerError)
    }
}

/// Which session failure turned a request into a 500, for 500 catchers that answer them
/// differently: `SessionFailure::of(request)`.
///
/// ```
/// use rocket::http::ContentType;
/// use rocket::Request;
/// use session_rocket::SessionFailure;
///
/// #[rocket::catch(500)]
/// fn internal_error(request: &Request<'_>) -> (ContentType, &'static str) {
///     let body = match SessionFailure::of(request) {
///         Some(SessionFailure::StoreUnavailable) => r#"{"error":"session store unavailable"}"#,
///         _ => r#"{"error":"internal error"}"#,
///     };
///     (ContentType::JSON, body)
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionFailure {
    /// A session guard ran without the fairing.
    NotInstalled,
    /// A session store failed, loading or saving.
    StoreUnavailable,
    /// Any other session failure (an unconfigured name, a value that does not serialize, a
    /// session too large for its cookie).
    Other,
}

impl SessionFailure {
    /// The first session failure of `request`, if any.
    pub fn of(request: &Request<'_>) -> Option<SessionFailure> {
        Recorded::of(request).get().copied()
    }

    /// What kind of failure a core error is.
    pub(crate) fn classify(error: &session_core::Error) -> SessionFailure {
        if error.is_store_failure() {
            SessionFailure::StoreUnavailable
        } else {
            SessionFailure::Other
        }
    }

    /// Records this failure on `request` (the first one recorded stays).
    pub(crate) fn record(self, request: &Request<'_>) {
        // A later failure of the same request does not replace the first.
        let _ = Recorded::of(request).set(self);
    }
}

/// The request-local record of the first session failure.
struct Recorded(OnceLock<SessionFailure>);

impl Recorded {
    fn of<'r>(request: &'r Request<'_>) -> &'r OnceLock<SessionFailure> {
        &request.local_cache(|| Recorded(OnceLock::new())).0
    }
}

impl Error {
    /// The status this error answers with: the core's ([`session_core::Error::status`]: 413
    /// for a change past the session's size limit, 400 for an invalid owner), 500 for
    /// everything else (rendered by the application's catcher of that status).
    pub fn status(&self) -> Status {
        match self {
            Error::Session(error) => {
                Status::from_code(error.status()).unwrap_or(Status::InternalServerError)
            }
            _ => Status::InternalServerError,
        }
    }

    /// A body for this error that carries no detail: the core's public JSON bodies
    /// (`{"error":"session store unavailable"}`, `{"error":"session too large"}`, ...), or what
    /// to attach for a missing fairing. For catchers that render session failures.
    pub fn body_text(&self) -> String {
        match self {
            Error::Rejected(rejection) => rejection.body_text(),
            Error::Session(source) => source.public_body().to_string(),
        }
    }

    /// The kind of failure, as [`SessionFailure::of`] reports it.
    pub fn failure(&self) -> SessionFailure {
        match self {
            Error::Rejected(rejection) => rejection.failure(),
            Error::Session(source) => SessionFailure::classify(source),
        }
    }
}
