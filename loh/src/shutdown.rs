//! Graceful shutdown: one signal future (SIGINT, or SIGTERM on Unix) cancels the token every
//! role of the process watches; the tick in progress commits, projectors commit their
//! checkpoints, the servers drain, and the process exits.

use crate::app::Running;
use std::process::ExitCode;

/// Runs until SIGINT/SIGTERM or until a role stops, then shuts down gracefully.
pub async fn run_until_signal(running: Running) -> anyhow::Result<ExitCode> {
    let cancel = running.cancel_token();
    tokio::spawn(async move {
        signal().await;
        tracing::info!("shutting down");
        cancel.cancel();
    });
    running.wait().await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
