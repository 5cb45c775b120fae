//! An actix-web server for the full-request comparisons: `http-actix <variant> <port>`.
//!
//! Variants: `ours` (our middleware, memory store), `ours-cookie` (our middleware, client-side
//! cookie store), `ours-redis` (our middleware, Redis store), `actix-session` (actix-session 0.11,
//! its encrypted cookie store), `actix-session-redis` (actix-session 0.11, its `RedisSessionStore`),
//! `none` (no session middleware). The `-redis` variants take the server from `REDIS_URL`. Routes
//! as in `http-axum`: `GET /rw` reads and writes one key, `GET /plain` extracts no session.
//!
//! One actix worker, and `bench/run.sh` pins the process to one core. Listens on 127.0.0.1 only.

use actix_web::{web, App, HttpResponse, HttpServer};
use session_bench::http::{args, our_manager, redis_url, Variant};

async fn ours_rw(session: session_actix::Session) -> Result<HttpResponse, session_actix::Error> {
    let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
    session.insert("visits", visits)?;
    Ok(HttpResponse::Ok().body(visits.to_string()))
}

async fn actix_session_rw(session: actix_session::Session) -> actix_web::Result<HttpResponse> {
    let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
    session.insert("visits", visits)?;
    Ok(HttpResponse::Ok().body(visits.to_string()))
}

async fn no_session_rw() -> HttpResponse {
    HttpResponse::Ok().body(1u64.to_string())
}

async fn plain() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

fn main() -> std::io::Result<()> {
    let (variant, port) = args(&[
        "ours",
        "ours-cookie",
        "ours-redis",
        "actix-session",
        "actix-session-redis",
        "none",
    ]);
    actix_web::rt::System::new().block_on(async move {
        let manager = match variant {
            Variant::Ours | Variant::OursCookie | Variant::OursRedis => {
                Some(our_manager(variant).await)
            }
            _ => None,
        };
        let redis_store = match variant {
            Variant::PeerRedis => Some(
                actix_session::storage::RedisSessionStore::new(redis_url())
                    .await
                    .expect("actix-session Redis store"),
            ),
            _ => None,
        };
        let key = actix_web::cookie::Key::generate();
        HttpServer::new(move || {
            let routes = |rw| {
                web::scope("")
                    .route("/rw", rw)
                    .route("/plain", web::get().to(plain))
            };
            match variant {
                Variant::Ours | Variant::OursCookie | Variant::OursRedis => {
                    App::new().service(routes(web::get().to(ours_rw)).wrap(
                        session_actix::SessionMiddleware::new(manager.clone().expect("manager")),
                    ))
                }
                Variant::Peer => App::new().service(routes(web::get().to(actix_session_rw)).wrap(
                    actix_session::SessionMiddleware::new(
                        actix_session::storage::CookieSessionStore::default(),
                        key.clone(),
                    ),
                )),
                Variant::PeerRedis => {
                    App::new().service(routes(web::get().to(actix_session_rw)).wrap(
                        actix_session::SessionMiddleware::new(
                            redis_store.clone().expect("redis store"),
                            key.clone(),
                        ),
                    ))
                }
                Variant::None => App::new().service(routes(web::get().to(no_session_rw))),
            }
        })
        .workers(1)
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })
}
