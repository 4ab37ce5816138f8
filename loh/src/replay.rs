//! `loh replay …`: the investigator's tools over the event store, thin over `loh-replay`
//! (verify, export, diff, timeline, state, scan, resimulate); the exit code is non-zero when a
//! problem is found.

use crate::app;
use crate::config::{ExposeSecret, SecretString, StoreArgs};
use anyhow::Context;
use clap::{Args, Subcommand};
use loh_projections::ReadDb;
use loh_world::MapConfig;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(subcommand)]
    pub action: ReplayAction,
}

#[derive(Debug, Subcommand)]
pub enum ReplayAction {
    /// Walk the hash chain; report the first break, or "intact" with the count and the events
    /// no signature covers yet. An empty log or a missing data folder is an error.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// The server's RSA public key (SPKI PEM file) to check the checkpoints' signatures;
        /// embedded, the data folder's key is used when this is not given. Required on
        /// PostgreSQL (or --skip-signatures) and with --bundle.
        #[arg(long, env = "LOH_JWT_PUBLIC_KEY_FILE")]
        public_key: Option<PathBuf>,
        /// Walk the chain and compare checkpoint hashes without checking their signatures.
        #[arg(long, conflicts_with = "bundle")]
        skip_signatures: bool,
        /// Check an evidence bundle folder (from `export`) instead of the store, offline, with
        /// the operator's --public-key (never the key the bundle carries).
        #[arg(long, requires = "public_key")]
        bundle: Option<PathBuf>,
    },
    /// Write a player's evidence bundle (events with chain proofs, journal, checkpoints,
    /// timeline, scan findings) that `verify --bundle` checks without the database.
    Export {
        /// The player's id.
        player: uuid::Uuid,
        /// The folder to write (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// The server's RSA public key (SPKI PEM file) to put in the bundle; embedded, the data
        /// folder's key is used when this is not given.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// A read model against the same model refolded from the events; lists every row that
    /// differs and exits non-zero when any does.
    Diff {
        /// The projection's name (see `loh projections status`).
        projection: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every command (accepted and rejected) and every event touching a player, in order.
    Timeline {
        /// The player's id.
        player: uuid::Uuid,
        #[command(flatten)]
        store: StoreArgs,
        /// First tick to show.
        #[arg(long)]
        from_tick: Option<u64>,
        /// Last tick to show.
        #[arg(long)]
        to_tick: Option<u64>,
        /// First wall-clock time to show (RFC 3339 UTC, e.g. 2026-11-29T14:00:00Z).
        #[arg(long)]
        from_time: Option<String>,
        /// Last wall-clock time to show (RFC 3339 UTC).
        #[arg(long)]
        to_time: Option<String>,
        /// Kinds to keep (repeatable): an event or command kind, or command, event, accepted,
        /// rejected.
        #[arg(long)]
        kind: Vec<String>,
        /// Output: table, json or csv.
        #[arg(long, default_value = "table", value_parser = ["table", "json", "csv"])]
        format: String,
    },
    /// A player's inventory, bank, equipment, skills, position and wallet at a tick or time.
    State {
        /// The player's id.
        player: uuid::Uuid,
        /// A tick number, or an RFC 3339 UTC time.
        #[arg(long)]
        at: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        snapshot: FromSnapshot,
    },
    /// Anomaly rules over a tick range; exits non-zero when anything is found.
    Scan {
        #[command(flatten)]
        store: StoreArgs,
        /// First tick to report on.
        #[arg(long)]
        from_tick: Option<u64>,
        /// Last tick to report on.
        #[arg(long)]
        to_tick: Option<u64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also scan these worlds' logs together (comma-separated shards, this one included):
        /// a character in two worlds at once, hops matched, value conserved with hops in
        /// flight.
        #[arg(long, value_delimiter = ',')]
        worlds: Vec<String>,
    },
    /// Re-run the command journal through the world from genesis (or, with --from-snapshot,
    /// from the newest valid snapshot); compare byte for byte.
    Resimulate {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        snapshot: FromSnapshot,
    },
}

/// Starting from a snapshot instead of position 1.
#[derive(Debug, Args)]
pub struct FromSnapshot {
    /// Start from the newest snapshot that matches the log, is signed by the server's key and
    /// lies within the moment asked for, instead of folding from position 1; the snapshots
    /// refused are listed on stderr. Without a usable one, folds from position 1.
    #[arg(long)]
    from_snapshot: bool,
    /// The server's RSA public key (SPKI PEM file) that checks the snapshots' signatures;
    /// embedded, the data folder's key is used when this is not given.
    #[arg(long, requires = "from_snapshot")]
    snapshot_key: Option<PathBuf>,
}

impl FromSnapshot {
    /// The snapshot to start from, if asked for and one is usable; says which on stderr.
    async fn start(
        &self,
        store_args: &StoreArgs,
        store: &dyn loh_events::EventStore,
        within: impl Fn(&loh_events::StoredEvent) -> bool,
    ) -> anyhow::Result<Option<loh_replay::snapshot::Start>> {
        if !self.from_snapshot {
            return Ok(None);
        }
        let Some(pem) = public_pem(store_args, self.snapshot_key.clone())? else {
            eprintln!(
                "no public key to check snapshots with (--snapshot-key); folding from position 1"
            );
            return Ok(None);
        };
        let fresh = loh_world::World::new(MapConfig::default());
        let (start, refused) = loh_replay::snapshot::newest(store, &fresh, &pem, within).await?;
        for (position, why) in refused {
            eprintln!("snapshot at position {position} refused: {why}");
        }
        match &start {
            Some(s) => eprintln!(
                "starting from the snapshot at position {} (tick {})",
                s.position, s.tick
            ),
            None => eprintln!("no usable snapshot; folding from position 1"),
        }
        Ok(start)
    }
}

/// `loh replay …`: thin over `loh-replay`; non-zero exit when a problem is found.
pub async fn run(action: ReplayAction) -> anyhow::Result<ExitCode> {
    let open = |store: StoreArgs| async move {
        let backing = store.backing()?;
        anyhow::Ok(app::open_store(&backing, &store.shard).await?)
    };
    let ok = |fine: bool| {
        if fine {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    };
    let progress = |what: &'static str| crate::progress::Counter::new(what).callback();
    match action {
        ReplayAction::Verify {
            store,
            public_key,
            skip_signatures,
            bundle,
        } => {
            if let Some(dir) = bundle {
                let path = public_key.context("--bundle needs the operator's --public-key")?;
                let pem = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let report = loh_replay::bundle::verify_bundle(&dir, &pem)?;
                println!("{report}");
                return Ok(ok(report.is_intact()));
            }
            if store.database_url.is_none() {
                let db = store.data_dir.join(crate::embedded::DATABASE_FILE);
                anyhow::ensure!(
                    db.is_file(),
                    "no embedded database at {} (give --data-dir or DATABASE_URL)",
                    db.display()
                );
            }
            let pem = match public_pem(&store, public_key)? {
                Some(pem) => Some(pem),
                None if skip_signatures => None,
                None => anyhow::bail!(
                    "no public key to check the checkpoints' signatures: give --public-key \
                     (or LOH_JWT_PUBLIC_KEY_FILE), or --skip-signatures"
                ),
            };
            let pem = pem.filter(|_| !skip_signatures);
            let store = open(store).await?;
            let report = loh_replay::verify_signed(
                store.as_ref(),
                pem.as_deref(),
                progress("verified events"),
            )
            .await?;
            if let loh_replay::VerifyReport::Intact { count: 0, .. } = report {
                anyhow::bail!(
                    "the log is empty: nothing to verify (is this the right shard and data?)"
                );
            }
            println!("{report}");
            Ok(ok(report.is_intact()))
        }
        ReplayAction::Diff {
            projection,
            store,
            json,
        } => {
            let backing = store.backing()?;
            let events = app::open_store(&backing, &store.shard).await?;
            let live = ReadDb::connect(backing.database_url().expose_secret()).await?;
            let scratch = std::env::temp_dir().join(format!("loh-diff-{}", std::process::id()));
            std::fs::create_dir_all(&scratch)?;
            let report = loh_replay::diff::diff(events, &live, &projection, &scratch).await;
            let _ = std::fs::remove_dir_all(&scratch);
            let report = report?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for d in &report.differences {
                    println!(
                        "{} {:?}: live {:?}, rebuilt {:?}",
                        d.table, d.key, d.live, d.rebuilt
                    );
                }
                println!(
                    "{}: {} rows compared at position {}, {} differ",
                    report.projection,
                    report.rows_compared,
                    report.position,
                    report.differences.len()
                );
            }
            Ok(ok(report.differences.is_empty()))
        }
        ReplayAction::Export {
            player,
            out,
            store,
            public_key,
        } => {
            let pem = public_pem(&store, public_key)?;
            let store = open(store).await?;
            let manifest = loh_replay::bundle::export(
                store.as_ref(),
                player,
                pem,
                &out,
                progress("events read"),
            )
            .await?;
            println!(
                "bundle written to {}: positions {}..={}, {} findings",
                out.display(),
                manifest.from_position,
                manifest.to_position,
                manifest.findings
            );
            Ok(ExitCode::SUCCESS)
        }
        ReplayAction::Timeline {
            player,
            store,
            from_tick,
            to_tick,
            from_time,
            to_time,
            kind,
            format,
        } => {
            let time = |t: Option<String>| -> anyhow::Result<Option<i64>> {
                t.map(|t| {
                    loh_replay::time::parse_us(&t)
                        .with_context(|| format!("{t:?} is not an RFC 3339 UTC time"))
                })
                .transpose()
            };
            let filter = loh_replay::timeline::Filter {
                from_tick,
                to_tick,
                from_us: time(from_time)?,
                to_us: time(to_time)?,
                kinds: kind,
            };
            let store = open(store).await?;
            let entries = loh_replay::timeline::timeline(
                store.as_ref(),
                player,
                &filter,
                progress("events read"),
            )
            .await?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&entries)?),
                "csv" => print!("{}", loh_replay::timeline::to_csv(&entries)),
                _ => print!("{}", loh_replay::timeline::to_table(&entries)),
            }
            Ok(ExitCode::SUCCESS)
        }
        ReplayAction::State {
            player,
            at,
            store: store_args,
            json,
            snapshot,
        } => {
            let at: loh_replay::state::At = at.parse()?;
            let store = open(store_args.clone()).await?;
            let start = snapshot
                .start(&store_args, store.as_ref(), |e| {
                    at.includes(e.tick, e.occurred_at_us)
                })
                .await?;
            match loh_replay::state::state_at_from(store.as_ref(), player, at, start).await? {
                Some(state) if json => println!("{}", serde_json::to_string_pretty(&state)?),
                Some(state) => print!("{state}"),
                None => {
                    eprintln!("player {player} had not entered the world by then");
                    return Ok(ExitCode::FAILURE);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ReplayAction::Scan {
            store,
            from_tick,
            to_tick,
            json,
            worlds,
        } => {
            let backing = store.backing()?;
            let mut across = Vec::new();
            for shard in &worlds {
                across.push(app::open_store(&backing, shard).await?);
            }
            let store = open(store).await?;
            let range = loh_replay::scan::Range { from_tick, to_tick };
            let mut findings =
                loh_replay::scan::scan(store.as_ref(), range, progress("events scanned")).await?;
            if !across.is_empty() {
                let stores: Vec<&dyn loh_events::EventStore> =
                    across.iter().map(|s| s.as_ref()).collect();
                let report = loh_replay::worlds::scan_worlds(&stores).await?;
                eprintln!("{} hop(s) in flight", report.in_flight.len());
                findings.extend(report.findings);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&findings)?);
            } else {
                for f in &findings {
                    let who = f.player.map(|p| p.to_string()).unwrap_or_default();
                    println!(
                        "{:<20} tick {:>7}  {who}  {}  positions {:?}  commands (tick, seq) {:?}",
                        f.rule, f.tick, f.message, f.positions, f.commands
                    );
                }
                println!("{} findings", findings.len());
            }
            Ok(ok(findings.is_empty()))
        }
        ReplayAction::Resimulate {
            store: store_args,
            snapshot,
        } => {
            let store = open(store_args.clone()).await?;
            let start = snapshot
                .start(&store_args, store.as_ref(), |_| true)
                .await?;
            let world = loh_world::World::new(MapConfig::default());
            let report = loh_replay::resimulate::resimulate_from(
                store.as_ref(),
                world,
                start,
                progress("resimulated ticks"),
            )
            .await?;
            println!("{report}");
            Ok(ok(report.is_identical()))
        }
    }
}

/// The server's public key for checkpoint signatures: the given PEM file, else (embedded) the
/// data folder's signing key's public half, else none.
fn public_pem(store: &StoreArgs, public_key: Option<PathBuf>) -> anyhow::Result<Option<String>> {
    if let Some(path) = public_key {
        return std::fs::read_to_string(&path)
            .map(Some)
            .with_context(|| format!("reading {}", path.display()));
    }
    if store.database_url.is_some() {
        return Ok(None);
    }
    let key = store.data_dir.join(crate::embedded::KEY_FILE);
    match std::fs::read_to_string(&key).map(SecretString::from) {
        Ok(pem) => Ok(Some(
            loh_auth::SigningKey::from_pem(pem.expose_secret())
                .with_context(|| format!("loading {}", key.display()))?
                .public_pem()
                .to_owned(),
        )),
        Err(_) => Ok(None),
    }
}
