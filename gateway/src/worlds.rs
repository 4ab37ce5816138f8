//! The world list: this game server announces its world to the shared database every
//! [`ANNOUNCE_EVERY`] (where clients connect, members or free, population), and once more as
//! closed when it stops on purpose. The query API's `GET /v1/worlds` reads the list; a world that
//! stopped announcing (its process died) shows as offline there.

use loh_events::{EventStore, WorldEntry};
use prometheus_client::metrics::gauge::Gauge;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a world announces itself.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);

/// How this world is listed.
#[derive(Debug, Clone, Default)]
pub struct WorldListing {
    /// Where clients connect to play here, e.g. `wss://w2.example.com`; the game server's own
    /// address (`http://{bound address}`) when `None`.
    pub address: Option<String>,
    /// Whether only members may play here (shown in the list).
    pub members: bool,
}

/// Announces `store`'s world until `cancel`, then once as closed. `sessions` is the writer's
/// gauge of live sessions (its population).
pub fn spawn_announcer(
    store: Arc<dyn EventStore>,
    listing: WorldListing,
    bound: SocketAddr,
    sessions: Gauge,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let address = listing
        .address
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let shard = store.shard().to_owned();
    let entry = move |open: bool| WorldEntry {
        shard: shard.clone(),
        address: address.clone(),
        members: listing.members,
        population: sessions.get().max(0) as u64,
        open,
        updated_at_us: loh_tick_writer::tick::now_us(),
    };
    tokio::spawn(async move {
        let mut every = tokio::time::interval(ANNOUNCE_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => {
                    if let Err(e) = store.announce(&entry(true)).await {
                        tracing::warn!(error = %e, "announcing the world");
                    }
                }
                _ = cancel.cancelled() => break,
            }
        }
        if let Err(e) = store.announce(&entry(false)).await {
            tracing::warn!(error = %e, "announcing the world closed");
        }
    })
}
