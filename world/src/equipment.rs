//! Equipment: the 11 slots, level requirements, and the bonuses that feed combat and prayer.

use super::inventory::slot_of;
use super::{Decision, Player, Rejection, World};
use crate::content::Content;
use loh_commands::RejectionCode as Code;
use loh_events::{EquipSlot, EventBody, Skill};
use uuid::Uuid;

/// Summed bonuses of worn items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bonuses {
    pub attack: i32,
    pub strength: i32,
    pub defence: i32,
    pub prayer: i32,
    pub ranged_attack: i32,
    pub ranged_strength: i32,
    pub ranged_defence: i32,
    pub magic_attack: i32,
    pub magic_defence: i32,
}

/// The bonuses of what `p` wears.
pub fn bonuses(content: &Content, p: &Player) -> Bonuses {
    let mut b = Bonuses::default();
    for item in p.equipment.iter().flatten() {
        if let Some(e) = content.item(item).and_then(|d| d.equip.as_ref()) {
            b.attack += e.attack_bonus;
            b.strength += e.strength_bonus;
            b.defence += e.defence_bonus;
            b.prayer += e.prayer_bonus;
            b.ranged_attack += e.ranged_attack;
            b.ranged_strength += e.ranged_strength;
            b.ranged_defence += e.ranged_defence;
            b.magic_attack += e.magic_attack;
            b.magic_defence += e.magic_defence;
        }
    }
    b
}

/// Parses an equipment slot name (`head`, `weapon`, …).
pub fn parse_slot(name: &str) -> Option<EquipSlot> {
    EquipSlot::ALL
        .into_iter()
        .find(|s| format!("{s:?}").eq_ignore_ascii_case(name))
}

impl World {
    pub(super) fn decide_equip(&self, player_id: Uuid, p: &Player, slot: u8) -> Decision {
        let s = slot_of(p, slot)?;
        let def = self.content.item(&s.item);
        let equip = def.and_then(|d| d.equip.as_ref()).ok_or_else(|| {
            Rejection::new(Code::NotEquipable, format!("{} cannot be worn", s.item))
        })?;
        self.members_item(p, &s.item)?;
        let (att, def_lvl) = (
            p.skills.level(Skill::Attack),
            p.skills.level(Skill::Defence),
        );
        self.rule(
            att >= equip.attack_level && def_lvl >= equip.defence_level,
            Code::LevelTooLow,
            format!(
                "{} needs Attack {} and Defence {}",
                s.item, equip.attack_level, equip.defence_level
            ),
        )?;
        self.rule(
            p.skills.level(Skill::Ranged) >= equip.ranged_level
                && p.skills.level(Skill::Magic) >= equip.magic_level,
            Code::LevelTooLow,
            format!(
                "{} needs Ranged {} and Magic {}",
                s.item, equip.ranged_level, equip.magic_level
            ),
        )?;
        self.rule(
            !self.trades.contains_key(&player_id),
            Code::InTrade,
            "finish the trade first",
        )?;
        Ok(vec![EventBody::ItemEquipped {
            player_id,
            slot,
            item: s.item.clone(),
            equip_slot: equip.slot,
        }])
    }

    pub(super) fn decide_unequip(&self, player_id: Uuid, p: &Player, name: &str) -> Decision {
        let equip_slot = parse_slot(name)
            .ok_or_else(|| Rejection::new(Code::BadSlot, "no such equipment slot"))?;
        let item = p
            .worn(equip_slot)
            .ok_or_else(|| Rejection::new(Code::EmptySlot, format!("nothing worn in {name}")))?;
        self.rule(
            p.inventory.room_for(&self.content, item, 1),
            Code::InventoryFull,
            "no room in the inventory",
        )?;
        Ok(vec![EventBody::ItemUnequipped {
            player_id,
            equip_slot,
            item: item.to_owned(),
        }])
    }

    pub(super) fn apply_equipment(&mut self, body: &EventBody) {
        let content = self.content.clone();
        match body {
            EventBody::ItemEquipped {
                player_id,
                slot,
                equip_slot,
                ..
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    let Some(s) = p.inventory.slot(*slot).cloned() else {
                        return;
                    };
                    p.inventory.take_from(*slot, 1);
                    if let Some(old) = p.equipment[equip_slot.index()].replace(s.item) {
                        p.inventory.add(&content, &old, 1);
                    }
                }
            }
            EventBody::ItemUnequipped {
                player_id,
                equip_slot,
                item,
            } => {
                if let Some(p) = self.players.get_mut(player_id)
                    && p.equipment[equip_slot.index()].take().is_some()
                {
                    p.inventory.add(&content, item, 1);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use loh_commands::Command;

    #[test]
    fn wearing_an_axe_moves_it_to_the_weapon_slot_and_adds_its_bonuses() {
        let mut t = Given::new().player(A);
        t.when(A, Command::Equip { slot: 0 }).unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!(p.worn(EquipSlot::Weapon), Some("bronze_axe"));
        assert!(p.inventory.slot(0).is_none());
        assert_eq!(bonuses(&t.world.content, p).strength, 5);
        t.assert_conserved();
    }

    #[test]
    fn wearing_a_second_weapon_swaps_the_first_back_into_the_inventory() {
        let mut t = Given::new().player(A);
        t.when(A, Command::Equip { slot: 0 }).unwrap();
        t.when(A, Command::Equip { slot: 1 }).unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!(p.worn(EquipSlot::Weapon), Some("bronze_pickaxe"));
        assert_eq!(p.inventory.count("bronze_axe"), 1);
        t.assert_conserved();
    }

    #[test]
    fn a_rune_scimitar_needs_attack_forty() {
        let t = Given::new().player(A).minted(A, "rune_scimitar", 1);
        assert_eq!(t.rejects(A, Command::Equip { slot: 7 }), "level_too_low");
        assert_eq!(t.rejects(A, Command::Equip { slot: 3 }), "not_equipable");
    }

    #[test]
    fn a_members_item_cannot_be_worn_by_a_free_player() {
        let t = Given::new().player(A).minted(A, "steel_sword", 1);
        assert_eq!(t.rejects(A, Command::Equip { slot: 7 }), "members_only");
    }

    #[test]
    fn unequipping_returns_the_item_and_an_empty_slot_is_refused() {
        let mut t = Given::new().player(A);
        assert_eq!(
            t.rejects(
                A,
                Command::Unequip {
                    equip_slot: "weapon".into()
                }
            ),
            "empty_slot"
        );
        t.when(A, Command::Equip { slot: 0 }).unwrap();
        t.when(
            A,
            Command::Unequip {
                equip_slot: "weapon".into(),
            },
        )
        .unwrap();
        assert_eq!(t.world.player(A).unwrap().inventory.count("bronze_axe"), 1);
    }
}
