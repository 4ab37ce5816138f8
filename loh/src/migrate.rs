//! `loh migrate`: apply the database migrations and exit.

use crate::app;
use crate::config::{Backing, DbArgs};
use std::process::ExitCode;

/// Applies every migration not yet applied to the database of `args`.
pub async fn run(args: DbArgs) -> anyhow::Result<ExitCode> {
    app::open_store(&Backing::postgres(args.database_url), "migrate").await?;
    println!("migrations applied");
    Ok(ExitCode::SUCCESS)
}
