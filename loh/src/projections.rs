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
    /// Rebuild a read model from position 0 of every world's log (stop its runners first).
    Rebuild {
        /// The read model, e.g. player_position.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
        /// The worlds to fold, comma-separated; by default every world with a log in the
        /// database (PostgreSQL) or the embedded world (`--shard`). A rebuild is refused when
        /// the read model holds a world left out.
        #[arg(long, value_delimiter = ',')]
        shards: Vec<String>,
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
            let worlds = args.worlds(&settings.shard)?;
            let running = app::start_projections(
                args.role.database_url,
                args.role.nats_url,
                settings,
                args.health_addr,
                args.partitions,
                &worlds,
            )
            .await?;
            run_until_signal(running).await
        }
        ProjectionsAction::Rebuild {
            name,
            store,
            shards,
        } => {
            let backing = store.backing()?;
            let db = ReadDb::connect(backing.database_url().expose_secret()).await?;
            let worlds = if shards.is_empty() {
                logged_worlds(&db, &store.shard).await?
            } else {
                shards
            };
            let mut stores = Vec::new();
            for world in &worlds {
                stores.push(app::open_store(&backing, world).await?);
            }
            let stores: Vec<&dyn loh_events::EventStore> =
                stores.iter().map(|s| s.as_ref()).collect();
            let projection = loh_projections::by_name(&name)?;
            let positions = loh_projections::rebuild::rebuild_worlds(
                &db,
                &stores,
                projection.as_ref(),
                1_000,
                crate::progress::Counter::new("events folded").callback(),
            )
            .await
            .with_context(|| format!("rebuilding {name}"))?;
            for (world, position) in positions {
                println!("{name}: rebuilt {world} from position 0 up to {position}");
            }
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

/// Every world with a log in the database (`event_shards`), or `shard` when there is none yet.
async fn logged_worlds(db: &ReadDb, shard: &str) -> anyhow::Result<Vec<String>> {
    let mut worlds: Vec<String> =
        sqlx::query_scalar("SELECT shard FROM event_shards ORDER BY shard")
            .fetch_all(db.pool())
            .await
            .context("listing the worlds with a log")?;
    if worlds.is_empty() {
        worlds.push(shard.to_owned());
    }
    Ok(worlds)
}
