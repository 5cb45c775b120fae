//! Starts the axum demo: sessions from the environment (see `demo-contract`), listens on `ADDR`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    demo_contract::init_logging();
    demo_contract::exit_code("axum-demo", run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let manager = demo_contract::manager_from_env().await?;
    let addr = demo_contract::listen_addr()?;
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
