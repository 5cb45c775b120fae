//! The kit's scenarios on session-actix, through `actix_web::test::init_service`.

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse};
use adapter_kit::{routes, Api, Cart, Missing};
use session_actix::{
    DiscardSessions, Error, LoggedIn, LoginRejection, NamedSession, Session, SessionMiddleware,
    SessionRejection, Sessions,
};

type Answer = Result<String, Error>;

async fn whoami(s: Session) -> Answer {
    Ok(routes::whoami(&s)?)
}

async fn login(s: Session) -> Answer {
    Ok(routes::login(&s)?)
}

async fn logout(s: Session) -> String {
    routes::logout(&s)
}

async fn visit(s: Session) -> Answer {
    Ok(routes::visit(&s)?)
}

async fn plain() -> &'static str {
    "plain"
}

adapter_kit::twice_handler!(Session, NamedSession<Cart>, Error);

async fn missing(_: NamedSession<Missing>) -> HttpResponse {
    HttpResponse::Ok().body("unreachable")
}

async fn add_to_cart(c: NamedSession<Cart>) -> Answer {
    Ok(routes::add_to_cart(&c)?)
}

async fn both(s: Session, c: NamedSession<Cart>) -> Answer {
    Ok(routes::both(&s, &c)?)
}

async fn api_login(a: NamedSession<Api>) -> Answer {
    Ok(routes::api_login(&a)?)
}

async fn api_me(a: NamedSession<Api>) -> Answer {
    Ok(routes::api_me(&a)?)
}

async fn api_logout(a: NamedSession<Api>) -> String {
    routes::api_logout(&a)
}

async fn wrong_type(s: Session) -> Answer {
    Ok(routes::wrong_type(&s)?)
}

async fn by_name(
    sessions: Sessions,
    app: Session,
    cart: NamedSession<Cart>,
) -> Result<String, actix_web::Error> {
    let cart_by_name = sessions.get("cart").await?;
    let default_by_name = sessions.default_session().await?;
    routes::by_name(&cart_by_name, &default_by_name, &app, &cart)
        .map_err(|error| Error(error).into())
}

async fn unknown_by_name(sessions: Sessions) -> Result<String, actix_web::Error> {
    sessions.get("nope").await?;
    Ok("unreachable".to_string())
}

async fn huge(s: Session) -> Answer {
    Ok(routes::huge(&s)?)
}

async fn cart_huge(c: NamedSession<Cart>) -> Answer {
    Ok(routes::cart_huge(&c)?)
}

async fn typed(s: Session, page: web::Path<String>) -> Answer {
    Ok(routes::typed(&s, &page)?)
}

async fn owner_login(s: Session) -> Answer {
    Ok(routes::bind_alice(&s)?)
}

async fn me(user: LoggedIn) -> String {
    user.owner().to_string()
}

async fn me_page(user: Result<LoggedIn, LoginRejection>) -> HttpResponse {
    match user {
        Ok(user) => HttpResponse::Ok().body(format!("page of {}", user.owner())),
        Err(rejection) => rejection.redirect_to("/login-page"),
    }
}

async fn write_then(s: Session, status: web::Path<u16>) -> Result<HttpResponse, Error> {
    let body = routes::write_mallory(&s)?;
    let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::IM_A_TEAPOT);
    Ok(HttpResponse::build(status).body(body))
}

async fn write_then_discard(s: Session) -> Result<HttpResponse, Error> {
    let body = routes::write_mallory(&s)?;
    let mut response = HttpResponse::UnprocessableEntity().body(body);
    response.extensions_mut().insert(DiscardSessions);
    Ok(response)
}

async fn write_then_panic(s: Session) -> Answer {
    routes::write_mallory(&s)?;
    if s.get::<String>("user")?.is_some() {
        panic!("the handler panics after writing");
    }
    Ok(String::new())
}

async fn login_huge(s: Session) -> Answer {
    Ok(routes::login_huge(&s)?)
}

/// The kit's routes with actix-web's extractors.
fn kit_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/whoami", web::get().to(whoami))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/visit", web::post().to(visit))
        .route("/plain", web::get().to(plain))
        .route("/twice", web::get().to(twice))
        .route("/missing", web::get().to(missing))
        .route("/cart", web::post().to(add_to_cart))
        .route("/both", web::get().to(both))
        .route("/api/login", web::post().to(api_login))
        .route("/api/me", web::get().to(api_me))
        .route("/api/logout", web::post().to(api_logout))
        .route("/wrong-type", web::get().to(wrong_type))
        .route("/by-name", web::get().to(by_name))
        .route("/by-name/nope", web::get().to(unknown_by_name))
        .route("/huge", web::post().to(huge))
        .route("/cart-huge", web::post().to(cart_huge))
        .route("/typed/{page}", web::get().to(typed))
        .route("/typed/{page}", web::head().to(typed))
        .route("/hooks/visit", web::post().to(visit))
        .route("/owner-login", web::post().to(owner_login))
        .route("/me", web::get().to(me))
        .route("/me-page", web::get().to(me_page))
        .route("/write-then/{status}", web::post().to(write_then))
        .route("/write-then-discard", web::post().to(write_then_discard))
        .route("/write-then-panic", web::post().to(write_then_panic))
        .route("/login-huge", web::post().to(login_huge));
}

adapter_kit::adapter_app!(
    ActixApp,
    |manager| match manager {
        Some(manager) => {
            let app = App::new()
                .wrap(SessionMiddleware::new(manager))
                .configure(kit_routes);
            demo_contract::clients::actix(app).await
        }
        None => demo_contract::clients::actix(App::new().configure(kit_routes)).await,
    },
    |manager, guard| {
        let app = App::new()
            .wrap(SessionMiddleware::new(manager).cross_origin(guard))
            .configure(kit_routes);
        demo_contract::clients::actix(app).await
    },
    "SessionMiddleware",
    SessionRejection::NotInstalled.body_text()
);

adapter_kit::adapter_tests!(
    #[actix_web::test]
    ActixApp
);
