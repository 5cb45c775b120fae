//! The login guard: [`LoggedIn`], the owner of the default session or a 401.

use actix_web::dev::Payload;
use actix_web::http::header::{ContentType, LOCATION};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use std::future::Future;
use std::pin::Pin;

use crate::{Session, SessionRejection};

pub use session_core::NOT_LOGGED_IN_BODY;

session_core::__define_login_guard! {
/// An extractor for routes that need a logged-in user: the owner bound to the default session
/// (`session.login(..)`), with the session itself.
///
/// Without an owner it fails with [`LoginRejection::NotLoggedIn`], a
/// `401 {"error":"not logged in"}` (JSON). For an HTML route, take
/// `Result<LoggedIn, LoginRejection>` and turn the rejection into a redirect with
/// [`LoginRejection::redirect_to`]:
///
/// ```
/// use actix_web::HttpResponse;
/// use session_actix::{LoggedIn, LoginRejection};
///
/// async fn api_me(user: LoggedIn) -> String {
///     user.owner().to_string() // a JSON route: the 401 as it is
/// }
///
/// async fn page(user: Result<LoggedIn, LoginRejection>) -> HttpResponse {
///     match user {
///         Ok(user) => HttpResponse::Ok().body(format!("<p>Hello {}</p>", user.owner())),
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
/// use session_actix::{Error, LoggedIn};
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
    pub fn redirect_to(self, location: &str) -> HttpResponse {
        match self {
            LoginRejection::NotLoggedIn => HttpResponse::SeeOther()
                .insert_header((LOCATION, location))
                .finish(),
            LoginRejection::Session(rejection) => rejection.error_response(),
        }
    }
}

impl ResponseError for LoginRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            LoginRejection::NotLoggedIn => StatusCode::UNAUTHORIZED,
            LoginRejection::Session(rejection) => rejection.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            LoginRejection::NotLoggedIn => HttpResponse::Unauthorized()
                .insert_header(ContentType::json())
                .body(NOT_LOGGED_IN_BODY),
            LoginRejection::Session(rejection) => rejection.error_response(),
        }
    }
}

impl FromRequest for LoggedIn {
    type Error = LoginRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = Session::from_request(request, payload);
        Box::pin(async move { LoggedIn::of(session.await?) })
    }
}
