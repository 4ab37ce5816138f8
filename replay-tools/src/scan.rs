//! `scan`: anomaly rules over the log, each finding with its evidence positions.
//!
//! The whole log is folded from genesis through the world's own `apply` (so state is right at
//! the range's start); findings are reported for ticks inside the range.

use crate::Result;
use crate::log::{EventCursor, journal};
use loh_events::{EventBody, EventStore, ItemQty, Outcome, Skill};
use loh_world::step::{ACTIONS_PER_TICK, TICK_INPUTS_PLAYER};
use loh_world::{COINS, MapConfig, RUN_TILES, World, chebyshev};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Rejected commands of one player within [`FLOOD_WINDOW_TICKS`] that make a flood.
pub const FLOOD_REJECTIONS: usize = 40;
pub const FLOOD_WINDOW_TICKS: u64 = 100;
/// XP a combat skill can gain in one tick (the largest hit times the best rate, generously).
pub const MAX_COMBAT_XP_PER_TICK: u32 = 400;
pub use loh_events::value::MINT_SOURCES;
/// A trade is lopsided when one side gets this many times the value of the other.
pub const LOPSIDED_RATIO: u64 = 10;
/// Settled trades between two players that link them (besides being friends).
pub const LINKING_TRADES: usize = 2;

/// What a rule found, and where to look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's stable name: `xp_rate`, `value_not_conserved`, `duplicated_item`,
    /// `speed_hack`, `action_budget`, `lopsided_trade`, `rejection_flood`,
    /// `refunded_bonds_moved` (a refunded or disputed purchase whose bonds had moved to another
    /// account), `purchase_debt` (what a refund could not claw back); across worlds
    /// ([`crate::worlds`]): `character_in_two_worlds`, `hop_mismatch`,
    /// `value_not_conserved_across_worlds`.
    pub rule: &'static str,
    pub player: Option<Uuid>,
    pub tick: u64,
    pub message: String,
    /// Event positions that show it.
    pub positions: Vec<u64>,
    /// Journal entries that show it, as `(tick, seq)`.
    pub commands: Vec<(u64, u64)>,
}

/// The ticks a scan reports on (inclusive; open when `None`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub from_tick: Option<u64>,
    pub to_tick: Option<u64>,
}

impl Range {
    fn contains(&self, tick: u64) -> bool {
        self.from_tick.is_none_or(|t| tick >= t) && self.to_tick.is_none_or(|t| tick <= t)
    }
}

/// Runs every rule over the log.
pub async fn scan(
    store: &dyn EventStore,
    range: Range,
    mut progress: impl FnMut(u64),
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    scan_journal(store, range, &mut findings).await?;
    let mut s = EventScan::new(World::new(MapConfig::default()));
    let mut cursor = EventCursor::new(store, 1);
    let mut read = 0u64;
    while let Some(e) = cursor.next().await? {
        read += 1;
        if read.is_multiple_of(crate::PROGRESS_EVERY) {
            progress(read);
        }
        if range.to_tick.is_some_and(|t| e.tick > t) {
            break;
        }
        if e.tick != s.tick {
            s.end_tick(range, &mut findings);
            s.tick = e.tick;
            s.world.begin_tick(e.tick);
        }
        s.event(e.position, &e.body()?, range, &mut findings);
    }
    s.end_tick(range, &mut findings);
    findings.sort_by_key(|f| (f.tick, f.rule));
    Ok(findings)
}

/// Journal rules: actions beyond the per-tick budget; floods of rejected commands.
async fn scan_journal(store: &dyn EventStore, range: Range, out: &mut Vec<Finding>) -> Result<()> {
    let entries = journal(store, range.from_tick.unwrap_or(0), range.to_tick).await?;
    let mut per_tick: BTreeMap<(u64, Uuid), Vec<u64>> = BTreeMap::new();
    let mut rejected: HashMap<Uuid, Vec<(u64, u64)>> = HashMap::new();
    for j in entries.iter().filter(|j| j.player_id != TICK_INPUTS_PLAYER) {
        per_tick
            .entry((j.tick, j.player_id))
            .or_default()
            .push(j.seq);
        if matches!(j.outcome, Outcome::Rejected { .. }) {
            rejected
                .entry(j.player_id)
                .or_default()
                .push((j.tick, j.seq));
        }
    }
    for ((tick, player), seqs) in per_tick {
        if seqs.len() > ACTIONS_PER_TICK {
            out.push(Finding {
                rule: "action_budget",
                player: Some(player),
                tick,
                message: format!(
                    "{} commands decided in one tick; the budget is {ACTIONS_PER_TICK}",
                    seqs.len()
                ),
                positions: Vec::new(),
                commands: seqs.iter().map(|s| (tick, *s)).collect(),
            });
        }
    }
    for (player, list) in rejected {
        let mut i = 0;
        while i < list.len() {
            let start = list[i].0;
            let window: Vec<(u64, u64)> = list[i..]
                .iter()
                .take_while(|(t, _)| *t < start + FLOOD_WINDOW_TICKS)
                .copied()
                .collect();
            if window.len() >= FLOOD_REJECTIONS {
                out.push(Finding {
                    rule: "rejection_flood",
                    player: Some(player),
                    tick: start,
                    message: format!(
                        "{} rejected commands within {FLOOD_WINDOW_TICKS} ticks",
                        window.len()
                    ),
                    positions: Vec::new(),
                    commands: window.clone(),
                });
                i += window.len();
            } else {
                i += 1;
            }
        }
    }
    Ok(())
}

/// Where a ground item is: on the ground (since position), or gone (at position).
enum Ground {
    Lying,
    Gone(u64),
}

struct EventScan {
    world: World,
    tick: u64,
    /// Positions of this tick's events that move value.
    value_events: Vec<u64>,
    /// The last reported conservation discrepancy, so a standing one is reported once.
    last_discrepancy: Option<String>,
    ground: HashMap<u64, Ground>,
    /// Tiles moved this tick per player, with the positions.
    moved: HashMap<Uuid, (u32, Vec<u64>)>,
    /// XP gained this tick per (player, skill), with the positions.
    xp: BTreeMap<(Uuid, Skill), (u32, Vec<u64>)>,
    max_xp: BTreeMap<Skill, u32>,
    /// Settled trades per unordered pair.
    trades: HashMap<(Uuid, Uuid), Vec<u64>>,
}

impl EventScan {
    fn new(world: World) -> EventScan {
        let mut max_xp: BTreeMap<Skill, u32> = BTreeMap::new();
        for n in world.content.nodes.values() {
            let e = max_xp.entry(n.skill).or_default();
            *e = (*e).max(n.xp);
        }
        for r in world.content.recipes.values() {
            let e = max_xp.entry(r.skill).or_default();
            *e = (*e).max(r.xp);
        }
        EventScan {
            world,
            tick: 0,
            value_events: Vec::new(),
            last_discrepancy: None,
            ground: HashMap::new(),
            moved: HashMap::new(),
            xp: BTreeMap::new(),
            max_xp,
            trades: HashMap::new(),
        }
    }

    fn limit(&self, skill: Skill) -> u32 {
        match skill {
            Skill::Attack
            | Skill::Strength
            | Skill::Defence
            | Skill::Hitpoints
            | Skill::Prayer
            | Skill::Ranged
            | Skill::Magic => MAX_COMBAT_XP_PER_TICK,
            s => self
                .max_xp
                .get(&s)
                .copied()
                .unwrap_or(MAX_COMBAT_XP_PER_TICK),
        }
    }

    fn event(&mut self, position: u64, body: &EventBody, range: Range, out: &mut Vec<Finding>) {
        let report = range.contains(self.tick);
        let player = body.player_id();
        use EventBody as E;
        match body {
            E::PlayerMoved {
                player_id,
                from_x,
                from_y,
                x,
                y,
                ..
            } => {
                let step = chebyshev(*from_x, *from_y, *x, *y);
                let here = self.world.player(*player_id).map(|p| (p.x, p.y));
                if report && here.is_some_and(|h| h != (*from_x, *from_y)) {
                    out.push(self.finding(
                        "speed_hack",
                        *player_id,
                        position,
                        format!(
                            "moved from ({from_x}, {from_y}) but stood on {:?}: a teleport",
                            here.unwrap_or_default()
                        ),
                    ));
                }
                let m = self.moved.entry(*player_id).or_default();
                m.0 += step;
                m.1.push(position);
            }
            E::ItemDropped { ground, .. } => {
                self.ground.insert(ground.ground_id, Ground::Lying);
            }
            E::NpcDied { loot, .. } => {
                for g in loot {
                    self.ground.insert(g.ground_id, Ground::Lying);
                }
            }
            E::ItemPickedUp {
                player_id,
                ground_id,
                item,
                qty,
            } => {
                let before = self.ground.insert(*ground_id, Ground::Gone(position));
                let problem = match before {
                    Some(Ground::Lying) => None,
                    Some(Ground::Gone(at)) => Some((
                        format!(
                            "ground item {ground_id} ({item} × {qty}) picked up again; it was gone at position {at}"
                        ),
                        vec![at, position],
                    )),
                    None => Some((
                        format!(
                            "ground item {ground_id} ({item} × {qty}) picked up but never dropped"
                        ),
                        vec![position],
                    )),
                };
                if let (true, Some((message, positions))) = (report, problem) {
                    out.push(Finding {
                        rule: "duplicated_item",
                        player: Some(*player_id),
                        tick: self.tick,
                        message,
                        positions,
                        commands: Vec::new(),
                    });
                }
            }
            E::GroundItemDespawned { ground_id, .. } => {
                self.ground.insert(*ground_id, Ground::Gone(position));
            }
            E::BondsClawedBack {
                player_id,
                purchase,
                ..
            }
            | E::MembershipShortened {
                player_id,
                purchase,
                ..
            } => {
                let buyer = self
                    .world
                    .payments()
                    .purchases
                    .get(purchase)
                    .map(|p| p.buyer);
                if let (true, Some(buyer)) = (report, buyer)
                    && buyer != *player_id
                {
                    let what = match body {
                        E::BondsClawedBack { .. } => "bonds burned from",
                        _ => "membership its bonds bought taken back from",
                    };
                    out.push(self.finding(
                        "refunded_bonds_moved",
                        buyer,
                        position,
                        format!(
                            "purchase {purchase} of {buyer} refunded or disputed after its bonds \
                             moved to another account: {what} {player_id}"
                        ),
                    ));
                }
            }
            E::PurchaseDebtRecorded {
                player_id,
                purchase,
                bonds,
                days,
                ..
            } if report => out.push(self.finding(
                "purchase_debt",
                *player_id,
                position,
                format!(
                    "purchase {purchase} refunded or disputed; not clawed back: {bonds} bonds, \
                     {days} days of membership (a debt on the account)"
                ),
            )),
            E::TradeSettled {
                player_id,
                with,
                gave,
                got,
            } => {
                let pair = if player_id < with {
                    (*player_id, *with)
                } else {
                    (*with, *player_id)
                };
                let (g, r) = (self.value(gave), self.value(got));
                let list = self.trades.entry(pair).or_default();
                list.push(position);
                let list = list.clone();
                let linked = list.len() >= LINKING_TRADES
                    || self
                        .world
                        .player(*player_id)
                        .is_some_and(|p| p.friends.contains(with))
                    || self
                        .world
                        .player(*with)
                        .is_some_and(|p| p.friends.contains(player_id));
                let lopsided = g.max(r) > 0 && g.max(r) >= LOPSIDED_RATIO * g.min(r).max(1);
                if report && linked && lopsided {
                    let positions = list;
                    out.push(Finding {
                        rule: "lopsided_trade",
                        player: Some(*player_id),
                        tick: self.tick,
                        message: format!("linked accounts traded value {g} for {r} (with {with})"),
                        positions,
                        commands: Vec::new(),
                    });
                }
            }
            _ => {}
        }
        if moves_value(body) {
            self.value_events.push(position);
        }
        if let (true, Some(message)) = (report, self.unbacked(body)) {
            out.push(Finding {
                rule: "value_not_conserved",
                player,
                tick: self.tick,
                message,
                positions: vec![position],
                commands: Vec::new(),
            });
        }
        let before = player.and_then(|p| self.world.player(p).map(|s| s.skills.clone()));
        self.world.apply(body);
        if let (Some(p), Some(before)) = (player, before)
            && let Some(after) = self.world.player(p)
        {
            for skill in Skill::ALL {
                let gained = after.skills.xp(skill).saturating_sub(before.xp(skill));
                if gained > 0 {
                    let x = self.xp.entry((p, skill)).or_default();
                    x.0 += gained;
                    x.1.push(position);
                }
            }
        }
    }

    /// Why an event moves value the folded state does not back: a mint from no known source,
    /// or items taken from a slot or bank that does not hold them. (`apply` ignores such
    /// events, so the ledger alone would not see them.)
    fn unbacked(&self, body: &EventBody) -> Option<String> {
        use EventBody as E;
        let holds = |player: &Uuid, slot: u8, item: &str, qty: u32| {
            self.world.player(*player).is_some_and(|p| {
                p.inventory
                    .slot(slot)
                    .is_some_and(|s| s.item == item && s.qty >= qty)
            })
        };
        match body {
            E::ItemsMinted {
                item, qty, source, ..
            } if !MINT_SOURCES.contains(&source.as_str()) => Some(format!(
                "{item} × {qty} minted from unknown source {source:?}"
            )),
            E::ItemsBurned {
                player_id,
                slot,
                item,
                qty,
                ..
            }
            | E::BankDeposited {
                player_id,
                slot,
                item,
                qty,
            } if !holds(player_id, *slot, item, *qty) => Some(format!(
                "{item} × {qty} taken from slot {slot}, which does not hold them"
            )),
            E::ItemDropped {
                player_id,
                slot,
                ground,
            } if !holds(player_id, *slot, &ground.item, ground.qty) => Some(format!(
                "{} × {} dropped from slot {slot}, which does not hold them",
                ground.item, ground.qty
            )),
            E::BankWithdrawn {
                player_id,
                item,
                qty,
            } if self
                .world
                .player(*player_id)
                .is_none_or(|p| p.bank.get(item).is_none_or(|b| b < qty)) =>
            {
                Some(format!(
                    "{item} × {qty} withdrawn from a bank that does not hold them"
                ))
            }
            E::CharacterDeparted {
                player_id, state, ..
            } if self
                .world
                .player(*player_id)
                .is_none_or(|p| loh_world::hop::portable_state(p, p.version + 1) != *state) =>
            {
                Some("a character departed with another state than it had".to_owned())
            }
            _ => None,
        }
    }

    fn value(&self, items: &[ItemQty]) -> u64 {
        items
            .iter()
            .map(|s| {
                let each = if s.item == COINS {
                    1
                } else {
                    self.world
                        .content
                        .items
                        .get(&s.item)
                        .map_or(1, |d| u64::from(d.value.max(1)))
                };
                each * u64::from(s.qty)
            })
            .sum()
    }

    fn finding(&self, rule: &'static str, player: Uuid, position: u64, message: String) -> Finding {
        Finding {
            rule,
            player: Some(player),
            tick: self.tick,
            message,
            positions: vec![position],
            commands: Vec::new(),
        }
    }

    fn end_tick(&mut self, range: Range, out: &mut Vec<Finding>) {
        let report = range.contains(self.tick);
        for (player, (tiles, positions)) in self.moved.drain() {
            if report && tiles > RUN_TILES {
                out.push(Finding {
                    rule: "speed_hack",
                    player: Some(player),
                    tick: self.tick,
                    message: format!("moved {tiles} tiles in one tick; running allows {RUN_TILES}"),
                    positions,
                    commands: Vec::new(),
                });
            }
        }
        for ((player, skill), (xp, positions)) in std::mem::take(&mut self.xp) {
            let limit = self.limit(skill);
            if report && xp > limit {
                out.push(Finding {
                    rule: "xp_rate",
                    player: Some(player),
                    tick: self.tick,
                    message: format!("{xp} {skill:?} XP in one tick; the best possible is {limit}"),
                    positions,
                    commands: Vec::new(),
                });
            }
        }
        let value_events = std::mem::take(&mut self.value_events);
        if value_events.is_empty() {
            return;
        }
        match self.world.check_conservation() {
            Ok(()) => self.last_discrepancy = None,
            Err(e) => {
                if report && self.last_discrepancy.as_ref() != Some(&e) {
                    out.push(Finding {
                        rule: "value_not_conserved",
                        player: None,
                        tick: self.tick,
                        message: e.clone(),
                        positions: value_events,
                        commands: Vec::new(),
                    });
                }
                self.last_discrepancy = Some(e);
            }
        }
    }
}

/// Whether an event can change holdings or the ledger.
fn moves_value(body: &EventBody) -> bool {
    use EventBody as E;
    matches!(
        body,
        E::ItemsMinted { .. }
            | E::ItemsBurned { .. }
            | E::ItemDropped { .. }
            | E::ItemPickedUp { .. }
            | E::GroundItemDespawned { .. }
            | E::BankDeposited { .. }
            | E::BankWithdrawn { .. }
            | E::ItemEquipped { .. }
            | E::ItemUnequipped { .. }
            | E::ResourceGathered { .. }
            | E::ItemsProduced { .. }
            | E::ShopBought { .. }
            | E::ShopSold { .. }
            | E::NpcDied { .. }
            | E::PlayerDied { .. }
            | E::TradeSettled { .. }
            | E::PlayerSpawned { .. }
            | E::PurchaseCredited { .. }
            | E::BondRedeemed { .. }
            | E::BondsClawedBack { .. }
            | E::PurchaseReinstated { .. }
            | E::CharacterDeparted { .. }
            | E::CharacterArrived { .. }
    )
}
