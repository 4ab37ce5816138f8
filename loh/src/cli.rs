//! The command line: the subcommands and their dispatch. Each subcommand family lives in its own
//! module with its arguments and its run function; the options that configure the server are
//! the typed groups of [`crate::config`]. Every flag can also be set by its environment
//! variable; secrets only by environment.

use crate::analyst_token::AnalystTokenArgs;
use crate::bench::BenchArgs;
use crate::broadcast::BroadcastArgs;
use crate::chaos::ChaosArgs;
use crate::config::{DbArgs, RoleArgs, UpArgs};
use crate::loadgen::LoadgenArgs;
use crate::projections::ProjectionsArgs;
use crate::replay::ReplayArgs;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    /// Load a game server on this machine with real WebSocket bots, one command per bot per
    /// tick, and report what they saw and what the server measured; fails when the server
    /// closed a connection or left a command unanswered.
    Loadgen(LoadgenArgs),
    /// A kill campaign: `loh up` killed with SIGKILL at random moments while load-generator
    /// bots play, restarted each time; checks every acknowledged command is in the log once,
    /// the chain intact and value conserved, and fails on any loss.
    Chaos(ChaosArgs),
    /// Print an analyst's access token (reads every player's data and the economy endpoints of
    /// the query API), signed with the server's key.
    AnalystToken(AnalystTokenArgs),
    /// Send a world-wide system message to every player of every world on the shared Redis.
    Broadcast(BroadcastArgs),
}

/// Runs a subcommand; the exit code says whether it found a problem.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(args) => crate::roles::up(args).await,
        Command::TickWriter(args) => crate::roles::tick_writer(args).await,
        Command::QueryApi(args) => crate::roles::query_api(args).await,
        Command::Projections(args) => crate::projections::run(args.action).await,
        Command::Migrate(args) => crate::migrate::run(args).await,
        Command::Replay(args) => crate::replay::run(args.action).await,
        Command::Bench(args) => crate::bench::run(args.which).await,
        Command::Loadgen(args) => crate::loadgen::run(args).await,
        Command::Chaos(args) => crate::chaos::run(args).await,
        Command::AnalystToken(args) => crate::analyst_token::run(args),
        Command::Broadcast(args) => crate::broadcast::run(args).await,
    }
}
