//! The replay benchmark: `verify` and a full fold against a raw sequential read of the same
//! events from the same store (the bar: each at ≥ 0.5 × the raw rate).

use loh_commands::Command;
use loh_events::EventStore;
use loh_replay::state::{At, world_at};
use loh_replay::{Result, verify};
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::tick::{Intake, Pacing, TickWriter, now_us};
use loh_world::{MapConfig, World};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Rates in events per second, best of `rounds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayBench {
    pub events: u64,
    pub raw_read_per_s: f64,
    pub verify_per_s: f64,
    pub fold_per_s: f64,
}

impl ReplayBench {
    pub fn verify_ratio(&self) -> f64 {
        self.verify_per_s / self.raw_read_per_s
    }
    pub fn fold_ratio(&self) -> f64 {
        self.fold_per_s / self.raw_read_per_s
    }
}

impl std::fmt::Display for ReplayBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events: raw read {:.0}/s; verify {:.0}/s ({:.2} × raw); fold {:.0}/s ({:.2} × raw)",
            self.events,
            self.raw_read_per_s,
            self.verify_per_s,
            self.verify_ratio(),
            self.fold_per_s,
            self.fold_ratio()
        )
    }
}

/// Fills `store` through the real tick writer: `players` players each stepping back and forth
/// every tick for `ticks` ticks (about `players × ticks` events).
pub async fn fill(store: Arc<dyn EventStore>, players: usize, ticks: usize) -> Result<()> {
    let mut writer = TickWriter::start(
        store,
        World::new(MapConfig::default()),
        Pacing::Fixed { tick_ms: 400 },
        TickMetrics::default(),
    )
    .await
    .map_err(|e| loh_replay::Error::Input(e.to_string()))?;
    let ids: Vec<Uuid> = (0..players).map(|_| Uuid::new_v4()).collect();
    let mut keep = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (tx, rx) = mpsc::channel(4);
        let (reply, _) = oneshot::channel();
        writer.take(Intake::Connect {
            player_id: *id,
            conn_id: i as u64,
            name: None,
            outbound: tx,
            reply,
        });
        keep.push(rx);
    }
    writer
        .run_tick()
        .await
        .map_err(|e| loh_replay::Error::Input(e.to_string()))?;
    let map = MapConfig::default();
    for t in 0..ticks {
        for id in &ids {
            let dx = if t % 2 == 0 { 1 } else { 0 };
            writer.take(Intake::Command {
                player_id: *id,
                seq: t as u64 + 1,
                cmd: Command::Move {
                    x: map.spawn_x + dx,
                    y: map.spawn_y,
                    run: false,
                },
                received_at_us: now_us(),
            });
        }
        writer
            .run_tick()
            .await
            .map_err(|e| loh_replay::Error::Input(e.to_string()))?;
        for rx in &mut keep {
            while rx.try_recv().is_ok() {}
        }
    }
    Ok(())
}

/// Times a raw sequential read, `verify` and a full fold of everything in `store`.
pub async fn measure(store: &dyn EventStore, rounds: usize) -> Result<ReplayBench> {
    let mut best = (f64::MAX, f64::MAX, f64::MAX);
    let mut events = 0;
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let (mut from, mut n) = (1, 0u64);
        loop {
            let batch = store.read_from(from, loh_replay::log::BATCH).await?;
            let Some(last) = batch.last() else { break };
            from = last.position + 1;
            n += batch.len() as u64;
        }
        best.0 = best.0.min(t.elapsed().as_secs_f64());
        events = n;
        let t = Instant::now();
        let report = verify(store, |_| {}).await?;
        assert!(report.is_intact(), "{report}");
        best.1 = best.1.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        world_at(store, At::Tick(u64::MAX)).await?;
        best.2 = best.2.min(t.elapsed().as_secs_f64());
    }
    let rate = |s: f64| events as f64 / s;
    Ok(ReplayBench {
        events,
        raw_read_per_s: rate(best.0),
        verify_per_s: rate(best.1),
        fold_per_s: rate(best.2),
    })
}

/// `loh bench replay`: makes a history of `players × ticks` in a scratch PostgreSQL database next
/// to `database_url` (or, without one, a scratch SQLite file), measures it, and removes it.
pub async fn run(
    database_url: Option<&str>,
    players: usize,
    ticks: usize,
) -> anyhow::Result<ReplayBench> {
    let scratch = std::env::temp_dir().join(format!("loh-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&scratch)?;
    let (store, scratch_db): (Arc<dyn EventStore>, _) = match database_url {
        Some(admin) => {
            let (name, url) = loh_migrations::scratch::create_database(admin, "loh_bench").await?;
            let store = loh_events::PgEventStore::connect(&url, "bench").await?;
            store.migrate().await?;
            (Arc::new(store), Some((admin.to_owned(), name)))
        }
        None => {
            let path = scratch.join("bench.db");
            let path = path
                .to_str()
                .ok_or_else(|| anyhow::anyhow!("the temp folder's path is not UTF-8"))?;
            let store = loh_events::SqliteEventStore::open(path, "bench").await?;
            (Arc::new(store), None)
        }
    };
    eprintln!("making a history of {players} players × {ticks} ticks…");
    fill(store.clone(), players, ticks).await?;
    let report = measure(store.as_ref(), 3).await;
    drop(store);
    if let Some((admin, name)) = scratch_db {
        loh_migrations::scratch::drop_database(&admin, &name).await?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(report?)
}
