//! `loh`: telemetry, configuration, then the chosen role until shutdown.

use clap::Parser;

/// mimalloc rather than glibc's allocator: a game server makes many small allocations that live
/// one tick (frames, events) or one connection, and Argon2 takes 19 MiB blocks at every login;
/// glibc's per-thread arenas keep what they once held, mimalloc gives it back, and its version 2
/// (the workspace's `v2` feature) within 10 ms of a tick's end (`docs/BENCHMARKS.md`, memory per
/// player).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    loh::telemetry();
    let cli = loh::cli::Cli::parse();
    match loh::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("loh: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
