//! `state <player> --at <tick|time>`: a player's holdings, skills and position at a moment,
//! folded from the events with the world's own `apply`.

use crate::log::EventCursor;
use crate::snapshot::Start;
use crate::time::parse_us;
use crate::{Error, Result};
use loh_events::{EquipSlot, EventStore, Skill};
use loh_world::{COINS, MapConfig, World};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A moment in the log: the end of a tick, or a wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// After every event of this tick.
    Tick(u64),
    /// After every event that occurred at or before this time (µs since the Unix epoch).
    Time(i64),
}

impl std::str::FromStr for At {
    type Err = Error;

    /// A tick number (`1200`) or an RFC 3339 UTC time (`2026-11-29T14:00:00Z`).
    fn from_str(s: &str) -> Result<At> {
        if let Ok(tick) = s.parse::<u64>() {
            return Ok(At::Tick(tick));
        }
        parse_us(s).map(At::Time).ok_or_else(|| {
            Error::Input(format!("{s:?} is neither a tick nor an RFC 3339 UTC time"))
        })
    }
}

impl At {
    /// Whether an event of `tick` that occurred at `occurred_at_us` is folded.
    pub fn includes(&self, tick: u64, occurred_at_us: i64) -> bool {
        match *self {
            At::Tick(t) => tick <= t,
            At::Time(t) => occurred_at_us <= t,
        }
    }
}

/// The world as of `at`, and the position and tick of the last event folded.
pub async fn world_at(store: &dyn EventStore, at: At) -> Result<(World, u64, u64)> {
    world_at_from(store, at, None).await
}

/// The world as of `at` folded from `start` (a snapshot within `at`, [`crate::snapshot`]) or
/// from position 1, and the position and tick of the last event folded.
pub async fn world_at_from(
    store: &dyn EventStore,
    at: At,
    start: Option<Start>,
) -> Result<(World, u64, u64)> {
    let (mut world, mut position, mut tick) = match start {
        Some(s) => (s.world, s.position, s.event_tick),
        None => (World::new(MapConfig::default()), 0, 0),
    };
    let mut cursor = EventCursor::new(store, position + 1);
    while let Some(e) = cursor.next().await? {
        if !at.includes(e.tick, e.occurred_at_us) {
            break;
        }
        world.set_tick(e.tick);
        world.apply(&e.body()?);
        (position, tick) = (e.position, e.tick);
    }
    Ok((world, position, tick))
}

/// One skill's XP and level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkillState {
    pub skill: String,
    pub xp: u32,
    pub level: u8,
}

/// One inventory slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotState {
    pub slot: u8,
    pub item: String,
    pub qty: u32,
}

/// Coins held, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wallet {
    pub inventory: u64,
    pub bank: u64,
    pub total: u64,
}

/// A player's state at a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlayerState {
    pub player_id: Uuid,
    /// The last event folded, and its tick.
    pub as_of_position: u64,
    pub as_of_tick: u64,
    pub x: i32,
    pub y: i32,
    pub online: bool,
    pub members: bool,
    pub hitpoints: u32,
    pub skills: Vec<SkillState>,
    pub inventory: Vec<SlotState>,
    pub bank: BTreeMap<String, u32>,
    pub equipment: BTreeMap<String, String>,
    pub wallet: Wallet,
}

/// The player's state at `at`; `None` if they had not entered the world by then.
pub async fn state_at(store: &dyn EventStore, player: Uuid, at: At) -> Result<Option<PlayerState>> {
    state_at_from(store, player, at, None).await
}

/// The player's state at `at`, folded from `start` (a snapshot within `at`) or position 1.
pub async fn state_at_from(
    store: &dyn EventStore,
    player: Uuid,
    at: At,
    start: Option<Start>,
) -> Result<Option<PlayerState>> {
    let (world, position, tick) = world_at_from(store, at, start).await?;
    let Some(p) = world.player(player) else {
        return Ok(None);
    };
    let inv_coins = p.inventory.count(COINS);
    let bank_coins = u64::from(p.bank.get(COINS).copied().unwrap_or(0));
    Ok(Some(PlayerState {
        player_id: player,
        as_of_position: position,
        as_of_tick: tick,
        x: p.x,
        y: p.y,
        online: p.online,
        members: p.members,
        hitpoints: p.hitpoints,
        skills: Skill::ALL
            .iter()
            .map(|s| SkillState {
                skill: format!("{s:?}"),
                xp: p.skills.xp(*s),
                level: p.skills.level(*s),
            })
            .collect(),
        inventory: p
            .inventory
            .slots()
            .map(|(slot, s)| SlotState {
                slot,
                item: s.item.clone(),
                qty: s.qty,
            })
            .collect(),
        bank: p.bank.clone(),
        equipment: EquipSlot::ALL
            .iter()
            .filter_map(|slot| p.worn(*slot).map(|i| (format!("{slot:?}"), i.to_owned())))
            .collect(),
        wallet: Wallet {
            inventory: inv_coins,
            bank: bank_coins,
            total: inv_coins + bank_coins,
        },
    }))
}

impl std::fmt::Display for PlayerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "player {} as of tick {} (position {})",
            self.player_id, self.as_of_tick, self.as_of_position
        )?;
        writeln!(
            f,
            "tile ({}, {}), {}, {}, hitpoints {}",
            self.x,
            self.y,
            if self.online { "online" } else { "offline" },
            if self.members { "member" } else { "free" },
            self.hitpoints
        )?;
        writeln!(
            f,
            "wallet: {} coins ({} inventory, {} bank)",
            self.wallet.total, self.wallet.inventory, self.wallet.bank
        )?;
        writeln!(f, "skills:")?;
        for s in &self.skills {
            writeln!(f, "  {:<12} level {:>2}  {:>10} xp", s.skill, s.level, s.xp)?;
        }
        writeln!(f, "inventory:")?;
        for s in &self.inventory {
            writeln!(f, "  slot {:>2}: {} × {}", s.slot, s.item, s.qty)?;
        }
        writeln!(f, "bank:")?;
        for (item, qty) in &self.bank {
            writeln!(f, "  {item} × {qty}")?;
        }
        writeln!(f, "equipment:")?;
        for (slot, item) in &self.equipment {
            writeln!(f, "  {slot}: {item}")?;
        }
        Ok(())
    }
}
