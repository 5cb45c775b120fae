//! The quick start: login, logout and flash messages on axum.
//!
//! `SESSION_KEYS=$(cargo run -q -p session-cli -- keygen) cargo run -p session-axum --example axum_quick_start`

use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use session_axum::{
    Error, FlashLevel, KeyRing, Session, SessionLayer, SessionManager, SessionsConfig,
};

#[derive(Deserialize)]
struct Login {
    user: String,
}

async fn login(session: Session, Json(body): Json<Login>) -> Result<String, Error> {
    session.regenerate_id(); // a fresh id at every privilege change: no session fixation
    session.insert("user", &body.user)?;
    session.flash(FlashLevel::Success, format!("welcome, {}", body.user))?;
    Ok(body.user)
}

async fn me(session: Session) -> Result<String, Error> {
    Ok(session
        .get::<String>("user")?
        .unwrap_or_else(|| "nobody".into()))
}

async fn logout(session: Session) -> &'static str {
    session.destroy(); // record removed, cookie expired
    "bye"
}

async fn flashes(session: Session) -> Json<Vec<String>> {
    let messages = session.take_flashes(); // shown once, then gone
    Json(
        messages
            .iter()
            .filter_map(|m| m.text().map(String::from))
            .collect(),
    )
}

fn app(manager: SessionManager) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/flash", get(flashes))
        .layer(SessionLayer::new(manager))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SessionsConfig::from_toml(
        r#"
        [sessions.app]
        transport = { type = "cookie", name = "app_session" }
        store = { type = "memory" }   # or { type = "redis", url = "redis://127.0.0.1/" }
        "#,
    )?;
    let keys = KeyRing::from_env("SESSION_KEYS")?; // a missing or bad key says what to do
    let manager = SessionManager::from_config(&config, &session_stores::registry(), keys).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app(manager)).await?;
    Ok(())
}
