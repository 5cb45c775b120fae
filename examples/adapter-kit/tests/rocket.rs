//! The kit's scenarios on session-rocket, through its asynchronous local client. The app's 413
//! and 500 catchers answer with the core's public JSON bodies, as an application would.

use adapter_kit::{routes, Api, Cart, Missing};
use rocket::http::{ContentType, Status};
use rocket::response::Redirect;
use rocket::{catch, catchers, get, post, routes, Build, Either, Request, Rocket};
use session_rocket::{
    discard_sessions, login_catchers, Error, LoggedIn, LoginRejection, NamedSession, Session,
    SessionFailure, SessionFairing, SessionRejection, Sessions, INTERNAL_ERROR_BODY,
    STORE_UNAVAILABLE_BODY, TOO_LARGE_BODY,
};

type Answer = Result<String, Error>;

/// Handlers that only answer with a kit route for their guard's session, one
/// `#[method(path)] fn name(guard) => route;` each.
macro_rules! kit_handlers {
    ($(#[$method:ident($path:literal)] fn $name:ident($s:ident: $guard:ty) => $route:ident;)*) => {
        $(
            #[$method($path)]
            fn $name($s: $guard) -> Answer {
                Ok(routes::$route(&$s)?)
            }
        )*
    };
}

kit_handlers! {
    #[get("/whoami")]
    fn whoami(s: Session) => whoami;
    #[post("/login")]
    fn login(s: Session) => login;
    #[post("/visit")]
    fn visit(s: Session) => visit;
    #[post("/cart")]
    fn add_to_cart(c: NamedSession<Cart>) => add_to_cart;
    #[post("/api/login")]
    fn api_login(a: NamedSession<Api>) => api_login;
    #[get("/api/me")]
    fn api_me(a: NamedSession<Api>) => api_me;
    #[get("/wrong-type")]
    fn wrong_type(s: Session) => wrong_type;
    #[post("/huge")]
    fn huge(s: Session) => huge;
    #[post("/cart-huge")]
    fn cart_huge(c: NamedSession<Cart>) => cart_huge;
    #[post("/hooks/visit")]
    fn hooks_visit(s: Session) => visit;
    #[post("/owner-login")]
    fn owner_login(s: Session) => bind_alice;
    #[post("/login-huge")]
    fn login_huge(s: Session) => login_huge;
}

#[post("/logout")]
fn logout(s: Session) -> String {
    routes::logout(&s)
}

#[get("/plain")]
fn plain() -> &'static str {
    "plain"
}

adapter_kit::twice_handler!(
    #[get("/twice")]
    Session,
    NamedSession<Cart>,
    Error
);

/// Rocket's guards fail into catchers, which see only the status; this route takes the guard's
/// error to answer with its message, which names what to configure.
#[get("/missing")]
fn missing(missing: Result<NamedSession<Missing>, SessionRejection>) -> (Status, String) {
    match missing {
        Ok(_) => (Status::Ok, "unreachable".to_string()),
        Err(error) => (Status::InternalServerError, error.to_string()),
    }
}

#[get("/both")]
fn both(s: Session, c: NamedSession<Cart>) -> Answer {
    Ok(routes::both(&s, &c)?)
}

#[post("/api/logout")]
fn api_logout(a: NamedSession<Api>) -> String {
    routes::api_logout(&a)
}

#[get("/by-name")]
async fn by_name(sessions: Sessions<'_>, app: Session, cart: NamedSession<Cart>) -> Answer {
    let cart_by_name = sessions.get("cart").await?;
    let default_by_name = sessions.default_session().await?;
    Ok(routes::by_name(
        &cart_by_name,
        &default_by_name,
        &app,
        &cart,
    )?)
}

#[get("/by-name/nope")]
async fn unknown_by_name(sessions: Sessions<'_>) -> Answer {
    sessions.get("nope").await?;
    Ok("unreachable".to_string())
}

#[get("/typed/<page>")]
fn typed(s: Session, page: &str) -> Answer {
    Ok(routes::typed(&s, page)?)
}

#[get("/me")]
fn me(user: LoggedIn) -> String {
    user.owner().to_string()
}

#[get("/me-page")]
fn me_page(
    user: Result<LoggedIn, LoginRejection>,
) -> Result<Either<String, Redirect>, LoginRejection> {
    match user {
        Ok(user) => Ok(Either::Left(format!("page of {}", user.owner()))),
        Err(rejection) => rejection
            .redirect_to("/login-page".to_string())
            .map(Either::Right),
    }
}

#[post("/write-then/<status>")]
fn write_then(s: Session, status: u16) -> Result<(Status, String), Error> {
    let body = routes::write_mallory(&s)?;
    Ok((Status::from_code(status).unwrap_or(Status::ImATeapot), body))
}

/// A 422 that tells the fairing to save nothing, as an application's own error type would.
struct Discarded(String);

impl<'r> rocket::response::Responder<'r, 'static> for Discarded {
    fn respond_to(self, request: &'r Request<'_>) -> rocket::response::Result<'static> {
        discard_sessions(request);
        (Status::UnprocessableEntity, self.0).respond_to(request)
    }
}

#[post("/write-then-discard")]
fn write_then_discard(s: Session) -> Result<Discarded, Error> {
    Ok(Discarded(routes::write_mallory(&s)?))
}

#[post("/write-then-panic")]
fn write_then_panic(s: Session) -> Answer {
    routes::write_mallory(&s)?;
    if s.get::<String>("user")?.is_some() {
        panic!("the handler panics after writing");
    }
    Ok(String::new())
}

#[catch(500)]
fn internal_error(request: &Request<'_>) -> (ContentType, String) {
    let body = match SessionFailure::of(request) {
        Some(SessionFailure::StoreUnavailable) => STORE_UNAVAILABLE_BODY.to_string(),
        Some(SessionFailure::NotInstalled) => SessionRejection::NotInstalled.body_text(),
        _ => INTERNAL_ERROR_BODY.to_string(),
    };
    (ContentType::JSON, body)
}

#[catch(413)]
fn too_large() -> (ContentType, &'static str) {
    (ContentType::JSON, TOO_LARGE_BODY)
}

/// The kit's routes with rocket's guards, and the catchers.
fn kit_rocket() -> Rocket<Build> {
    rocket::build()
        .mount(
            "/",
            routes![
                whoami,
                login,
                logout,
                visit,
                plain,
                twice,
                missing,
                add_to_cart,
                both,
                api_login,
                api_me,
                api_logout,
                wrong_type,
                by_name,
                unknown_by_name,
                huge,
                cart_huge,
                typed,
                hooks_visit,
                owner_login,
                me,
                me_page,
                write_then,
                write_then_discard,
                write_then_panic,
                login_huge
            ],
        )
        .register("/", catchers![internal_error, too_large])
        .register("/", login_catchers())
}

adapter_kit::adapter_app!(
    RocketApp,
    |manager| {
        let rocket = match manager {
            Some(manager) => kit_rocket().attach(SessionFairing::new(manager)),
            None => kit_rocket(),
        };
        demo_contract::clients::rocket(rocket).await
    },
    |manager, guard| {
        let fairing = SessionFairing::new(manager).cross_origin(guard);
        demo_contract::clients::rocket(kit_rocket().attach(fairing)).await
    },
    "SessionFairing",
    SessionRejection::NotInstalled.body_text()
);

adapter_kit::adapter_tests!(
    #[rocket::async_test]
    RocketApp
);
