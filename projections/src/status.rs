//! How far each projector is behind the event log, and its Prometheus metrics.

use crate::db::ReadDb;
use crate::{Projection, Result};
use loh_events::EventStore;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

/// One projector's progress.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProjectorStatus {
    /// The projection's name.
    pub name: String,
    /// The last position its read model reflects.
    pub checkpoint: u64,
    /// The event store's head (last committed position).
    pub head: u64,
    /// `head − checkpoint`: events committed but not yet in the read model.
    pub lag_events: u64,
    /// How stale the read model may be, in seconds: `now − occurred_at` of the oldest event not
    /// yet applied (the one at `checkpoint + 1`); `0` when caught up.
    pub lag_seconds: f64,
}

/// The status of projection `name` in `db` against `store` (the checkpoint of `store`'s world).
pub async fn status(db: &ReadDb, store: &dyn EventStore, name: &str) -> Result<ProjectorStatus> {
    let checkpoint = db.in_world(store.shard()).checkpoint(name).await?;
    let head = store.head().await?.position;
    let lag_events = head.saturating_sub(checkpoint);
    let lag_seconds = if lag_events == 0 {
        0.0
    } else {
        match store.read_from(checkpoint + 1, 1).await?.first() {
            Some(oldest) => (now_us() - oldest.occurred_at_us).max(0) as f64 / 1e6,
            None => 0.0,
        }
    };
    Ok(ProjectorStatus {
        name: name.to_owned(),
        checkpoint,
        head,
        lag_events,
        lag_seconds,
    })
}

/// The status of every projection of this build.
pub async fn status_all(db: &ReadDb, store: &dyn EventStore) -> Result<Vec<ProjectorStatus>> {
    let mut out = Vec::new();
    for projection in crate::all() {
        out.push(status(db, store, projection.name()).await?);
    }
    Ok(out)
}

/// The status of one projection (convenience over [`status`]).
pub async fn status_of(
    db: &ReadDb,
    store: &dyn EventStore,
    projection: &dyn Projection,
) -> Result<ProjectorStatus> {
    status(db, store, projection.name()).await
}

pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The `projector` label of every projection metric.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectorLabels {
    pub projector: String,
}

fn labels(projector: &str) -> ProjectorLabels {
    ProjectorLabels {
        projector: projector.to_owned(),
    }
}

/// Projection metrics, labelled by projector. Cheap to clone (clones share the values); register
/// once per registry with [`ProjectionMetrics::register`] and hand clones to every runner and to
/// the query API.
#[derive(Debug, Clone, Default)]
pub struct ProjectionMetrics {
    lag_events: Family<ProjectorLabels, Gauge>,
    lag_seconds: Family<ProjectorLabels, Gauge<f64, AtomicU64>>,
    checkpoint: Family<ProjectorLabels, Gauge>,
    applied: Family<ProjectorLabels, Counter>,
    gap_filled: Family<ProjectorLabels, Counter>,
}

impl ProjectionMetrics {
    /// New metrics, registered into `registry`.
    pub fn register(registry: &mut Registry) -> ProjectionMetrics {
        let m = ProjectionMetrics::default();
        registry.register(
            "loh_projection_lag_events",
            "Events committed to the store but not yet applied by the projector",
            m.lag_events.clone(),
        );
        registry.register(
            "loh_projection_lag_seconds",
            "Age of the oldest event the projector has not applied yet (0 when caught up)",
            m.lag_seconds.clone(),
        );
        registry.register(
            "loh_projection_checkpoint",
            "Last event position reflected in the projector's read model",
            m.checkpoint.clone(),
        );
        registry.register(
            "loh_projection_events_applied",
            "Events applied to the read model (repeats and no-ops excluded)",
            m.applied.clone(),
        );
        registry.register(
            "loh_projection_gap_events",
            "Events the projector read from the store to fill gaps in the NATS feed",
            m.gap_filled.clone(),
        );
        m
    }

    /// Records a status (lag and checkpoint gauges).
    pub fn observe(&self, status: &ProjectorStatus) {
        let l = labels(&status.name);
        self.lag_events
            .get_or_create(&l)
            .set(i64::try_from(status.lag_events).unwrap_or(i64::MAX));
        self.lag_seconds.get_or_create(&l).set(status.lag_seconds);
        self.checkpoint
            .get_or_create(&l)
            .set(i64::try_from(status.checkpoint).unwrap_or(i64::MAX));
    }

    pub(crate) fn committed(&self, projector: &str, events: u64, checkpoint: u64) {
        let l = labels(projector);
        self.applied.get_or_create(&l).inc_by(events);
        self.checkpoint
            .get_or_create(&l)
            .set(i64::try_from(checkpoint).unwrap_or(i64::MAX));
    }

    // Only the JetStream source fills gaps from the store.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn gap_filled(&self, projector: &str, n: u64) {
        self.gap_filled.get_or_create(&labels(projector)).inc_by(n);
    }

    /// Events applied by `projector` so far.
    pub fn applied_total(&self, projector: &str) -> u64 {
        self.applied.get_or_create(&labels(projector)).get()
    }

    /// Events `projector` read from the store to fill gaps so far.
    pub fn gap_filled_total(&self, projector: &str) -> u64 {
        self.gap_filled.get_or_create(&labels(projector)).get()
    }

    /// The last checkpoint `projector` committed (or that a status reported).
    pub fn checkpoint(&self, projector: &str) -> u64 {
        let v = self.checkpoint.get_or_create(&labels(projector)).get();
        u64::try_from(v).unwrap_or(0)
    }

    /// The last recorded lag of `projector`, in events.
    pub fn lag_events(&self, projector: &str) -> i64 {
        self.lag_events.get_or_create(&labels(projector)).get()
    }
}
