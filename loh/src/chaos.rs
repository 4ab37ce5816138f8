//! `loh chaos`: a kill campaign a user can run. It starts the game as child processes — `loh up`
//! (embedded, in a data folder), or with `--services` the roles on the real services (`loh
//! tick-writer`, `loh projections run`, `loh query-api`, on `DATABASE_URL`, `NATS_URL`,
//! `REDIS_URL`) — plays it with the load generator's real WebSocket bots
//! ([`loh_bench::loadgen`]), and at random moments kills one process with SIGKILL and starts it
//! again. After every fault and at the end it checks what the issue of faults asks:
//!
//! - every command a bot was answered `Accepted` is in the command journal, accepted, once
//!   (`lost` counts those missing; `duplicated` counts `(player, seq)` journaled twice);
//! - `loh replay verify`: the hash chain is intact;
//! - `loh replay scan`: value conserved, no item duplicated;
//! - on the real services, while the relay runs: the world's JetStream stream holds every event
//!   of the log once (by position, which names the event);
//! - with the process that writes the read models stopped (killed after a fault and started
//!   again on its checkpoints; at the end, every process): every read model, caught up with the
//!   log as its projector would, equals a rebuild from the log, row for row
//!   ([`loh_projections::rebuild::differences`]).
//!
//! With `--services --private` it starts PostgreSQL, NATS (JetStream) and Redis of its own on
//! free loopback ports ([`services`]) and adds the faults of the services themselves: `nats`
//! (stopped for `--nats-outage` seconds, then started), `postgres` (restarted) and `redis`
//! (restarted, losing every session as the Compose files' Redis does).
//!
//! It prints each fault (what, when, the time back to healthy, what was acknowledged so far) and
//! a summary with the recovery time per fault kind, and exits non-zero on any loss, duplicate,
//! broken chain, unconserved value, JetStream message missing or repeated, or read model unlike
//! its rebuild, after any fault or at the end, or when a process does not come back.
//!
//! Embedded, `--disk-mib N` puts the data folder on a tmpfs of N MiB the campaign mounts (root),
//! which adds the fault `disk-full`: the filesystem filled to the last byte for
//! `--disk-full-secs`, then freed.

pub mod services;

use anyhow::Context;
use clap::Args;
use loh_bench::loadgen::{self, Options, scenario::Scenario};
use loh_events::pg::PgEventStore;
use loh_events::sqlite::SqliteEventStore;
use loh_events::{EventStore, Outcome};
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// Faults to inject: each a SIGKILL of `loh up` at a random moment while the bots play.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub faults: u32,
    /// Bots playing throughout (each a player with its own loopback address).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    pub players: u32,
    /// A fault comes at least this many seconds after the server is back.
    #[arg(long, default_value_t = 2.0)]
    pub min_secs: f64,
    /// ... and at most this many.
    #[arg(long, default_value_t = 6.0)]
    pub max_secs: f64,
    /// The tick of the `loh up` it runs, in milliseconds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(50..=2_000))]
    pub tick_ms: u64,
    /// The data folder of the game it runs (kept afterwards); a new one under the system's
    /// temporary folder when not given.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seed of the fault times and the bots' choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the roles as separate processes on the real services (DATABASE_URL, NATS_URL,
    /// REDIS_URL, all required) instead of `loh up` embedded; each fault kills one role.
    #[arg(long)]
    pub services: bool,
    /// The world (shard) the services run; a new one per campaign when not given.
    #[arg(long)]
    pub shard: Option<String>,
    /// With `--services`: start PostgreSQL, NATS and Redis of the campaign's own on free
    /// loopback ports (instead of DATABASE_URL, NATS_URL, REDIS_URL), which adds the faults
    /// `nats`, `postgres` and `redis`.
    #[arg(long, requires = "services")]
    pub private: bool,
    /// The faults to draw from (comma-separated): `tick-writer`, `projections`, `query-api`
    /// (SIGKILL and restart), `nats` (stopped for `--nats-outage` seconds), `postgres`, `redis`
    /// (restarted; these three need `--private`), or `loh-up` (embedded). Every one that applies
    /// when not given.
    #[arg(long, value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// How long a `nats` fault keeps NATS stopped, in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub nats_outage: f64,
    /// Embedded: put the data folder on a filesystem of its own of this many MiB (a tmpfs the
    /// campaign mounts, so it needs root on Linux; the folder is gone when the campaign ends),
    /// which adds the fault `disk-full`: the filesystem is filled to the last byte, kept full
    /// for `--disk-full-secs`, then freed.
    #[arg(long, conflicts_with = "services",
        value_parser = clap::value_parser!(u64).range(16..=65_536))]
    pub disk_mib: Option<u64>,
    /// How long a `disk-full` fault keeps the data folder's filesystem full, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub disk_full_secs: f64,
}

/// A filesystem of its own for the data folder: a tmpfs mounted on it, unmounted when dropped.
struct SmallDisk {
    dir: PathBuf,
}

/// The file a `disk-full` fault fills the filesystem with.
const FILLER: &str = "chaos-filler";

impl SmallDisk {
    /// Mounts a tmpfs of `mib` MiB, owner-only, on the (empty) folder `dir`.
    fn mount(dir: &Path, mib: u64) -> anyhow::Result<SmallDisk> {
        anyhow::ensure!(
            std::fs::read_dir(dir)?.next().is_none(),
            "--disk-mib mounts a filesystem on the data folder, which must be empty: {}",
            dir.display()
        );
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .context("running mount")?;
        anyhow::ensure!(
            status.success(),
            "mounting a {mib} MiB tmpfs on {} failed ({status}): --disk-mib needs root on Linux",
            dir.display()
        );
        Ok(SmallDisk {
            dir: dir.to_owned(),
        })
    }

    /// Writes a file until the filesystem has not a byte left; returns the bytes it took.
    fn fill(&self) -> anyhow::Result<u64> {
        use std::io::Write;
        let mut file = std::fs::File::create(self.dir.join(FILLER))?;
        let mut written = 0u64;
        for chunk in [1 << 20, 4096, 1] {
            let block = vec![0u8; chunk];
            while let Ok(n) = file.write(&block) {
                if n == 0 {
                    break;
                }
                written += n as u64;
            }
        }
        let _ = file.sync_all();
        Ok(written)
    }

    /// Frees what [`SmallDisk::fill`] took.
    fn free(&self) -> anyhow::Result<()> {
        std::fs::remove_file(self.dir.join(FILLER)).context("removing the filler")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

/// The faults of the services themselves (need `--private`).
const SERVICE_KINDS: [&str; 3] = ["nats", "postgres", "redis"];

/// What the checks found in the log against what the bots were told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Commands answered `Accepted`.
    pub acknowledged: u64,
    /// Acknowledged commands missing from the journal, or journaled as rejected.
    pub lost: u64,
    /// `(player, seq)` pairs journaled more than once.
    pub duplicated: u64,
}

/// Checks `acknowledged` against `journal` (`(player, seq, accepted)` of every journaled command).
pub fn tally(acknowledged: &[(Uuid, u64)], journal: &[(Uuid, u64, bool)]) -> Tally {
    let mut seen: HashMap<(Uuid, u64), (u64, bool)> = HashMap::with_capacity(journal.len());
    for &(player, seq, accepted) in journal {
        let e = seen.entry((player, seq)).or_insert((0, accepted));
        e.0 += 1;
    }
    let acked: HashSet<(Uuid, u64)> = acknowledged.iter().copied().collect();
    Tally {
        acknowledged: acked.len() as u64,
        lost: acked
            .iter()
            .filter(|k| !seen.get(k).is_some_and(|(_, accepted)| *accepted))
            .count() as u64,
        duplicated: seen.values().filter(|(n, _)| *n > 1).count() as u64,
    }
}

/// One injected fault.
#[derive(Debug, Clone)]
struct Fault {
    kind: &'static str,
    after_secs: f64,
    recovery_secs: f64,
    tally: Tally,
    intact: bool,
    conserved: bool,
    /// JetStream against the log after the fault (on the services): messages, positions
    /// repeated, positions missing.
    stream: Option<(u64, u64, u64)>,
    /// The read models that differed from a rebuild after the fault.
    differing: Vec<String>,
}

impl Fault {
    fn failed(&self) -> bool {
        self.tally.lost > 0
            || self.tally.duplicated > 0
            || !self.intact
            || !self.conserved
            || !stream_exact(self.stream)
            || !self.differing.is_empty()
    }
}

/// Every position of the log once on JetStream (or no stream to check).
fn stream_exact(stream: Option<(u64, u64, u64)>) -> bool {
    stream.is_none_or(|(_, repeated, missing)| repeated == 0 && missing == 0)
}

/// Where the game runs.
#[derive(Debug, Clone)]
enum Backing {
    Embedded,
    Services {
        db_url: String,
        nats_url: String,
        redis_url: String,
        shard: String,
        key_file: PathBuf,
        public_file: PathBuf,
    },
}

/// One process of the game.
struct Role {
    name: &'static str,
    child: Child,
    /// Its `/healthz`.
    health: SocketAddr,
    args: Vec<String>,
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The processes of the game; `game` is the game server's address.
struct Game {
    roles: Vec<Role>,
    game: SocketAddr,
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?)
}

/// `loh` itself on `backing`: no service URL from the environment when embedded.
fn loh(backing: &Backing) -> anyhow::Result<std::process::Command> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    for var in [
        "DATABASE_URL",
        "NATS_URL",
        "REDIS_URL",
        "LOH_SHARD",
        "LOH_DATA_DIR",
        "LOH_REDIS_PREFIX",
        "LOH_JWT_KEY",
        "LOH_JWT_KEY_FILE",
    ] {
        cmd.env_remove(var);
    }
    if let Backing::Services {
        db_url,
        nats_url,
        redis_url,
        shard,
        key_file,
        public_file,
    } = backing
    {
        cmd.env("DATABASE_URL", db_url)
            .env("NATS_URL", nats_url)
            .env("REDIS_URL", redis_url)
            .env("LOH_SHARD", shard)
            .env("LOH_REDIS_PREFIX", shard)
            .env("LOH_JWT_KEY_FILE", key_file)
            .env("LOH_JWT_PUBLIC_KEY_FILE", public_file);
    }
    Ok(cmd)
}

/// Starts the role `name` of `loh` with `args`, its output in `data/chaos-<name>.log` (on the
/// data folder's own filesystem with `--disk-mib`, as logs usually share a server's disk: a
/// process must outlive failing to write its log); returns once `health` answers, with the
/// time that took.
async fn start_role(
    backing: &Backing,
    data: &Path,
    name: &'static str,
    args: Vec<String>,
    health: SocketAddr,
) -> anyhow::Result<(Role, Duration)> {
    let log_path = data.join(format!("chaos-{}.log", name.replace(' ', "-")));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .context("opening a role's log file")?;
    let started = Instant::now();
    let child = loh(backing)?
        .args(&args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let mut role = Role {
        name,
        child,
        health,
        args,
    };
    let http = loh_bench::loadgen::net::http_client(std::net::Ipv4Addr::LOCALHOST)?;
    let url = format!("http://{health}/healthz");
    while started.elapsed() < Duration::from_secs(120) {
        let answer = http.get(&url).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return Ok((role, started.elapsed()));
        }
        if let Some(status) = role.child.try_wait()? {
            anyhow::bail!(
                "{name} exited with {status} before it was healthy (see {})",
                log_path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{name} was not healthy within 120 s")
}

/// Starts every process of the game on `backing`.
async fn start(backing: &Backing, data: &Path, tick_ms: u64) -> anyhow::Result<Game> {
    let game = free_addr()?;
    let tick = tick_ms.to_string();
    let mut roles = Vec::new();
    match backing {
        Backing::Embedded => {
            let query = free_addr()?;
            let args = vec![
                "up".into(),
                "--data-dir".into(),
                data.display().to_string(),
                "--game-addr".into(),
                game.to_string(),
                "--query-addr".into(),
                query.to_string(),
                "--tick-ms".into(),
                tick,
            ];
            roles.push(start_role(backing, data, "loh up", args, game).await?.0);
        }
        Backing::Services { .. } => {
            let args = vec![
                "tick-writer".into(),
                "--game-addr".into(),
                game.to_string(),
                "--tick-ms".into(),
                tick,
            ];
            roles.push(
                start_role(backing, data, "tick-writer", args, game)
                    .await?
                    .0,
            );
            let health = free_addr()?;
            let args = vec![
                "projections".into(),
                "run".into(),
                "--health-addr".into(),
                health.to_string(),
            ];
            roles.push(
                start_role(backing, data, "projections", args, health)
                    .await?
                    .0,
            );
            let query = free_addr()?;
            let args = vec!["query-api".into(), "--query-addr".into(), query.to_string()];
            roles.push(start_role(backing, data, "query-api", args, query).await?.0);
        }
    }
    Ok(Game { roles, game })
}

/// Journal rows read at once.
const PAGE: usize = 100_000;

/// The store of `backing` (the data folder's when embedded).
async fn store(backing: &Backing, data: &Path) -> anyhow::Result<Box<dyn EventStore>> {
    Ok(match backing {
        Backing::Embedded => {
            let path = data.join(crate::embedded::DATABASE_FILE);
            Box::new(
                SqliteEventStore::open(path.to_str().context("a UTF-8 path")?, "world1")
                    .await
                    .context("opening the embedded store")?,
            )
        }
        Backing::Services { db_url, shard, .. } => Box::new(
            PgEventStore::connect(db_url, shard)
                .await
                .context("connecting to PostgreSQL")?,
        ),
    })
}

/// The journal of `store`: `(player, seq, accepted)` of every command.
async fn journal(store: &dyn EventStore) -> anyhow::Result<Vec<(Uuid, u64, bool)>> {
    let mut out = Vec::new();
    let mut from = 0;
    loop {
        let rows = store.read_journal(from, PAGE).await?;
        let Some(last) = rows.last().map(|r| r.tick) else {
            break;
        };
        // A page may end inside a tick: read again from that tick, keep what is new.
        let whole = rows.len() < PAGE;
        anyhow::ensure!(
            whole || rows[0].tick < last,
            "tick {last} journaled more than {PAGE} commands"
        );
        for r in rows {
            if whole || r.tick < last {
                out.push((r.player_id, r.seq, r.outcome == Outcome::Accepted));
            }
        }
        if whole {
            break;
        }
        from = last;
    }
    Ok(out)
}

/// Runs `loh replay verify` and `loh replay scan` on `backing`: (chain intact, value conserved
/// and nothing duplicated).
fn replay_checks(backing: &Backing, data: &Path) -> anyhow::Result<(bool, bool)> {
    let on = |cmd: &mut std::process::Command| {
        if let Backing::Embedded = backing {
            cmd.arg("--data-dir").arg(data);
        }
    };
    let mut verify = loh(backing)?;
    verify.args(["replay", "verify"]);
    on(&mut verify);
    let verify = verify.output().context("running loh replay verify")?;
    let mut scan = loh(backing)?;
    scan.args(["replay", "scan", "--json"]);
    on(&mut scan);
    let scan = scan.output().context("running loh replay scan")?;
    let findings: serde_json::Value = serde_json::from_slice(&scan.stdout).with_context(|| {
        format!(
            "loh replay scan: {}",
            String::from_utf8_lossy(&scan.stderr).trim()
        )
    })?;
    let broken = findings.as_array().into_iter().flatten().any(|f| {
        matches!(
            f["rule"].as_str(),
            Some("value_not_conserved" | "duplicated_item")
        )
    });
    if !verify.status.success() {
        eprintln!(
            "loh replay verify: {}",
            String::from_utf8_lossy(&verify.stdout).trim()
        );
    }
    Ok((verify.status.success(), !broken))
}

/// What the world's JetStream stream holds against the log: (messages, positions repeated,
/// positions of `1..=head` missing). Waits up to 30 s for the relay to reach `head` first.
async fn jetstream_once(nats_url: &str, shard: &str, head: u64) -> anyhow::Result<(u64, u64, u64)> {
    use futures::StreamExt;
    let client = loh_nats::connect(nats_url)
        .await
        .context("connecting to NATS")?;
    let js = async_nats::jetstream::new(client);
    let def = loh_nats::EventStreamDef::for_shard(shard);
    let mut stream = js
        .get_stream(&def.name)
        .await
        .context("the world's stream")?;
    let waited = Instant::now();
    let mut count = stream.info().await?.state.messages;
    while count < head && waited.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        count = stream.info().await?.state.messages;
    }
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await?;
    let mut messages = consumer.messages().await?;
    let mut seen: HashMap<u64, u64> = HashMap::new();
    for _ in 0..count {
        let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(10), messages.next()).await
        else {
            break;
        };
        let msg = msg?;
        let position = loh_nats::decode_message(&msg)
            .map_err(|e| anyhow::anyhow!("an undecodable message on the stream: {e}"))?
            .position;
        *seen.entry(position).or_default() += 1;
    }
    let repeated = seen.values().map(|n| n - 1).sum();
    let missing = (1..=head).filter(|p| !seen.contains_key(p)).count() as u64;
    Ok((count, repeated, missing))
}

/// Every check but JetStream's: the journal against `acknowledged`, then `replay verify` and
/// `replay scan`.
async fn check(
    backing: &Backing,
    data: &Path,
    acknowledged: &[(Uuid, u64)],
) -> anyhow::Result<(Tally, bool, bool)> {
    let t = tally(acknowledged, &journal(&*store(backing, data).await?).await?);
    let (intact, conserved) = replay_checks(backing, data)?;
    Ok((t, intact, conserved))
}

/// Every read model, caught up with the log (as its projector would), against a rebuild from the
/// log: the tables that differ, as `table (+live/-rebuilt)`. Run with every process stopped.
async fn read_models_vs_rebuild(backing: &Backing, data: &Path) -> anyhow::Result<Vec<String>> {
    let (url, shard) = match backing {
        Backing::Embedded => (
            crate::embedded::DataDir::open(data)?.database_url(),
            "world1",
        ),
        Backing::Services { db_url, shard, .. } => (db_url.clone(), shard.as_str()),
    };
    let read = loh_projections::ReadDb::connect(&url)
        .await
        .context("opening the read database")?
        .in_world(shard);
    let store: std::sync::Arc<dyn EventStore> = store(backing, data).await?.into();
    let mut differing = Vec::new();
    for projection in loh_projections::all() {
        loh_projections::Projector::new(projection.clone(), read.clone(), store.clone())
            .catch_up()
            .await
            .with_context(|| format!("catching up {}", projection.name()))?;
        let stores: [&dyn EventStore; 1] = [&*store];
        for d in loh_projections::rebuild::differences(&read, &stores, &*projection, 10_000)
            .await
            .with_context(|| format!("comparing {} with a rebuild", projection.name()))?
        {
            differing.push(format!(
                "{} (+{}/-{})",
                d.table, d.only_live, d.only_rebuilt
            ));
        }
    }
    Ok(differing)
}

/// JetStream against the log now, while the relay runs (on the services; `None` embedded).
async fn stream_now(backing: &Backing, data: &Path) -> anyhow::Result<Option<(u64, u64, u64)>> {
    match backing {
        Backing::Embedded => Ok(None),
        Backing::Services {
            nats_url, shard, ..
        } => {
            let head = store(backing, data).await?.head().await?.position;
            Ok(Some(jetstream_once(nats_url, shard, head).await?))
        }
    }
}

/// The read models against a rebuild in the middle of the campaign: the process that writes
/// them (`loh up` embedded, `projections` on the services) is killed, the read models are
/// caught up and compared, and it is started again on its own checkpoints.
async fn read_models_between_faults(
    backing: &Backing,
    data: &Path,
    game: &mut Game,
) -> anyhow::Result<Vec<String>> {
    let at = game
        .roles
        .iter()
        .position(|r| r.name == "loh up" || r.name == "projections")
        .context("no process writes the read models")?;
    let role = game.roles.remove(at);
    let (name, args, health) = (role.name, role.args.clone(), role.health);
    drop(role);
    let differing = read_models_vs_rebuild(backing, data).await?;
    let (back, _) = start_role(backing, data, name, args, health).await?;
    game.roles.insert(at, back);
    Ok(differing)
}

/// What the checks after a fault found, for its line.
fn after_fault(stream: Option<(u64, u64, u64)>, differing: &[String]) -> String {
    let stream = match stream {
        None => String::new(),
        Some((messages, 0, 0)) => format!("; JetStream exact ({messages} messages)"),
        Some((_, repeated, missing)) => {
            format!("; JetStream: {repeated} positions REPEATED, {missing} MISSING")
        }
    };
    let models = match differing {
        [] => "read models equal a rebuild".to_owned(),
        d => format!("read models DIFFER from a rebuild: {}", d.join(", ")),
    };
    format!("{stream}; {models}")
}

fn verdict(intact: bool, conserved: bool) -> String {
    format!(
        "chain {}; value {}",
        if intact { "intact" } else { "BROKEN" },
        if conserved {
            "conserved"
        } else {
            "NOT CONSERVED"
        }
    )
}

/// The backing `args` ask for: the real services need all three URLs (from the environment, or
/// of the `private` instances).
fn backing(
    args: &ChaosArgs,
    data: &Path,
    private: Option<&services::Services>,
) -> anyhow::Result<Backing> {
    if !args.services {
        return Ok(Backing::Embedded);
    }
    let var = |name: &str| match private {
        Some(p) => Ok(match name {
            "DATABASE_URL" => p.postgres.url(),
            "NATS_URL" => p.nats.url(),
            _ => p.redis.url(),
        }),
        None => std::env::var(name)
            .with_context(|| format!("--services needs {name} in the environment (or --private)")),
    };
    let key = loh_auth::SigningKey::generate().context("making a signing key")?;
    let key_file = data.join("chaos-jwt-key.pem");
    let public_file = data.join("chaos-jwt-public.pem");
    std::fs::write(&key_file, key.private_pem())?;
    std::fs::write(&public_file, key.public_pem())?;
    Ok(Backing::Services {
        db_url: var("DATABASE_URL")?,
        nats_url: var("NATS_URL")?,
        redis_url: var("REDIS_URL")?,
        shard: args
            .shard
            .clone()
            .unwrap_or_else(|| format!("chaos{}", &Uuid::new_v4().simple().to_string()[..8])),
        key_file,
        public_file,
    })
}

/// The faults to draw from: those asked (each checked), else every one that applies.
fn kinds(args: &ChaosArgs, game: &Game) -> anyhow::Result<Vec<&'static str>> {
    let mut all: Vec<&'static str> = game.roles.iter().map(|r| r.name).collect();
    if args.private {
        all.extend(SERVICE_KINDS);
    }
    if args.disk_mib.is_some() {
        all.push("disk-full");
    }
    if args.kinds.is_empty() {
        return Ok(all);
    }
    args.kinds
        .iter()
        .map(|k| {
            let k = if k == "loh-up" { "loh up" } else { k.as_str() };
            all.iter().copied().find(|a| *a == k).with_context(|| {
                let hint = if SERVICE_KINDS.contains(&k) {
                    " (it needs --services --private)"
                } else if k == "disk-full" {
                    " (it needs --disk-mib)"
                } else {
                    ""
                };
                format!(
                    "--kinds: {k} is not a fault of this campaign{hint}; it has {}",
                    all.join(", ")
                )
            })
        })
        .collect()
}

/// Waits (up to 180 s) until every process of the game answers `/healthz` with 200 again;
/// returns how long that took.
async fn healthy_again(game: &Game) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let http = loh_bench::loadgen::net::http_client(std::net::Ipv4Addr::LOCALHOST)?;
    for role in &game.roles {
        let url = format!("http://{}/healthz", role.health);
        loop {
            let answer = http.get(&url).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(180),
                "{} was not healthy within 180 s of the fault",
                role.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(started.elapsed())
}

/// Runs the campaign.
pub async fn run(args: ChaosArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.min_secs > 0.0 && args.max_secs >= args.min_secs,
        "--min-secs must be above 0 and at most --max-secs"
    );
    let data = match &args.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("loh-chaos-{}", Uuid::new_v4().simple())),
    };
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    anyhow::ensure!(
        args.nats_outage > 0.0,
        "--nats-outage must be above 0 seconds"
    );
    if let Some(k) = args
        .kinds
        .iter()
        .find(|k| !args.private && SERVICE_KINDS.contains(&k.as_str()))
    {
        anyhow::bail!("--kinds {k} needs --services --private (the campaign's own services)");
    }
    anyhow::ensure!(
        args.disk_full_secs > 0.0,
        "--disk-full-secs must be above 0 seconds"
    );
    let disk = args
        .disk_mib
        .map(|mib| SmallDisk::mount(&data, mib))
        .transpose()?;
    let mut private = match args.private {
        true => Some(
            services::Services::start()
                .await
                .context("starting the campaign's own PostgreSQL, NATS and Redis")?,
        ),
        false => None,
    };
    let backing = backing(&args, &data, private.as_ref())?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let say = |line: String| {
        if !args.json {
            println!("{line}");
        }
    };
    let mut game = start(&backing, &data, args.tick_ms).await?;
    let kinds = kinds(&args, &game)?;
    say(format!(
        "loh chaos: {} faults (one of {} at a time while {} bots play), {} ms ticks, data in {}",
        args.faults,
        kinds.join(", "),
        args.players,
        args.tick_ms,
        data.display()
    ));
    let options = |ticks: u64, seed: u64, game: &Game| Options {
        url: format!("http://{}", game.game),
        scenario: Scenario::Market,
        players: args.players as usize,
        ramp: Duration::from_secs(1),
        ticks,
        account_prefix: Some("chaos".into()),
        login_concurrency: 8,
        server_pid: Some(game.roles[0].child.id()),
        seed,
        ..Options::default()
    };
    // A round lasts until a little after its fault, so the bots play on either side of it
    // (a killed game server ends it sooner).
    let round_ticks = ((args.max_secs + 2.0) * 1000.0 / args.tick_ms as f64).ceil() as u64;
    let mut acknowledged: Vec<(Uuid, u64)> = Vec::new();
    let mut faults: Vec<Fault> = Vec::new();
    for n in 0..args.faults {
        let load = options(round_ticks, args.seed.wrapping_add(u64::from(n)), &game);
        let bots = tokio::spawn(async move { loadgen::run(&load, |_| {}).await });
        let after = rng.random_range(args.min_secs..=args.max_secs);
        tokio::time::sleep(Duration::from_secs_f64(after)).await;
        let name = kinds[rng.random_range(0..kinds.len())];
        let (what, recovery) = match (name, private.as_mut()) {
            ("nats", Some(p)) => {
                p.nats.stop();
                tokio::time::sleep(Duration::from_secs_f64(args.nats_outage)).await;
                p.nats.start().await?;
                let what = format!("NATS stopped for {:.0} s", args.nats_outage);
                (what, healthy_again(&game).await?)
            }
            ("postgres", Some(p)) => {
                p.postgres.stop()?;
                p.postgres.start().await?;
                (
                    "PostgreSQL restarted".to_owned(),
                    healthy_again(&game).await?,
                )
            }
            ("redis", Some(p)) => {
                p.redis.stop();
                p.redis.start().await?;
                ("Redis restarted".to_owned(), healthy_again(&game).await?)
            }
            ("disk-full", _) => {
                let disk = disk.as_ref().context("disk-full without --disk-mib")?;
                let took = disk.fill()?;
                tokio::time::sleep(Duration::from_secs_f64(args.disk_full_secs)).await;
                disk.free()?;
                let what = format!(
                    "data folder's filesystem full ({:.1} MiB filled) for {:.0} s",
                    took as f64 / (1 << 20) as f64,
                    args.disk_full_secs
                );
                (what, healthy_again(&game).await?)
            }
            _ => {
                let victim = game
                    .roles
                    .iter()
                    .position(|r| r.name == name)
                    .with_context(|| format!("no process {name}"))?;
                let (role_args, health) = {
                    let role = &mut game.roles[victim];
                    role.child
                        .kill()
                        .with_context(|| format!("SIGKILL {}", role.name))?;
                    role.child.wait()?;
                    (role.args.clone(), role.health)
                };
                let (back, recovery) = start_role(&backing, &data, name, role_args, health).await?;
                game.roles[victim] = back;
                (format!("kill -9 {name}"), recovery)
            }
        };
        let report = bots.await.context("the bots' task")??;
        acknowledged.extend(report.acknowledged);
        let (t, intact, conserved) = check(&backing, &data, &acknowledged).await?;
        let stream = stream_now(&backing, &data).await?;
        let differing = read_models_between_faults(&backing, &data, &mut game).await?;
        say(format!(
            "fault {}: {what} after {after:.1} s; healthy again in {:.2} s; {} acknowledged so far, {} lost, {} duplicated; {}{}",
            n + 1,
            recovery.as_secs_f64(),
            t.acknowledged,
            t.lost,
            t.duplicated,
            verdict(intact, conserved),
            after_fault(stream, &differing),
        ));
        faults.push(Fault {
            kind: name,
            after_secs: after,
            recovery_secs: recovery.as_secs_f64(),
            tally: t,
            intact,
            conserved,
            stream,
            differing,
        });
    }
    // A last quiet round: the bots play, finish and close; then the last checks.
    let load = options(20, args.seed.wrapping_add(u64::from(args.faults)), &game);
    let report = loadgen::run(&load, |_| {}).await?;
    acknowledged.extend(report.acknowledged);
    // Every event on JetStream once, checked while the relay (in the tick writer) still runs.
    let stream = stream_now(&backing, &data).await?;
    drop(game);
    let (end, intact, conserved) = check(&backing, &data, &acknowledged).await?;
    let differing = read_models_vs_rebuild(&backing, &data).await?;
    drop(private);
    drop(disk);

    // Recovery by kind of fault: p50 (the lower median) and max.
    let mut recovery: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    for f in &faults {
        recovery.entry(f.kind).or_default().push(f.recovery_secs);
    }
    let recovery: Vec<(&str, f64, f64, usize)> = recovery
        .into_iter()
        .map(|(kind, mut secs)| {
            secs.sort_by(f64::total_cmp);
            let p50 = secs[(secs.len() - 1) / 2];
            (kind, p50, secs[secs.len() - 1], secs.len())
        })
        .collect();
    let failed = end.lost > 0
        || end.duplicated > 0
        || !intact
        || !conserved
        || !stream_exact(stream)
        || !differing.is_empty()
        || faults.iter().any(Fault::failed);
    if args.json {
        let per_fault: Vec<serde_json::Value> = faults
            .iter()
            .map(|f| {
                serde_json::json!({
                    "kind": f.kind, "after_secs": f.after_secs, "recovery_secs": f.recovery_secs,
                    "acknowledged": f.tally.acknowledged, "lost": f.tally.lost,
                    "duplicated": f.tally.duplicated, "intact": f.intact, "conserved": f.conserved,
                    "jetstream": f.stream.map(|(messages, repeated, missing)| serde_json::json!({
                        "messages": messages, "repeated": repeated, "missing": missing,
                    })),
                    "read_models_differing": f.differing, "failed": f.failed(),
                })
            })
            .collect();
        let by_kind: serde_json::Map<String, serde_json::Value> = recovery
            .iter()
            .map(|(kind, p50, max, n)| {
                (
                    (*kind).to_owned(),
                    serde_json::json!({"faults": n, "p50": p50, "max": max}),
                )
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "faults": faults.len(), "players": args.players, "tick_ms": args.tick_ms,
                "services": args.services,
                "acknowledged": end.acknowledged, "lost": end.lost, "duplicated": end.duplicated,
                "intact": intact, "conserved": conserved, "recovery_secs": by_kind,
                "jetstream": stream.map(|(messages, repeated, missing)| serde_json::json!({
                    "messages": messages, "repeated": repeated, "missing": missing,
                })),
                "read_models_differing": differing,
                "per_fault": per_fault, "data_dir": data, "failed": failed,
            })
        );
    } else {
        let by_kind: Vec<String> = recovery
            .iter()
            .map(|(kind, p50, max, n)| format!("{kind} ×{n}: p50 {p50:.2} s, max {max:.2} s"))
            .collect();
        println!(
            "faults injected: {}; commands acknowledged: {}; lost: {}; duplicated: {}; {}; \
             back to healthy by fault kind: {}",
            faults.len(),
            end.acknowledged,
            end.lost,
            end.duplicated,
            verdict(intact, conserved),
            by_kind.join("; "),
        );
        if let Some((messages, repeated, missing)) = stream {
            println!(
                "JetStream: {messages} messages, {repeated} positions repeated, {missing} missing"
            );
        }
        if differing.is_empty() {
            println!("read models: every one equals a rebuild from the log");
        } else {
            println!(
                "read models differing from a rebuild: {}",
                differing.join(", ")
            );
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledged_command_missing_rejected_or_journaled_twice_is_counted() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let journal = [
            (a, 1, true),
            (a, 2, true),
            (a, 3, false),
            (b, 1, true),
            (b, 1, true),
        ];
        let ok = tally(&[(a, 1), (a, 2), (b, 1)], &journal);
        assert_eq!(
            ok,
            Tally {
                acknowledged: 3,
                lost: 0,
                duplicated: 1
            }
        );
        // a's 3 was journaled rejected, a's 4 not at all: both lost.
        let lost = tally(&[(a, 1), (a, 3), (a, 4), (a, 4)], &journal[..4]);
        assert_eq!(
            lost,
            Tally {
                acknowledged: 3,
                lost: 2,
                duplicated: 0
            }
        );
    }
}
