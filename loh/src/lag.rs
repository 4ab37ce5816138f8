//! The projection-lag benchmark: the game world benchmark's load through the whole pipeline.
//!
//! The real tick writer decides one command per player per tick (the mix of
//! `loh_tick_writer::bench`: movers, chatters, inventory shufflers, woodcutters, shoppers,
//! bankers, fighters) every 400 ms and commits each tick to PostgreSQL; the relay publishes the
//! events to JetStream; every projector consumes its durable consumer and commits to the read
//! database (the same PostgreSQL, as in `docker-compose.yml`). A monitor notes when each tick
//! committed (the committed-head watch) and when the slowest projector's checkpoint reached that
//! tick's last event: the difference is the tick's projection lag, end to end. The limit is the
//! tick itself (400 ms): the goal is a p99 lag of at most one tick.

use crate::app::Backing;
use anyhow::Context;
use loh_nats::EventStreamDef;
use loh_projections::{ProjectionMetrics, Projector, ReadDb, Source};
use loh_tick_writer::bench::{GROUPS, SPOTS, command};
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::relay::Relay;
use loh_tick_writer::tick::{Intake, Pacing, TickWriter, now_us};
use loh_tick_writer::world::{MapConfig, World};
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The tick length the lag is measured against.
pub const TICK_MS: u64 = 400;

/// What [`projection_lag`] measured.
#[derive(Debug, Clone)]
pub struct LagReport {
    pub players: usize,
    pub ticks: usize,
    pub partitions: u32,
    pub projectors: usize,
    pub events_per_tick: f64,
    /// Each measured tick's lag, in milliseconds, sorted.
    pub lags_ms: Vec<f64>,
    /// Ticks whose commit came late (the writer itself over the budget), so the load was lower.
    pub late_ticks: usize,
}

impl LagReport {
    fn at(&self, q: f64) -> f64 {
        let n = self.lags_ms.len();
        if n == 0 {
            return f64::NAN;
        }
        self.lags_ms[((n as f64 * q) as usize).min(n - 1)]
    }

    /// The p99 lag as a fraction of a tick (goal: ≤ 1).
    pub fn p99_ticks(&self) -> f64 {
        self.at(0.99) / TICK_MS as f64
    }
}

impl fmt::Display for LagReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "projection lag, {} players × 1 command per {} ms tick, {} ticks, {:.0} events per tick,",
            self.players, TICK_MS, self.ticks, self.events_per_tick
        )?;
        writeln!(
            f,
            "  tick writer → PostgreSQL → relay → JetStream → {} projectors ({} per hot model) → PostgreSQL:",
            self.projectors, self.partitions
        )?;
        let tick = TICK_MS as f64;
        writeln!(
            f,
            "  p50 {:.1} ms = {:.3} of a tick",
            self.at(0.5),
            self.at(0.5) / tick
        )?;
        writeln!(
            f,
            "  p99 {:.1} ms = {:.3} of a tick (goal ≤ 1)",
            self.at(0.99),
            self.p99_ticks()
        )?;
        write!(
            f,
            "  max {:.1} ms = {:.3} of a tick; {} of {} ticks committed late",
            self.at(1.0),
            self.at(1.0) / tick,
            self.late_ticks,
            self.ticks
        )
    }
}

/// Runs the benchmark in a scratch database on the PostgreSQL of `admin_url` and a scratch
/// stream on `nats_url`, both removed afterwards.
pub async fn projection_lag(
    admin_url: &str,
    nats_url: &str,
    players: usize,
    ticks: usize,
    partitions: u32,
) -> anyhow::Result<LagReport> {
    let (name, url) = loh_events::scratch::create_database(admin_url, "loh_bench").await?;
    let def = EventStreamDef::for_shard(&format!("bench_{}", Uuid::new_v4().simple()));
    let nats = async_nats::connect(nats_url)
        .await
        .with_context(|| format!("connecting to NATS at {nats_url}"))?;
    let js = async_nats::jetstream::new(nats);
    let report = measure(&url, &js, &def, players, ticks, partitions).await;
    let _ = js.delete_stream(&def.name).await;
    loh_events::scratch::drop_database(admin_url, &name).await?;
    report
}

async fn measure(
    url: &str,
    js: &async_nats::jetstream::Context,
    def: &EventStreamDef,
    players: usize,
    ticks: usize,
    partitions: u32,
) -> anyhow::Result<LagReport> {
    let backing = Backing::Services {
        database_url: url.to_owned(),
        nats_url: String::new(),
    };
    let store = crate::app::open_store(&backing, "bench").await?;
    let read = ReadDb::connect(url).await?;
    read.migrate().await?;
    def.ensure(js).await?;
    let cancel = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();

    let mut writer = TickWriter::start(
        store.clone(),
        World::new(MapConfig::default()),
        Pacing::Fixed {
            tick_ms: TICK_MS as u32,
        },
        TickMetrics::default(),
    )
    .await?;
    let head = writer.head();
    {
        let relay = Relay::new(store.clone(), js.clone(), def.clone());
        let (head, cancel) = (head.clone(), cancel.clone());
        tasks.spawn(async move { relay.run(head, cancel).await.context("relay") });
    }
    let metrics = ProjectionMetrics::default();
    let projectors = loh_projections::arrange(&read, store.as_ref(), partitions).await?;
    let names: Vec<&'static str> = projectors.iter().map(|p| p.name()).collect();
    for projection in projectors {
        let projector =
            Projector::new(projection, read.clone(), store.clone()).with_metrics(metrics.clone());
        let source = Source::Nats {
            jetstream: js.clone(),
            stream: def.clone(),
        };
        let cancel = cancel.clone();
        tasks.spawn(async move { projector.run(source, cancel).await.context("projector") });
    }

    // Players join and walk to their groups' spots; nothing of this is measured.
    let ids: Vec<Uuid> = (0..players).map(|_| Uuid::new_v4()).collect();
    let mut inboxes = Vec::with_capacity(players);
    for (i, id) in ids.iter().enumerate() {
        let (tx, rx) = mpsc::channel(1024);
        let (reply, _) = oneshot::channel();
        writer.take(Intake::Connect {
            player_id: *id,
            conn_id: i as u64,
            outbound: tx,
            reply,
        });
        inboxes.push(rx);
    }
    writer.run_tick().await?;
    let mut seqs = vec![0u64; players];
    for (i, id) in ids.iter().enumerate() {
        let (x, y) = SPOTS[i % GROUPS];
        seqs[i] += 1;
        writer.take(Intake::Command {
            player_id: *id,
            seq: seqs[i],
            cmd: loh_commands::Command::WalkTo { x, y, run: true },
            received_at_us: now_us(),
        });
    }
    for _ in 0..40 {
        writer.run_tick().await?;
        drain(&mut inboxes);
    }
    caught_up(&metrics, &names, *head.borrow(), Duration::from_secs(120)).await?;

    // The measured ticks, at the real pace.
    let monitor = {
        let (metrics, names, head) = (metrics.clone(), names.clone(), head.clone());
        let cancel = cancel.clone();
        tokio::spawn(async move { monitor(metrics, names, head, cancel).await })
    };
    let first = *head.borrow();
    let mut late = 0;
    let mut deadline = tokio::time::Instant::now();
    for tick in 0..ticks {
        for (i, id) in ids.iter().enumerate() {
            let Some(cmd) = writer
                .world()
                .player(*id)
                .map(|p| command(i % GROUPS, tick, p))
            else {
                continue;
            };
            seqs[i] += 1;
            writer.take(Intake::Command {
                player_id: *id,
                seq: seqs[i],
                cmd,
                received_at_us: now_us(),
            });
        }
        writer.run_tick().await?;
        drain(&mut inboxes);
        deadline += Duration::from_millis(TICK_MS);
        if tokio::time::Instant::now() > deadline {
            late += 1;
            deadline = tokio::time::Instant::now();
        } else {
            tokio::time::sleep_until(deadline).await;
        }
    }
    let last = *head.borrow();
    caught_up(&metrics, &names, last, Duration::from_secs(120)).await?;
    // Let the monitor see the last checkpoint move.
    tokio::time::sleep(Duration::from_millis(20)).await;
    cancel.cancel();
    let mut lags = monitor.await?;
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    lags.sort_by(f64::total_cmp);
    Ok(LagReport {
        players,
        ticks,
        partitions,
        projectors: names.len(),
        events_per_tick: (last - first) as f64 / ticks.max(1) as f64,
        lags_ms: lags,
        late_ticks: late,
    })
}

/// Empties the players' outbound queues (the tick writer drops a client that never reads).
fn drain(inboxes: &mut [mpsc::Receiver<loh_commands::ServerFrame>]) {
    for rx in inboxes {
        while rx.try_recv().is_ok() {}
    }
}

/// The lowest checkpoint of `names`.
fn slowest(metrics: &ProjectionMetrics, names: &[&str]) -> u64 {
    names
        .iter()
        .map(|n| metrics.checkpoint(n))
        .min()
        .unwrap_or(0)
}

/// Waits until every projector has applied `head`.
async fn caught_up(
    metrics: &ProjectionMetrics,
    names: &[&str],
    head: u64,
    within: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while slowest(metrics, names) < head {
        anyhow::ensure!(
            started.elapsed() < within,
            "the projectors did not reach position {head} within {within:?} (slowest at {})",
            slowest(metrics, names)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Notes when each tick commits (the head moves) and when the slowest projector reaches it;
/// returns each tick's lag in milliseconds.
async fn monitor(
    metrics: ProjectionMetrics,
    names: Vec<&'static str>,
    mut head: watch::Receiver<u64>,
    cancel: CancellationToken,
) -> Vec<f64> {
    head.mark_unchanged();
    let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut lags = Vec::new();
    let mut every = tokio::time::interval(Duration::from_millis(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            changed = head.changed() => {
                if changed.is_err() {
                    break;
                }
                pending.push_back((*head.borrow_and_update(), Instant::now()));
            }
            _ = every.tick() => {}
        }
        let reached = slowest(&metrics, &names);
        while let Some(&(position, committed)) = pending.front() {
            if reached < position {
                break;
            }
            lags.push(committed.elapsed().as_secs_f64() * 1000.0);
            pending.pop_front();
        }
    }
    lags
}
