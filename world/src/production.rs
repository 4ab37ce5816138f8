//! Production: crafting, smithing (smelting at a furnace, smithing at an anvil) and cooking at a
//! range. One `ItemsProduced` event consumes the inputs and produces the outputs, with XP.

use super::{Decision, Player, REACH, Rejection, World};
use loh_commands::RejectionCode as Code;
use loh_events::{EventBody, ItemQty};
use uuid::Uuid;

impl World {
    pub(super) fn decide_produce(&self, player_id: Uuid, p: &Player, recipe: &str) -> Decision {
        let r = self
            .content
            .recipes
            .get(recipe)
            .ok_or_else(|| Rejection::new(Code::NoSuchRecipe, "no such recipe"))?;
        self.rule(
            !r.members || p.members,
            Code::MembersOnly,
            format!("{recipe} is for members"),
        )?;
        self.rule(
            p.skills.level(r.skill) >= r.level,
            Code::LevelTooLow,
            format!("{recipe} needs {:?} level {}", r.skill, r.level),
        )?;
        if let Some(station) = r.station {
            let near = self
                .content
                .objects_near(station, p.x, p.y, REACH, self.rules)
                .next()
                .is_some();
            self.rule(
                near,
                Code::NotInRange,
                format!("no {station:?} within reach").to_lowercase(),
            )?;
        }
        if let Some(tool) = &r.tool {
            self.rule(p.has(tool, 1), Code::NoTool, format!("you need a {tool}"))?;
        }
        for s in &r.inputs {
            self.rule(
                p.has(&s.item, s.qty),
                Code::MissingItems,
                format!("you need {} {}", s.qty, s.item),
            )?;
        }
        // Room after the inputs are gone: simulate on a copy.
        let mut after = p.inventory.clone();
        for s in &r.inputs {
            after.remove(&s.item, s.qty);
        }
        let outputs: Vec<(&str, u32)> =
            r.outputs.iter().map(|s| (s.item.as_str(), s.qty)).collect();
        self.rule(
            after.room_for_all(&self.content, &outputs),
            Code::InventoryFull,
            "no room for the product",
        )?;
        let qty = |v: &[crate::content::Stack]| {
            v.iter()
                .map(|s| ItemQty {
                    item: s.item.clone(),
                    qty: s.qty,
                })
                .collect()
        };
        let mut events = vec![EventBody::ItemsProduced {
            player_id,
            recipe: recipe.to_owned(),
            consumed: qty(&r.inputs),
            produced: qty(&r.outputs),
            skill: r.skill,
            xp: r.xp,
        }];
        events.extend(self.level_ups(player_id, r.skill, r.xp));
        Ok(events)
    }

    pub(super) fn apply_production(&mut self, body: &EventBody) {
        let content = self.content.clone();
        if let EventBody::ItemsProduced {
            player_id,
            consumed,
            produced,
            skill,
            xp,
            ..
        } = body
            && let Some(p) = self.players.get_mut(player_id)
        {
            for s in consumed {
                p.inventory.remove(&s.item, s.qty);
            }
            for s in produced {
                p.inventory.add(&content, &s.item, s.qty);
            }
            p.skills.add(*skill, *xp);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use loh_commands::Command;
    use loh_events::{EventBody, Skill};

    const FURNACE: (i32, i32) = (3195, 3221);

    fn smelt() -> Command {
        Command::Produce {
            recipe: "smelt_bronze_bar".into(),
        }
    }

    #[test]
    fn smelting_turns_copper_and_tin_into_a_bronze_bar_in_one_event() {
        let mut t = Given::new()
            .player(A)
            .at(A, FURNACE)
            .minted(A, "copper_ore", 1)
            .minted(A, "tin_ore", 1);
        let events = t.when(A, smelt()).unwrap();
        assert_eq!(events.len(), 1);
        let p = t.world.player(A).unwrap();
        assert_eq!(p.inventory.count("bronze_bar"), 1);
        assert_eq!(
            p.inventory.count("copper_ore") + p.inventory.count("tin_ore"),
            0
        );
        assert_eq!(p.skills.xp(Skill::Smithing), 6);
        t.assert_conserved();
    }

    #[test]
    fn smelting_without_ore_or_away_from_a_furnace_is_refused() {
        let t = Given::new().player(A).at(A, FURNACE);
        assert_eq!(t.rejects(A, smelt()), "missing_items");
        let t = Given::new()
            .player(A)
            .minted(A, "copper_ore", 1)
            .minted(A, "tin_ore", 1);
        assert_eq!(t.rejects(A, smelt()), "not_in_range");
    }

    #[test]
    fn smithing_a_sword_needs_a_hammer_and_the_level_and_levels_up() {
        let anvil = (3195, 3224);
        let t = Given::new()
            .player(A)
            .at(A, anvil)
            .minted(A, "bronze_bar", 1);
        assert_eq!(
            t.rejects(
                A,
                Command::Produce {
                    recipe: "smith_bronze_sword".into()
                }
            ),
            "level_too_low"
        );
        let mut t = t.xp(A, Skill::Smithing, 270);
        let events = t
            .when(
                A,
                Command::Produce {
                    recipe: "smith_bronze_med_helm".into(),
                },
            )
            .unwrap();
        assert!(events.contains(&EventBody::LevelledUp {
            player_id: A,
            skill: Skill::Smithing,
            level: 4
        }));
        let mut t = t.minted(A, "bronze_bar", 1);
        t.when(
            A,
            Command::Produce {
                recipe: "smith_bronze_sword".into(),
            },
        )
        .unwrap();
        t.assert_conserved();
    }

    #[test]
    fn a_members_recipe_is_refused_to_a_free_player() {
        let t = Given::new().player(A);
        assert_eq!(
            t.rejects(
                A,
                Command::Produce {
                    recipe: "smith_steel_sword".into()
                }
            ),
            "members_only"
        );
    }
}
