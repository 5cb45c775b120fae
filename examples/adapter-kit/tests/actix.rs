//! The kit's scenarios on session-actix, through `actix_web::test::init_service`.

use actix_web::{web, App, HttpResponse};
use adapter_kit::{routes, Api, Cart, Missing};
use session_actix::{Error, NamedSession, Session, SessionMiddleware, SessionRejection, Sessions};

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

async fn twice(
    first: Session,
    second: Session,
    cart: NamedSession<Cart>,
    cart_again: NamedSession<Cart>,
) -> Answer {
    Ok(routes::twice(&first, &second, &cart, &cart_again)?)
}

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
        .route("/typed/{page}", web::get().to(typed));
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
    "SessionMiddleware",
    SessionRejection::NotInstalled.body_text()
);

adapter_kit::adapter_tests!(
    #[actix_web::test]
    ActixApp
);
