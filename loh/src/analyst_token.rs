//! `loh analyst-token`: an analyst's access token, signed with the server's key, for the query
//! API's economy endpoints and every player's data.

use crate::config::{ExposeSecret, SigningKeyArgs};
use anyhow::Context;
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AnalystTokenArgs {
    #[command(flatten)]
    pub key: SigningKeyArgs,
    /// Who the token names (its `sub`); a new id when not given.
    #[arg(long)]
    pub subject: Option<uuid::Uuid>,
    /// Minutes until it expires (it cannot be revoked before): 1 to 1440.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=1440))]
    pub ttl_minutes: i64,
}

/// Prints the token on standard output, and who it names on standard error.
pub fn run(args: AnalystTokenArgs) -> anyhow::Result<ExitCode> {
    let pem = args.key.pem()?;
    let key = loh_auth::SigningKey::from_pem(pem.expose_secret())
        .context("loading the RSA signing key")?;
    let subject = args.subject.unwrap_or_else(uuid::Uuid::new_v4);
    let token = loh_auth::Tokens::new(key).issue_analyst(subject, args.ttl_minutes * 60);
    eprintln!(
        "analyst {subject}, valid {} minutes (Authorization: Bearer <token>)",
        args.ttl_minutes
    );
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
