//! `loh chaos`: a kill campaign a user can run. It starts `loh up` (embedded, in a data folder)
//! as a child process, plays it with the load generator's real WebSocket bots
//! ([`loh_bench::loadgen`]), and at random moments kills it with SIGKILL and starts it again.
//! After every fault and at the end it checks what the issue of faults asks:
//!
//! - every command a bot was answered `Accepted` is in the command journal, accepted, once
//!   (`lost` counts those missing; `duplicated` counts `(player, seq)` journaled twice);
//! - `loh replay verify` finds the hash chain intact;
//! - `loh replay scan` finds value conserved and no item duplicated.
//!
//! It prints each fault (when, recovery time, what was acknowledged so far) and a summary, and
//! exits non-zero on any loss, duplicate, broken chain or unconserved value, or when the server
//! does not come back. Faults kill the whole embedded process; the real services' roles, NATS,
//! PostgreSQL and Redis outages and a full disk are not injected yet (docs/RELIABILITY.md).

use anyhow::Context;
use clap::Args;
use loh_bench::loadgen::{self, Options, scenario::Scenario};
use loh_events::sqlite::SqliteEventStore;
use loh_events::{EventStore, Outcome};
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// Faults to inject: each a SIGKILL of `loh up` at a random moment while the bots play.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub faults: u32,
    /// Bots playing throughout (each a player with its own loopback address).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    pub players: u32,
    /// A fault comes at least this many seconds after the server is back.
    #[arg(long, default_value_t = 2.0)]
    pub min_secs: f64,
    /// ... and at most this many.
    #[arg(long, default_value_t = 6.0)]
    pub max_secs: f64,
    /// The tick of the `loh up` it runs, in milliseconds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(50..=2_000))]
    pub tick_ms: u64,
    /// The data folder of the game it runs (kept afterwards); a new one under the system's
    /// temporary folder when not given.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seed of the fault times and the bots' choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the checks found in the log against what the bots were told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Commands answered `Accepted`.
    pub acknowledged: u64,
    /// Acknowledged commands missing from the journal, or journaled as rejected.
    pub lost: u64,
    /// `(player, seq)` pairs journaled more than once.
    pub duplicated: u64,
}

/// Checks `acknowledged` against `journal` (`(player, seq, accepted)` of every journaled command).
pub fn tally(acknowledged: &[(Uuid, u64)], journal: &[(Uuid, u64, bool)]) -> Tally {
    let mut seen: HashMap<(Uuid, u64), (u64, bool)> = HashMap::with_capacity(journal.len());
    for &(player, seq, accepted) in journal {
        let e = seen.entry((player, seq)).or_insert((0, accepted));
        e.0 += 1;
    }
    let acked: HashSet<(Uuid, u64)> = acknowledged.iter().copied().collect();
    Tally {
        acknowledged: acked.len() as u64,
        lost: acked
            .iter()
            .filter(|k| !seen.get(k).is_some_and(|(_, accepted)| *accepted))
            .count() as u64,
        duplicated: seen.values().filter(|(n, _)| *n > 1).count() as u64,
    }
}

/// One injected fault.
#[derive(Debug, Clone)]
struct Fault {
    kind: &'static str,
    after_secs: f64,
    recovery_secs: f64,
    tally: Tally,
    intact: bool,
    conserved: bool,
}

/// The game process under test.
struct Game {
    child: Child,
    game: SocketAddr,
}

impl Drop for Game {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?)
}

/// `loh` itself, with no service URL from the environment (embedded).
fn loh() -> anyhow::Result<std::process::Command> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    for var in [
        "DATABASE_URL",
        "NATS_URL",
        "REDIS_URL",
        "LOH_SHARD",
        "LOH_DATA_DIR",
    ] {
        cmd.env_remove(var);
    }
    Ok(cmd)
}

/// Whether `GET /healthz` at `addr` answers 200.
async fn healthy(addr: SocketAddr) -> bool {
    let probe = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: chaos\r\nconnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        tcp.read_exact(&mut head).await.ok()?;
        Some(head.ends_with(b"200"))
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Starts `loh up` on `data`; returns once it is healthy, with the time that took.
async fn start(data: &Path, tick_ms: u64) -> anyhow::Result<(Game, Duration)> {
    let (game, query) = (free_addr()?, free_addr()?);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("chaos-loh-up.log"))
        .context("opening the server's log file")?;
    let started = Instant::now();
    let child = loh()?
        .args(["up", "--data-dir"])
        .arg(data)
        .args(["--game-addr", &game.to_string()])
        .args(["--query-addr", &query.to_string()])
        .args(["--tick-ms", &tick_ms.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting loh up")?;
    let mut running = Game { child, game };
    while started.elapsed() < Duration::from_secs(120) {
        if healthy(game).await {
            return Ok((running, started.elapsed()));
        }
        if let Some(status) = running.child.try_wait()? {
            anyhow::bail!(
                "loh up exited with {status} before it was healthy (see {})",
                data.join("chaos-loh-up.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("loh up was not healthy within 120 s")
}

/// Journal rows read at once.
const PAGE: usize = 100_000;

/// The journal of the embedded store in `data`: `(player, seq, accepted)` of every command.
async fn journal(data: &Path) -> anyhow::Result<Vec<(Uuid, u64, bool)>> {
    let path = data.join(crate::embedded::DATABASE_FILE);
    let store = SqliteEventStore::open(path.to_str().context("a UTF-8 path")?, "world1")
        .await
        .context("opening the embedded store")?;
    let mut out = Vec::new();
    let mut from = 0;
    loop {
        let rows = store.read_journal(from, PAGE).await?;
        let Some(last) = rows.last().map(|r| r.tick) else {
            break;
        };
        // A page may end inside a tick: read again from that tick, keep what is new.
        let whole = rows.len() < PAGE;
        anyhow::ensure!(
            whole || rows[0].tick < last,
            "tick {last} journaled more than {PAGE} commands"
        );
        for r in rows {
            if whole || r.tick < last {
                out.push((r.player_id, r.seq, r.outcome == Outcome::Accepted));
            }
        }
        if whole {
            break;
        }
        from = last;
    }
    Ok(out)
}

/// Runs `loh replay verify` and `loh replay scan` on `data`: (chain intact, value conserved
/// and nothing duplicated).
fn replay_checks(data: &Path) -> anyhow::Result<(bool, bool)> {
    let verify = loh()?
        .args(["replay", "verify", "--data-dir"])
        .arg(data)
        .output()
        .context("running loh replay verify")?;
    let scan = loh()?
        .args(["replay", "scan", "--json", "--data-dir"])
        .arg(data)
        .output()
        .context("running loh replay scan")?;
    let findings: serde_json::Value = serde_json::from_slice(&scan.stdout).with_context(|| {
        format!(
            "loh replay scan: {}",
            String::from_utf8_lossy(&scan.stderr).trim()
        )
    })?;
    let broken = findings.as_array().into_iter().flatten().any(|f| {
        matches!(
            f["rule"].as_str(),
            Some("value_not_conserved" | "duplicated_item")
        )
    });
    Ok((verify.status.success(), !broken))
}

/// Runs the campaign.
pub async fn run(args: ChaosArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.min_secs > 0.0 && args.max_secs >= args.min_secs,
        "--min-secs must be above 0 and at most --max-secs"
    );
    let data = match &args.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("loh-chaos-{}", Uuid::new_v4().simple())),
    };
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let say = |line: String| {
        if !args.json {
            println!("{line}");
        }
    };
    say(format!(
        "loh chaos: {} faults (SIGKILL of loh up while {} bots play), {} ms ticks, data in {}",
        args.faults,
        args.players,
        args.tick_ms,
        data.display()
    ));

    let (mut game, first_start) = start(&data, args.tick_ms).await?;
    say(format!("started in {:.2} s", first_start.as_secs_f64()));
    let mut acknowledged: Vec<(Uuid, u64)> = Vec::new();
    let mut faults: Vec<Fault> = Vec::new();
    let options = |ticks: u64, seed: u64, game: &Game| Options {
        url: format!("http://{}", game.game),
        scenario: Scenario::Market,
        players: args.players as usize,
        ramp: Duration::from_secs(1),
        ticks,
        account_prefix: Some("chaos".into()),
        login_concurrency: 8,
        server_pid: Some(game.child.id()),
        seed,
        ..Options::default()
    };
    for n in 0..args.faults {
        // The bots play "forever"; the fault ends their run.
        let load = options(1_000_000, args.seed.wrapping_add(u64::from(n)), &game);
        let bots = tokio::spawn(async move { loadgen::run(&load, |_| {}).await });
        let after = rng.random_range(args.min_secs..=args.max_secs);
        tokio::time::sleep(Duration::from_secs_f64(after)).await;
        game.child.kill().context("SIGKILL")?;
        game.child.wait()?;
        let report = bots.await.context("the bots' task")??;
        acknowledged.extend(report.acknowledged);
        drop(game);
        let (back, recovery) = start(&data, args.tick_ms).await?;
        game = back;
        let t = tally(&acknowledged, &journal(&data).await?);
        let (intact, conserved) = replay_checks(&data)?;
        say(format!(
            "fault {}: kill -9 after {after:.1} s; healthy again in {:.2} s; {} acknowledged so far, {} lost, {} duplicated; chain {}; value {}",
            n + 1,
            recovery.as_secs_f64(),
            t.acknowledged,
            t.lost,
            t.duplicated,
            if intact { "intact" } else { "BROKEN" },
            if conserved {
                "conserved"
            } else {
                "NOT CONSERVED"
            },
        ));
        faults.push(Fault {
            kind: "kill_loh_up",
            after_secs: after,
            recovery_secs: recovery.as_secs_f64(),
            tally: t,
            intact,
            conserved,
        });
    }
    // A last quiet round: the bots play, finish and close; then the last checks.
    let load = options(20, args.seed.wrapping_add(u64::from(args.faults)), &game);
    let report = loadgen::run(&load, |_| {}).await?;
    acknowledged.extend(report.acknowledged);
    drop(game);
    let end = tally(&acknowledged, &journal(&data).await?);
    let (intact, conserved) = replay_checks(&data)?;

    let mut recoveries: Vec<f64> = faults.iter().map(|f| f.recovery_secs).collect();
    recoveries.sort_by(f64::total_cmp);
    let p50 = recoveries
        .get(recoveries.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0.0);
    let max = recoveries.last().copied().unwrap_or(0.0);
    let failed = end.lost > 0
        || end.duplicated > 0
        || !intact
        || !conserved
        || faults.iter().any(|f| !f.intact || !f.conserved);
    if args.json {
        let per_fault: Vec<serde_json::Value> = faults
            .iter()
            .map(|f| {
                serde_json::json!({
                    "kind": f.kind, "after_secs": f.after_secs, "recovery_secs": f.recovery_secs,
                    "acknowledged": f.tally.acknowledged, "lost": f.tally.lost,
                    "duplicated": f.tally.duplicated, "intact": f.intact, "conserved": f.conserved,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "faults": faults.len(), "players": args.players, "tick_ms": args.tick_ms,
                "acknowledged": end.acknowledged, "lost": end.lost, "duplicated": end.duplicated,
                "intact": intact, "conserved": conserved,
                "recovery_secs": {"kill_loh_up": {"p50": p50, "max": max}},
                "per_fault": per_fault, "data_dir": data, "failed": failed,
            })
        );
    } else {
        println!(
            "faults injected: {} (kill_loh_up); commands acknowledged: {}; lost: {}; duplicated: {}; \
             recovery (start to healthy) p50 {p50:.2} s, max {max:.2} s; chain {}; value {}",
            faults.len(),
            end.acknowledged,
            end.lost,
            end.duplicated,
            if intact { "intact" } else { "BROKEN" },
            if conserved {
                "conserved"
            } else {
                "NOT CONSERVED"
            },
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledged_command_missing_rejected_or_journaled_twice_is_counted() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let journal = [
            (a, 1, true),
            (a, 2, true),
            (a, 3, false),
            (b, 1, true),
            (b, 1, true),
        ];
        let ok = tally(&[(a, 1), (a, 2), (b, 1)], &journal);
        assert_eq!(
            ok,
            Tally {
                acknowledged: 3,
                lost: 0,
                duplicated: 1
            }
        );
        // a's 3 was journaled rejected, a's 4 not at all: both lost.
        let lost = tally(&[(a, 1), (a, 3), (a, 4), (a, 4)], &journal[..4]);
        assert_eq!(
            lost,
            Tally {
                acknowledged: 3,
                lost: 2,
                duplicated: 0
            }
        );
    }
}
