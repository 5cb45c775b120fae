//! A Rocket server for the full-request comparisons: `http-rocket <variant> <port>`.
//!
//! Variants: `ours` (our fairing, memory store), `ours-cookie` (our fairing, client-side cookie
//! store), `none` (no fairing); routes as `session_bench::http` describes.
//!
//! One Tokio worker thread, and `bench/run.sh` pins the process to one core. Listens on
//! 127.0.0.1 only.

use session_bench::http::{args, rocket_app};

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
        let rocket = rocket_app::build(variant, rocket::custom(config)).await;
        let _ = rocket.launch().await.expect("launch");
    });
}
