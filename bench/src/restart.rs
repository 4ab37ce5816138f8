//! The restart benchmark behind `loh bench restart`: the tick writer's start-up on a log of N
//! events, folding the whole log against loading the newest snapshot and folding the tail, on
//! the same store in the same run; and what writing that snapshot costs the tick.
//!
//! The log is written straight through the store's append in batches of [`BATCH`] events (one
//! batch a tick): `players` players enter with the starter kit, then step back and forth, one
//! event each in turn. No command journal: both start-ups read the same (empty) one.

use loh_auth::SigningKey;
use loh_events::{AppendBatch, EventBody, EventStore, NewEvent, player_stream};
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::snapshot::SnapshotPolicy;
use loh_tick_writer::tick::{Pacing, TickWriter};
use loh_world::{MapConfig, World};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Events per append (and per tick) while filling the log.
pub const BATCH: usize = 10_000;

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartBench {
    pub backend: &'static str,
    pub events: u64,
    pub players: usize,
    /// Events after the snapshot.
    pub tail: u64,
    pub fill: Duration,
    /// Start-up folding the whole log.
    pub full: Duration,
    /// Start-up from the snapshot: load, check, restore, fold the tail.
    pub from_snapshot: Duration,
    /// Cloning the world: the only part of a snapshot on the tick's path.
    pub clone: Duration,
    /// Saving the clone (off the tick's path): encode, hash, sign.
    pub save: Duration,
    pub snapshot_bytes: usize,
}

impl fmt::Display for RestartBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (full, snap) = (self.full.as_secs_f64(), self.from_snapshot.as_secs_f64());
        writeln!(
            f,
            "{}: {} events ({} players), filled in {:.1} s ({:.0} events/s)",
            self.backend,
            self.events,
            self.players,
            self.fill.as_secs_f64(),
            self.events as f64 / self.fill.as_secs_f64()
        )?;
        writeln!(
            f,
            "start-up folding the whole log:        {full:>8.2} s  ({:.0} events/s; {:.1} × from snapshot)",
            self.events as f64 / full,
            full / snap
        )?;
        writeln!(
            f,
            "start-up from a snapshot + {:>9} tail events: {snap:>8.2} s  ({:.4} × whole log)",
            self.tail,
            snap / full
        )?;
        write!(
            f,
            "snapshot: {} bytes; on the tick's path (clone) {:.2} ms = {:.4} of a 400 ms tick; off it (encode, hash, sign) {:.1} ms",
            self.snapshot_bytes,
            self.clone.as_secs_f64() * 1e3,
            self.clone.as_secs_f64() / 0.4,
            self.save.as_secs_f64() * 1e3
        )
    }
}

/// Makes a log of players entering and stepping back and forth.
struct Filler {
    players: Vec<Uuid>,
    versions: Vec<u64>,
    tick: u64,
    next: usize,
    spawned: usize,
}

impl Filler {
    fn new(players: usize) -> Filler {
        Filler {
            players: (0..players).map(|_| Uuid::new_v4()).collect(),
            versions: vec![0; players],
            tick: 0,
            next: 0,
            spawned: 0,
        }
    }

    fn event(&mut self, p: usize, body: EventBody) -> NewEvent {
        self.versions[p] += 1;
        let player_id = self.players[p];
        NewEvent {
            event_id: Uuid::new_v4(),
            stream_id: player_stream(player_id),
            stream_version: self.versions[p],
            tick: self.tick,
            correlation_id: player_id,
            causation_id: None,
            occurred_at_us: 1_800_000_000_000_000 + self.tick as i64 * 400_000,
            body,
        }
    }

    /// The next `n` events (at most), as one tick.
    fn batch(&mut self, n: usize) -> Vec<NewEvent> {
        self.tick += 1;
        let map = MapConfig::default();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.spawned < self.players.len() && out.len() + 4 <= n {
                let (p, player_id) = (self.spawned, self.players[self.spawned]);
                self.spawned += 1;
                let (x, y) = (map.spawn_x, map.spawn_y);
                out.push(self.event(p, EventBody::PlayerSpawned { player_id, x, y }));
                for (item, qty) in [("coins", 25u32), ("bronze_axe", 1), ("bread", 2)] {
                    let body = EventBody::ItemsMinted {
                        player_id,
                        item: item.into(),
                        qty,
                        source: "starter_kit".into(),
                    };
                    out.push(self.event(p, body));
                }
                continue;
            }
            if self.spawned == 0 {
                break;
            }
            let p = self.next % self.spawned;
            self.next += 1;
            let player_id = self.players[p];
            // Odd steps go east, even ones back.
            let east = (self.versions[p] - 4).is_multiple_of(2);
            let (from_x, x) = if east {
                (map.spawn_x, map.spawn_x + 1)
            } else {
                (map.spawn_x + 1, map.spawn_x)
            };
            let body = EventBody::PlayerMoved {
                player_id,
                from_x,
                from_y: map.spawn_y,
                x,
                y: map.spawn_y,
                running: false,
                path_to: None,
            };
            out.push(self.event(p, body));
        }
        out
    }

    async fn fill(&mut self, store: &dyn EventStore, mut events: u64) -> anyhow::Result<()> {
        let lease = store.acquire().await?;
        let mut said = Instant::now();
        while events > 0 {
            let n = (events as usize).min(BATCH);
            let batch = AppendBatch {
                events: self.batch(n),
                journal: Vec::new(),
            };
            events = events.saturating_sub(batch.events.len() as u64);
            store.append(lease, batch).await?;
            if said.elapsed() > Duration::from_secs(10) {
                said = Instant::now();
                eprintln!("  … {events} events to go");
            }
        }
        Ok(())
    }
}

async fn start(
    store: &Arc<dyn EventStore>,
    policy: Option<SnapshotPolicy>,
) -> anyhow::Result<(TickWriter, Duration)> {
    let t = Instant::now();
    let world = World::new(MapConfig::default());
    let (pacing, metrics) = (Pacing::Fixed { tick_ms: 400 }, TickMetrics::default());
    let writer = match policy {
        Some(p) => {
            TickWriter::start_with_snapshots(store.clone(), world, pacing, metrics, p).await?
        }
        None => TickWriter::start(store.clone(), world, pacing, metrics).await?,
    };
    Ok((writer, t.elapsed()))
}

/// Measures on `store`: fills `events − tail` events, snapshots them through the tick writer,
/// fills `tail` more, then times a start-up folding the whole log and one from the snapshot.
pub async fn measure(
    store: Arc<dyn EventStore>,
    backend: &'static str,
    events: u64,
    players: usize,
    tail: u64,
) -> anyhow::Result<RestartBench> {
    let key = tokio::task::spawn_blocking(SigningKey::generate).await??;
    // Snapshots only where the benchmark takes them.
    let policy = SnapshotPolicy {
        key: key.clone(),
        every_ticks: u64::MAX,
        every_events: 0,
    };
    let tail = tail.min(events);
    let mut filler = Filler::new(players);
    let filling = Instant::now();
    eprintln!("filling {} events…", events - tail);
    filler.fill(store.as_ref(), events - tail).await?;
    let mut fill = filling.elapsed();

    eprintln!("snapshotting them…");
    let (mut writer, _) = start(&store, Some(policy.clone())).await?;
    let t = Instant::now();
    let clone = writer.world().clone();
    let clone_time = t.elapsed();
    let t = Instant::now();
    let image = clone.image();
    let _ = <sha2::Sha256 as sha2::Digest>::digest(&image);
    let claims = loh_auth::SnapshotClaims::new("x", 1, &[0; 32], 1, &[0; 32]);
    loh_auth::sign_snapshot(&key, &claims).map_err(anyhow::Error::msg)?;
    let save = t.elapsed();
    writer.snapshot_now();
    writer.finish_snapshot().await;
    drop(writer);
    anyhow::ensure!(
        store.snapshot_positions().await?.len() == 1,
        "the snapshot was not written"
    );

    let filling = Instant::now();
    eprintln!("filling {tail} more…");
    filler.fill(store.as_ref(), tail).await?;
    fill += filling.elapsed();

    eprintln!("starting up, folding the whole log…");
    let (whole, full) = start(&store, None).await?;
    let whole_image = whole.world().image();
    drop(whole);
    eprintln!("starting up from the snapshot…");
    let (resumed, from_snapshot) = start(&store, Some(policy)).await?;
    let rebuilt = resumed.rebuilt();
    anyhow::ensure!(
        rebuilt.snapshot.is_some() && rebuilt.folded == tail,
        "start-up did not use the snapshot: {rebuilt:?}"
    );
    anyhow::ensure!(
        resumed.world().image() == whole_image,
        "the world from the snapshot differs from the whole fold"
    );
    Ok(RestartBench {
        backend,
        events,
        players,
        tail,
        fill,
        full,
        from_snapshot,
        clone: clone_time,
        save,
        snapshot_bytes: image.len(),
    })
}

/// `loh bench restart`: in a scratch PostgreSQL database next to `database_url` (or, without
/// one, a scratch SQLite file), measures and removes it.
pub async fn run(
    database_url: Option<&str>,
    events: u64,
    players: usize,
    tail: u64,
) -> anyhow::Result<RestartBench> {
    let scratch = std::env::temp_dir().join(format!("loh-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&scratch)?;
    let (store, scratch_db, backend): (Arc<dyn EventStore>, _, _) = match database_url {
        Some(admin) => {
            let (name, url) = loh_migrations::scratch::create_database(admin, "loh_bench").await?;
            let store = loh_events::PgEventStore::connect(&url, "bench").await?;
            store.migrate().await?;
            (
                Arc::new(store),
                Some((admin.to_owned(), name)),
                "PostgreSQL",
            )
        }
        None => {
            let path = scratch.join("bench.db");
            let path = path
                .to_str()
                .ok_or_else(|| anyhow::anyhow!("the temp folder's path is not UTF-8"))?;
            let store = loh_events::SqliteEventStore::open(path, "bench").await?;
            (Arc::new(store), None, "SQLite")
        }
    };
    let report = measure(store.clone(), backend, events, players, tail).await;
    drop(store);
    if let Some((admin, name)) = scratch_db {
        loh_migrations::scratch::drop_database(&admin, &name).await?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    report
}
