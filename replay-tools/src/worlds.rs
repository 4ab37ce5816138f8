//! `scan` across worlds (ARCHITECTURE.md, invariant 11): every world's log folded, and the hops
//! between them matched.
//!
//! A character enters a world by `PlayerSpawned` or `CharacterArrived` and leaves it by
//! `CharacterDeparted`; between a departure and its arrival it is *in flight* (not a finding).
//! Rules:
//! - `character_in_two_worlds`: a character in two worlds at once, or in one while a hop of it
//!   is in flight. Entries and exits of all worlds are taken in the order of their tick clocks
//!   (`occurred_at_us`; each world's log keeps its own order), so a hop's arrival is never
//!   before its departure.
//! - `hop_mismatch`: an arrival without its departure, in another world than the departure
//!   named, with another state or hash, or a hop departed or arrived twice.
//! - `value_not_conserved_across_worlds`: what hops burned is not what they minted plus what
//!   is in flight, per item; or a world's own ledger is not its holdings.

use crate::Result;
use crate::log::EventCursor;
use crate::scan::Finding;
use loh_events::hop::CharacterState;
use loh_events::{EventBody, EventStore};
use loh_world::{MapConfig, World};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// A hop departed and not (yet) arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InFlight {
    pub hop: Uuid,
    pub player: Uuid,
    pub from: String,
    pub to: String,
    /// The departure's position in `from`'s log.
    pub position: u64,
}

/// What a scan across worlds found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorldsReport {
    /// Findings, by rule (each with the world and positions in its message and `positions`).
    pub findings: Vec<Finding>,
    /// Hops in flight at the end of the logs.
    pub in_flight: Vec<InFlight>,
    /// Σ holdings of every world plus what is in flight, per item.
    pub total: BTreeMap<String, i128>,
}

/// An entry or exit of a character, in one world's log.
struct Move {
    at_us: i64,
    shard: String,
    position: u64,
    tick: u64,
    body: EventBody,
}

/// Folds every world of `stores` and matches their hops.
pub async fn scan_worlds(stores: &[&dyn EventStore]) -> Result<WorldsReport> {
    let mut report = WorldsReport::default();
    let mut moves = Vec::new();
    for store in stores {
        let mut world = World::new(MapConfig::default());
        let mut cursor = EventCursor::new(*store, 1);
        let mut last = (0, 0);
        while let Some(e) = cursor.next().await? {
            let body = e.body()?;
            world.set_tick(e.tick);
            world.apply(&body);
            last = (e.position, e.tick);
            if matches!(
                body,
                EventBody::PlayerSpawned { .. }
                    | EventBody::CharacterArrived { .. }
                    | EventBody::CharacterDeparted { .. }
            ) {
                moves.push(Move {
                    at_us: e.occurred_at_us,
                    shard: store.shard().to_owned(),
                    position: e.position,
                    tick: e.tick,
                    body,
                });
            }
        }
        if let Err(message) = world.check_conservation() {
            report.findings.push(Finding {
                rule: "value_not_conserved_across_worlds",
                player: None,
                tick: last.1,
                message: format!("world {}: {message}", store.shard()),
                positions: vec![last.0],
                commands: Vec::new(),
            });
        }
        for (item, q) in world.holdings() {
            *report.total.entry(item).or_default() += q;
        }
    }
    moves.sort_by(|a, b| (a.at_us, &a.shard, a.position).cmp(&(b.at_us, &b.shard, b.position)));
    match_hops(&moves, &mut report);
    report
        .findings
        .sort_by(|a, b| (a.rule, a.tick).cmp(&(b.rule, b.tick)));
    Ok(report)
}

struct Departed<'a> {
    player: Uuid,
    from: &'a str,
    to: &'a str,
    state: &'a CharacterState,
    state_hash: &'a str,
    position: u64,
}

fn match_hops(moves: &[Move], report: &mut WorldsReport) {
    let mut worlds: BTreeMap<Uuid, BTreeSet<&str>> = BTreeMap::new();
    let mut flying: BTreeMap<Uuid, Departed<'_>> = BTreeMap::new();
    let mut arrived: BTreeSet<Uuid> = BTreeSet::new();
    let mut burned: BTreeMap<String, i128> = BTreeMap::new();
    let mut minted: BTreeMap<String, i128> = BTreeMap::new();
    let mut reported: BTreeSet<Uuid> = BTreeSet::new();
    for m in moves {
        let finding = |rule, player, message: String| Finding {
            rule,
            player: Some(player),
            tick: m.tick,
            message: format!("world {} position {}: {message}", m.shard, m.position),
            positions: vec![m.position],
            commands: Vec::new(),
        };
        let player = match &m.body {
            EventBody::PlayerSpawned { player_id, .. } => {
                worlds.entry(*player_id).or_default().insert(&m.shard);
                *player_id
            }
            EventBody::CharacterDeparted {
                player_id,
                hop,
                to,
                state,
                state_hash,
            } => {
                if let Some(here) = worlds.get_mut(player_id) {
                    here.remove(m.shard.as_str());
                }
                for (item, qty) in state.items() {
                    *burned.entry(item.to_owned()).or_default() += i128::from(qty);
                }
                let departed = Departed {
                    player: *player_id,
                    from: &m.shard,
                    to,
                    state,
                    state_hash,
                    position: m.position,
                };
                if arrived.contains(hop) || flying.insert(*hop, departed).is_some() {
                    report.findings.push(finding(
                        "hop_mismatch",
                        *player_id,
                        format!("hop {hop} departed twice"),
                    ));
                }
                *player_id
            }
            EventBody::CharacterArrived {
                player_id,
                hop,
                state,
                state_hash,
                ..
            } => {
                for (item, qty) in state.items() {
                    *minted.entry(item.to_owned()).or_default() += i128::from(qty);
                }
                let why = match flying.remove(hop) {
                    _ if !arrived.insert(*hop) => Some(format!("hop {hop} arrived twice")),
                    None => Some(format!("hop {hop} arrived without its departure")),
                    Some(d) if d.to != m.shard || d.player != *player_id => Some(format!(
                        "hop {hop} of {} left {} for {}, yet arrived here for {player_id}",
                        d.player, d.from, d.to
                    )),
                    Some(d) if d.state != state || d.state_hash != state_hash => Some(format!(
                        "hop {hop} arrived with another state than it left {} with (position {})",
                        d.from, d.position
                    )),
                    Some(_) => None,
                };
                if let Some(why) = why {
                    report
                        .findings
                        .push(finding("hop_mismatch", *player_id, why));
                }
                worlds.entry(*player_id).or_default().insert(&m.shard);
                *player_id
            }
            _ => continue,
        };
        let here = worlds.get(&player).map_or(0, BTreeSet::len);
        let in_flight = flying.values().filter(|d| d.player == player).count();
        if here + in_flight > 1 && reported.insert(player) {
            let places: Vec<&str> = worlds
                .get(&player)
                .map(|w| w.iter().copied().collect())
                .unwrap_or_default();
            report.findings.push(finding(
                "character_in_two_worlds",
                player,
                format!(
                    "character {player} is in worlds {places:?} with {in_flight} hop(s) in flight"
                ),
            ));
        }
    }
    for (hop, d) in &flying {
        for (item, qty) in d.state.items() {
            *minted.entry(item.to_owned()).or_default() += i128::from(qty);
            *report.total.entry(item.to_owned()).or_default() += i128::from(qty);
        }
        report.in_flight.push(InFlight {
            hop: *hop,
            player: d.player,
            from: d.from.to_owned(),
            to: d.to.to_owned(),
            position: d.position,
        });
    }
    report.total.retain(|_, q| *q != 0);
    if burned != minted {
        report.findings.push(Finding {
            rule: "value_not_conserved_across_worlds",
            player: None,
            tick: 0,
            message: format!(
                "hops burned {burned:?} but minted, with what is in flight, {minted:?}"
            ),
            positions: Vec::new(),
            commands: Vec::new(),
        });
    }
}
