//! The server's own figures, read from its Prometheus text at `/metrics` before and after the
//! load: connections closed by reason, the tick-duration histogram and the resident memory. A
//! family the server does not export is simply absent from the report.

use std::collections::BTreeMap;

/// Connections ended, by reason.
pub const CLOSED: &str = "loh_connections_closed_total";
/// The tick writer's wall time per tick.
pub const TICK: &str = "loh_tick_duration_seconds";
/// The tick's parts, by the name the report gives them.
pub const PHASES: [(&str, &str); 3] = [
    ("decide", "loh_tick_decide_seconds"),
    ("append", "loh_tick_append_seconds"),
    ("fanout", "loh_tick_fanout_seconds"),
];
/// From a command's arrival at the gateway to its answer queued.
pub const ANSWER: &str = "loh_command_answer_seconds";
/// Ticks that took their most commands (`--max-commands-per-tick`): the world was behind.
pub const FULL_TICKS: &str = "loh_ticks_full_total";
/// The server's resident memory.
pub const RSS: &str = "loh_process_resident_memory_bytes";

/// One scrape of `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// `(name, labels, value)` of every sample.
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// Reads Prometheus (or OpenMetrics) text; lines it does not understand are skipped.
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(parse_line)
            .collect();
        Scrape { samples }
    }

    /// Fetches `url` (the server's `/metrics`) with `http`; `None` when it does not answer 200.
    pub async fn fetch(http: &reqwest::Client, url: &str) -> Option<Scrape> {
        let res = http.get(url).send().await.ok()?;
        if !res.status().is_success() {
            return None;
        }
        Some(Scrape::parse(&res.text().await.ok()?))
    }

    /// The value of the sample `name` without labels.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, labels, _)| n == name && labels.is_empty())
            .map(|s| s.2)
    }

    /// The samples of `name` by the value of `label`.
    pub fn by_label(&self, name: &str, label: &str) -> BTreeMap<String, f64> {
        self.samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .filter_map(|(_, labels, v)| Some((labels.get(label)?.clone(), *v)))
            .collect()
    }

    /// The cumulative buckets `(le, count)` of histogram `name`, by upper bound.
    pub fn buckets(&self, name: &str) -> Vec<(f64, f64)> {
        let mut buckets: Vec<(f64, f64)> = self
            .by_label(&format!("{name}_bucket"), "le")
            .into_iter()
            .filter_map(|(le, count)| Some((parse_float(&le)?, count)))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

fn parse_line(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    let (series, value) = match line.find('{') {
        Some(open) => {
            let close = line.rfind('}')?;
            let labels = parse_labels(&line[open + 1..close]);
            let value = line[close + 1..].split_whitespace().next()?;
            ((line[..open].to_owned(), labels), value)
        }
        None => {
            let mut parts = line.split_whitespace();
            let name = parts.next()?;
            ((name.to_owned(), BTreeMap::new()), parts.next()?)
        }
    };
    Some((series.0, series.1, parse_float(value)?))
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        })
        .collect()
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// The counts of each label value that grew between `before` and `after`.
pub fn counter_delta(
    before: Option<&Scrape>,
    after: &Scrape,
    name: &str,
    label: &str,
) -> BTreeMap<String, u64> {
    let old = before.map(|b| b.by_label(name, label)).unwrap_or_default();
    after
        .by_label(name, label)
        .into_iter()
        .filter_map(|(k, v)| {
            let grown = (v - old.get(&k).copied().unwrap_or(0.0)).round() as i64;
            (grown > 0).then_some((k, grown as u64))
        })
        .collect()
}

/// How much the unlabelled counter `name` grew between `before` and `after`; `None` when
/// `after` does not export it.
pub fn value_delta(before: Option<&Scrape>, after: &Scrape, name: &str) -> Option<u64> {
    let now = after.value(name)?;
    let was = before.and_then(|b| b.value(name)).unwrap_or(0.0);
    Some((now - was).round().max(0.0) as u64)
}

/// The observations of histogram `name` between the two scrapes, as cumulative buckets.
pub fn bucket_delta(before: Option<&Scrape>, after: &Scrape, name: &str) -> Vec<(f64, f64)> {
    let old = before.map(|b| b.buckets(name)).unwrap_or_default();
    after
        .buckets(name)
        .into_iter()
        .map(|(le, count)| {
            let was = old.iter().find(|(l, _)| *l == le).map_or(0.0, |(_, c)| *c);
            (le, (count - was).max(0.0))
        })
        .collect()
}

/// The `q` quantile of cumulative `buckets`, interpolated linearly inside its bucket (from 0 for
/// the first); a quantile in the `+Inf` bucket is the largest finite bound. `None` when empty.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let inside = count - prev.1;
            let share = if inside > 0.0 {
                (rank - prev.1) / inside
            } else {
                1.0
            };
            return Some(prev.0 + (le - prev.0) * share);
        }
        prev = (le, count);
    }
    Some(prev.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# HELP x\n\
        loh_connections_closed_total{reason=\"client_closed\"} 2\n\
        loh_tick_duration_seconds_bucket{le=\"0.01\"} 10\n\
        loh_tick_duration_seconds_bucket{le=\"0.02\"} 10\n\
        loh_tick_duration_seconds_bucket{le=\"+Inf\"} 10\n\
        loh_process_resident_memory_bytes 1000\n# EOF\n";
    const AFTER: &str = "loh_connections_closed_total{reason=\"client_closed\"} 5\n\
        loh_connections_closed_total{reason=\"slow_reader\"} 1\n\
        loh_tick_duration_seconds_bucket{le=\"0.01\"} 60\n\
        loh_tick_duration_seconds_bucket{le=\"0.02\"} 110\n\
        loh_tick_duration_seconds_bucket{le=\"+Inf\"} 110\n\
        loh_process_resident_memory_bytes 2048\n";

    #[test]
    fn deltas_count_only_what_happened_between_the_scrapes() {
        let (before, after) = (Scrape::parse(BEFORE), Scrape::parse(AFTER));
        let closed = counter_delta(Some(&before), &after, CLOSED, "reason");
        assert_eq!(
            closed,
            BTreeMap::from([("client_closed".into(), 3), ("slow_reader".into(), 1)])
        );
        let ticks = bucket_delta(Some(&before), &after, TICK);
        assert_eq!(
            ticks,
            vec![(0.01, 50.0), (0.02, 100.0), (f64::INFINITY, 100.0)]
        );
        assert_eq!(quantile(&ticks, 0.5), Some(0.01));
        let p99 = quantile(&ticks, 0.99).unwrap();
        assert!((p99 - 0.0198).abs() < 1e-9, "{p99}");
        assert_eq!(after.value(RSS), Some(2048.0));
    }

    #[test]
    fn an_absent_family_is_empty_not_an_error() {
        let s = Scrape::parse("something_else 1\n");
        assert!(counter_delta(None, &s, CLOSED, "reason").is_empty());
        assert_eq!(quantile(&bucket_delta(None, &s, TICK), 0.5), None);
        assert_eq!(s.value(RSS), None);
    }

    #[test]
    fn a_quantile_past_the_last_bound_is_that_bound() {
        let b = [(0.1, 1.0), (f64::INFINITY, 10.0)];
        assert_eq!(quantile(&b, 0.99), Some(0.1));
    }
}
