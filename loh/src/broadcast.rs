//! `loh broadcast`: a world-wide system message (issue 14), published on the worlds' Redis
//! social channel; every world shows it once to every player connected to it
//! (`loh_gateway::social`). Players who are offline or whose world does not follow Redis never
//! see it (nothing is stored).

use crate::config::{ExposeSecret, SecretString, redacted};
use anyhow::Context;
use std::process::ExitCode;

/// Arguments of `loh broadcast`.
#[derive(Debug, clap::Args)]
pub struct BroadcastArgs {
    /// The message, 1 to 200 characters (as a chat line).
    #[arg(long)]
    pub text: String,
    /// The Redis the worlds share.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: SecretString,
    /// The worlds' Redis key prefix.
    #[arg(long, env = "LOH_REDIS_PREFIX", default_value = "loh")]
    pub redis_prefix: String,
}

/// Publishes the message once.
pub async fn run(args: BroadcastArgs) -> anyhow::Result<ExitCode> {
    let n = args.text.chars().count();
    anyhow::ensure!(
        (1..=loh_commands::command::MAX_SAY_CHARS).contains(&n) && !args.text.trim().is_empty(),
        "--text must be 1 to {} characters",
        loh_commands::command::MAX_SAY_CHARS
    );
    let mut bus =
        loh_gateway::social::Bus::connect(args.redis_url.expose_secret(), &args.redis_prefix)
            .await
            .with_context(|| {
                format!(
                    "connecting to Redis at {} (REDIS_URL)",
                    redacted(&args.redis_url)
                )
            })?;
    bus.broadcast(&args.text)
        .await
        .context("publishing the broadcast")?;
    Ok(ExitCode::SUCCESS)
}
