//! The subcommands that run roles until shutdown: `loh up` (every role in one process, embedded
//! or on the real services), `loh tick-writer` and `loh query-api`. (`loh projections run` is
//! in [`crate::projections`].)

use crate::app;
use crate::config::{Backing, RoleArgs, UpArgs};
use crate::shutdown::run_until_signal;
use std::process::ExitCode;

/// `loh up`: the whole game in one process.
pub async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let (backing, settings) = args.resolve()?;
    if let Backing::Embedded(dir) = &backing {
        tracing::info!(data = %dir.root().display(), "embedded mode");
    }
    run_until_signal(app::start_up(backing, settings).await?).await
}

/// `loh tick-writer`: the game server and the relay to NATS.
pub async fn tick_writer(args: RoleArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings()?;
    let running = app::start_tick_writer(args.database_url, args.nats_url, settings).await?;
    run_until_signal(running).await
}

/// `loh query-api`: the read API.
pub async fn query_api(args: RoleArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings()?;
    let public_key = args.public_key_pem()?;
    let running = app::start_query_api(args.database_url, settings, public_key).await?;
    run_until_signal(running).await
}
