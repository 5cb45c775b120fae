//! An axum server for the full-request comparisons: `http-axum <variant> <port>`.
//!
//! Variants: `ours` (our layer, memory store), `ours-cookie` (our layer, client-side cookie
//! store), `tower-sessions` (tower-sessions 0.14 with its memory store), `none` (no session
//! layer). Routes: `GET /rw` reads the `visits` key and writes it back incremented (under `none`,
//! the same response without a session), `GET /plain` extracts no session.
//!
//! One Tokio worker: the runtime is current-thread, and `bench/run.sh` pins the process to one
//! core. Listens on 127.0.0.1 only.

use axum::routing::get;
use axum::Router;
use session_bench::http::{args, our_manager, Variant};

async fn ours_rw(session: session_axum::Session) -> Result<String, session_axum::Error> {
    let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
    session.insert("visits", visits)?;
    Ok(visits.to_string())
}

async fn tower_rw(session: tower_sessions::Session) -> Result<String, String> {
    let visits = session
        .get::<u64>("visits")
        .await
        .map_err(|error| error.to_string())?
        .unwrap_or(0)
        + 1;
    session
        .insert("visits", visits)
        .await
        .map_err(|error| error.to_string())?;
    Ok(visits.to_string())
}

async fn no_session_rw() -> String {
    1u64.to_string()
}

async fn plain() -> &'static str {
    "ok"
}

fn main() {
    let (variant, port) = args(&["ours", "ours-cookie", "tower-sessions", "none"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let app = match variant {
            Variant::Ours | Variant::OursCookie => Router::new()
                .route("/rw", get(ours_rw))
                .route("/plain", get(plain))
                .layer(session_axum::SessionLayer::new(our_manager(variant).await)),
            Variant::Peer => Router::new()
                .route("/rw", get(tower_rw))
                .route("/plain", get(plain))
                .layer(tower_sessions::SessionManagerLayer::new(
                    tower_sessions::MemoryStore::default(),
                )),
            Variant::None => Router::new()
                .route("/rw", get(no_session_rw))
                .route("/plain", get(plain)),
            Variant::OursRedis | Variant::PeerRedis => unreachable!("not a variant of this binary"),
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        axum::serve(listener, app).await.expect("serve");
    });
}
