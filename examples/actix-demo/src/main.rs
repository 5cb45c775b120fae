//! Starts the actix-web demo: configuration, keys and address from the environment (see
//! `demo-contract`), then serves until interrupted.

use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;

use actix_web::HttpServer;
use session_actix::{SessionManager, SessionMiddleware};

#[actix_web::main]
async fn main() -> ExitCode {
    demo_contract::run_demo("actix-demo", serve).await
}

async fn serve(manager: SessionManager, addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    let sessions = SessionMiddleware::new(manager);
    let server = HttpServer::new(move || actix_demo::app(sessions.clone()))
        .bind(addr)
        .map_err(|source| demo_contract::StartupError::Listen { addr, source })?;
    for bound in server.addrs() {
        println!("{}", demo_contract::listening_line(bound));
    }
    server.run().await?;
    Ok(())
}
