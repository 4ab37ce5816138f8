//! `loh bench …`: the benchmarks of `loh-bench`; each figure is printed as a ratio against a
//! limit measured in the same run.

use crate::config::{BenchDatabaseArgs, BenchNatsArgs, BenchRedisArgs, ExposeSecret, SecretString};
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: BenchWhich,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhich {
    /// Event-store appends ÷ raw COPY of the same rows into the same PostgreSQL.
    #[command(mut_arg("database_url", |arg| arg.help(
        "Maintenance URL of the PostgreSQL to measure (a scratch database is made in it)"
    )))]
    Append {
        #[command(flatten)]
        postgres: BenchDatabaseArgs,
        /// Events to append.
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Events per append (one tick's batch).
        #[arg(long, default_value_t = 2_000)]
        batch: usize,
        /// Journal rows each append also stores (one tick's commands; 0: events alone).
        #[arg(long, default_value_t = 0)]
        journal: usize,
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
    /// Every viewer's frame of a tick (the tick writer's fan-out) with many simulated players of
    /// a load scenario, in process, as a fraction of the 400 ms budget.
    Fanout {
        /// `crowd` (everyone at the spawn) or `spread` (scattered over the map).
        #[arg(long, default_value = "crowd")]
        scenario: loh_bench::loadgen::scenario::Scenario,
        /// Simulated players, each issuing one command per tick.
        #[arg(long, default_value_t = 2_500)]
        players: usize,
        /// Ticks to measure.
        #[arg(long, default_value_t = 50)]
        ticks: usize,
        /// The map's side in tiles (for `spread`).
        #[arg(long, default_value_t = 1_000)]
        map_tiles: u32,
        /// Most other players in one viewer's view.
        #[arg(long, default_value_t = 255)]
        view_players: usize,
        /// Most bytes of events in one viewer's update.
        #[arg(long, default_value_t = 4_096)]
        view_bytes: usize,
    },
    /// `replay verify` and a full fold ÷ a raw sequential read of the same events, on a history
    /// made by the real tick writer in a scratch SQLite file (or PostgreSQL with --database-url).
    Replay {
        /// Maintenance URL of a PostgreSQL to measure on (a scratch database is made in it);
        /// without it, a scratch SQLite file.
        #[arg(long)]
        database_url: Option<SecretString>,
        /// Players in the generated history.
        #[arg(long, default_value_t = 500)]
        players: usize,
        /// Ticks in the generated history.
        #[arg(long, default_value_t = 400)]
        ticks: usize,
    },
    /// The tick writer's start-up on a log of --events events, folding the whole log against
    /// loading a snapshot and folding the --tail after it, on a scratch store (SQLite, or
    /// PostgreSQL with --database-url); each figure with its ratio to the other.
    Restart {
        /// Maintenance URL of a PostgreSQL to measure on (a scratch database is made in it);
        /// without it, a scratch SQLite file.
        #[arg(long)]
        database_url: Option<SecretString>,
        /// Events in the log.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Players the events are spread over (the snapshot's size grows with them).
        #[arg(long, default_value_t = 2_500)]
        players: usize,
        /// Events after the snapshot (folded on top of it).
        #[arg(long, default_value_t = 100_000)]
        tail: u64,
    },
    /// Projection lag (commit → every projector's checkpoint) while the game world benchmark's
    /// load runs through the tick writer, the relay, JetStream and the projectors, as a fraction
    /// of the 400 ms tick.
    Lag {
        #[command(flatten)]
        postgres: BenchDatabaseArgs,
        #[command(flatten)]
        nats: BenchNatsArgs,
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
        #[command(flatten)]
        postgres: BenchDatabaseArgs,
        #[command(flatten)]
        redis: BenchRedisArgs,
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
        #[command(flatten)]
        postgres: BenchDatabaseArgs,
        #[command(flatten)]
        nats: BenchNatsArgs,
        /// Events to relay.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
    },
}

/// Runs one benchmark and prints its report.
pub async fn run(which: BenchWhich) -> anyhow::Result<ExitCode> {
    match which {
        BenchWhich::Append {
            postgres,
            events,
            batch,
            journal,
        } => {
            let url = postgres.database_url.expose_secret();
            let report = loh_bench::append::append_vs_copy(url, events, batch, journal).await?;
            println!("{report}");
        }
        BenchWhich::Replay {
            database_url,
            players,
            ticks,
        } => {
            let url = database_url.as_ref().map(|url| url.expose_secret());
            let report = loh_bench::replay::run(url, players, ticks).await?;
            println!("{report}");
        }
        BenchWhich::Restart {
            database_url,
            events,
            players,
            tail,
        } => {
            let url = database_url.as_ref().map(|url| url.expose_secret());
            let report = loh_bench::restart::run(url, events, players, tail).await?;
            println!("{report}");
        }
        BenchWhich::Tick { players, ticks } => {
            let report = tokio::task::spawn_blocking(move || {
                loh_bench::world::tick_benchmark(players, ticks)
            })
            .await?;
            println!("{report}");
        }
        BenchWhich::Fanout {
            scenario,
            players,
            ticks,
            map_tiles,
            view_players,
            view_bytes,
        } => {
            let limits = loh_tick_writer::fanout::ViewLimits {
                max_players: view_players,
                max_bytes: view_bytes,
            }
            .clamped();
            let report = tokio::task::spawn_blocking(move || {
                loh_bench::fanout::fan_out_benchmark(scenario, players, ticks, map_tiles, limits)
            })
            .await??;
            println!("{report}");
        }
        BenchWhich::Leaderboard {
            postgres,
            redis,
            players,
            clients,
            secs,
        } => {
            let report = loh_bench::leaderboard::leaderboard_benchmark(
                postgres.database_url.expose_secret(),
                redis.redis_url.expose_secret(),
                players,
                clients,
                secs,
            )
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
            println!("{report}");
        }
        BenchWhich::Lag {
            postgres,
            nats,
            players,
            ticks,
            partitions,
        } => {
            let report = loh_bench::lag::projection_lag(
                postgres.database_url.expose_secret(),
                nats.nats_url.expose_secret(),
                players,
                ticks,
                partitions,
            )
            .await?;
            println!("{report}");
        }
        BenchWhich::Relay {
            postgres,
            nats,
            events,
        } => {
            let report = loh_bench::relay::relay_vs_raw_publish(
                postgres.database_url.expose_secret(),
                nats.nats_url.expose_secret(),
                events as u64,
            )
            .await?;
            println!("{report}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
