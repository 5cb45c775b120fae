//! A Rocket server for the full-request comparisons: `http-rocket <variant> <port>`.
//!
//! Variants: `ours` (our fairing, memory store), `ours-cookie` (our fairing, client-side cookie
//! store), `none` (no fairing). Routes as in `http-axum`: `GET /rw` reads and writes one key,
//! `GET /plain` extracts no session.
//!
//! One Tokio worker thread, and `bench/run.sh` pins the process to one core. Listens on
//! 127.0.0.1 only.

use session_bench::http::{args, our_manager, Variant};

#[rocket::get("/rw")]
fn ours_rw(session: session_rocket::Session) -> Result<String, session_rocket::Error> {
    let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
    session.insert("visits", visits)?;
    Ok(visits.to_string())
}

#[rocket::get("/rw")]
fn no_session_rw() -> String {
    1u64.to_string()
}

#[rocket::get("/plain")]
fn plain() -> &'static str {
    "ok"
}

fn main() {
    let (variant, port) = args(&["ours", "ours-cookie", "none"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let config = rocket::Config {
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            port,
            workers: 1,
            log_level: rocket::config::LogLevel::Off,
            cli_colors: false,
            ..rocket::Config::release_default()
        };
        let rocket = rocket::custom(config);
        let rocket = match variant {
            Variant::Ours | Variant::OursCookie => rocket
                .attach(session_rocket::SessionFairing::new(
                    our_manager(variant).await,
                ))
                .mount("/", rocket::routes![ours_rw, plain]),
            _ => rocket.mount("/", rocket::routes![no_session_rw, plain]),
        };
        let _ = rocket.launch().await.expect("launch");
    });
}
