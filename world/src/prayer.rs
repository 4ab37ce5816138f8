//! Prayers (Tapasya): activate and deactivate, drain per tick (slowed by worn prayer bonus),
//! protection from melee, ranged and magic, restore at an altar; Prayer XP from burying bones,
//! or offering them at an altar for more.

use super::equipment::bonuses;
use super::inventory::slot_of;
use super::{Decision, Player, REACH, Rejection, World};
use crate::content::{DamageType, ObjectKind};
use loh_commands::RejectionCode as Code;
use loh_events::{EventBody, Skill};
use uuid::Uuid;

impl World {
    /// `(attack, strength, defence)` percent multipliers of active prayers.
    pub fn prayer_mults(&self, p: &Player) -> (u32, u32, u32) {
        let mut m = (100, 100, 100);
        for id in &p.prayers {
            if let Some(d) = self.content.prayers.get(id) {
                m.0 = m.0.max(d.attack_mult);
                m.1 = m.1.max(d.strength_mult);
                m.2 = m.2.max(d.defence_mult);
            }
        }
        m
    }

    /// Whether an active prayer of `p` protects from `kind` of attack.
    pub(crate) fn protected_from(&self, p: &Player, kind: DamageType) -> bool {
        p.prayers
            .iter()
            .any(|id| self.content.prayers.get(id).and_then(|d| d.protect) == Some(kind))
    }

    /// Ticks between one-point drains for the active prayers, or `None` when none is active:
    /// `(60 + 2 · bonus) · 60 / Σ(3600 / drain_ticks)`, at least 1.
    pub fn drain_interval(&self, p: &Player) -> Option<u64> {
        let rate: u64 = p
            .prayers
            .iter()
            .filter_map(|id| self.content.prayers.get(id))
            .map(|d| 3600 / u64::from(d.drain_ticks))
            .sum();
        if rate == 0 {
            return None;
        }
        let bonus = u64::try_from(bonuses(&self.content, p).prayer.max(0)).unwrap_or(0);
        Some(((60 + 2 * bonus) * 60 / rate).max(1))
    }

    pub(super) fn decide_pray(
        &self,
        player_id: Uuid,
        p: &Player,
        prayer: &str,
        on: bool,
    ) -> Decision {
        let def = self
            .content
            .prayers
            .get(prayer)
            // Protection from ranged and magic came with rules 4.
            .filter(|d| {
                self.rules >= crate::DEEPER_WORLD_RULES
                    || !matches!(d.protect, Some(DamageType::Ranged | DamageType::Magic))
            })
            .ok_or_else(|| Rejection::new(Code::NoSuchPrayer, "no such prayer"))?;
        let active = p.prayers.contains(prayer);
        if !on {
            self.rule(
                active,
                Code::NotActive,
                format!("{} is not active", def.name),
            )?;
            return Ok(vec![EventBody::PrayerDeactivated {
                player_id,
                prayer: prayer.to_owned(),
            }]);
        }
        self.rule(
            !active,
            Code::AlreadyActive,
            format!("{} is already active", def.name),
        )?;
        self.rule(
            p.skills.level(Skill::Prayer) >= def.level,
            Code::LevelTooLow,
            format!("{} needs Prayer level {}", def.name, def.level),
        )?;
        self.rule(
            p.prayer_points > 0,
            Code::NoPrayerPoints,
            "recharge at an altar",
        )?;
        Ok(vec![EventBody::PrayerActivated {
            player_id,
            prayer: prayer.to_owned(),
        }])
    }

    /// `not_in_range` unless an altar is within reach of `p`.
    fn altar_near(&self, p: &Player) -> Result<(), Rejection> {
        let near = self
            .content
            .objects_near(ObjectKind::Altar, p.x, p.y, REACH, self.rules)
            .next()
            .is_some();
        self.rule(near, Code::NotInRange, "no altar within reach")
    }

    pub(super) fn decide_altar(&self, player_id: Uuid, p: &Player) -> Decision {
        self.altar_near(p)?;
        let max = u32::from(p.skills.level(Skill::Prayer));
        self.rule(
            p.prayer_points < max,
            Code::AlreadyFull,
            "prayer points are full",
        )?;
        Ok(vec![EventBody::PrayerRestored {
            player_id,
            points: max - p.prayer_points,
        }])
    }

    /// `Bury` (or, `at_altar`, `OfferAtAltar`) the bones in `slot`: the bones are burned and give
    /// their `prayer_xp`, times 3.5 (rounded down) at an altar, as offering at an OSRS gilded
    /// altar with both burners lit does (<https://oldschool.runescape.wiki/w/Gilded_altar>).
    pub(super) fn decide_bury(
        &self,
        player_id: Uuid,
        p: &Player,
        slot: u8,
        at_altar: bool,
    ) -> Decision {
        let s = slot_of(p, slot)?;
        let xp = self
            .content
            .item(&s.item)
            .and_then(|d| d.prayer_xp)
            .ok_or_else(|| Rejection::new(Code::NotBones, format!("{} is not bones", s.item)))?;
        let xp = if at_altar {
            self.altar_near(p)?;
            xp.saturating_mul(7) / 2
        } else {
            xp
        };
        let mut events = vec![
            EventBody::ItemsBurned {
                player_id,
                slot,
                item: s.item.clone(),
                qty: 1,
                sink: if at_altar { "offered" } else { "buried" }.into(),
            },
            EventBody::XpGained {
                player_id,
                skill: Skill::Prayer,
                xp,
            },
        ];
        events.extend(self.level_ups(player_id, Skill::Prayer, xp));
        Ok(events)
    }

    /// Drain for this tick (players phase): a point every interval; at zero all prayers stop.
    pub(super) fn prayer_step(&self, player_id: Uuid) -> Vec<EventBody> {
        let Some(p) = self.players.get(&player_id) else {
            return Vec::new();
        };
        let Some(interval) = self.drain_interval(p) else {
            return Vec::new();
        };
        let since = self.tick.saturating_sub(p.prayer_since);
        if since == 0 || !since.is_multiple_of(interval) {
            return Vec::new();
        }
        let mut events = vec![EventBody::PrayerDrained {
            player_id,
            points: 1,
        }];
        if p.prayer_points <= 1 {
            events.extend(p.prayers.iter().map(|id| EventBody::PrayerDeactivated {
                player_id,
                prayer: id.clone(),
            }));
        }
        events
    }

    pub(super) fn apply_prayer(&mut self, body: &EventBody) {
        let tick = self.tick;
        match body {
            EventBody::PrayerActivated { player_id, prayer } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.prayers.insert(prayer.clone());
                    p.prayer_since = tick;
                }
            }
            EventBody::PrayerDeactivated { player_id, prayer } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.prayers.remove(prayer);
                    p.prayer_since = tick;
                }
            }
            EventBody::PrayerDrained { player_id, points } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.prayer_points = p.prayer_points.saturating_sub(*points);
                }
            }
            EventBody::PrayerRestored { player_id, points } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.prayer_points += points;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use loh_commands::Command;
    use loh_events::{EventBody, Skill};

    fn pray(prayer: &str, on: bool) -> Command {
        Command::Pray {
            prayer: prayer.into(),
            on,
        }
    }

    #[test]
    fn thick_skin_drains_a_point_every_six_ticks_and_stops_at_zero() {
        let mut t = Given::new().player(A);
        t.when(A, pray("thick_skin", true)).unwrap();
        t.run_ticks(5);
        assert_eq!(t.world.player(A).unwrap().prayer_points, 1);
        let events = t.run_ticks(1);
        assert!(events.contains(&EventBody::PrayerDrained {
            player_id: A,
            points: 1
        }));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EventBody::PrayerDeactivated { .. }))
        );
        let p = t.world.player(A).unwrap();
        assert_eq!(p.prayer_points, 0);
        assert!(p.prayers.is_empty());
        assert_eq!(t.rejects(A, pray("thick_skin", true)), "no_prayer_points");
    }

    #[test]
    fn a_prayer_above_the_level_is_refused() {
        let t = Given::new().player(A);
        assert_eq!(
            t.rejects(A, pray("protect_from_melee", true)),
            "level_too_low"
        );
    }

    #[test]
    fn a_holy_symbol_slows_the_drain() {
        let mut t = Given::new().player(A).minted(A, "holy_symbol", 1);
        t.when(A, Command::Equip { slot: 7 }).unwrap();
        t.when(A, pray("thick_skin", true)).unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!(t.world.drain_interval(p), Some(7));
    }

    #[test]
    fn burying_bones_burns_them_for_prayer_xp_and_a_level_raises_the_points() {
        // 80 XP: 3 more reach level 2 (83).
        let mut t = Given::new()
            .player(A)
            .xp(A, Skill::Prayer, 80)
            .minted(A, "bones", 1);
        let events = t.when(A, Command::Bury { slot: 7 }).unwrap();
        assert_eq!(
            events,
            [
                EventBody::ItemsBurned {
                    player_id: A,
                    slot: 7,
                    item: "bones".into(),
                    qty: 1,
                    sink: "buried".into(),
                },
                EventBody::XpGained {
                    player_id: A,
                    skill: Skill::Prayer,
                    xp: 5,
                },
                EventBody::LevelledUp {
                    player_id: A,
                    skill: Skill::Prayer,
                    level: 2,
                },
            ]
        );
        let p = t.world.player(A).unwrap();
        assert_eq!(p.skills.xp(Skill::Prayer), 85);
        assert_eq!(p.prayer_points, 2);
        assert!(p.inventory.slot(7).is_none());
        t.assert_conserved();
        assert_eq!(t.rejects(A, Command::Bury { slot: 7 }), "empty_slot");
        assert_eq!(t.rejects(A, Command::Bury { slot: 0 }), "not_bones");
    }

    #[test]
    fn bones_offered_at_an_altar_give_three_and_a_half_times_the_xp() {
        let mut t = Given::new()
            .player(A)
            .minted(A, "bones", 2)
            .at(A, (3210, 3231));
        let events = t.when(A, Command::OfferAtAltar { slot: 7 }).unwrap();
        assert!(events.contains(&EventBody::XpGained {
            player_id: A,
            skill: Skill::Prayer,
            xp: 17,
        }));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EventBody::ItemsBurned { sink, .. } if sink == "offered"))
        );
        t.assert_conserved();
        let away = Given::new().player(A).minted(A, "bones", 1);
        assert_eq!(
            away.rejects(A, Command::OfferAtAltar { slot: 7 }),
            "not_in_range"
        );
    }

    #[test]
    fn enough_bones_at_the_altar_reach_protect_from_melee() {
        // Level 43 needs 50,339 XP: 2,962 offerings of 17.
        let mut t = Given::new()
            .player(A)
            .xp(A, Skill::Prayer, 50_339 - 17)
            .minted(A, "bones", 1)
            .at(A, (3210, 3231));
        assert_eq!(
            t.rejects(A, pray("protect_from_melee", true)),
            "level_too_low"
        );
        t.when(A, Command::OfferAtAltar { slot: 7 }).unwrap();
        t.when(A, pray("protect_from_melee", true)).unwrap();
    }

    #[test]
    fn an_altar_restores_prayer_points() {
        let mut t = Given::new().player(A).at(A, (3210, 3231));
        t.when(A, pray("thick_skin", true)).unwrap();
        t.run_ticks(6);
        t.when(A, Command::PrayAtAltar).unwrap();
        assert_eq!(t.world.player(A).unwrap().prayer_points, 1);
        let t = Given::new().player(A);
        assert_eq!(t.rejects(A, Command::PrayAtAltar), "not_in_range");
    }
}
