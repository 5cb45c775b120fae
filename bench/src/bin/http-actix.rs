//! An actix-web server for the full-request comparisons: `http-actix <variant> <port>`.
//!
//! Variants: `ours` (our middleware, memory store), `ours-cookie` (our middleware, client-side
//! cookie store), `ours-redis` (our middleware, Redis store), `actix-session` (actix-session 0.11,
//! its encrypted cookie store), `actix-session-redis` (actix-session 0.11, its `RedisSessionStore`),
//! `none` (no session middleware). The `-redis` variants take the server from `REDIS_URL`. Routes
//! as `session_bench::http` describes.
//!
//! One actix worker, and `bench/run.sh` pins the process to one core. Listens on 127.0.0.1 only.

use actix_web::{App, HttpServer};
use session_bench::http::{actix_app::ActixApp, args};

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
        let app = ActixApp::build(variant).await;
        HttpServer::new(move || {
            let app = app.clone();
            App::new().configure(move |config| app.configure(config))
        })
        .workers(1)
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })
}
