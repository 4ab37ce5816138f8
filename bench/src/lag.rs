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

use crate::world::{GROUPS, SPOTS, command};
use anyhow::Context;
use loh_nats::EventStreamDef;
use loh_nats::relay::Relay;
use loh_projections::{ProjectionMetrics, ReadDb, Source};
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::tick::{Intake, Pacing, TickWriter, now_us};
use loh_world::{MapConfig, World};
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
    /// Each measured tick's time from commit to JetStream holding its last event, sorted.
    pub relay_ms: Vec<f64>,
    /// Each measured tick's `run_tick` (decide, append and commit, send the updates), sorted.
    pub tick_ms: Vec<f64>,
    /// Ticks whose commit came late (the writer itself over the budget), so the load was lower.
    pub late_ticks: usize,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => sorted[((n as f64 * q) as usize).min(n - 1)],
    }
}

impl LagReport {
    fn at(&self, q: f64) -> f64 {
        quantile(&self.lags_ms, q)
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
        writeln!(
            f,
            "  max {:.1} ms = {:.3} of a tick; {} of {} ticks committed late",
            self.at(1.0),
            self.at(1.0) / tick,
            self.late_ticks,
            self.ticks
        )?;
        write!(
            f,
            "  for reading it: commit → JetStream (relay) p50 {:.1} ms, p99 {:.1} ms; \
             the tick itself p50 {:.1} ms, p99 {:.1} ms",
            quantile(&self.relay_ms, 0.5),
            quantile(&self.relay_ms, 0.99),
            quantile(&self.tick_ms, 0.5),
            quantile(&self.tick_ms, 0.99)
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
    let (name, url) = loh_migrations::scratch::create_database(admin_url, "loh_bench").await?;
    let def = EventStreamDef::for_shard(&format!("bench_{}", Uuid::new_v4().simple()));
    let nats = async_nats::connect(nats_url)
        .await
        .with_context(|| format!("connecting to NATS at {nats_url}"))?;
    let js = async_nats::jetstream::new(nats);
    let report = measure(&url, nats_url, &js, &def, players, ticks, partitions).await;
    let _ = js.delete_stream(&def.name).await;
    loh_migrations::scratch::drop_database(admin_url, &name).await?;
    report
}

async fn measure(
    url: &str,
    nats_url: &str,
    js: &async_nats::jetstream::Context,
    def: &EventStreamDef,
    players: usize,
    ticks: usize,
    partitions: u32,
) -> anyhow::Result<LagReport> {
    let store = open_store(url).await?;
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
    let relayed;
    {
        let relay = Relay::new(store.clone(), js.clone(), def.clone());
        relayed = relay.progress();
        let (head, cancel) = (head.clone(), cancel.clone());
        tasks.spawn(async move { relay.run(head, cancel).await.context("relay") });
    }
    let metrics = ProjectionMetrics::default();
    let (names, projections) = spawn_projections(
        url.to_owned(),
        nats_url.to_owned(),
        def.clone(),
        partitions,
        metrics.clone(),
        cancel.clone(),
    )
    .await?;

    // Players join and walk to their groups' spots; nothing of this is measured.
    let ids: Vec<Uuid> = (0..players).map(|_| Uuid::new_v4()).collect();
    let mut inboxes = Vec::with_capacity(players);
    for (i, id) in ids.iter().enumerate() {
        let (tx, rx) = mpsc::channel(1024);
        let (reply, _) = oneshot::channel();
        writer.take(Intake::Connect {
            player_id: *id,
            conn_id: i as u64,
            name: Some(format!("bot{i}").into()),
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
        let (relayed, cancel) = (relayed.clone(), cancel.clone());
        tokio::spawn(async move { monitor(metrics, names, head, relayed, cancel).await })
    };
    let first = *head.borrow();
    let mut late = 0;
    let mut tick_ms = Vec::with_capacity(ticks);
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
        let started = Instant::now();
        writer.run_tick().await?;
        tick_ms.push(started.elapsed().as_secs_f64() * 1000.0);
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
    let (mut lags, mut relay_ms) = monitor.await?;
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    projections
        .join()
        .map_err(|_| anyhow::anyhow!("the projections' thread panicked"))??;
    lags.sort_by(f64::total_cmp);
    relay_ms.sort_by(f64::total_cmp);
    tick_ms.sort_by(f64::total_cmp);
    Ok(LagReport {
        players,
        ticks,
        partitions,
        projectors: names.len(),
        events_per_tick: (last - first) as f64 / ticks.max(1) as f64,
        lags_ms: lags,
        relay_ms,
        tick_ms,
        late_ticks: late,
    })
}

/// Starts every projector on a runtime of its own (two worker threads, as a separate
/// `loh projections run` process would have), following JetStream until `cancel`; returns the
/// projectors' names once they run, and the thread to join.
async fn spawn_projections(
    url: String,
    nats_url: String,
    def: EventStreamDef,
    partitions: u32,
    metrics: ProjectionMetrics,
    cancel: CancellationToken,
) -> anyhow::Result<(
    Vec<&'static str>,
    std::thread::JoinHandle<anyhow::Result<()>>,
)> {
    let (started, names) = oneshot::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let store = open_store(&url).await?;
            let read = ReadDb::connect(&url).await?;
            let source = Source::Nats {
                jetstream: async_nats::jetstream::new(async_nats::connect(&nats_url).await?),
                stream: def,
            };
            let projectors =
                loh_projections::runner::projectors(&read, &store, &source, &metrics, partitions)
                    .await?;
            let _ = started.send(projectors.iter().map(|p| p.name()).collect());
            loh_projections::runner::run_all(projectors, source, cancel).await?;
            anyhow::Ok(())
        })
    });
    match names.await {
        Ok(names) => Ok((names, thread)),
        Err(_) => Err(thread
            .join()
            .map_err(|_| anyhow::anyhow!("the projections' thread panicked"))?
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("the projections did not start"))),
    }
}

/// Empties the players' outbound queues (the tick writer drops a client that never reads).
fn drain(inboxes: &mut [mpsc::Receiver<loh_tick_writer::tick::Frame>]) {
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

/// Notes when each tick commits (the head moves), when JetStream holds it (the relay's
/// progress) and when the slowest projector reaches it; returns each tick's projection lag and
/// relay lag in milliseconds.
async fn monitor(
    metrics: ProjectionMetrics,
    names: Vec<&'static str>,
    mut head: watch::Receiver<u64>,
    relayed: watch::Receiver<u64>,
    cancel: CancellationToken,
) -> (Vec<f64>, Vec<f64>) {
    head.mark_unchanged();
    let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut unrelayed: VecDeque<(u64, Instant)> = VecDeque::new();
    let (mut lags, mut relay) = (Vec::new(), Vec::new());
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
                let tick = (*head.borrow_and_update(), Instant::now());
                pending.push_back(tick);
                unrelayed.push_back(tick);
            }
            _ = every.tick() => {}
        }
        reached(&mut unrelayed, *relayed.borrow(), &mut relay);
        reached(&mut pending, slowest(&metrics, &names), &mut lags);
    }
    (lags, relay)
}

/// Moves the ticks of `pending` at or below `position` to `done`, as milliseconds since commit.
fn reached(pending: &mut VecDeque<(u64, Instant)>, position: u64, done: &mut Vec<f64>) {
    while let Some(&(at, committed)) = pending.front() {
        if position < at {
            break;
        }
        done.push(committed.elapsed().as_secs_f64() * 1000.0);
        pending.pop_front();
    }
}

/// The scratch database's event store, migrated.
async fn open_store(url: &str) -> anyhow::Result<std::sync::Arc<dyn loh_events::EventStore>> {
    let store = loh_events::PgEventStore::connect(url, "bench").await?;
    store.migrate().await?;
    Ok(std::sync::Arc::new(store))
}
