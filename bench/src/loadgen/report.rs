//! The closing report: what the bots saw and what the server counted, as an aligned table (and
//! JSON). Every timing figure is also given as its ratio to the tick budget.

use super::bot::{BotStats, End};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// A timing figure and its ratio to the tick.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Timing {
    pub ms: f64,
    /// `ms` ÷ the tick length.
    pub of_tick: f64,
}

impl Timing {
    pub fn new(ms: f64, tick_ms: f64) -> Timing {
        Timing {
            ms,
            of_tick: ms / tick_ms,
        }
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} ms ({:.3} of a tick)", self.ms, self.of_tick)
    }
}

/// A median and a 99th percentile.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Spread {
    pub p50: f64,
    pub p99: f64,
}

/// The server's tick over part of a run: how many ticks, their median and 99th percentile.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Window {
    pub ticks: u64,
    pub p50: Timing,
    pub p99: Timing,
}

/// Readings of one quantity over a run: how many, their median and their largest.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Samples {
    pub count: usize,
    pub median: u64,
    pub peak: u64,
}

impl Samples {
    /// `None` when there is no reading.
    pub fn of(mut readings: Vec<u64>) -> Option<Samples> {
        readings.sort_unstable();
        Some(Samples {
            count: readings.len(),
            median: *readings.get(readings.len() / 2)?,
            peak: *readings.last()?,
        })
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub players: usize,
    pub ticks: u64,
    pub tick_ms: f64,
    pub ramp_secs: f64,
    /// Seconds spent logging in (and registering) before the ramp.
    pub login_secs: f64,
    pub accounts_registered: u64,
    /// `429`/`503` answers retried while logging in.
    pub login_retries: u64,
    pub connected: u64,
    /// Bots that never got into the world, by reason.
    pub not_connected: BTreeMap<String, u64>,
    /// Connections the server closed (as the bots saw it), by the last `Error` code before.
    pub server_closed: BTreeMap<String, u64>,
    /// The server's `loh_connections_closed_total` growth over the run, by reason (absent when
    /// the server does not export it).
    pub server_counted_closes: Option<BTreeMap<String, u64>>,
    pub sent: u64,
    pub answered: u64,
    pub unanswered: u64,
    /// Answers by code (`accepted` or the rejection code).
    pub answers: BTreeMap<String, u64>,
    /// `Error` frames by code.
    pub errors: BTreeMap<String, u64>,
    pub answer_p50: Option<Timing>,
    pub answer_p99: Option<Timing>,
    /// The server's own side of the answer latency, from its histogram: from a command's
    /// arrival at the gateway to its answer queued (the wait for a tick, then decide and commit).
    pub server_answer_p50: Option<Timing>,
    pub server_answer_p99: Option<Timing>,
    /// The server's tick duration over the run, from its histogram.
    pub server_tick_p50: Option<Timing>,
    pub server_tick_p99: Option<Timing>,
    /// The server's tick while every bot was connected (the RSS sampler's window: from a second
    /// past the ramp's end to the first bot done), from the same histogram.
    pub server_tick_connected: Option<Window>,
    /// `TickUpdate` frames per player per tick, across bots.
    pub frames_per_tick: Option<Spread>,
    /// `TickUpdate` bytes per player per tick, across bots.
    pub bytes_per_tick: Option<Spread>,
    /// The server's RSS after the bots left (what the allocator still holds).
    pub server_rss_bytes: Option<u64>,
    /// The server's RSS before the bots connected.
    pub server_rss_before_bytes: Option<u64>,
    /// The server's RSS sampled once a second while every bot was connected (from the ramp's
    /// end to the first bot done): the figure "memory per connected player" divides.
    pub server_rss_connected: Option<Samples>,
    /// The server's tick by part (`decide`, `append`, `fanout`): p50 and p99.
    pub server_phases: Vec<(String, Option<Timing>, Option<Timing>)>,
    /// Ticks of the run that took the server's most commands, the rest left for the next one
    /// (the world was behind its load); `None` when the server does not export the count.
    pub server_full_ticks: Option<u64>,
    /// Every `(player, seq)` the server answered `Accepted` (not printed).
    #[serde(skip)]
    pub acknowledged: Vec<(uuid::Uuid, u64)>,
    /// The worlds loaded.
    pub worlds: usize,
    /// `hop`: `HopWorld`s sent, hops that ended in a `Welcome` of the new world, the others by
    /// why, and the latency `HopWorld` sent → `Welcome` there.
    pub hops_requested: u64,
    pub hops_completed: u64,
    pub hops_failed: BTreeMap<String, u64>,
    pub hop_p50: Option<Timing>,
    pub hop_p99: Option<Timing>,
    /// `hop`: every `(world, player, seq)` answered `Accepted` (seqs are per world; not printed).
    #[serde(skip)]
    pub acknowledged_in: Vec<(String, uuid::Uuid, u64)>,
}

/// What the bots add up to; the server's figures are filled in by the caller.
#[derive(Debug, Default)]
pub struct Totals {
    pub connected: u64,
    pub not_connected: BTreeMap<String, u64>,
    pub server_closed: BTreeMap<String, u64>,
    pub sent: u64,
    pub answered: u64,
    pub unanswered: u64,
    pub answers: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub latencies_us: Vec<u64>,
    pub frames_per_tick: Vec<f64>,
    pub bytes_per_tick: Vec<f64>,
    pub tick_ms: Option<u32>,
    pub acknowledged: Vec<(uuid::Uuid, u64)>,
    pub hops_requested: u64,
    pub hops_completed: u64,
    pub hops_failed: BTreeMap<String, u64>,
    pub hop_latencies_us: Vec<u64>,
    pub acknowledged_in: Vec<(String, uuid::Uuid, u64)>,
}

impl Totals {
    pub fn add(&mut self, s: BotStats) {
        self.hops_requested += s.hops_requested;
        self.hops_completed += s.hops_completed;
        for (why, n) in s.hops_failed {
            *self.hops_failed.entry(why).or_default() += n;
        }
        self.hop_latencies_us.extend(s.hop_latencies_us);
        // Connections closed by the server that the bot connected again after.
        for (why, n) in s.closes {
            *self.server_closed.entry(why).or_default() += n;
        }
        if let Some(id) = s.player_id {
            self.acknowledged_in
                .extend(s.accepted_in.into_iter().map(|(w, seq)| (w, id, seq)));
        }
        match s.end {
            End::NotConnected(reason) => {
                *self.not_connected.entry(reason).or_default() += 1;
                return;
            }
            End::ServerClosed(reason) => *self.server_closed.entry(reason).or_default() += 1,
            End::Finished => {}
        }
        self.connected += 1;
        self.tick_ms = self.tick_ms.or(s.tick_ms);
        self.sent += s.sent;
        self.unanswered += s.unanswered;
        for (code, n) in s.answers {
            self.answered += n;
            *self.answers.entry(code).or_default() += n;
        }
        for (code, n) in s.errors {
            *self.errors.entry(code).or_default() += n;
        }
        self.latencies_us.extend(s.latencies_us);
        if let Some(id) = s.player_id {
            self.acknowledged
                .extend(s.accepted.into_iter().map(|seq| (id, seq)));
        }
        if s.ticks > 0 {
            self.frames_per_tick
                .push(s.tick_frames as f64 / s.ticks as f64);
            self.bytes_per_tick
                .push(s.tick_bytes as f64 / s.ticks as f64);
        }
    }
}

/// The `q` quantile of `values` (nearest rank); `None` when empty.
pub fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

/// The median and 99th percentile of `values`.
pub fn spread(values: &mut [f64]) -> Option<Spread> {
    Some(Spread {
        p50: percentile(values, 0.5)?,
        p99: percentile(values, 0.99)?,
    })
}

impl Report {
    /// Seconds the bots played: the ramp and the ticks after it.
    pub fn play_secs(&self) -> f64 {
        self.ramp_secs + self.ticks as f64 * self.tick_ms / 1000.0
    }

    /// Whether the run failed its functional check: a connection the server closed (seen by a
    /// bot or counted by the server), a bot that never connected, or a command left unanswered.
    pub fn failed(&self) -> bool {
        !self.server_closed.is_empty()
            || self.server_closes() > 0
            || !self.not_connected.is_empty()
            || self.unanswered > 0
    }

    /// Connections the server counted as closed by itself: every reason but `client_closed`,
    /// `hopped` (the character left for another world) and `other_world` (a `Hello` told where
    /// the character is).
    pub fn server_closes(&self) -> u64 {
        self.server_counted_closes
            .iter()
            .flatten()
            .filter(|(reason, _)| {
                !["client_closed", "hopped", "other_world"].contains(&reason.as_str())
            })
            .map(|(_, n)| n)
            .sum()
    }
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn opt<T: fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "n/a".into(), |v| v.to_string())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spread = |s: Option<Spread>, unit: &str| {
            s.map_or_else(
                || "n/a".into(),
                |s| format!("p50 {:.1} {unit}, p99 {:.1} {unit}", s.p50, s.p99),
            )
        };
        let rows: Vec<(&str, String)> = vec![
            (
                "run",
                format!(
                    "{} bots, scenario {}, {} ticks of {} ms after a {:.0} s ramp",
                    self.players, self.scenario, self.ticks, self.tick_ms, self.ramp_secs
                ),
            ),
            (
                "login",
                format!(
                    "{:.1} s ({} registered, {} retried after 429/503)",
                    self.login_secs, self.accounts_registered, self.login_retries
                ),
            ),
            ("bots connected", self.connected.to_string()),
            ("bots not connected", counts(&self.not_connected)),
            ("closed by server (bots)", counts(&self.server_closed)),
            (
                "closed (server counts)",
                self.server_counted_closes
                    .as_ref()
                    .map_or_else(|| "not exported".into(), counts),
            ),
            (
                "commands",
                format!(
                    "{} sent, {} answered, {} unanswered",
                    self.sent, self.answered, self.unanswered
                ),
            ),
            ("answers", counts(&self.answers)),
            ("error frames", counts(&self.errors)),
            ("answer latency p50", opt(self.answer_p50)),
            ("answer latency p99", opt(self.answer_p99)),
            ("server answer p50", opt(self.server_answer_p50)),
            ("server answer p99", opt(self.server_answer_p99)),
            ("server tick p50", opt(self.server_tick_p50)),
            ("server tick p99", opt(self.server_tick_p99)),
            (
                "server tick, all in",
                self.server_tick_connected.map_or("n/a".into(), |w| {
                    format!(
                        "p50 {}, p99 {} over the {} ticks with every bot connected",
                        w.p50, w.p99, w.ticks
                    )
                }),
            ),
            (
                "server tick parts",
                self.server_phases
                    .iter()
                    .map(|(name, p50, p99)| {
                        let ms = |t: &Option<Timing>| {
                            t.map_or("—".into(), |t| {
                                format!("{:.1} ms ({:.3})", t.ms, t.of_tick)
                            })
                        };
                        format!("{name} p50 {} p99 {}", ms(p50), ms(p99))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            (
                "server full ticks",
                self.server_full_ticks.map_or("—".into(), |n| {
                    format!("{n} (took --max-commands-per-tick; the world was behind its load)")
                }),
            ),
            ("frames/player/tick", spread(self.frames_per_tick, "frames")),
            ("bytes/player/tick", spread(self.bytes_per_tick, "B")),
            (
                "server RSS",
                opt(self.server_rss_connected.map(|c| {
                    format!(
                        "{:.1} MiB with every bot connected (peak of {} readings, median {:.1} MiB); {} after they left",
                        mib(c.peak),
                        c.count,
                        mib(c.median),
                        self.server_rss_bytes
                            .map_or("—".into(), |b| format!("{:.1} MiB", mib(b)))
                    )
                })
                .or_else(|| {
                    self.server_rss_bytes
                        .map(|b| format!("{:.1} MiB after the bots left", mib(b)))
                })),
            ),
            (
                "RSS growth ÷ bots",
                opt(self.server_rss_before_bytes.and_then(|before| {
                    let per = |b: u64| {
                        b.saturating_sub(before) as f64 / self.connected.max(1) as f64 / 1024.0
                    };
                    let after = self
                        .server_rss_bytes
                        .map(|b| format!("{:.1} KiB after they left", per(b)));
                    let connected = self.server_rss_connected.map(|c| {
                        format!(
                            "{:.1} KiB per connected bot at the peak ({:.2} of a 64 KiB goal; {:.1} KiB at the median)",
                            per(c.peak),
                            per(c.peak) / 64.0,
                            per(c.median)
                        )
                    });
                    let both: Vec<String> = connected.into_iter().chain(after).collect();
                    (!both.is_empty()).then(|| {
                        format!(
                            "{} ({:.1} MiB before the bots)",
                            both.join("; "),
                            mib(before)
                        )
                    })
                })),
            ),
            ("worlds", self.worlds.to_string()),
            (
                "hops",
                format!(
                    "{} requested, {} completed, failed: {} ({:.1} completed a second over {:.0} s of play)",
                    self.hops_requested,
                    self.hops_completed,
                    counts(&self.hops_failed),
                    self.hops_completed as f64 / self.play_secs().max(f64::EPSILON),
                    self.play_secs()
                ),
            ),
            ("hop latency p50", opt(self.hop_p50)),
            ("hop latency p99", opt(self.hop_p99)),
            (
                "result",
                if self.failed() {
                    "FAILED (server closes, unconnected bots or unanswered commands)".into()
                } else {
                    "ok".into()
                },
            ),
        ];
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(k, _)| self.hops_requested > 0 || !k.starts_with("hop"))
            .collect();
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in rows {
            writeln!(f, "{k:<width$}  {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-bot run that went well.
    fn sample_report() -> Report {
        Report {
            scenario: "crowd".into(),
            players: 1,
            ticks: 1,
            tick_ms: 400.0,
            ramp_secs: 0.0,
            login_secs: 0.0,
            accounts_registered: 0,
            login_retries: 0,
            connected: 1,
            not_connected: BTreeMap::new(),
            server_closed: BTreeMap::new(),
            server_counted_closes: Some(BTreeMap::from([("client_closed".into(), 1)])),
            sent: 2,
            answered: 2,
            unanswered: 0,
            answers: BTreeMap::from([("accepted".into(), 2)]),
            errors: BTreeMap::new(),
            answer_p50: Some(Timing::new(200.0, 400.0)),
            answer_p99: None,
            server_answer_p50: None,
            server_answer_p99: None,
            server_tick_p50: None,
            server_tick_p99: None,
            server_tick_connected: None,
            frames_per_tick: None,
            bytes_per_tick: None,
            server_rss_bytes: None,
            server_rss_before_bytes: None,
            server_rss_connected: None,
            server_phases: Vec::new(),
            server_full_ticks: None,
            acknowledged: Vec::new(),
            worlds: 1,
            hops_requested: 0,
            hops_completed: 0,
            hops_failed: BTreeMap::new(),
            hop_p50: None,
            hop_p99: None,
            acknowledged_in: Vec::new(),
        }
    }

    #[test]
    fn the_tick_with_every_bot_connected_is_printed_beside_the_runs() {
        let line = |r: &Report| {
            r.to_string()
                .lines()
                .find(|l| l.starts_with("server tick, all in "))
                .map(str::to_owned)
        };
        let mut report = sample_report();
        assert!(
            line(&report).is_some_and(|l| l.ends_with(" n/a")),
            "{report}"
        );
        report.server_tick_connected = Some(Window {
            ticks: 90,
            p50: Timing::new(80.0, 400.0),
            p99: Timing::new(150.0, 400.0),
        });
        let expected = "p50 80.0 ms (0.200 of a tick), p99 150.0 ms (0.375 of a tick) over the 90 \
                        ticks with every bot connected";
        assert!(
            line(&report).is_some_and(|l| l.ends_with(expected)),
            "{report}"
        );
    }

    #[test]
    fn samples_give_their_count_median_and_peak() {
        assert_eq!(Samples::of(Vec::new()), None);
        assert_eq!(
            Samples::of(vec![30, 10, 20, 50]),
            Some(Samples {
                count: 4,
                median: 30,
                peak: 50
            })
        );
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.5), Some(50.0));
        assert_eq!(percentile(&mut v, 0.99), Some(99.0));
        assert_eq!(percentile(&mut [], 0.5), None);
    }

    #[test]
    fn a_closed_connection_or_an_unanswered_command_fails_the_run() {
        let mut totals = Totals::default();
        let mut bot = BotStats::not_connected(String::new());
        bot.end = End::Finished;
        bot.sent = 2;
        bot.answers.insert("accepted".into(), 2);
        totals.add(bot);
        assert_eq!((totals.connected, totals.answered), (1, 2));
        let mut report = sample_report();
        assert_eq!(report.answers, totals.answers);
        assert!(!report.failed(), "{report}");
        assert!(report.to_string().contains("200.0 ms (0.500 of a tick)"));
        report.unanswered = 1;
        assert!(report.failed());
        report.unanswered = 0;
        assert!(!report.to_string().contains("hop latency"));
        report.hops_requested = 4;
        report.hops_completed = 3;
        report.hop_p50 = Some(Timing::new(100.0, 400.0));
        let table = report.to_string();
        assert!(table.contains("4 requested, 3 completed"), "{table}");
        assert!(table.contains("100.0 ms (0.250 of a tick)"), "{table}");
        // A hop's close and a redirect to the character's world are not failures.
        let closes = report.server_counted_closes.as_mut().unwrap();
        closes.insert("hopped".into(), 3);
        closes.insert("other_world".into(), 1);
        assert!(!report.failed());
        report
            .server_counted_closes
            .as_mut()
            .unwrap()
            .insert("slow_reader".into(), 1);
        assert!(report.failed());
    }

    #[test]
    fn memory_per_bot_is_read_while_every_bot_is_connected() {
        let mut report = Report {
            players: 4,
            connected: 4,
            server_rss_before_bytes: Some(100 << 20),
            server_rss_bytes: Some((100 << 20) + 4 * 1024 * 10),
            ..sample_report()
        };
        let table = report.to_string();
        assert!(table.contains("10.0 KiB after they left"), "{table}");
        assert!(!table.contains("per connected bot"), "{table}");
        report.server_rss_connected = Samples::of(vec![
            (100 << 20) + 4 * 1024 * 32,
            (100 << 20) + 4 * 1024 * 16,
            (100 << 20) + 4 * 1024 * 20,
        ]);
        let table = report.to_string();
        assert!(
            table.contains("32.0 KiB per connected bot at the peak (0.50 of a 64 KiB goal; 20.0 KiB at the median)"),
            "{table}"
        );
        assert!(table.contains("peak of 3 readings"), "{table}");
    }
}
