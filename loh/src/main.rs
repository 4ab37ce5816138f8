//! `loh`: telemetry, configuration, then the chosen role until shutdown.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    loh::telemetry();
    let cli = loh::cli::Cli::parse();
    match loh::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("loh: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
