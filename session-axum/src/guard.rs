//! The login guard: [`LoggedIn`], the owner of the default session or a 401.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use http::header::CONTENT_TYPE;
use http::StatusCode;

use crate::{Session, SessionRejection};

pub use session_core::NOT_LOGGED_IN_BODY;

session_core::__define_login_guard! {
/// An extractor for routes that need a logged-in user: the owner bound to the default session
/// (`session.login(..)`), with the session itself.
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
/// use session_axum::{Error, LoggedIn};
///
/// async fn change_password(user: LoggedIn) -> Result<String, Error> {
///     // ... check the old password and store the new one, then:
///     let session = user.session();
///     let ended = session.end_other_devices().await?;
///     session.regenerate_id(); // this device goes on under a new id
///     Ok(format!("password changed; {ended} other sessions ended"))
/// }
/// ```
pub struct LoggedIn(Session);
pub enum LoginRejection(SessionRejection);
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
        LoggedIn::of(Session::from_request_parts(parts, state).await?)
    }
}
