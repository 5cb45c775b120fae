//! An axum server for the full-request comparisons: `http-axum <variant> <port>`.
//!
//! Variants: `ours` (our layer, memory store), `ours-cookie` (our layer, client-side cookie
//! store), `tower-sessions` (tower-sessions 0.14 with its memory store), `none` (no session
//! layer); routes as `session_bench::http` describes.
//!
//! One Tokio worker: the runtime is current-thread, and `bench/run.sh` pins the process to one
//! core. Listens on 127.0.0.1 only.

use session_bench::http::{args, axum_app, current_thread_runtime};

fn main() {
    let (variant, port) = args(&["ours", "ours-cookie", "tower-sessions", "none"]);
    current_thread_runtime().block_on(async move {
        let app = axum_app::build(variant).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        axum::serve(listener, app).await.expect("serve");
    });
}
