//! `loh loadgen`: real WebSocket clients against a game server on this machine, to learn what a
//! deployment holds. Each bot is a player with its own loopback source address (so per-address
//! limits see one player each) and an account reused from run to run. A run:
//!
//! 1. logs every bot in (registering it the first time), a few at once: Argon2 is slow;
//! 2. scrapes the server's `/metrics`;
//! 3. connects the bots spread over the ramp, each sending one command per tick of its scenario
//!    ([`scenario`]) and counting what comes back ([`bot`]);
//! 4. after `ticks` more ticks, stops sending, waits for the last answers, closes;
//! 5. scrapes `/metrics` again and reports ([`report`]): bots connected and dropped, answers by
//!    code, command → answer latency, the server's tick time, frames and bytes per player per
//!    tick, and the server's memory.
//!
//! Several worlds may be loaded at once (`--url` repeated, or the worlds `GET /v1/worlds` lists:
//! [`worlds`]); bot `n` starts in world `n mod worlds`. The `hop` scenario moves the bots between
//! them ([`bot`]) and reports hops requested, completed and failed, and the hop latency.
//!
//! Only loopback targets are accepted ([`net::Target::parse`]).

pub mod accounts;
pub mod bot;
pub mod frame;
pub mod net;
pub mod report;
pub mod scenario;
pub mod scrape;
pub mod worlds;

use anyhow::Context;
use bot::{Bot, BotStats, Live};
use report::{Report, Timing, Totals};
use scenario::{Places, Plan, Scenario};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use uuid::Uuid;

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// The game server, `http://127.x.y.z:PORT` (or `NAME=URL`); empty with `worlds_url` alone.
    pub url: String,
    /// More worlds' game servers, as `url`.
    pub urls: Vec<String>,
    /// A query API whose `GET /v1/worlds` names the worlds (or lists them, with no `url`).
    pub worlds_url: Option<String>,
    /// `hop`: a bot asks `HopWorld` once every this many commands.
    pub hop_every: u64,
    pub scenario: Scenario,
    pub players: usize,
    /// The bots connect spread over this time.
    pub ramp: Duration,
    /// Ticks to run after the ramp.
    pub ticks: u64,
    /// The side of the server's square map (`loh up --map-tiles`), for `spread`'s targets.
    pub map_tiles: u32,
    /// Account names are `{prefix}{n}`; the scenario's default when `None`.
    pub account_prefix: Option<String>,
    /// Register and login requests in flight at once.
    pub login_concurrency: usize,
    /// The server's process, to read its RSS from /proc when its metrics do not export it.
    pub server_pid: Option<u32>,
    /// Seeds every bot's choices.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            url: "http://127.0.0.1:7777".into(),
            urls: Vec::new(),
            worlds_url: None,
            hop_every: 10,
            scenario: Scenario::Crowd,
            players: 100,
            ramp: Duration::from_secs(10),
            ticks: 50,
            map_tiles: 1_000,
            account_prefix: None,
            login_concurrency: 16,
            server_pid: None,
            seed: 1,
        }
    }
}

/// Where a run is, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    LoggingIn,
    Running,
    Draining,
}

/// A snapshot of a run, a few times a second.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub phase: Phase,
    pub players: usize,
    pub logged_in: u64,
    pub connected: u64,
    pub sent: u64,
    pub answered: u64,
    pub server_closed: u64,
    pub failed: u64,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match self.phase {
            Phase::LoggingIn => "logging in",
            Phase::Running => "running",
            Phase::Draining => "draining",
        };
        write!(
            f,
            "{phase}: {}/{} logged in, {} connected, {} sent, {} answered, {} closed by server, {} failed",
            self.logged_in,
            self.players,
            self.connected,
            self.sent,
            self.answered,
            self.server_closed,
            self.failed
        )
    }
}

/// Runs the load and reports; `progress` is called about four times a second.
pub async fn run(
    options: &Options,
    progress: impl Fn(Progress) + Send + Sync + 'static,
) -> anyhow::Result<Report> {
    let given: Vec<String> = std::iter::once(&options.url)
        .chain(&options.urls)
        .filter(|u| !u.is_empty())
        .cloned()
        .collect();
    let worlds = worlds::resolve(&given, options.worlds_url.as_deref()).await?;
    let hopping = options.scenario == Scenario::Hop;
    let names: Vec<String> = worlds.iter().filter_map(|w| w.name.clone()).collect();
    if hopping {
        anyhow::ensure!(
            names.len() == worlds.len() && worlds.len() >= 2,
            "--scenario hop needs two worlds or more, each named (NAME=URL, or --worlds-url)"
        );
    }
    let target = worlds[0].target;
    let players = options.players;
    anyhow::ensure!(players > 0, "--players must be at least 1");
    let prefix = options
        .account_prefix
        .clone()
        .unwrap_or_else(|| options.scenario.account_prefix().to_owned());
    let places =
        Arc::new(Places::new(options.map_tiles, players).with_worlds(names, options.hop_every));
    let bot_worlds = Arc::new(if hopping { worlds.clone() } else { Vec::new() });
    let home = |n: usize| worlds[n % worlds.len()].target;
    let live = Arc::new(Live::default());
    let phase = Arc::new(std::sync::Mutex::new(Phase::LoggingIn));
    let reporter = spawn_progress(live.clone(), phase.clone(), players, progress);

    // 1. Accounts.
    let login_started = Instant::now();
    let hashing = Arc::new(Semaphore::new(options.login_concurrency.max(1)));
    let mut logins = tokio::task::JoinSet::new();
    for n in 0..players {
        let (hashing, live, prefix) = (hashing.clone(), live.clone(), prefix.clone());
        let home = home(n);
        logins.spawn(async move {
            let ip = net::source_ip(n);
            let http = match net::http_client(ip) {
                Ok(http) => http,
                Err(e) => return (n, Err(format!("http_client: {e}"))),
            };
            let name = accounts::username(&prefix, n);
            let login = accounts::login_or_register(&http, home, &name, &hashing).await;
            live.logged_in.fetch_add(u64::from(login.is_ok()), Relaxed);
            (n, login.map_err(|e| e.reason()))
        });
    }
    let mut ready = Vec::with_capacity(players);
    let mut results: Vec<BotStats> = Vec::new();
    let (mut registered, mut retries) = (0, 0);
    while let Some(joined) = logins.join_next().await {
        let (n, login) = joined.context("a login task panicked")?;
        match login {
            Ok(login) => {
                registered += u64::from(login.registered);
                retries += u64::from(login.retries);
                ready.push((n, login.token));
            }
            Err(reason) => {
                live.failed.fetch_add(1, Relaxed);
                results.push(BotStats::not_connected(reason));
            }
        }
    }
    ready.sort_by_key(|r| r.0);
    let login_secs = login_started.elapsed().as_secs_f64();

    // 2. The server's figures before.
    let scrape_http = net::http_client(std::net::Ipv4Addr::LOCALHOST)?;
    let metrics_url = target.http("/metrics");
    let before = scrape::Scrape::fetch(&scrape_http, &metrics_url).await;
    let mut others_before = Vec::new();
    for w in &worlds[1..] {
        others_before.push(scrape::Scrape::fetch(&scrape_http, &w.target.http("/metrics")).await);
    }
    let server_rss_before_bytes = rss_from(before.as_ref(), options.server_pid);

    // 3–4. Ramp, run, drain.
    *phase.lock().expect("not poisoned") = Phase::Running;
    let started = Instant::now();
    let ramp_end = started + options.ramp;
    let rss_connected = Arc::new(std::sync::Mutex::new(Vec::new()));
    let rss_sampler = spawn_rss_sampler(
        rss_connected.clone(),
        live.clone(),
        ramp_end,
        options.server_pid,
        rss_from(before.as_ref(), None).is_some(),
        scrape_http.clone(),
        metrics_url.clone(),
    );
    let window = spawn_window_scrapes(
        live.clone(),
        ramp_end,
        scrape_http.clone(),
        metrics_url.clone(),
    );
    let mut bots = tokio::task::JoinSet::new();
    let count = ready.len().max(1) as u32;
    for (i, (n, token)) in ready.into_iter().enumerate() {
        let start_at = started + options.ramp * i as u32 / count;
        let (places, live, bot_worlds) = (places.clone(), live.clone(), bot_worlds.clone());
        let target = home(n);
        let plan = Plan::new(options.scenario, n, options.seed, places.clone());
        let ticks = options.ticks;
        bots.spawn(async move {
            tokio::time::sleep_until(start_at).await;
            let on_welcome: Box<dyn FnOnce(Uuid) + Send> = Box::new(move |id| {
                let _ = places.players[n].set(id);
            });
            let bot = Bot {
                n,
                ip: net::source_ip(n),
                target,
                token,
                plan,
                ramp_end,
                ticks,
                live,
                on_welcome: Some(on_welcome),
                worlds: bot_worlds,
            };
            bot.run().await
        });
    }
    while let Some(joined) = bots.join_next().await {
        results.push(joined.context("a bot panicked")?);
    }
    // Every bot is done (a run whose bots all failed never drains: its sampler stops and its
    // tick window ends here).
    rss_sampler.abort();
    live.draining.store(true, Relaxed);
    let window = window.await.unwrap_or_default();
    let server_rss_connected = report::Samples::of(std::mem::take(
        &mut *rss_connected.lock().expect("not poisoned"),
    ));
    // The server counts a close when it sees it; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = scrape::Scrape::fetch(&scrape_http, &metrics_url).await;
    let mut others_after = Vec::new();
    for w in &worlds[1..] {
        others_after.push(scrape::Scrape::fetch(&scrape_http, &w.target.http("/metrics")).await);
    }
    reporter.abort();

    // 5. The report.
    let mut totals = Totals::default();
    for stats in results {
        totals.add(stats);
    }
    let tick_ms = f64::from(totals.tick_ms.unwrap_or(400));
    let mut latencies: Vec<f64> = totals
        .latencies_us
        .iter()
        .map(|&us| us as f64 / 1000.0)
        .collect();
    let mut answer = |q| report::percentile(&mut latencies, q).map(|ms| Timing::new(ms, tick_ms));
    let (answer_p50, answer_p99) = (answer(0.5), answer(0.99));
    // p50 and p99 of one of the server's histograms (in seconds) between two scrapes, and how
    // many observations it gained.
    let p50_p99 = |from: Option<&scrape::Scrape>, to: Option<&scrape::Scrape>, metric: &str| {
        let buckets = to
            .map(|to| scrape::bucket_delta(from, to, metric))
            .unwrap_or_default();
        let at = |q| scrape::quantile(&buckets, q).map(|s| Timing::new(s * 1000.0, tick_ms));
        let count = buckets.last().map_or(0, |b| b.1.round() as u64);
        (at(0.5), at(0.99), count)
    };
    // Over the run.
    let server_p50_p99 = |metric: &str| {
        let (p50, p99, _) = p50_p99(before.as_ref(), after.as_ref(), metric);
        (p50, p99)
    };
    let (server_tick_p50, server_tick_p99) = server_p50_p99(scrape::TICK);
    // Over the window with every bot connected (the ramp's joins left out).
    let server_tick_connected = match &window {
        (Some(from), Some(to)) => {
            let (p50, p99, ticks) = p50_p99(Some(from), Some(to), scrape::TICK);
            p50.zip(p99)
                .map(|(p50, p99)| report::Window { ticks, p50, p99 })
        }
        _ => None,
    };
    let (server_answer_p50, server_answer_p99) = server_p50_p99(scrape::ANSWER);
    let closes = |before: Option<&scrape::Scrape>, after: Option<&scrape::Scrape>| {
        after.and_then(|a| {
            let exported = !a.by_label(scrape::CLOSED, "reason").is_empty();
            exported.then(|| scrape::counter_delta(before, a, scrape::CLOSED, "reason"))
        })
    };
    // Every world's closes, added up.
    let mut server_counted_closes = closes(before.as_ref(), after.as_ref());
    for (b, a) in others_before.iter().zip(&others_after) {
        if let (Some(total), Some(more)) =
            (&mut server_counted_closes, closes(b.as_ref(), a.as_ref()))
        {
            for (reason, n) in more {
                *total.entry(reason).or_default() += n;
            }
        }
    }
    let mut hop_latencies: Vec<f64> = totals
        .hop_latencies_us
        .iter()
        .map(|&us| us as f64 / 1000.0)
        .collect();
    let mut hop_at =
        |q| report::percentile(&mut hop_latencies, q).map(|ms| Timing::new(ms, tick_ms));
    let (hop_p50, hop_p99) = (hop_at(0.5), hop_at(0.99));
    let server_rss_bytes = rss_from(after.as_ref(), options.server_pid);
    let server_full_ticks = after
        .as_ref()
        .and_then(|a| scrape::value_delta(before.as_ref(), a, scrape::FULL_TICKS));
    let server_phases = scrape::PHASES
        .iter()
        .map(|(name, metric)| {
            let (p50, p99) = server_p50_p99(metric);
            ((*name).to_owned(), p50, p99)
        })
        .filter(|(_, p50, _)| p50.is_some())
        .collect();
    Ok(Report {
        scenario: options.scenario.name().to_owned(),
        players,
        ticks: options.ticks,
        tick_ms,
        ramp_secs: options.ramp.as_secs_f64(),
        login_secs,
        accounts_registered: registered,
        login_retries: retries,
        connected: totals.connected,
        not_connected: totals.not_connected,
        server_closed: totals.server_closed,
        server_counted_closes,
        sent: totals.sent,
        answered: totals.answered,
        unanswered: totals.unanswered,
        answers: totals.answers,
        errors: totals.errors,
        answer_p50,
        answer_p99,
        server_answer_p50,
        server_answer_p99,
        server_tick_p50,
        server_tick_p99,
        server_tick_connected,
        frames_per_tick: report::spread(&mut totals.frames_per_tick),
        bytes_per_tick: report::spread(&mut totals.bytes_per_tick),
        server_rss_bytes,
        server_rss_before_bytes,
        server_rss_connected,
        server_phases,
        server_full_ticks,
        acknowledged: totals.acknowledged,
        worlds: worlds.len(),
        hops_requested: totals.hops_requested,
        hops_completed: totals.hops_completed,
        hops_failed: totals.hops_failed,
        hop_p50,
        hop_p99,
        acknowledged_in: totals.acknowledged_in,
    })
}

/// How long after the ramp's end every bot counts as connected (the last bots' handshakes): the
/// start of the window the RSS sampler and the tick's window scrapes read in.
const AFTER_RAMP: Duration = Duration::from_secs(1);

/// The server's RSS: from its `/metrics`, else from `/proc` when its pid is known.
fn rss_from(scrape: Option<&scrape::Scrape>, pid: Option<u32>) -> Option<u64> {
    scrape
        .and_then(|s| s.value(scrape::RSS))
        .filter(|&b| b > 0.0)
        .map(|b| b as u64)
        .or_else(|| pid.and_then(rss_of))
}

/// Reads the server's RSS once a second while every bot is connected: from the ramp's end (and
/// a second more, for the last bots' handshakes) until the first bot is done. From where the
/// reading before the bots came: the server's `/metrics` when they export it (`from_metrics`),
/// else `/proc` of the server's pid.
fn spawn_rss_sampler(
    readings: Arc<std::sync::Mutex<Vec<u64>>>,
    live: Arc<Live>,
    ramp_end: Instant,
    pid: Option<u32>,
    from_metrics: bool,
    http: reqwest::Client,
    metrics_url: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep_until(ramp_end + AFTER_RAMP).await;
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            if live.draining.load(Relaxed) {
                return;
            }
            let rss = if from_metrics {
                let scrape = scrape::Scrape::fetch(&http, &metrics_url).await;
                rss_from(scrape.as_ref(), None)
            } else {
                pid.and_then(rss_of)
            };
            // The run may have ended while the scrape was under way.
            if live.draining.load(Relaxed) {
                return;
            }
            readings.lock().expect("not poisoned").extend(rss);
        }
    })
}

/// Scrapes the server's `/metrics` at the start and the end of the window the RSS sampler reads
/// in (every bot connected: from a second past the ramp's end until the first bot is done), so
/// that the tick's figures with the whole crowd in the world are not the ramp's: the joins of
/// the ramp's last seconds (a connection every 16 ms for 2,500 bots over 40 s) are the slowest
/// ticks of a crowd run (docs/BENCHMARKS.md). `(None, _)` when the run ended before the window.
fn spawn_window_scrapes(
    live: Arc<Live>,
    ramp_end: Instant,
    http: reqwest::Client,
    metrics_url: String,
) -> tokio::task::JoinHandle<(Option<scrape::Scrape>, Option<scrape::Scrape>)> {
    tokio::spawn(async move {
        tokio::time::sleep_until(ramp_end + AFTER_RAMP).await;
        if live.draining.load(Relaxed) {
            return (None, None);
        }
        let from = scrape::Scrape::fetch(&http, &metrics_url).await;
        let mut every = tokio::time::interval(Duration::from_millis(100));
        while !live.draining.load(Relaxed) {
            every.tick().await;
        }
        (from, scrape::Scrape::fetch(&http, &metrics_url).await)
    })
}

fn spawn_progress(
    live: Arc<Live>,
    phase: Arc<std::sync::Mutex<Phase>>,
    players: usize,
    progress: impl Fn(Progress) + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(250));
        loop {
            every.tick().await;
            let phase = match *phase.lock().expect("not poisoned") {
                Phase::Running if live.draining.load(Relaxed) => Phase::Draining,
                p => p,
            };
            progress(Progress {
                phase,
                players,
                logged_in: live.logged_in.load(Relaxed),
                connected: live.connected.load(Relaxed),
                sent: live.sent.load(Relaxed),
                answered: live.answered.load(Relaxed),
                server_closed: live.server_closed.load(Relaxed),
                failed: live.failed.load(Relaxed),
            });
        }
    })
}

/// The resident memory of process `pid` (Linux, `/proc/PID/status` `VmRSS`).
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
