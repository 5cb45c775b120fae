//! The quick start: a visit counter, a login that regenerates the id, and a named cart session.
//! Run with
//! `SESSION_KEYS=$(cargo run -q -p session-cli -- keygen) cargo run -p session-actix --example actix_quick_start`,
//! then
//! `curl -c jar -b jar -X POST localhost:8080/login/alice`,
//! `curl -c jar -b jar -X POST localhost:8080/cart/apple` and `curl -b jar localhost:8080/`.

use actix_web::{web, App, HttpResponse, HttpServer};
use session_actix::{
    session_name, Error, KeyRing, NamedSession, Session, SessionManager, SessionMiddleware,
    SessionsConfig, StoreRegistry,
};

session_name! {
    /// The `cart` session of the configuration.
    Cart = "cart";
}

async fn index(session: Session, cart: NamedSession<Cart>) -> Result<HttpResponse, Error> {
    let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
    session.insert("visits", visits)?;
    let user: Option<String> = session.get("user")?;
    let items: Vec<String> = cart.get("items")?.unwrap_or_default();
    Ok(HttpResponse::Ok().body(format!("{user:?}, visit {visits}, cart {items:?}\n")))
}

async fn login(session: Session, user: web::Path<String>) -> Result<HttpResponse, Error> {
    session.regenerate_id(); // a fresh id on every privilege change
    session.insert("user", user.into_inner())?;
    Ok(HttpResponse::Ok().body("logged in\n"))
}

async fn add(cart: NamedSession<Cart>, item: web::Path<String>) -> Result<HttpResponse, Error> {
    let mut items: Vec<String> = cart.get("items")?.unwrap_or_default();
    items.push(item.into_inner());
    cart.insert("items", &items)?;
    Ok(HttpResponse::Ok().json(items))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SessionsConfig::from_toml(
        r#"
        default = "app"
        [sessions.app]
        transport = { type = "cookie", name = "app_session", secure = false }
        store = { type = "cookie" }
        [sessions.cart]
        transport = { type = "cookie", name = "cart", secure = false }
        store = { type = "cookie" }
        "#,
    )?;
    let keys = KeyRing::from_env("SESSION_KEYS")?; // a missing or bad key says what to do
    let manager = SessionManager::from_config(&config, &StoreRegistry::new(), keys).await?;
    let sessions = SessionMiddleware::new(manager);
    HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .route("/", web::get().to(index))
            .route("/login/{user}", web::post().to(login))
            .route("/cart/{item}", web::post().to(add))
    })
    .bind("127.0.0.1:8080")?
    .run()
    .await?;
    Ok(())
}
