//! Starts the actix-web demo: configuration, keys and address from the environment (see
//! `demo-contract`), then serves until interrupted.

use std::process::ExitCode;

use actix_web::HttpServer;
use session_actix::SessionMiddleware;

#[actix_web::main]
async fn main() -> ExitCode {
    demo_contract::init_logging();
    demo_contract::exit_code("actix-demo", serve().await)
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let manager = demo_contract::manager_from_env().await?;
    let addr = demo_contract::listen_addr()?;
    let sessions = SessionMiddleware::new(manager);
    let server = HttpServer::new(move || actix_demo::app_with(sessions.clone()))
        .bind(addr)
        .map_err(|source| demo_contract::StartupError::Listen { addr, source })?;
    for bound in server.addrs() {
        println!("{}", demo_contract::listening_line(bound));
    }
    server.run().await?;
    Ok(())
}
