//! Ranged and magic: how a player fights (their weapon, or the spell they chose), how far they
//! reach, line of sight, and the OSRS accuracy and max-hit formulas of bows and spells.
//!
//! Sources (OSRS Wiki): "Maximum ranged hit" and "Ranged" (effective level `floor(Ranged ·
//! prayer) + style + 8`, attack roll `effective · (ranged attack bonus + 64)`, max hit
//! `floor(0.5 + effective · (ranged strength + 64) / 640)`), "Magic damage" and "Maximum magic
//! hit" (a standard spell's max hit is its own; effective level `floor(Magic · prayer) + 8`,
//! attack roll `effective · (magic attack bonus + 64)`), and "Accuracy" (an NPC's defence roll
//! `(Defence + 9) · (style defence bonus + 64)`, against magic
//! `(Magic + 9) · (magic defence + 64)`; a player's defence against magic takes 70% of their
//! effective Magic and 30% of their effective Defence).
//!
//! Ammunition: a bow shoots the best arrow it takes from the **inventory** (as RuneScape Classic
//! did): the equipment holds one item per slot without a quantity, so a quiver (the ammo slot
//! with a stack) is the next step. As in OSRS without an Ava's device, one shot in five breaks
//! its arrow (burned, sink `ammo`) and the rest fall under the target (a ground item the shooter
//! sees first).

use super::{effective, max_hit, style_bonus};
use crate::content::{BowDef, DamageType, NpcDef, SpellDef};
use crate::equipment::bonuses;
use crate::{Player, World};
use loh_events::{AttackStyle, EquipSlot, Skill};

/// The farthest a bow (with the longrange style) or a spell reaches, in tiles.
pub const MAX_REACH: u32 = 10;
/// Ticks between casts of a standard spell.
pub const CAST_SPEED: u64 = 5;

/// How a player fights now.
#[derive(Debug, Clone, Copy)]
pub enum Fighting<'a> {
    Melee,
    /// With the bow they wield.
    Ranged(&'a BowDef),
    /// With the spell they chose ([`loh_events::EventBody::AutocastSet`]).
    Magic(&'a SpellDef),
}

impl Fighting<'_> {
    pub fn damage_type(&self) -> DamageType {
        match self {
            Fighting::Melee => DamageType::Melee,
            Fighting::Ranged(_) => DamageType::Ranged,
            Fighting::Magic(_) => DamageType::Magic,
        }
    }
}

/// A bow's three styles; a melee style stands for the one in the same place of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BowStyle {
    Accurate,
    Rapid,
    Longrange,
}

pub fn bow_style(style: AttackStyle) -> BowStyle {
    match style {
        AttackStyle::Accurate | AttackStyle::Controlled => BowStyle::Accurate,
        AttackStyle::Aggressive | AttackStyle::Rapid => BowStyle::Rapid,
        AttackStyle::Defensive | AttackStyle::Longrange => BowStyle::Longrange,
    }
}

/// What one swing, shot or cast rolls with, and when the next is due.
#[derive(Debug, Clone, Copy)]
pub struct Swing {
    pub attack: i64,
    pub max: u32,
    pub speed: u64,
}

impl World {
    /// How `p` fights: the spell they chose, else their bow, else melee (always melee under
    /// rules before 4).
    pub fn fighting(&self, p: &Player) -> Fighting<'_> {
        if self.rules < crate::DEEPER_WORLD_RULES {
            return Fighting::Melee;
        }
        if let Some(spell) = p.autocast.as_ref().and_then(|s| self.content.spells.get(s)) {
            return Fighting::Magic(spell);
        }
        let weapon = p.worn(EquipSlot::Weapon).and_then(|w| self.content.item(w));
        match weapon.and_then(|w| w.bow.as_ref()) {
            Some(bow) => Fighting::Ranged(bow),
            None => Fighting::Melee,
        }
    }

    /// The tiles `p` reaches fighting as `fighting`.
    pub fn reach(&self, p: &Player, fighting: Fighting<'_>) -> u32 {
        match fighting {
            Fighting::Melee => 1,
            Fighting::Ranged(bow) if bow_style(p.style) == BowStyle::Longrange => {
                (bow.range + 2).min(MAX_REACH)
            }
            Fighting::Ranged(bow) => bow.range,
            Fighting::Magic(_) => MAX_REACH,
        }
    }

    /// The tiles an NPC of kind `def` attacks from: 1 in melee, its range otherwise.
    pub fn npc_reach(&self, def: &NpcDef) -> u32 {
        match def.attack_type {
            DamageType::Melee => 1,
            _ => def.attack_range.clamp(1, MAX_REACH),
        }
    }

    /// Whether nothing blocked lies on the straight line (Bresenham's) between two tiles.
    pub fn line_of_sight(&self, (x0, y0): (i32, i32), (x1, y1): (i32, i32)) -> bool {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = ((x1 - x0).signum(), (y1 - y0).signum());
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        while (x, y) != (x1, y1) {
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
            if (x, y) != (x1, y1) && self.content.blocked.contains(&(x, y)) {
                return false;
            }
        }
        true
    }

    /// Whether an attacker on `from` reaching `reach` tiles can hit `to`: within reach, and in
    /// sight when not adjacent.
    pub fn can_hit(&self, from: (i32, i32), to: (i32, i32), reach: u32) -> bool {
        let d = crate::chebyshev(from.0, from.1, to.0, to.1);
        d <= reach && (d <= 1 || self.line_of_sight(from, to))
    }

    /// The best arrow `bow` takes that `p` carries: its slot, id and ranged strength.
    pub fn arrow<'a>(&'a self, p: &Player, bow: &'a BowDef) -> Option<(u8, &'a str, i32)> {
        bow.arrows.iter().find_map(|a| {
            let (slot, _) = p.inventory.slots().find(|(_, s)| s.item == *a)?;
            let strength = self.content.item(a)?.ammo.as_ref()?.ranged_strength;
            Some((slot, a.as_str(), strength))
        })
    }

    /// The runes a cast of `spell` burns from `p` (less any their staff stands in for): each
    /// with its slot, or `None` when one is short.
    pub fn runes_for(&self, p: &Player, spell: &SpellDef) -> Option<Vec<(u8, String, u32)>> {
        let staff = p
            .worn(EquipSlot::Weapon)
            .and_then(|w| self.content.item(w))
            .and_then(|w| w.rune_source.as_deref());
        spell
            .runes
            .iter()
            .filter(|r| Some(r.item.as_str()) != staff)
            .map(|r| {
                let (slot, s) = p.inventory.slots().find(|(_, s)| s.item == r.item)?;
                (s.qty >= r.qty).then(|| (slot, r.item.clone(), r.qty))
            })
            .collect()
    }

    /// A shot of `bow` with an arrow of `arrow_strength`.
    pub fn ranged_swing(&self, p: &Player, bow: &BowDef, arrow_strength: i32) -> Swing {
        let b = bonuses(&self.content, p);
        let style = bow_style(p.style);
        let bonus = if style == BowStyle::Accurate { 3 } else { 0 };
        let eff = effective(p.skills.level(Skill::Ranged), 100, bonus);
        let speed = u64::from(bow.speed) - u64::from(style == BowStyle::Rapid && bow.speed > 1);
        Swing {
            attack: eff * (i64::from(b.ranged_attack) + 64),
            max: max_hit(eff, b.ranged_strength + arrow_strength),
            speed,
        }
    }

    /// A cast of `spell`.
    pub fn magic_swing(&self, p: &Player, spell: &SpellDef) -> Swing {
        let b = bonuses(&self.content, p);
        let eff = effective(p.skills.level(Skill::Magic), 100, 0);
        Swing {
            attack: eff * (i64::from(b.magic_attack) + 64),
            max: spell.max_hit,
            speed: CAST_SPEED,
        }
    }

    /// `p`'s defence roll against an attack of `kind`.
    pub fn player_defence(&self, p: &Player, kind: DamageType) -> i64 {
        let b = bonuses(&self.content, p);
        let (_, _, sd) = style_bonus(p.style);
        let (_, _, md) = self.prayer_mults(p);
        let eff_def = effective(p.skills.level(Skill::Defence), md, sd);
        match kind {
            DamageType::Melee => eff_def * (i64::from(b.defence) + 64),
            DamageType::Ranged => eff_def * (i64::from(b.ranged_defence) + 64),
            DamageType::Magic => {
                let eff_magic = effective(p.skills.level(Skill::Magic), 100, 0);
                (7 * eff_magic + 3 * eff_def) / 10 * (i64::from(b.magic_defence) + 64)
            }
        }
    }

    /// NPC kind `kind`'s defence roll against an attack of `kind`.
    pub fn npc_defence(&self, npc_kind: &str, kind: DamageType) -> i64 {
        let def = &self.content.npcs[npc_kind];
        let (level, bonus) = match kind {
            DamageType::Melee => (def.defence, def.defence_bonus),
            DamageType::Ranged => (def.defence, def.ranged_defence_bonus),
            DamageType::Magic => (def.magic, def.magic_defence_bonus),
        };
        (i64::from(level) + 9) * (i64::from(bonus) + 64)
    }
}
