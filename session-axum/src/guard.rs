//! The login guard: [`LoggedIn`], the owner of the default session or a 401.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use http::header::CONTENT_TYPE;
use http::StatusCode;

use crate::{Session, SessionRejection};

/// The body of the 401 [`LoginRejection::NotLoggedIn`] answers with.
pub const NOT_LOGGED_IN_BODY: &str = r#"{"error":"not logged in"}"#;

/// An extractor for routes that need a logged-in user: the owner bound to the default session
/// (`session.set_owner(..)` at login), with the session itself.
///
/// Without an owner it rejects with [`LoginRejection::NotLoggedIn`], a
/// `401 {"error":"not logged in"}` (JSON). For an HTML route, take
/// `Result<LoggedIn, LoginRejection>` and turn the rejection into a redirect with
/// [`LoginRejection::redirect_to`]:
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use session_axum::{LoggedIn, LoginRejection};
///
/// async fn api_me(user: LoggedIn) -> String {
///     user.owner().to_string() // a JSON route: the 401 as it is
/// }
///
/// async fn page(user: Result<LoggedIn, LoginRejection>) -> Response {
///     match user {
///         Ok(user) => format!("<p>Hello {}</p>", user.owner()).into_response(),
///         Err(rejection) => rejection.redirect_to("/login"), // 303 to the login page
///     }
/// }
/// ```
///
/// # Changing a password
///
/// End the user's other sessions and keep this one, under a new id:
///
/// ```
/// use axum::extract::State;
/// use session_axum::{Error, LoggedIn, SessionManager};
///
/// async fn change_password(
///     State(manager): State<SessionManager>,
///     user: LoggedIn,
/// ) -> Result<String, Error> {
///     // ... check the old password and store the new one, then:
///     let session = user.session();
///     let ended = manager
///         .revoke_others(manager.default_name(), user.owner(), &session.id())
///         .await?;
///     session.regenerate_id();
///     Ok(format!("password changed; {ended} other sessions ended"))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct LoggedIn {
    owner: String,
    session: Session,
}

impl LoggedIn {
    /// The logged-in owner.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The default session, bound to [`owner`](Self::owner).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The owner and the session.
    pub fn into_parts(self) -> (String, Session) {
        (self.owner, self.session)
    }
}

/// Why [`LoggedIn`] rejected a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginRejection {
    /// The default session has no owner: `401 {"error":"not logged in"}`.
    #[error("not logged in")]
    NotLoggedIn,
    /// The session did not open (see [`SessionRejection`]): a 500.
    #[error(transparent)]
    Session(#[from] SessionRejection),
}

impl LoginRejection {
    /// The answer for an HTML route: `303 See Other` to `location` (the login page) when not
    /// logged in; a session failure stays the 500 it is.
    pub fn redirect_to(self, location: &str) -> Response {
        match self {
            LoginRejection::NotLoggedIn => Redirect::to(location).into_response(),
            LoginRejection::Session(rejection) => rejection.into_response(),
        }
    }
}

impl IntoResponse for LoginRejection {
    fn into_response(self) -> Response {
        match self {
            LoginRejection::NotLoggedIn => (
                StatusCode::UNAUTHORIZED,
                [(CONTENT_TYPE, "application/json")],
                NOT_LOGGED_IN_BODY,
            )
                .into_response(),
            LoginRejection::Session(rejection) => rejection.into_response(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for LoggedIn {
    type Rejection = LoginRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        match session.owner() {
            Some(owner) => Ok(LoggedIn { owner, session }),
            None => Err(LoginRejection::NotLoggedIn),
        }
    }
}
