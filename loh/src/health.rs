//! `/healthz` and `/metrics` for a process that has no other HTTP server (`loh projections run`).

use anyhow::Context;
use axum::routing::get;
use loh_projections::ReadDb;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A check of NATS for `/healthz` (`app::nats_probe`).
pub type NatsProbe = Box<dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync>;

/// Binds `addr` and serves, in `tasks`, `/healthz` (`200 {"status":"ok"}` while the read
/// database and every NATS connection in `nats` answer, else `503 {"status":"degraded",
/// "failing":["postgres","nats"]}` naming those that do not) and `/metrics` (`registry` in the
/// Prometheus text format) until `cancel`; returns the bound address.
pub async fn serve(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    addr: SocketAddr,
    db: ReadDb,
    nats: Vec<NatsProbe>,
    registry: Registry,
    cancel: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let registry = Arc::new(registry);
    let nats = Arc::new(nats);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            "/healthz",
            get(move || {
                let (db, nats) = (db.clone(), nats.clone());
                async move {
                    use loh_gateway::health::within;
                    let mut failing = Vec::new();
                    if !within(async { db.ping().await.is_ok() }).await {
                        failing.push("postgres");
                    }
                    for check in nats.iter() {
                        if !within(check()).await {
                            failing.push("nats");
                        }
                    }
                    loh_gateway::health::report(failing, Default::default())
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
