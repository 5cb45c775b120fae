//! The login guard: [`LoggedIn`], the owner of the default session or a 401.

use rocket::catcher::Catcher;
use rocket::http::{ContentType, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Redirect, Responder};

use crate::{Session, SessionRejection};

pub use session_core::NOT_LOGGED_IN_BODY;

session_core::__define_login_guard! {
/// A request guard for routes that need a logged-in user: the owner bound to the default
/// session (`session.login(..)`), with the session itself.
///
/// Without an owner the guard fails with `401` and [`LoginRejection::NotLoggedIn`]; rocket then
/// answers through the application's 401 catcher. Register [`login_catchers`] for
/// `401 {"error":"not logged in"}` (JSON). For an HTML route, take
/// `Result<LoggedIn, LoginRejection>` and answer a redirect instead:
///
/// ```
/// use rocket::response::Redirect;
/// use rocket::Either;
/// use session_rocket::{login_catchers, LoggedIn, LoginRejection};
///
/// #[rocket::get("/api/me")]
/// fn api_me(user: LoggedIn) -> String {
///     user.owner().to_string() // a JSON route: the 401 through the catcher
/// }
///
/// #[rocket::get("/")]
/// fn page(user: Result<LoggedIn, LoginRejection>) -> Either<String, Redirect> {
///     match user {
///         Ok(user) => Either::Left(format!("Hello {}", user.owner())),
///         Err(_) => Either::Right(Redirect::to("/login")), // 303 to the login page
///     }
/// }
///
/// let rocket = rocket::build()
///     .mount("/", rocket::routes![api_me, page])
///     .register("/", login_catchers());
/// # drop(rocket);
/// ```
///
/// # Changing a password
///
/// End the user's other sessions and keep this one, under a new id:
///
/// ```
/// use session_rocket::{Error, LoggedIn};
///
/// #[rocket::post("/password")]
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
    pub fn redirect_to(self, location: String) -> Result<Redirect, Self> {
        match self {
            LoginRejection::NotLoggedIn => Ok(Redirect::to(location)),
            rejection => Err(rejection),
        }
    }
}

/// `401 {"error":"not logged in"}`, or the session failure's 500 through the catcher.
impl<'r, 'o: 'r> Responder<'r, 'o> for LoginRejection {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'o> {
        match self {
            LoginRejection::NotLoggedIn => (
                Status::Unauthorized,
                (ContentType::JSON, NOT_LOGGED_IN_BODY),
            )
                .respond_to(request),
            LoginRejection::Session(rejection) => rejection.respond_to(request),
        }
    }
}

#[rocket::catch(401)]
fn not_logged_in() -> (ContentType, &'static str) {
    (ContentType::JSON, NOT_LOGGED_IN_BODY)
}

/// A 401 catcher answering `{"error":"not logged in"}` (JSON), for the failures of
/// [`LoggedIn`]: `rocket::build().register("/", login_catchers())`.
pub fn login_catchers() -> Vec<Catcher> {
    rocket::catchers![not_logged_in]
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for LoggedIn {
    type Error = LoginRejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match Session::from_request(request).await {
            Outcome::Success(session) => match LoggedIn::of(session) {
                Ok(user) => Outcome::Success(user),
                Err(rejection) => Outcome::Error((Status::Unauthorized, rejection)),
            },
            Outcome::Error((status, rejection)) => Outcome::Error((status, rejection.into())),
            Outcome::Forward(status) => Outcome::Forward(status),
        }
    }
}
