//! Combat: the OSRS max-hit and accuracy formulas of melee, and of bows and spells
//! ([`kinds`]), attack styles, NPC combat (melee, ranged and magic), death, loot and respawn.
//! PvP only inside PvP zones, where the dead drop everything; elsewhere a death leaves a grave
//! ([`GRAVE_TICKS`]).

use super::equipment::{Bonuses, bonuses};
use super::{
    Decision, GROUND_DESPAWN_TICKS, GROUND_PRIVATE_TICKS, Player, Rejection, World, WorldRng,
    chebyshev,
};
use loh_commands::RejectionCode as Code;
use loh_events::{AttackStyle, EventBody, GroundItem, ItemQty, Skill, Target};
use rand::Rng;
use uuid::Uuid;

pub mod kinds;

use kinds::{BowStyle, Fighting, bow_style};

/// Ticks between a player's swings.
pub const PLAYER_ATTACK_SPEED: u64 = 4;
/// Tiles beyond which a target is lost.
pub const COMBAT_RANGE: u32 = 15;
/// Unstackable items a player keeps on a death outside PvP (since rules 4).
pub const KEPT_ON_DEATH: usize = 3;
/// Ticks a grave stays its owner's alone (15 minutes of 400 ms ticks, as an OSRS grave lasts),
/// before its items turn public on the ground.
pub const GRAVE_TICKS: u64 = 2_250;

/// `(attack, strength, defence)` invisible style bonuses.
pub fn style_bonus(style: AttackStyle) -> (i64, i64, i64) {
    match style {
        AttackStyle::Accurate => (3, 0, 0),
        AttackStyle::Aggressive | AttackStyle::Rapid => (0, 3, 0),
        AttackStyle::Defensive | AttackStyle::Longrange => (0, 0, 3),
        AttackStyle::Controlled => (1, 1, 1),
    }
}

/// `floor(floor(level · mult%) + style + 8)`.
pub fn effective(level: u8, mult_percent: u32, style: i64) -> i64 {
    i64::from(level) * i64::from(mult_percent) / 100 + style + 8
}

/// `floor((EffStr · (StrBonus + 64) + 320) / 640)`.
pub fn max_hit(eff_str: i64, str_bonus: i32) -> u32 {
    let v = (eff_str * (i64::from(str_bonus) + 64) + 320) / 640;
    v.max(0) as u32
}

/// Rolls a hit: with `A > D` the chance is `1 − (D + 2) / (2 (A + 1))`, else `A / (2 (D + 1))`,
/// drawn as exact integers.
pub fn rolls_hit(attack: i64, defence: i64, rng: &mut WorldRng) -> bool {
    let (a, d) = (attack.max(0), defence.max(0));
    if a > d {
        rng.random_range(0..2 * (a + 1)) >= d + 2
    } else {
        rng.random_range(0..2 * (d + 1)) < a
    }
}

/// A player's melee swing: attack roll and max hit (their defence roll is
/// [`World::player_defence`]).
pub fn melee_swing(w: &World, p: &Player) -> kinds::Swing {
    let b: Bonuses = bonuses(&w.content, p);
    let (sa, ss, _) = style_bonus(p.style);
    let (ma, ms, _) = w.prayer_mults(p);
    let eff_atk = effective(p.skills.level(Skill::Attack), ma, sa);
    let eff_str = effective(p.skills.level(Skill::Strength), ms, ss);
    kinds::Swing {
        attack: eff_atk * (i64::from(b.attack) + 64),
        max: max_hit(eff_str, b.strength),
        speed: PLAYER_ATTACK_SPEED,
    }
}

impl World {
    pub(super) fn decide_attack_npc(&self, player_id: Uuid, p: &Player, npc: u32) -> Decision {
        let n = self
            .npcs
            .get(&npc)
            .ok_or_else(|| Rejection::new(Code::NoSuchNpc, "that NPC is not here"))?;
        self.rule(
            chebyshev(p.x, p.y, n.x, n.y) <= COMBAT_RANGE,
            Code::NotInRange,
            "too far away",
        )?;
        Ok(vec![EventBody::CombatTargetSet {
            player_id,
            target: Target::Npc(npc),
        }])
    }

    pub(super) fn decide_attack_player(
        &self,
        player_id: Uuid,
        p: &Player,
        other: Uuid,
    ) -> Decision {
        self.rule(
            other != player_id,
            Code::BadTarget,
            "you cannot attack yourself",
        )?;
        let o = self
            .players
            .get(&other)
            .ok_or_else(|| Rejection::new(Code::NoSuchPlayer, "no such player"))?;
        self.rule(
            self.content.is_pvp(p.x, p.y, self.rules) && self.content.is_pvp(o.x, o.y, self.rules),
            Code::NotInPvp,
            "players fight only in a PvP zone",
        )?;
        // In the wilderness (rules 4) the combat levels may differ by the level at most.
        let level = |x, y| self.content.wilderness_level(x, y, self.rules);
        if let (Some(mine), Some(theirs)) = (level(p.x, p.y), level(o.x, o.y)) {
            let gap = p.skills.combat_level().abs_diff(o.skills.combat_level());
            self.rule(
                gap <= mine.min(theirs),
                Code::LevelGap,
                format!(
                    "your combat levels differ by {gap}, more than the wilderness level {}",
                    mine.min(theirs)
                ),
            )?;
        }
        self.rule(
            chebyshev(p.x, p.y, o.x, o.y) <= COMBAT_RANGE,
            Code::NotInRange,
            "too far away",
        )?;
        Ok(vec![EventBody::CombatTargetSet {
            player_id,
            target: Target::Player(other),
        }])
    }

    pub(super) fn decide_style(&self, player_id: Uuid, style: &str) -> Decision {
        // The bow's styles came with rules 4.
        let bows = self.rules >= crate::DEEPER_WORLD_RULES;
        let style = match style {
            "accurate" => AttackStyle::Accurate,
            "aggressive" => AttackStyle::Aggressive,
            "defensive" => AttackStyle::Defensive,
            "controlled" => AttackStyle::Controlled,
            "rapid" if bows => AttackStyle::Rapid,
            "longrange" if bows => AttackStyle::Longrange,
            _ => {
                return Err(Rejection::new(
                    Code::BadStyle,
                    "no such attack style (accurate, aggressive, defensive, controlled; \
                     rapid, longrange)",
                ));
            }
        };
        Ok(vec![EventBody::AttackStyleSet { player_id, style }])
    }

    /// Choosing a combat spell to fight with (its Magic level), or the weapon again.
    pub(super) fn decide_autocast(
        &self,
        player_id: Uuid,
        p: &Player,
        spell: Option<&str>,
    ) -> Decision {
        let Some(spell) = spell else {
            return Ok(vec![EventBody::AutocastSet {
                player_id,
                spell: None,
            }]);
        };
        let def = self
            .content
            .spells
            .get(spell)
            .ok_or_else(|| Rejection::new(Code::NoSuchSpell, "no such combat spell"))?;
        self.rule(
            p.skills.level(Skill::Magic) >= def.level,
            Code::LevelTooLow,
            format!("{} needs Magic {}", def.name, def.level),
        )?;
        Ok(vec![EventBody::AutocastSet {
            player_id,
            spell: Some(spell.to_owned()),
        }])
    }

    /// A player's swing, or a step toward the target, or losing it (combat phase).
    pub(super) fn player_combat_step(&self, player_id: Uuid, rng: &mut WorldRng) -> Vec<EventBody> {
        let Some(p) = self.players.get(&player_id) else {
            return Vec::new();
        };
        let Some(target) = p.target else {
            return Vec::new();
        };
        let at = match target {
            Target::Npc(n) => self.npcs.get(&n).map(|n| (n.x, n.y, n.hitpoints)),
            Target::Player(o) => self
                .players
                .get(&o)
                .filter(|o| {
                    self.content.is_pvp(o.x, o.y, self.rules)
                        && self.content.is_pvp(p.x, p.y, self.rules)
                })
                .map(|o| (o.x, o.y, o.hitpoints)),
        };
        let Some((tx, ty, hp)) = at else {
            return vec![EventBody::CombatTargetCleared { player_id }];
        };
        let distance = chebyshev(p.x, p.y, tx, ty);
        if distance > COMBAT_RANGE {
            return vec![EventBody::CombatTargetCleared { player_id }];
        }
        let fighting = self.fighting(p);
        if !self.can_hit((p.x, p.y), (tx, ty), self.reach(p, fighting)) {
            return self.step_toward(player_id, p, tx, ty).into_iter().collect();
        }
        if self.tick < p.next_attack_at {
            return Vec::new();
        }
        let kind = fighting.damage_type();
        let defence = match target {
            Target::Npc(n) => self.npc_defence(&self.npcs[&n].kind, kind),
            Target::Player(o) => self.player_defence(&self.players[&o], kind),
        };
        // What the swing costs: the arrow shot, or the runes cast; without them it stops.
        let mut arrow = None;
        let mut runes = Vec::new();
        let swing = match fighting {
            Fighting::Melee => melee_swing(self, p),
            Fighting::Ranged(bow) => {
                let Some((slot, item, strength)) = self.arrow(p, bow) else {
                    return vec![EventBody::CombatTargetCleared { player_id }];
                };
                arrow = Some((slot, item));
                self.ranged_swing(p, bow, strength)
            }
            Fighting::Magic(spell) => {
                let Some(cost) = self.runes_for(p, spell) else {
                    return vec![EventBody::CombatTargetCleared { player_id }];
                };
                runes = cost;
                self.magic_swing(p, spell)
            }
        };
        let hit = rolls_hit(swing.attack, defence, rng);
        let mut damage = if hit {
            rng.random_range(0..=swing.max)
        } else {
            0
        };
        if let Target::Player(o) = target
            && self.protected_from(&self.players[&o], kind)
        {
            damage /= 2;
        }
        let damage = damage.min(hp);
        let mut events = vec![EventBody::PlayerAttacked {
            player_id,
            target,
            hit,
            damage,
            next_at: self.tick + swing.speed,
        }];
        events.extend(self.combat_xp(player_id, p, fighting, damage));
        let mut new_ground = 0;
        if damage >= hp && damage > 0 {
            let death = match target {
                Target::Npc(n) => self.npc_death(n, Some(player_id), rng),
                Target::Player(o) => self.player_death(o, Some(player_id)),
            };
            if let EventBody::NpcDied { loot: g, .. } | EventBody::PlayerDied { dropped: g, .. } =
                &death
            {
                new_ground = g.len() as u64;
            }
            events.push(death);
        }
        if let Some((slot, item)) = arrow {
            events.push(self.arrow_spent(player_id, slot, item, (tx, ty), new_ground, rng));
        }
        for (slot, item, qty) in runes {
            events.push(EventBody::ItemsBurned {
                player_id,
                slot,
                item,
                qty,
                sink: "spell".into(),
            });
        }
        events
    }

    /// Where a shot arrow goes: one in five breaks (burned, sink `ammo`), the rest fall on the
    /// target's tile, the shooter's to pick up first. `new_ground` ground items are already
    /// made this swing (the target's loot), so the arrow's id follows theirs.
    fn arrow_spent(
        &self,
        player_id: Uuid,
        slot: u8,
        item: &str,
        (x, y): (i32, i32),
        new_ground: u64,
        rng: &mut WorldRng,
    ) -> EventBody {
        if rng.random_range(0..5) == 0 {
            return EventBody::ItemsBurned {
                player_id,
                slot,
                item: item.to_owned(),
                qty: 1,
                sink: "ammo".into(),
            };
        }
        EventBody::ItemDropped {
            player_id,
            slot,
            ground: GroundItem {
                ground_id: self.next_ground_id + new_ground,
                item: item.to_owned(),
                qty: 1,
                x,
                y,
                owner: Some(player_id),
                public_at: self.tick + GROUND_PRIVATE_TICKS,
                despawn_at: self.tick + GROUND_DESPAWN_TICKS,
            },
        }
    }

    /// XP for `damage`. Melee: 4 per point to the style's skill (split for controlled). Bows:
    /// 4 per point to Ranged, or 2 to Ranged and 2 to Defence with longrange. Spells: the
    /// spell's XP for every cast, hit or splash, and 2 per point to Magic. And 4/3 per point to
    /// Hitpoints.
    fn combat_xp(
        &self,
        player_id: Uuid,
        p: &Player,
        fighting: Fighting<'_>,
        damage: u32,
    ) -> Vec<EventBody> {
        let mut grants = match fighting {
            Fighting::Melee => match p.style {
                AttackStyle::Accurate => vec![(Skill::Attack, 4 * damage)],
                AttackStyle::Aggressive | AttackStyle::Rapid => {
                    vec![(Skill::Strength, 4 * damage)]
                }
                AttackStyle::Defensive | AttackStyle::Longrange => {
                    vec![(Skill::Defence, 4 * damage)]
                }
                AttackStyle::Controlled => [Skill::Attack, Skill::Strength, Skill::Defence]
                    .map(|s| (s, 4 * damage / 3))
                    .to_vec(),
            },
            Fighting::Ranged(_) if bow_style(p.style) == BowStyle::Longrange => {
                vec![(Skill::Ranged, 2 * damage), (Skill::Defence, 2 * damage)]
            }
            Fighting::Ranged(_) => vec![(Skill::Ranged, 4 * damage)],
            Fighting::Magic(spell) => vec![(Skill::Magic, spell.xp + 2 * damage)],
        };
        if damage > 0 {
            grants.push((Skill::Hitpoints, 4 * damage / 3));
        }
        grants.retain(|(_, xp)| *xp > 0);
        let mut events = Vec::new();
        for (skill, xp) in grants {
            events.push(EventBody::XpGained {
                player_id,
                skill,
                xp,
            });
            events.extend(self.level_ups(player_id, skill, xp));
        }
        events
    }

    /// An NPC's attack on its target, if it reaches them (adjacent for melee; within its
    /// range and in sight for ranged and magic) and is due (combat phase). Its `attack` and
    /// `strength` are its accuracy and power in its own style; the player's protection prayer
    /// for that style blocks it.
    pub(super) fn npc_combat_step(&self, npc: u32, rng: &mut WorldRng) -> Vec<EventBody> {
        let Some(n) = self.npcs.get(&npc) else {
            return Vec::new();
        };
        let Some(target) = n.target.or_else(|| self.npc_aggression(npc)) else {
            return Vec::new();
        };
        let Some(p) = self.players.get(&target) else {
            return Vec::new();
        };
        let def = &self.content.npcs[&n.kind];
        if !self.can_hit((n.x, n.y), (p.x, p.y), self.npc_reach(def))
            || self.tick < n.next_attack_at
        {
            return Vec::new();
        }
        let attack = (i64::from(def.attack) + 9) * (i64::from(def.attack_bonus) + 64);
        let defence = self.player_defence(p, def.attack_type);
        let hit = rolls_hit(attack, defence, rng);
        let max = max_hit(i64::from(def.strength) + 9, def.strength_bonus);
        let mut damage = if hit { rng.random_range(0..=max) } else { 0 };
        if self.protected_from(p, def.attack_type) {
            damage = 0;
        }
        let damage = damage.min(p.hitpoints);
        let mut events = vec![EventBody::NpcAttacked {
            npc,
            player_id: target,
            hit,
            damage,
            next_at: self.tick + u64::from(def.attack_speed),
        }];
        if damage >= p.hitpoints && damage > 0 {
            events.push(self.player_death(target, None));
        }
        events
    }

    /// The event of `player_id` dying: respawn in town. In a PvP zone everything drops for the
    /// killer. Elsewhere (since rules 4, [`crate::DEEPER_WORLD_RULES`]) the player keeps the
    /// [`KEPT_ON_DEATH`] most valuable unstackable items and the rest drops as a grave on the
    /// death tile, theirs alone to take back for [`GRAVE_TICKS`] before it turns public;
    /// before rules 4 nothing dropped.
    fn player_death(&self, player_id: Uuid, killer: Option<Uuid>) -> EventBody {
        let p = &self.players[&player_id];
        let pvp = self.content.is_pvp(p.x, p.y, self.rules);
        let mut dropped = Vec::new();
        let mut kept = Vec::new();
        if pvp || self.rules >= crate::DEEPER_WORLD_RULES {
            let carried = p.inventory.slots().map(|(_, s)| (s.item.clone(), s.qty));
            let worn = p.equipment.iter().flatten().map(|i| (i.clone(), 1));
            let units: Vec<(String, u32)> = carried.chain(worn).collect();
            let keep = if pvp {
                Vec::new()
            } else {
                self.kept_on_death(&units)
            };
            kept = keep
                .iter()
                .map(|&k| ItemQty {
                    item: units[k].0.clone(),
                    qty: 1,
                })
                .collect();
            let (owner, public_at, despawn_at) = if pvp {
                let t = self.tick;
                (killer, t + GROUND_PRIVATE_TICKS, t + GROUND_DESPAWN_TICKS)
            } else {
                let public_at = self.tick + GRAVE_TICKS;
                let public_for = GROUND_DESPAWN_TICKS - GROUND_PRIVATE_TICKS;
                (Some(player_id), public_at, public_at + public_for)
            };
            let lost = (0..).zip(units).filter(|(k, _)| !keep.contains(k));
            for (k, (_, (item, qty))) in (0u64..).zip(lost) {
                dropped.push(GroundItem {
                    ground_id: self.next_ground_id + k,
                    item,
                    qty,
                    x: p.x,
                    y: p.y,
                    owner,
                    public_at,
                    despawn_at,
                });
            }
        }
        let (x, y) = self.respawn_point(p.x, p.y);
        EventBody::PlayerDied {
            player_id,
            killer,
            x,
            y,
            dropped,
            kept,
        }
    }

    /// Which of `units` (the inventory in slot order, then the equipment) are kept on a death
    /// outside PvP, most valuable first: the [`KEPT_ON_DEATH`] most valuable unstackable ones,
    /// the earlier first among equals. Stackable items are never kept, as in OSRS.
    fn kept_on_death(&self, units: &[(String, u32)]) -> Vec<usize> {
        let mut candidates: Vec<(u32, usize)> = units
            .iter()
            .enumerate()
            .filter_map(|(at, (item, _))| {
                let def = self.content.item(item)?;
                (!def.stackable).then_some((def.value, at))
            })
            .collect();
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates
            .into_iter()
            .take(KEPT_ON_DEATH)
            .map(|(_, at)| at)
            .collect()
    }

    pub(super) fn apply_combat(&mut self, body: &EventBody) {
        match body {
            EventBody::CombatTargetSet { player_id, target } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.target = Some(*target);
                    p.gathering = None;
                    p.path = None;
                }
            }
            EventBody::CombatTargetCleared { player_id } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.target = None;
                }
            }
            EventBody::AttackStyleSet { player_id, style } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.style = *style;
                }
            }
            EventBody::AutocastSet { player_id, spell } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.autocast = spell.clone();
                }
            }
            EventBody::PlayerAttacked {
                player_id,
                target,
                damage,
                next_at,
                ..
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.next_attack_at = *next_at;
                }
                match target {
                    Target::Npc(n) => {
                        if let Some(n) = self.npcs.get_mut(n) {
                            n.hitpoints = n.hitpoints.saturating_sub(*damage);
                            // An attacked NPC fights back.
                            n.target.get_or_insert(*player_id);
                        }
                    }
                    Target::Player(o) => {
                        if let Some(o) = self.players.get_mut(o) {
                            o.hitpoints = o.hitpoints.saturating_sub(*damage);
                        }
                    }
                }
            }
            EventBody::NpcAttacked {
                npc,
                player_id,
                damage,
                next_at,
                ..
            } => {
                if let Some(n) = self.npcs.get_mut(npc) {
                    n.next_attack_at = *next_at;
                    n.target = Some(*player_id);
                }
                if let Some(p) = self.players.get_mut(player_id) {
                    p.hitpoints = p.hitpoints.saturating_sub(*damage);
                }
            }
            EventBody::PlayerDied {
                player_id,
                x,
                y,
                dropped,
                kept,
                ..
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    if !dropped.is_empty() || !kept.is_empty() {
                        p.inventory.drain();
                        p.equipment = Default::default();
                        for k in kept {
                            p.inventory.add(&self.content, &k.item, k.qty);
                        }
                    }
                    (p.x, p.y) = (*x, *y);
                    p.hitpoints = p.skills.level(Skill::Hitpoints).into();
                    p.target = None;
                    p.gathering = None;
                    p.path = None;
                    p.prayers.clear();
                }
                for g in dropped {
                    self.put_on_ground(g.clone());
                }
                for n in self.npcs.values_mut() {
                    if n.target == Some(*player_id) {
                        n.target = None;
                    }
                }
                for p in self.players.values_mut() {
                    if p.target == Some(Target::Player(*player_id)) {
                        p.target = None;
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
