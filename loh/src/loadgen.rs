//! `loh loadgen`: real WebSocket bots against a game server on this machine
//! ([`loh_bench::loadgen`]), a live progress line on a terminal, and the closing report. Exits
//! non-zero when the server closed a connection, a bot never connected, or a command went
//! unanswered.

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use loh_bench::loadgen::{self, Options, scenario::Scenario};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// The game server to load (repeat for several worlds; `NAME=URL` names its world); only
    /// 127.0.0.0/8 is accepted. Default: http://127.0.0.1:7777, unless --worlds-url lists them.
    #[arg(long, env = "LOH_LOADGEN_URL")]
    pub url: Vec<String>,
    /// A query API (`http://HOST:PORT`): its `GET /v1/worlds` names the --url worlds, or, with
    /// no --url, gives every world online on this machine.
    #[arg(long)]
    pub worlds_url: Option<String>,
    /// crowd (everyone at the spawn), spread (walks over a large map: `loh up --map-tiles`),
    /// market (the general store and trades between pairs), combat (attacks on NPCs), hop
    /// (crowd over several worlds, hopping between them every --hop-every commands).
    #[arg(long, default_value = "crowd")]
    pub scenario: Scenario,
    /// hop: each bot sends HopWorld once every this many commands (one a tick).
    #[arg(long, default_value_t = 10)]
    pub hop_every: u64,
    /// Bots, each a player with its own loopback address and account.
    #[arg(long, default_value_t = 100)]
    pub players: usize,
    /// The bots connect spread over this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub ramp_secs: f64,
    /// Ticks to run after the ramp.
    #[arg(long, default_value_t = 50)]
    pub ticks: u64,
    /// The side of the server's square map (as given to `loh up --map-tiles`), for spread.
    #[arg(long, default_value_t = 1_000)]
    pub map_tiles: u32,
    /// Account names are PREFIX{n} (default: lg, and lgs for spread, whose bots roam far).
    #[arg(long)]
    pub account_prefix: Option<String>,
    /// Register and login requests in flight at once (each hashes a password).
    #[arg(long, default_value_t = 16)]
    pub login_concurrency: usize,
    /// The server's process id: its RSS is read from /proc when /metrics does not export it.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Seed of the bots' choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the load and prints the report.
pub async fn run(args: LoadgenArgs) -> anyhow::Result<ExitCode> {
    let mut urls = args.url.into_iter();
    let url = match (urls.next(), &args.worlds_url) {
        (Some(url), _) => url,
        (None, Some(_)) => String::new(),
        (None, None) => "http://127.0.0.1:7777".into(),
    };
    let options = Options {
        url,
        urls: urls.collect(),
        worlds_url: args.worlds_url,
        hop_every: args.hop_every,
        scenario: args.scenario,
        players: args.players,
        ramp: Duration::from_secs_f64(args.ramp_secs.max(0.0)),
        ticks: args.ticks,
        map_tiles: args.map_tiles,
        account_prefix: args.account_prefix,
        login_concurrency: args.login_concurrency,
        server_pid: args.server_pid,
        seed: args.seed,
    };
    let bar = progress_line(std::io::stderr().is_terminal());
    let line = bar.clone();
    let report = loadgen::run(&options, move |p| line.set_message(p.to_string())).await;
    bar.finish_and_clear();
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A spinner with the run's counters on standard error when it is a terminal; hidden otherwise.
fn progress_line(visible: bool) -> ProgressBar {
    let target = if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_is_hidden_off_a_terminal() {
        assert!(progress_line(false).is_hidden());
    }
}
