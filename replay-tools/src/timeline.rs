//! `timeline <player>`: every command (accepted and rejected) and every event touching a player,
//! in order, with tick and wall time.

use crate::log::{EventCursor, journal};
use crate::time::format_us;
use crate::{Result, decode_command};
use loh_events::{EventStore, Outcome, player_stream};
use loh_world::step::TICK_INPUTS_PLAYER;
use serde::Serialize;
use std::fmt::Write as _;
use uuid::Uuid;

/// Which entries a timeline keeps. Bounds are inclusive; an empty `kinds` keeps every kind.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from_tick: Option<u64>,
    pub to_tick: Option<u64>,
    /// Wall-clock bounds, microseconds since the Unix epoch.
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Kinds to keep, case-insensitive: an event kind (`PlayerMoved`), a command kind (`Move`),
    /// or `command`, `event`, `accepted`, `rejected`.
    pub kinds: Vec<String>,
}

impl Filter {
    fn keeps_tick(&self, tick: u64) -> bool {
        self.from_tick.is_none_or(|t| tick >= t) && self.to_tick.is_none_or(|t| tick <= t)
    }

    fn keeps(&self, e: &Entry) -> bool {
        let time_ok = self.from_us.is_none_or(|t| e.wall_time_us >= t)
            && self.to_us.is_none_or(|t| e.wall_time_us <= t);
        let kind_ok = self.kinds.is_empty()
            || self.kinds.iter().any(|k| {
                k.eq_ignore_ascii_case(&e.kind)
                    || k.eq_ignore_ascii_case(&e.source)
                    || e.outcome.as_deref().is_some_and(|o| {
                        o.split(':')
                            .next()
                            .is_some_and(|o| k.eq_ignore_ascii_case(o))
                    })
            });
        self.keeps_tick(e.tick) && time_ok && kind_ok
    }
}

/// One line of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Entry {
    pub tick: u64,
    pub wall_time_us: i64,
    pub wall_time: String,
    /// `command` or `event`.
    pub source: String,
    /// The event's position in the log (events).
    pub position: Option<u64>,
    /// The client's sequence number (commands).
    pub seq: Option<u64>,
    pub kind: String,
    /// `accepted` or `rejected: <code>` (commands).
    pub outcome: Option<String>,
    /// The command or event body.
    pub detail: serde_json::Value,
}

/// The player's timeline, commands before the events of the same tick.
pub async fn timeline(
    store: &dyn EventStore,
    player: Uuid,
    filter: &Filter,
    mut progress: impl FnMut(u64),
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for j in journal(store, filter.from_tick.unwrap_or(0), filter.to_tick).await? {
        if j.player_id != player || j.player_id == TICK_INPUTS_PLAYER {
            continue;
        }
        let (kind, detail) = match decode_command(&j.command) {
            Ok(cmd) => {
                let v = serde_json::to_value(&cmd).unwrap_or_default();
                (tag_of(&v), v)
            }
            Err(e) => ("undecodable".to_owned(), serde_json::Value::String(e)),
        };
        out.push(Entry {
            tick: j.tick,
            wall_time_us: j.received_at_us,
            wall_time: format_us(j.received_at_us),
            source: "command".into(),
            position: None,
            seq: Some(j.seq),
            kind,
            outcome: Some(match &j.outcome {
                Outcome::Accepted => "accepted".to_owned(),
                Outcome::Rejected { code, message } => format!("rejected: {code} ({message})"),
            }),
            detail,
        });
    }
    let stream = player_stream(player);
    let needle = player.to_string();
    let mut cursor = EventCursor::new(store, 1);
    let mut read = 0u64;
    while let Some(e) = cursor.next().await? {
        read += 1;
        if read.is_multiple_of(crate::PROGRESS_EVERY) {
            progress(read);
        }
        if filter.to_tick.is_some_and(|t| e.tick > t) {
            break;
        }
        if !filter.keeps_tick(e.tick) {
            continue;
        }
        let touches = e.stream_id == stream || contains(&e.payload, needle.as_bytes());
        if !touches {
            continue;
        }
        let detail: serde_json::Value = serde_json::from_slice(&e.payload).unwrap_or_default();
        out.push(Entry {
            tick: e.tick,
            wall_time_us: e.occurred_at_us,
            wall_time: format_us(e.occurred_at_us),
            source: "event".into(),
            position: Some(e.position),
            seq: None,
            kind: e.kind.clone(),
            outcome: None,
            // Stored payloads are the body's fields; an externally tagged one is unwrapped.
            detail: match detail.get(&e.kind) {
                Some(inner) if detail.as_object().is_some_and(|m| m.len() == 1) => inner.clone(),
                _ => detail,
            },
        });
    }
    out.retain(|e| filter.keeps(e));
    out.sort_by_key(|e| (e.tick, e.source == "event", e.position, e.seq));
    Ok(out)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The variant name of an externally tagged value (`{"Move": {...}}` or `"Logout"`).
fn tag_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => m.keys().next().cloned().unwrap_or_default(),
        serde_json::Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// A readable fixed-width table.
pub fn to_table(entries: &[Entry]) -> String {
    let mut out = format!(
        "{:>7}  {:<27}  {:<7}  {:>8}  {:<20}  {:<28}  {}\n",
        "TICK", "WALL TIME", "SOURCE", "POS/SEQ", "KIND", "OUTCOME", "DETAIL"
    );
    for e in entries {
        let at = match (e.position, e.seq) {
            (Some(p), _) => format!("@{p}"),
            (None, Some(s)) => format!("#{s}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{:>7}  {:<27}  {:<7}  {:>8}  {:<20}  {:<28}  {}",
            e.tick,
            e.wall_time,
            e.source,
            at,
            e.kind,
            e.outcome.as_deref().unwrap_or(""),
            e.detail
        );
    }
    out
}

/// CSV with a header row; fields quoted where needed.
pub fn to_csv(entries: &[Entry]) -> String {
    let mut out =
        String::from("tick,wall_time_us,wall_time,source,position,seq,kind,outcome,detail\n");
    for e in entries {
        let fields = [
            e.tick.to_string(),
            e.wall_time_us.to_string(),
            e.wall_time.clone(),
            e.source.to_owned(),
            e.position.map(|p| p.to_string()).unwrap_or_default(),
            e.seq.map(|s| s.to_string()).unwrap_or_default(),
            e.kind.clone(),
            e.outcome.clone().unwrap_or_default(),
            e.detail.to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_owned()
    }
}
