//! `loh projections run|rebuild|status`: keep the read models up to date from JetStream, rebuild
//! one from position 0, or show every model's checkpoint, head and lag.

use crate::app;
use crate::config::{ExposeSecret, ProjectionsRunArgs, StoreArgs};
use crate::shutdown::run_until_signal;
use anyhow::Context;
use clap::{Args, Subcommand};
use loh_projections::ReadDb;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ProjectionsArgs {
    #[command(subcommand)]
    pub action: ProjectionsAction,
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsAction {
    /// Keep every read model up to date from JetStream.
    Run(Box<ProjectionsRunArgs>),
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

/// Runs one `loh projections` action.
pub async fn run(action: ProjectionsAction) -> anyhow::Result<ExitCode> {
    match action {
        ProjectionsAction::Run(args) => {
            let settings = args.role.settings()?;
            let running = app::start_projections(
                args.role.database_url,
                args.role.nats_url,
                settings,
                args.health_addr,
                args.partitions,
            )
            .await?;
            run_until_signal(running).await
        }
        ProjectionsAction::Rebuild { name, store } => {
            let backing = store.backing()?;
            let events = app::open_store(&backing, &store.shard).await?;
            let db = ReadDb::connect(backing.database_url().expose_secret()).await?;
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
            let db = ReadDb::connect(backing.database_url().expose_secret()).await?;
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
