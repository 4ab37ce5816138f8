//! `/healthz` and `/metrics` for a process that has no other HTTP server (`loh projections run`).

use anyhow::Context;
use axum::http::StatusCode;
use axum::routing::get;
use loh_projections::ReadDb;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Binds `addr` and serves, in `tasks`, `/healthz` (200 while the read database answers, 503
/// when it does not) and `/metrics` (`registry` in the Prometheus text format) until `cancel`;
/// returns the bound address.
pub async fn serve(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    addr: SocketAddr,
    db: ReadDb,
    registry: Registry,
    cancel: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let registry = Arc::new(registry);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            "/healthz",
            get(move || {
                let db = db.clone();
                async move {
                    match db.ping().await {
                        Ok(()) => (StatusCode::OK, "ok"),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "read database unreachable"),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move { loh_tick_writer::metrics::render(&registry) }
            }),
        );
    tasks.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
            .context("health server")
    });
    Ok(bound)
}
