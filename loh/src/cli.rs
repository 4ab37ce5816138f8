//! The subcommands and their configuration. Every flag can also be set by its environment
//! variable; secrets only by environment.

use crate::app::{self, AuthSettings, Backing, Settings};
use crate::embedded::DataDir;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use loh_projections::ReadDb;
use loh_tick_writer::tick::Pacing;
use loh_world::MapConfig;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// loh: the server-authoritative backend of Legends of Hastinapur.
#[derive(Debug, Parser)]
#[command(name = "loh", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole game in one process. With no configuration: embedded SQLite in the data
    /// folder and an in-process bus; with DATABASE_URL and NATS_URL: the real services.
    Up(UpArgs),
    /// Run the game server (tick writer, WebSocket gateway, auth) and the relay to NATS.
    TickWriter(RoleArgs),
    /// Run, rebuild or inspect the projections.
    Projections(ProjectionsArgs),
    /// Run the query API.
    QueryApi(RoleArgs),
    /// Apply the database migrations and exit.
    Migrate(DbArgs),
    /// Investigator tools over the event store.
    Replay(ReplayArgs),
    /// Benchmarks; each figure is printed as a ratio against a limit measured in the same run.
    Bench(BenchArgs),
    /// Print an analyst's access token (reads every player's data and the economy endpoints of
    /// the query API), signed with the server's key.
    AnalystToken(AnalystTokenArgs),
}

#[derive(Debug, Args)]
pub struct AnalystTokenArgs {
    /// File holding the server's RSA private key (PEM); the key may instead be in LOH_JWT_KEY.
    /// Without either, the key of the embedded data folder.
    #[arg(long, env = "LOH_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,
    /// The data folder of the embedded mode (its key must exist: `loh up` makes it).
    #[arg(long, env = "LOH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Who the token names (its `sub`); a new id when not given.
    #[arg(long)]
    pub subject: Option<uuid::Uuid>,
    /// Minutes until it expires (it cannot be revoked before): 1 to 1440.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=1440))]
    pub ttl_minutes: i64,
}

/// Options shared by every role.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// The shard (world) this process serves.
    #[arg(long, env = "LOH_SHARD", default_value = "world1")]
    pub shard: String,
    /// Address of the game server (WebSocket, auth).
    #[arg(long, env = "LOH_GAME_ADDR", default_value = "127.0.0.1:7777")]
    pub game_addr: SocketAddr,
    /// Address of the query API.
    #[arg(long, env = "LOH_QUERY_ADDR", default_value = "127.0.0.1:8088")]
    pub query_addr: SocketAddr,
    /// Fixed tick length in milliseconds (online worlds use 400).
    #[arg(long, env = "LOH_TICK_MS")]
    pub tick_ms: Option<u32>,
    /// Redis (sessions, refresh tokens, the single-session lock); without it they live in this
    /// process, which is right for one instance only.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key.
    #[arg(long, env = "LOH_REDIS_PREFIX", default_value = "loh")]
    pub redis_prefix: String,
    /// File holding the RSA private key (PEM) that signs access tokens. The key itself may
    /// instead be given in the LOH_JWT_KEY environment variable.
    #[arg(long, env = "LOH_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,
    /// Browser origins allowed to call the game server, comma-separated
    /// (e.g. <https://play.example.com>).
    #[arg(long, env = "LOH_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
}

impl Common {
    fn settings(&self, default_pacing: Pacing) -> anyhow::Result<Settings> {
        let pacing = match self.tick_ms {
            Some(ms) => {
                anyhow::ensure!(
                    (50..=10_000).contains(&ms),
                    "--tick-ms must be 50 to 10000, not {ms}"
                );
                Pacing::Fixed { tick_ms: ms }
            }
            None => default_pacing,
        };
        let signing_key_pem = match (&self.jwt_key_file, std::env::var("LOH_JWT_KEY").ok()) {
            (_, Some(pem)) => Some(pem),
            (Some(path), None) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            ),
            (None, None) => None,
        };
        Ok(Settings {
            shard: self.shard.clone(),
            game_addr: self.game_addr,
            query_addr: self.query_addr,
            pacing,
            map: MapConfig::default(),
            auth: AuthSettings {
                signing_key_pem,
                redis_url: self.redis_url.clone(),
                redis_prefix: self.redis_prefix.clone(),
                allowed_origins: self.allowed_origins.clone(),
            },
            stream: None,
        })
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub common: Common,
    /// The data folder of the embedded mode.
    #[arg(long, env = "LOH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL; with NATS_URL, runs on the real services instead of the data folder.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// NATS URL (JetStream enabled).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// PostgreSQL URL (or a sqlite: URL for an embedded data file).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
}

#[derive(Debug, Args)]
pub struct RoleArgs {
    #[command(flatten)]
    pub common: Common,
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// NATS URL (JetStream enabled); needed by the tick writer and the projections.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Query API: the PEM public key that verifies access tokens, so the query API never holds
    /// the private key (`openssl rsa -in jwt-key.pem -pubout`).
    #[arg(long, env = "LOH_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProjectionsArgs {
    #[command(subcommand)]
    pub action: ProjectionsAction,
}

// Parsed once per process; the size of the `Run` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ProjectionsAction {
    /// Keep every read model up to date from JetStream.
    Run {
        #[command(flatten)]
        role: RoleArgs,
        /// Address of this process's /healthz and /metrics.
        #[arg(long, env = "LOH_HEALTH_ADDR", default_value = "127.0.0.1:9090")]
        health_addr: SocketAddr,
        /// Projectors per hot read model (holdings, wallet, skills, profile, player_position),
        /// each applying the rows of the players that hash to it. Changing it re-arranges the
        /// checkpoints at start-up without a rebuild; every projections process of a shard must
        /// use the same number.
        #[arg(long, env = "LOH_PROJECTION_PARTITIONS", default_value_t = 1,
              value_parser = clap::value_parser!(u32).range(1..=64))]
        partitions: u32,
    },
    /// Rebuild a read model from position 0 (stop its runners first).
    Rebuild {
        /// The read model, e.g. player_position.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Checkpoint, head and lag of every read model.
    Status {
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the event store is: PostgreSQL, or the embedded data folder by default.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// PostgreSQL URL; without it, the embedded data folder.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// The data folder of the embedded mode.
    #[arg(long, env = "LOH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The shard to read.
    #[arg(long, env = "LOH_SHARD", default_value = "world1")]
    pub shard: String,
}

impl StoreArgs {
    fn backing(&self) -> anyhow::Result<Backing> {
        Ok(match &self.database_url {
            Some(url) => Backing::Services {
                database_url: url.clone(),
                nats_url: String::new(),
            },
            None => Backing::Embedded(DataDir::open(&self.data_dir)?),
        })
    }

    fn read_url(&self, backing: &Backing) -> String {
        match backing {
            Backing::Embedded(dir) => dir.database_url(),
            Backing::Services { database_url, .. } => database_url.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(subcommand)]
    pub action: ReplayAction,
}

#[derive(Debug, Subcommand)]
pub enum ReplayAction {
    /// Walk the hash chain; report the first break, or "intact" with the count.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// The server's RSA public key (SPKI PEM file) to check the checkpoints' signatures;
        /// embedded, the data folder's key is used when this is not given.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Check an evidence bundle folder (from `export`) instead of the store, offline.
        #[arg(long)]
        bundle: Option<PathBuf>,
    },
    /// Write a player's evidence bundle (events with chain proofs, journal, checkpoints,
    /// timeline, scan findings) that `verify --bundle` checks without the database.
    Export {
        /// The player's id.
        player: uuid::Uuid,
        /// The folder to write (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// The server's RSA public key (SPKI PEM file) to put in the bundle; embedded, the data
        /// folder's key is used when this is not given.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// A read model against the same model refolded from the events; lists every row that
    /// differs and exits non-zero when any does.
    Diff {
        /// The projection's name (see `loh projections status`).
        projection: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every command (accepted and rejected) and every event touching a player, in order.
    Timeline {
        /// The player's id.
        player: uuid::Uuid,
        #[command(flatten)]
        store: StoreArgs,
        /// First tick to show.
        #[arg(long)]
        from_tick: Option<u64>,
        /// Last tick to show.
        #[arg(long)]
        to_tick: Option<u64>,
        /// First wall-clock time to show (RFC 3339 UTC, e.g. 2026-11-29T14:00:00Z).
        #[arg(long)]
        from_time: Option<String>,
        /// Last wall-clock time to show (RFC 3339 UTC).
        #[arg(long)]
        to_time: Option<String>,
        /// Kinds to keep (repeatable): an event or command kind, or command, event, accepted,
        /// rejected.
        #[arg(long)]
        kind: Vec<String>,
        /// Output: table, json or csv.
        #[arg(long, default_value = "table", value_parser = ["table", "json", "csv"])]
        format: String,
    },
    /// A player's inventory, bank, equipment, skills, position and wallet at a tick or time.
    State {
        /// The player's id.
        player: uuid::Uuid,
        /// A tick number, or an RFC 3339 UTC time.
        #[arg(long)]
        at: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Anomaly rules over a tick range; exits non-zero when anything is found.
    Scan {
        #[command(flatten)]
        store: StoreArgs,
        /// First tick to report on.
        #[arg(long)]
        from_tick: Option<u64>,
        /// Last tick to report on.
        #[arg(long)]
        to_tick: Option<u64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Re-run the command journal through the world from genesis; compare byte for byte.
    Resimulate {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: BenchWhich,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhich {
    /// Event-store appends ÷ raw COPY of the same rows into the same PostgreSQL.
    Append {
        /// Maintenance URL of the PostgreSQL to measure (a scratch database is made in it).
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres"
        )]
        database_url: String,
        /// Events to append.
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Events per append (one tick's batch).
        #[arg(long, default_value_t = 2_000)]
        batch: usize,
    },
    /// Tick cost with many simulated players, as a fraction of the 400 ms budget.
    Tick {
        /// Simulated players, each issuing one command per tick.
        #[arg(long, default_value_t = 2_500)]
        players: usize,
        /// Ticks to measure.
        #[arg(long, default_value_t = 200)]
        ticks: usize,
    },
    /// `replay verify` and a full fold ÷ a raw sequential read of the same events, on a history
    /// made by the real tick writer in a scratch SQLite file (or PostgreSQL with --database-url).
    Replay {
        /// Maintenance URL of a PostgreSQL to measure on (a scratch database is made in it);
        /// without it, a scratch SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// Players in the generated history.
        #[arg(long, default_value_t = 500)]
        players: usize,
        /// Ticks in the generated history.
        #[arg(long, default_value_t = 400)]
        ticks: usize,
    },
    /// Projection lag (commit → every projector's checkpoint) while the game world benchmark's
    /// load runs through the tick writer, the relay, JetStream and the projectors, as a fraction
    /// of the 400 ms tick.
    Lag {
        /// Maintenance URL of the PostgreSQL to use (a scratch database is made in it).
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres"
        )]
        database_url: String,
        /// NATS URL (JetStream enabled).
        #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
        nats_url: String,
        /// Players, each sending one command per tick.
        #[arg(long, default_value_t = 2_500)]
        players: usize,
        /// Ticks to measure (400 ms each).
        #[arg(long, default_value_t = 150)]
        ticks: usize,
        /// Projectors per hot read model (as `loh projections run --partitions`).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        partitions: u32,
    },
    /// Leaderboard page and rank lookups (snapshot and Redis) ÷ a bare axum endpoint on the
    /// same server, in requests per second.
    Leaderboard {
        /// Maintenance URL of the PostgreSQL to use (a scratch database is made in it).
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres"
        )]
        database_url: String,
        /// Redis URL (a fresh key prefix is used and deleted).
        #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
        redis_url: String,
        /// Players on the board.
        #[arg(long, default_value_t = 10_000)]
        players: usize,
        /// Concurrent keep-alive clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seconds per figure.
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
    },
    /// Relay publishes ÷ a raw async-nats publish loop of the same payloads.
    Relay {
        /// Maintenance URL of the PostgreSQL to use (a scratch database is made in it).
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres"
        )]
        database_url: String,
        /// NATS URL (JetStream enabled).
        #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
        nats_url: String,
        /// Events to relay.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
    },
}

/// Runs a subcommand; the exit code says whether it found a problem.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(args) => {
            let flexible = Pacing::Flexible {
                floor_ms: 200,
                max_ms: 400,
            };
            let running = match (args.database_url, args.nats_url) {
                (Some(database_url), Some(nats_url)) => {
                    let settings = args.common.settings(Pacing::Fixed { tick_ms: 400 })?;
                    let backing = Backing::Services {
                        database_url,
                        nats_url,
                    };
                    app::start_up(backing, settings).await?
                }
                (None, None) => {
                    let dir = DataDir::open(&args.data_dir)?;
                    tracing::info!(data = %dir.root().display(), "embedded mode");
                    app::start_up(Backing::Embedded(dir), args.common.settings(flexible)?).await?
                }
                _ => anyhow::bail!("set both DATABASE_URL and NATS_URL, or neither"),
            };
            serve_until_signal(running).await
        }
        Command::TickWriter(args) => {
            let settings = args.common.settings(Pacing::Fixed { tick_ms: 400 })?;
            let running =
                app::start_tick_writer(args.database_url, args.nats_url, settings).await?;
            serve_until_signal(running).await
        }
        Command::QueryApi(args) => {
            let settings = args.common.settings(Pacing::Fixed { tick_ms: 400 })?;
            let public_key = match &args.jwt_public_key_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading the public key {}", path.display()))?,
                ),
                None => None,
            };
            let running = app::start_query_api(args.database_url, settings, public_key).await?;
            serve_until_signal(running).await
        }
        Command::Projections(p) => projections(p.action).await,
        Command::Migrate(args) => {
            let backing = Backing::Services {
                database_url: args.database_url,
                nats_url: String::new(),
            };
            app::open_store(&backing, "migrate").await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(r) => replay(r.action).await,
        Command::Bench(b) => bench(b.which).await,
        Command::AnalystToken(args) => analyst_token(args),
    }
}

/// The server's public key for checkpoint signatures: the given PEM file, else (embedded) the
/// data folder's signing key's public half, else none.
fn public_pem(store: &StoreArgs, public_key: Option<PathBuf>) -> anyhow::Result<Option<String>> {
    if let Some(path) = public_key {
        return std::fs::read_to_string(&path)
            .map(Some)
            .with_context(|| format!("reading {}", path.display()));
    }
    if store.database_url.is_some() {
        return Ok(None);
    }
    let key = store.data_dir.join(crate::embedded::KEY_FILE);
    match std::fs::read_to_string(&key) {
        Ok(pem) => Ok(Some(
            loh_auth::SigningKey::from_pem(&pem)
                .with_context(|| format!("loading {}", key.display()))?
                .public_pem()
                .to_owned(),
        )),
        Err(_) => Ok(None),
    }
}

/// `loh replay …`: thin over `loh-replay`; non-zero exit when a problem is found.
async fn replay(action: ReplayAction) -> anyhow::Result<ExitCode> {
    let open = |store: StoreArgs| async move {
        let backing = store.backing()?;
        anyhow::Ok(app::open_store(&backing, &store.shard).await?)
    };
    let ok = |fine: bool| {
        if fine {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    };
    let progress = |what: &'static str| crate::progress::Counter::new(what).callback();
    match action {
        ReplayAction::Verify {
            store,
            public_key,
            bundle,
        } => {
            let pem = public_pem(&store, public_key)?;
            if let Some(dir) = bundle {
                let report = loh_replay::bundle::verify_bundle(&dir, pem.as_deref())?;
                println!("{report}");
                return Ok(ok(report.is_intact()));
            }
            let store = open(store).await?;
            let report = loh_replay::verify_signed(
                store.as_ref(),
                pem.as_deref(),
                progress("verified events"),
            )
            .await?;
            println!("{report}");
            Ok(ok(report.is_intact()))
        }
        ReplayAction::Diff {
            projection,
            store,
            json,
        } => {
            let backing = store.backing()?;
            let events = app::open_store(&backing, &store.shard).await?;
            let live = ReadDb::connect(&store.read_url(&backing)).await?;
            let scratch = std::env::temp_dir().join(format!("loh-diff-{}", std::process::id()));
            std::fs::create_dir_all(&scratch)?;
            let report = loh_replay::diff::diff(events, &live, &projection, &scratch).await;
            let _ = std::fs::remove_dir_all(&scratch);
            let report = report?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for d in &report.differences {
                    println!(
                        "{} {:?}: live {:?}, rebuilt {:?}",
                        d.table, d.key, d.live, d.rebuilt
                    );
                }
                println!(
                    "{}: {} rows compared at position {}, {} differ",
                    report.projection,
                    report.rows_compared,
                    report.position,
                    report.differences.len()
                );
            }
            Ok(ok(report.differences.is_empty()))
        }
        ReplayAction::Export {
            player,
            out,
            store,
            public_key,
        } => {
            let pem = public_pem(&store, public_key)?;
            let store = open(store).await?;
            let manifest = loh_replay::bundle::export(
                store.as_ref(),
                player,
                pem,
                &out,
                progress("events read"),
            )
            .await?;
            println!(
                "bundle written to {}: positions {}..={}, {} findings",
                out.display(),
                manifest.from_position,
                manifest.to_position,
                manifest.findings
            );
            Ok(ExitCode::SUCCESS)
        }
        ReplayAction::Timeline {
            player,
            store,
            from_tick,
            to_tick,
            from_time,
            to_time,
            kind,
            format,
        } => {
            let time = |t: Option<String>| -> anyhow::Result<Option<i64>> {
                t.map(|t| {
                    loh_replay::time::parse_us(&t)
                        .with_context(|| format!("{t:?} is not an RFC 3339 UTC time"))
                })
                .transpose()
            };
            let filter = loh_replay::timeline::Filter {
                from_tick,
                to_tick,
                from_us: time(from_time)?,
                to_us: time(to_time)?,
                kinds: kind,
            };
            let store = open(store).await?;
            let entries = loh_replay::timeline::timeline(
                store.as_ref(),
                player,
                &filter,
                progress("events read"),
            )
            .await?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&entries)?),
                "csv" => print!("{}", loh_replay::timeline::to_csv(&entries)),
                _ => print!("{}", loh_replay::timeline::to_table(&entries)),
            }
            Ok(ExitCode::SUCCESS)
        }
        ReplayAction::State {
            player,
            at,
            store,
            json,
        } => {
            let at: loh_replay::state::At = at.parse()?;
            let store = open(store).await?;
            match loh_replay::state::state_at(store.as_ref(), player, at).await? {
                Some(state) if json => println!("{}", serde_json::to_string_pretty(&state)?),
                Some(state) => print!("{state}"),
                None => {
                    eprintln!("player {player} had not entered the world by then");
                    return Ok(ExitCode::FAILURE);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ReplayAction::Scan {
            store,
            from_tick,
            to_tick,
            json,
        } => {
            let store = open(store).await?;
            let range = loh_replay::scan::Range { from_tick, to_tick };
            let findings =
                loh_replay::scan::scan(store.as_ref(), range, progress("events scanned")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&findings)?);
            } else {
                for f in &findings {
                    let who = f.player.map(|p| p.to_string()).unwrap_or_default();
                    println!(
                        "{:<20} tick {:>7}  {who}  {}  positions {:?}  commands (tick, seq) {:?}",
                        f.rule, f.tick, f.message, f.positions, f.commands
                    );
                }
                println!("{} findings", findings.len());
            }
            Ok(ok(findings.is_empty()))
        }
        ReplayAction::Resimulate { store } => {
            let store = open(store).await?;
            let world = loh_world::World::new(MapConfig::default());
            let report = loh_replay::resimulate::resimulate(
                store.as_ref(),
                world,
                progress("resimulated ticks"),
            )
            .await?;
            println!("{report}");
            Ok(ok(report.is_identical()))
        }
    }
}

async fn projections(action: ProjectionsAction) -> anyhow::Result<ExitCode> {
    match action {
        ProjectionsAction::Run {
            role,
            health_addr,
            partitions,
        } => {
            let settings = role.common.settings(Pacing::Fixed { tick_ms: 400 })?;
            let running = app::start_projections(
                role.database_url,
                role.nats_url,
                settings,
                health_addr,
                partitions,
            )
            .await?;
            serve_until_signal(running).await
        }
        ProjectionsAction::Rebuild { name, store } => {
            let backing = store.backing()?;
            let events = app::open_store(&backing, &store.shard).await?;
            let db = ReadDb::connect(&store.read_url(&backing)).await?;
            let projection = loh_projections::by_name(&name)?;
            let position = loh_projections::rebuild::rebuild_with_progress(
                &db,
                events.as_ref(),
                projection.as_ref(),
                1_000,
                crate::progress::Counter::new("events folded").callback(),
            )
            .await
            .with_context(|| format!("rebuilding {name}"))?;
            println!("{name}: rebuilt from position 0 up to {position}");
            Ok(ExitCode::SUCCESS)
        }
        ProjectionsAction::Status { store } => {
            let backing = store.backing()?;
            let events = app::open_store(&backing, &store.shard).await?;
            let db = ReadDb::connect(&store.read_url(&backing)).await?;
            let checkpoints = db.checkpoints().await?;
            for status in loh_projections::status::status_all(&db, events.as_ref()).await? {
                println!(
                    "{:<20} checkpoint {:>10}  head {:>10}  lag {:>8} events  {:>8.3} s",
                    status.name,
                    status.checkpoint,
                    status.head,
                    status.lag_events,
                    status.lag_seconds
                );
                // A model consumed in partitions: its checkpoint is the lowest of theirs.
                let prefix = format!("{}_p", status.name);
                for (name, checkpoint) in checkpoints.iter().filter(|(n, _)| n.starts_with(&prefix))
                {
                    println!("  {name:<18} checkpoint {checkpoint:>10}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn analyst_token(args: AnalystTokenArgs) -> anyhow::Result<ExitCode> {
    let pem = match (std::env::var("LOH_JWT_KEY").ok(), &args.jwt_key_file) {
        (Some(pem), _) => pem,
        (None, Some(path)) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        (None, None) => {
            let path = args.data_dir.join(crate::embedded::KEY_FILE);
            std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {} (give --jwt-key-file, or run `loh up` once to make the key)",
                    path.display()
                )
            })?
        }
    };
    let key = loh_auth::SigningKey::from_pem(&pem).context("loading the RSA signing key")?;
    let subject = args.subject.unwrap_or_else(uuid::Uuid::new_v4);
    let token = loh_auth::Tokens::new(key).issue_analyst(subject, args.ttl_minutes * 60);
    eprintln!(
        "analyst {subject}, valid {} minutes (Authorization: Bearer <token>)",
        args.ttl_minutes
    );
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

async fn bench(which: BenchWhich) -> anyhow::Result<ExitCode> {
    match which {
        BenchWhich::Append {
            database_url,
            events,
            batch,
        } => {
            let report = loh_bench::append::append_vs_copy(&database_url, events, batch).await?;
            println!("{report}");
        }
        BenchWhich::Replay {
            database_url,
            players,
            ticks,
        } => {
            let report = loh_bench::replay::run(database_url.as_deref(), players, ticks).await?;
            println!("{report}");
        }
        BenchWhich::Tick { players, ticks } => {
            let report = tokio::task::spawn_blocking(move || {
                loh_bench::world::tick_benchmark(players, ticks)
            })
            .await?;
            println!("{report}");
        }
        BenchWhich::Leaderboard {
            database_url,
            redis_url,
            players,
            clients,
            secs,
        } => {
            let report = loh_bench::leaderboard::leaderboard_benchmark(
                &database_url,
                &redis_url,
                players,
                clients,
                secs,
            )
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
            println!("{report}");
        }
        BenchWhich::Lag {
            database_url,
            nats_url,
            players,
            ticks,
            partitions,
        } => {
            let report = loh_bench::lag::projection_lag(
                &database_url,
                &nats_url,
                players,
                ticks,
                partitions,
            )
            .await?;
            println!("{report}");
        }
        BenchWhich::Relay {
            database_url,
            nats_url,
            events,
        } => {
            let report =
                loh_bench::relay::relay_vs_raw_publish(&database_url, &nats_url, events as u64)
                    .await?;
            println!("{report}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs until SIGINT/SIGTERM or until a role stops, then shuts down gracefully.
async fn serve_until_signal(running: app::Running) -> anyhow::Result<ExitCode> {
    let cancel = running.cancel_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        cancel.cancel();
    });
    running.wait().await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `/healthz` (the read database answers) and `/metrics` for a process without another server.
pub async fn serve_health(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    addr: SocketAddr,
    db: ReadDb,
    registry: Registry,
    cancel: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let registry = Arc::new(registry);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            "/healthz",
            get(move || {
                let db = db.clone();
                async move {
                    match db.ping().await {
                        Ok(()) => (StatusCode::OK, "ok"),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "read database unreachable"),
                    }
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
