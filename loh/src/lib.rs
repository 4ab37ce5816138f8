//! The `loh` binary's library: command-line configuration and the composition of the roles.
//!
//! Logic lives in the role crates; this crate only wires them: which store, which bus, which
//! addresses. [`app`] starts roles (all in one process for `loh up`, or one per process) and is
//! what the end-to-end tests drive, binding to port 0.
//!
//! # Layout
//! - [`cli`]: the subcommands and their typed configuration (`clap`, each flag also an env var).
//! - [`app`]: starting the roles on the embedded store or on the real services.
//! - [`embedded`]: the data folder of `loh up`.
//! - [`progress`]: progress of long-running commands on a terminal, quiet in scripts.

pub mod app;
pub mod cli;
pub mod embedded;
pub mod progress;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn telemetry() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
