//! `resimulate`: re-runs the command journal through the tick writer's own step
//! ([`loh_world::step::step`]), tick by tick from genesis, and compares the produced events with the stored ones byte for
//! byte (their sealed hashes cover every envelope field and the payload).

use crate::log::{EventCursor, journal};
use crate::snapshot::Start;
use crate::{Result, decode_command};
use loh_events::{EventStore, GENESIS_HASH, JournalEntry, Outcome, StoredEvent};
use loh_world::World;
use loh_world::step::{EventIds, StepCommand, TICK_INPUTS_PLAYER, TickInputs, step};
use serde::Serialize;
use std::collections::BTreeMap;

/// Where the re-run and the log first disagree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    pub tick: u64,
    /// The log position of the first differing event (or where one is missing).
    pub position: u64,
    pub what: String,
    /// The stored event (or journal outcome), as JSON.
    pub stored: Option<serde_json::Value>,
    /// What the re-run produced, as JSON.
    pub replayed: Option<serde_json::Value>,
}

/// What a re-run found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ResimReport {
    /// Every stored event was reproduced byte for byte.
    Identical {
        ticks: u64,
        events: u64,
        commands: u64,
    },
    Diverged(Box<Divergence>),
}

impl ResimReport {
    pub fn is_identical(&self) -> bool {
        matches!(self, ResimReport::Identical { .. })
    }
}

impl std::fmt::Display for ResimReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResimReport::Identical {
                ticks,
                events,
                commands,
            } => write!(
                f,
                "identical: {ticks} ticks, {commands} journaled commands, {events} events reproduced byte for byte"
            ),
            ResimReport::Diverged(d) => {
                writeln!(
                    f,
                    "DIVERGED at tick {}, position {}: {}",
                    d.tick, d.position, d.what
                )?;
                writeln!(
                    f,
                    "  stored:   {}",
                    d.stored
                        .as_ref()
                        .map_or("(nothing)".into(), |v| v.to_string())
                )?;
                write!(
                    f,
                    "  replayed: {}",
                    d.replayed
                        .as_ref()
                        .map_or("(nothing)".into(), |v| v.to_string())
                )
            }
        }
    }
}

/// Re-runs the whole journal of `store` on `world` (a fresh world with the shard's map, content
/// and seed), calling `progress` with the tick now and then.
pub async fn resimulate(
    store: &dyn EventStore,
    world: World,
    progress: impl FnMut(u64),
) -> Result<ResimReport> {
    resimulate_from(store, world, None, progress).await
}

/// Re-runs the journal of `store` from `start` (a snapshot, [`crate::snapshot`]: its world,
/// then the ticks after its tick, compared with the events after its position) or, without one,
/// from genesis on `world`. The report counts the ticks, commands and events re-run.
pub async fn resimulate_from(
    store: &dyn EventStore,
    world: World,
    start: Option<Start>,
    mut progress: impl FnMut(u64),
) -> Result<ResimReport> {
    let (mut world, first_tick, mut position, mut prev_hash) = match start {
        Some(s) => (s.world, s.tick + 1, s.position, s.hash),
        None => (world, 1, 0, GENESIS_HASH),
    };
    let mut by_tick: BTreeMap<u64, Vec<JournalEntry>> = BTreeMap::new();
    let entries = journal(store, first_tick, None).await?;
    let commands = entries
        .iter()
        .filter(|j| j.player_id != TICK_INPUTS_PLAYER)
        .count() as u64;
    for j in entries {
        by_tick.entry(j.tick).or_default().push(j);
    }
    let head = store.head().await?;
    let mut cursor = EventCursor::new(store, position + 1);
    let last_event_tick = match store.read_from(head.position.max(1), 1).await?.first() {
        Some(e) => e.tick,
        None => 0,
    };
    let last_tick = last_event_tick.max(by_tick.keys().next_back().copied().unwrap_or(0));
    let shard = store.shard().to_owned();
    let first = store.read_from(1, 1).await?.into_iter().next();
    world.set_event_ids(EventIds::for_log(
        &shard,
        first.map(|e| (e.event_id, e.correlation_id, e.tick)),
    ));
    let mut events = 0u64;
    for tick in first_tick..=last_tick {
        if tick.is_multiple_of(100) {
            progress(tick);
        }
        let mut stored: Vec<StoredEvent> = Vec::new();
        while cursor.peek().await?.is_some_and(|e| e.tick <= tick) {
            stored.extend(cursor.next().await?);
        }
        let journal = by_tick.remove(&tick).unwrap_or_default();
        let now_us = journal
            .iter()
            .find(|j| j.player_id == TICK_INPUTS_PLAYER)
            .map(|j| j.received_at_us)
            .or_else(|| stored.first().map(|e| e.occurred_at_us))
            .unwrap_or(0);
        let mut inputs = TickInputs::default();
        let mut commands = Vec::new();
        for j in &journal {
            if j.player_id == TICK_INPUTS_PLAYER {
                inputs = rmp_serde::from_slice(&j.command)
                    .map_err(|e| crate::Error::Input(format!("tick {tick} inputs: {e}")))?;
            } else {
                commands.push((j, decode_command(&j.command).map_err(crate::Error::Input)?));
            }
        }
        let step_commands: Vec<StepCommand<'_>> = commands
            .iter()
            .map(|(j, command)| StepCommand {
                command_id: j.command_id,
                player_id: j.player_id,
                command,
            })
            .collect();
        let out = step(&mut world, tick, now_us, &inputs, &step_commands);
        for ((j, _), decided) in commands.iter().zip(&out.decided) {
            let outcome = match &decided.result {
                Ok(()) => Outcome::Accepted,
                Err(r) => Outcome::Rejected {
                    code: r.code.as_str().to_owned(),
                    message: r.message.clone(),
                },
            };
            if outcome != j.outcome {
                return Ok(diverged(
                    tick,
                    position + decided.events.end as u64,
                    format!(
                        "command {} seq {} of {} was decided differently",
                        j.command_id, j.seq, j.player_id
                    ),
                    serde_json::to_value(&j.outcome).ok(),
                    serde_json::to_value(&outcome).ok(),
                ));
            }
        }
        let batch = out;
        let n = batch.events.len().max(stored.len());
        for i in 0..n {
            let expected_position = position + 1;
            let replayed = match batch.events.get(i) {
                Some(e) => Some(StoredEvent::seal(&shard, expected_position, prev_hash, e)?),
                None => None,
            };
            let original = stored.get(i);
            let same = match (&replayed, original) {
                (Some(r), Some(o)) => {
                    r.hash == o.hash && r.canonical_bytes() == o.canonical_bytes()
                }
                _ => false,
            };
            if !same {
                let what = match (&replayed, original) {
                    (None, Some(_)) => "the log holds an event the re-run did not produce",
                    (Some(_), None) => "the re-run produced an event the log lacks",
                    _ => "the events differ",
                };
                return Ok(diverged(
                    tick,
                    expected_position,
                    what.to_owned(),
                    original.map(event_json),
                    replayed.as_ref().map(event_json),
                ));
            }
            let original = original.expect("same implies stored");
            position = original.position;
            prev_hash = original.hash;
            events += 1;
        }
    }
    Ok(ResimReport::Identical {
        ticks: (last_tick + 1).saturating_sub(first_tick),
        events,
        commands,
    })
}

fn diverged(
    tick: u64,
    position: u64,
    what: String,
    stored: Option<serde_json::Value>,
    replayed: Option<serde_json::Value>,
) -> ResimReport {
    ResimReport::Diverged(Box::new(Divergence {
        tick,
        position,
        what,
        stored,
        replayed,
    }))
}

fn event_json(e: &StoredEvent) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        let body: serde_json::Value = serde_json::from_slice(&e.payload).unwrap_or_default();
        m.insert("body".into(), body);
        m.remove("payload");
    }
    v
}
