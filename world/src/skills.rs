//! Skills: the OSRS XP table, levels 1–99, XP capped at 200,000,000, total and combat level.

use super::World;
use loh_events::{EventBody, Skill};
use std::sync::OnceLock;
use uuid::Uuid;

/// The most XP a skill can hold.
pub const MAX_XP: u32 = 200_000_000;

/// `XP_TABLE[L - 1]` is the XP needed for level `L` (1..=99).
pub fn xp_table() -> &'static [u32; 99] {
    static TABLE: OnceLock<[u32; 99]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [0u32; 99];
        let mut points: u64 = 0;
        for level in 2..=99u32 {
            let x = level - 1;
            // floor(x + 300 · 2^(x/7)), in exact integer-and-float steps as OSRS computes it.
            points += (f64::from(x) + 300.0 * 2f64.powf(f64::from(x) / 7.0)).floor() as u64;
            table[(level - 1) as usize] = (points / 4) as u32;
        }
        table
    })
}

/// The level `xp` reaches.
pub fn level_for(xp: u32) -> u8 {
    let table = xp_table();
    table.partition_point(|&need| need <= xp) as u8
}

/// The XP a new player starts with in `skill`: level 10 Hitpoints, level 1 elsewhere.
pub fn starting_xp(skill: Skill) -> u32 {
    if skill == Skill::Hitpoints {
        xp_table()[9]
    } else {
        0
    }
}

/// XP per skill.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skills {
    xp: [u32; Skill::ALL.len()],
}

impl Default for Skills {
    fn default() -> Self {
        Skills::new()
    }
}

impl Skills {
    /// Level 1 everywhere, Hitpoints 10.
    pub fn new() -> Skills {
        let mut xp = [0; Skill::ALL.len()];
        xp[Skill::Hitpoints.index()] = xp_table()[9];
        Skills { xp }
    }

    /// Skills with `xp` per skill, in [`Skill::ALL`] order (a character arriving by hop).
    pub fn from_xp(xp: [u32; Skill::ALL.len()]) -> Skills {
        Skills {
            xp: xp.map(|v| v.min(MAX_XP)),
        }
    }

    pub fn xp(&self, skill: Skill) -> u32 {
        self.xp[skill.index()]
    }

    pub fn level(&self, skill: Skill) -> u8 {
        level_for(self.xp(skill))
    }

    /// Adds XP, stopping at [`MAX_XP`].
    pub fn add(&mut self, skill: Skill, xp: u32) {
        let v = &mut self.xp[skill.index()];
        *v = v.saturating_add(xp).min(MAX_XP);
    }

    pub fn total_level(&self) -> u32 {
        Skill::ALL.iter().map(|s| u32::from(self.level(*s))).sum()
    }

    /// The OSRS combat level (OSRS Wiki, "Combat level"): `floor(base + max(melee, range,
    /// mage))` with base `0.25 · (Def + HP + floor(Prayer / 2))`, melee `0.325 · (Att + Str)`,
    /// range `0.325 · floor(3 · Ranged / 2)` and mage `0.325 · floor(3 · Magic / 2)`, in
    /// integers (× 40).
    pub fn combat_level(&self) -> u32 {
        let l = |s| u32::from(self.level(s));
        let base = 10 * (l(Skill::Defence) + l(Skill::Hitpoints) + l(Skill::Prayer) / 2);
        let melee = 13 * (l(Skill::Attack) + l(Skill::Strength));
        let range = 13 * (3 * l(Skill::Ranged) / 2);
        let mage = 13 * (3 * l(Skill::Magic) / 2);
        (base + melee.max(range).max(mage)) / 40
    }
}

impl World {
    /// The `LevelledUp` event if `xp` more in `skill` crosses a level for `player_id`.
    pub(crate) fn level_ups(&self, player_id: Uuid, skill: Skill, xp: u32) -> Option<EventBody> {
        let p = self.players.get(&player_id)?;
        let before = p.skills.xp(skill);
        let after = before.saturating_add(xp).min(MAX_XP);
        let level = level_for(after);
        (level > level_for(before)).then_some(EventBody::LevelledUp {
            player_id,
            skill,
            level,
        })
    }

    pub(super) fn apply_skills(&mut self, body: &EventBody) {
        if let EventBody::XpGained {
            player_id,
            skill,
            xp,
        } = body
            && let Some(p) = self.players.get_mut(player_id)
        {
            let before = p.skills.level(*skill);
            p.skills.add(*skill, *xp);
            // A level gained raises what the level restores by as much, as in OSRS.
            let gained = u32::from(p.skills.level(*skill) - before);
            match skill {
                Skill::Hitpoints => p.hitpoints += gained,
                Skill::Prayer => p.prayer_points += gained,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xp_table_matches_the_osrs_reference_points() {
        let t = xp_table();
        assert_eq!((t[0], t[1], t[2]), (0, 83, 174));
        assert_eq!(t[98], 13_034_431);
    }

    #[test]
    fn levels_follow_the_table_at_and_around_each_boundary() {
        assert_eq!(level_for(0), 1);
        assert_eq!(level_for(82), 1);
        assert_eq!(level_for(83), 2);
        assert_eq!(level_for(13_034_430), 98);
        assert_eq!(level_for(13_034_431), 99);
        assert_eq!(level_for(MAX_XP), 99);
    }

    #[test]
    fn xp_stops_at_two_hundred_million() {
        let mut s = Skills::new();
        s.add(Skill::Mining, 150_000_000);
        s.add(Skill::Mining, 150_000_000);
        assert_eq!(s.xp(Skill::Mining), MAX_XP);
        s.add(Skill::Mining, u32::MAX);
        assert_eq!(s.xp(Skill::Mining), MAX_XP);
    }

    #[test]
    fn a_new_player_has_total_level_twenty_two_and_combat_level_three() {
        let s = Skills::new();
        assert_eq!(s.level(Skill::Hitpoints), 10);
        assert_eq!(s.total_level(), 12 + 10);
        assert_eq!(s.combat_level(), 3);
    }

    /// The best of melee, ranged and magic counts: a 99 Ranged or 99 Magic player with
    /// nothing else trained is level 50, a 99 Attack one level 35.
    #[test]
    fn the_combat_level_counts_the_best_of_melee_ranged_and_magic() {
        let with = |skill| {
            let mut s = Skills::new();
            s.add(skill, 13_034_431);
            s.combat_level()
        };
        assert_eq!(with(Skill::Ranged), 50);
        assert_eq!(with(Skill::Magic), 50);
        assert_eq!(with(Skill::Attack), 35);
        let mut s = Skills::new();
        for skill in [
            Skill::Attack,
            Skill::Strength,
            Skill::Defence,
            Skill::Hitpoints,
        ] {
            s.add(skill, 13_034_431);
        }
        s.add(Skill::Prayer, 13_034_431);
        assert_eq!(s.combat_level(), 126);
    }
}
