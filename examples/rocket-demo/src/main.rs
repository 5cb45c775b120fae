//! Starts the rocket demo: configuration, keys and address from the environment (see
//! `demo-contract`), then serves until interrupted.

use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;

use rocket::fairing::AdHoc;
use session_rocket::SessionManager;

#[rocket::main]
async fn main() -> ExitCode {
    demo_contract::run_demo("rocket-demo", serve).await
}

async fn serve(manager: SessionManager, addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    let mut figment = rocket::Config::figment()
        .merge(("address", addr.ip()))
        .merge(("port", addr.port()));
    // Rocket's own logging (even its launch line at the quietest level) would add to the one
    // line the contract prints; set ROCKET_LOG_LEVEL to see it. Sessions log through tracing.
    if std::env::var_os("ROCKET_LOG_LEVEL").is_none() {
        figment = figment.merge(("log_level", "off"));
    }
    rocket_demo::rocket(manager)
        .configure(figment)
        .attach(AdHoc::on_liftoff("announce", |rocket| {
            Box::pin(async move {
                let config = rocket.config();
                let bound = SocketAddr::new(config.address, config.port);
                println!("{}", demo_contract::listening_line(bound));
            })
        }))
        .launch()
        .await?;
    Ok(())
}
