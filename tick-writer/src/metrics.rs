//! The tick writer's Prometheus metrics.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Counters and histograms of the tick loop.
#[derive(Clone, Debug)]
pub struct TickMetrics {
    pub tick_seconds: Histogram,
    /// The tick's parts: deciding (bounds, the world's step, the journal), the store's append
    /// and COMMIT, and the fan-out of answers and updates.
    pub decide_seconds: Histogram,
    pub append_seconds: Histogram,
    pub fanout_seconds: Histogram,
    /// From a command's arrival at the gateway to its answer queued to the connection.
    pub answer_seconds: Histogram,
    pub events_appended: Counter,
    pub accepted: Counter,
    pub rejected: Counter,
    pub duplicates: Counter,
    pub sessions: Gauge,
    pub slow_disconnects: Counter,
    pub rate_limited: Counter,
    pub out_of_bounds: Counter,
    pub refused_ticks: Counter,
    /// Ticks that took their most commands (the configured cap,
    /// [`crate::tick::TickWriter::with_max_commands_per_tick`]) while the store was up: the
    /// intake may hold more for the next tick. Steady growth means the world is behind its load.
    pub full_ticks: Counter,
    /// Ticks whose commands were answered `server_busy` because the store did not answer
    /// (an outage: PostgreSQL down or restarting), and whether the store answers now (1) or
    /// not (0).
    pub unavailable_ticks: Counter,
    pub store_up: Gauge,
    pub view_evictions: Counter,
    /// Snapshots ([`crate::snapshot`]): written, failed (not made, not signed or not stored),
    /// skipped because the previous one was still being written, refused at start-up; the
    /// newest one's log position and size; the time to make and store one (off the tick's
    /// path) and the world's clone (on it).
    pub snapshots_written: Counter,
    pub snapshot_failures: Counter,
    pub snapshots_skipped: Counter,
    pub snapshots_refused: Counter,
    pub snapshot_position: Gauge,
    pub snapshot_bytes: Gauge,
    pub snapshot_seconds: Histogram,
    pub snapshot_clone_seconds: Histogram,
    /// Cross-world social ([`crate::social`]): messages from other worlds delivered to a
    /// socket here, refused as repeats, and committed messages dropped because the outbox to
    /// the other worlds was full or closed.
    pub social_delivered: Counter,
    pub social_repeated: Counter,
    pub social_dropped: Counter,
}

/// Buckets of the tick's histograms, in seconds: fine around the goals (0.1 and 0.2 s, a
/// quarter and a half of the 400 ms tick), and wide enough that an overloaded tick is measured,
/// not capped.
const TICK_BUCKETS: [f64; 23] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.16, 0.2, 0.24, 0.28, 0.32,
    0.4, 0.5, 0.6, 0.8, 1.0, 1.6, 3.2, 6.4,
];

impl Default for TickMetrics {
    fn default() -> Self {
        TickMetrics {
            tick_seconds: Histogram::new(TICK_BUCKETS),
            decide_seconds: Histogram::new(TICK_BUCKETS),
            append_seconds: Histogram::new(TICK_BUCKETS),
            fanout_seconds: Histogram::new(TICK_BUCKETS),
            answer_seconds: Histogram::new(TICK_BUCKETS),
            events_appended: Counter::default(),
            accepted: Counter::default(),
            rejected: Counter::default(),
            duplicates: Counter::default(),
            sessions: Gauge::default(),
            slow_disconnects: Counter::default(),
            rate_limited: Counter::default(),
            out_of_bounds: Counter::default(),
            refused_ticks: Counter::default(),
            full_ticks: Counter::default(),
            unavailable_ticks: Counter::default(),
            store_up: Gauge::default(),
            view_evictions: Counter::default(),
            snapshots_written: Counter::default(),
            snapshot_failures: Counter::default(),
            snapshots_skipped: Counter::default(),
            snapshots_refused: Counter::default(),
            snapshot_position: Gauge::default(),
            snapshot_bytes: Gauge::default(),
            snapshot_seconds: Histogram::new(TICK_BUCKETS),
            snapshot_clone_seconds: Histogram::new(TICK_BUCKETS),
            social_delivered: Counter::default(),
            social_repeated: Counter::default(),
            social_dropped: Counter::default(),
        }
    }
}

impl TickMetrics {
    /// Registers every metric under the `loh` prefix.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "loh_social_delivered",
            "Social messages from other worlds delivered to a player's socket",
            self.social_delivered.clone(),
        );
        registry.register(
            "loh_social_repeated",
            "Social messages from other worlds refused as already delivered",
            self.social_repeated.clone(),
        );
        registry.register(
            "loh_social_dropped",
            "Committed social events not handed to the other worlds (outbox full or closed)",
            self.social_dropped.clone(),
        );
        registry.register(
            "loh_tick_duration_seconds",
            "Wall time of one tick, decide to commit to answers",
            self.tick_seconds.clone(),
        );
        registry.register(
            "loh_tick_decide_seconds",
            "Wall time of a tick's deciding: bounds, the world's step, the journal",
            self.decide_seconds.clone(),
        );
        registry.register(
            "loh_tick_append_seconds",
            "Wall time of a tick's append and COMMIT to the event store",
            self.append_seconds.clone(),
        );
        registry.register(
            "loh_tick_fanout_seconds",
            "Wall time of a tick's fan-out: every viewer's update assembled (while the append is in flight), then the answers and updates queued",
            self.fanout_seconds.clone(),
        );
        registry.register(
            "loh_command_answer_seconds",
            "From a command's arrival at the gateway to its answer queued to the connection: the wait for a tick, then the tick's decide and commit",
            self.answer_seconds.clone(),
        );
        registry.register(
            "loh_events_appended",
            "Events committed to the event store",
            self.events_appended.clone(),
        );
        registry.register(
            "loh_commands_accepted",
            "Commands accepted",
            self.accepted.clone(),
        );
        registry.register(
            "loh_commands_rejected",
            "Commands rejected by a rule",
            self.rejected.clone(),
        );
        registry.register(
            "loh_commands_duplicate",
            "Commands whose seq was already decided",
            self.duplicates.clone(),
        );
        registry.register("loh_sessions", "Live game sessions", self.sessions.clone());
        registry.register(
            "loh_slow_client_disconnects",
            "Connections dropped because the client stopped reading",
            self.slow_disconnects.clone(),
        );
        registry.register(
            "loh_commands_rate_limited",
            "Commands refused with rate_limited (over the per-tick or per-connection budget)",
            self.rate_limited.clone(),
        );
        registry.register(
            "loh_commands_out_of_bounds",
            "Commands refused before the tick with bad_seq or bad_command",
            self.out_of_bounds.clone(),
        );
        registry.register(
            "loh_ticks_refused",
            "Ticks whose batch the store refused (not an outage); the world was rebuilt and their commands answered server_busy",
            self.refused_ticks.clone(),
        );
        registry.register(
            "loh_ticks_full",
            "Ticks that took their most commands (--max-commands-per-tick) while the store was up; the rest of the intake waits for the next tick",
            self.full_ticks.clone(),
        );
        registry.register(
            "loh_ticks_store_unavailable",
            "Ticks the store did not answer within the writer's patience (an outage); their commands were answered server_busy and nothing of them kept",
            self.unavailable_ticks.clone(),
        );
        registry.register(
            "loh_store_up",
            "1 while the tick writer's event store answers, 0 during an outage",
            self.store_up.clone(),
        );
        registry.register(
            "loh_view_evictions",
            "Players taken out of a viewer's view because their events passed the viewer's byte budget",
            self.view_evictions.clone(),
        );
        registry.register(
            "loh_snapshots_written",
            "Snapshots of the world written to the store",
            self.snapshots_written.clone(),
        );
        registry.register(
            "loh_snapshot_failures",
            "Snapshots not made, not signed or not stored (logged; the next one is tried on time)",
            self.snapshot_failures.clone(),
        );
        registry.register(
            "loh_snapshots_skipped",
            "Snapshots not started because the previous one was still being written",
            self.snapshots_skipped.clone(),
        );
        registry.register(
            "loh_snapshots_refused",
            "Snapshots refused at start-up (not matching the log or the key, torn, undecodable)",
            self.snapshots_refused.clone(),
        );
        registry.register(
            "loh_snapshot_position",
            "Log position of the newest snapshot (written, or loaded at start-up)",
            self.snapshot_position.clone(),
        );
        registry.register(
            "loh_snapshot_bytes",
            "Size of the newest snapshot's world image",
            self.snapshot_bytes.clone(),
        );
        registry.register(
            "loh_snapshot_seconds",
            "Wall time to make, sign and store a snapshot, off the tick's path",
            self.snapshot_seconds.clone(),
        );
        registry.register(
            "loh_snapshot_clone_seconds",
            "Wall time of the world's clone a snapshot starts from, on the tick's path",
            self.snapshot_clone_seconds.clone(),
        );
    }
}

/// Renders a registry as Prometheus text.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).expect("writing to a String");
    out
}
