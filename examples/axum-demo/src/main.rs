//! Starts the axum demo: sessions from the environment (see `demo-contract`), listens on `ADDR`.

use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;

use session_axum::SessionManager;

#[tokio::main]
async fn main() -> ExitCode {
    demo_contract::run_demo("axum-demo", run).await
}

async fn run(manager: SessionManager, addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| demo_contract::StartupError::Listen { addr, source })?;
    println!("{}", demo_contract::listening_line(listener.local_addr()?));
    axum::serve(listener, axum_demo::app(manager))
        .with_graceful_shutdown(async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "could not listen for Ctrl-C; stop the demo with a signal");
                std::future::pending::<()>().await;
            }
        })
        .await?;
    Ok(())
}
