//! Inventory: 28 slots, stacks up to 2,147,483,647 with checked arithmetic; move, drop, pick
//! up, eat; ground items visible to the dropper first, then to everyone, then gone.

use super::{
    Decision, GROUND_DESPAWN_TICKS, GROUND_PRIVATE_TICKS, MAX_STACK, Player, REACH, Rejection,
    World, chebyshev,
};
use crate::content::Content;
use loh_commands::RejectionCode as Code;
use loh_events::{EventBody, GroundItem, Skill};
use uuid::Uuid;

/// Inventory slots.
pub const SLOTS: usize = 28;

/// What a new player starts with (minted with source `starter_kit`).
pub const STARTER_KIT: &[(&str, u32)] = &[
    ("bronze_axe", 1),
    ("bronze_pickaxe", 1),
    ("small_fishing_net", 1),
    ("hammer", 1),
    ("bread", 2),
    ("coins", 25),
];

/// An item and its quantity in one slot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Slot {
    pub item: String,
    pub qty: u32,
}

/// 28 slots.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Inventory {
    slots: [Option<Slot>; SLOTS],
}

impl Inventory {
    /// An inventory holding `slots` in order (the first [`SLOTS`]; a character arriving by hop).
    pub fn from_slots(slots: impl IntoIterator<Item = Option<Slot>>) -> Inventory {
        let mut inventory = Inventory::default();
        for (to, from) in inventory.slots.iter_mut().zip(slots) {
            *to = from;
        }
        inventory
    }

    pub fn slot(&self, i: u8) -> Option<&Slot> {
        self.slots.get(usize::from(i))?.as_ref()
    }

    pub fn slots(&self) -> impl Iterator<Item = (u8, &Slot)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u8, s)))
    }

    pub fn free_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.is_none()).count()
    }

    /// How many of `item` the inventory holds.
    pub fn count(&self, item: &str) -> u64 {
        self.slots()
            .filter(|(_, s)| s.item == item)
            .map(|(_, s)| u64::from(s.qty))
            .sum()
    }

    /// Whether `qty` of `item` fits (a stack never passes [`MAX_STACK`]).
    pub fn room_for(&self, content: &Content, item: &str, qty: u32) -> bool {
        self.room_for_all(content, &[(item, qty)])
    }

    /// Whether all of `items` fit at once.
    pub fn room_for_all(&self, content: &Content, items: &[(&str, u32)]) -> bool {
        let mut free = self.free_slots();
        let mut added: Vec<(&str, u64)> = Vec::new();
        for (item, qty) in items {
            let stackable = content.item(item).is_some_and(|d| d.stackable);
            if stackable {
                let have = self.count(item);
                let prev = added.iter().find(|(i, _)| i == item).map_or(0, |(_, q)| *q);
                if have + prev + u64::from(*qty) > u64::from(MAX_STACK) {
                    return false;
                }
                if have == 0 && prev == 0 {
                    if free == 0 {
                        return false;
                    }
                    free -= 1;
                }
                added.push((item, u64::from(*qty)));
            } else {
                let need = *qty as usize;
                if need > free {
                    return false;
                }
                free -= need;
            }
        }
        true
    }

    /// Adds items (stackable onto their stack, else one per free slot). The caller checked
    /// [`Inventory::room_for`]; what does not fit is lost, which the conservation test catches.
    pub fn add(&mut self, content: &Content, item: &str, qty: u32) {
        if qty == 0 {
            return;
        }
        let stackable = content.item(item).is_none_or(|d| d.stackable);
        if stackable {
            if let Some(s) = self.slots.iter_mut().flatten().find(|s| s.item == item) {
                s.qty = s
                    .qty
                    .checked_add(qty)
                    .filter(|q| *q <= MAX_STACK)
                    .unwrap_or(s.qty);
                return;
            }
            if let Some(free) = self.slots.iter_mut().find(|s| s.is_none()) {
                *free = Some(Slot {
                    item: item.to_owned(),
                    qty,
                });
            }
        } else {
            for _ in 0..qty {
                if let Some(free) = self.slots.iter_mut().find(|s| s.is_none()) {
                    *free = Some(Slot {
                        item: item.to_owned(),
                        qty: 1,
                    });
                }
            }
        }
    }

    /// Removes `qty` from slot `i`.
    pub fn take_from(&mut self, i: u8, qty: u32) {
        if let Some(cell) = self.slots.get_mut(usize::from(i))
            && let Some(s) = cell
        {
            s.qty = s.qty.saturating_sub(qty);
            if s.qty == 0 {
                *cell = None;
            }
        }
    }

    /// Removes `qty` of `item` from its slots, first slot first.
    pub fn remove(&mut self, item: &str, mut qty: u32) {
        for i in 0..SLOTS as u8 {
            if qty == 0 {
                break;
            }
            if let Some(s) = self.slot(i)
                && s.item == item
            {
                let n = s.qty.min(qty);
                self.take_from(i, n);
                qty -= n;
            }
        }
    }

    pub fn swap(&mut self, a: u8, b: u8) {
        let (a, b) = (usize::from(a), usize::from(b));
        if a < SLOTS && b < SLOTS {
            self.slots.swap(a, b);
        }
    }

    /// Empties the inventory, returning its stacks in slot order.
    pub fn drain(&mut self) -> Vec<Slot> {
        self.slots.iter_mut().filter_map(Option::take).collect()
    }
}

/// The stack in `slot`, or `empty_slot`.
pub(crate) fn slot_of(p: &Player, slot: u8) -> Result<&Slot, Rejection> {
    p.inventory
        .slot(slot)
        .ok_or_else(|| Rejection::new(Code::EmptySlot, format!("inventory slot {slot} is empty")))
}

impl World {
    pub(super) fn decide_move_item(
        &self,
        player_id: Uuid,
        p: &Player,
        from: u8,
        to: u8,
    ) -> Decision {
        slot_of(p, from)?;
        self.rule(
            usize::from(to) < SLOTS,
            Code::BadSlot,
            format!("slot {to} is not 0–27"),
        )?;
        Ok(vec![EventBody::ItemMoved {
            player_id,
            from,
            to,
        }])
    }

    pub(super) fn decide_drop(&self, player_id: Uuid, p: &Player, slot: u8) -> Decision {
        let s = slot_of(p, slot)?;
        self.rule(
            !self.trades.contains_key(&player_id),
            Code::InTrade,
            "finish the trade first",
        )?;
        Ok(vec![EventBody::ItemDropped {
            player_id,
            slot,
            ground: GroundItem {
                ground_id: self.next_ground_id,
                item: s.item.clone(),
                qty: s.qty,
                x: p.x,
                y: p.y,
                owner: Some(player_id),
                public_at: self.tick + GROUND_PRIVATE_TICKS,
                despawn_at: self.tick + GROUND_DESPAWN_TICKS,
            },
        }])
    }

    /// Whether `viewer` may see (and take) the ground item now.
    pub fn ground_visible(&self, g: &GroundItem, viewer: Uuid) -> bool {
        g.owner.is_none_or(|o| o == viewer) || self.tick >= g.public_at
    }

    pub(super) fn decide_pick_up(&self, player_id: Uuid, p: &Player, ground_id: u64) -> Decision {
        let g = self
            .ground
            .get(&ground_id)
            .filter(|g| self.ground_visible(g, player_id))
            .ok_or_else(|| Rejection::new(Code::NoSuchItem, "that item is not on the ground"))?;
        self.rule(
            chebyshev(p.x, p.y, g.x, g.y) <= REACH,
            Code::NotInRange,
            "walk to the item first",
        )?;
        self.members_item(p, &g.item)?;
        self.rule(
            p.inventory.room_for(&self.content, &g.item, g.qty),
            Code::InventoryFull,
            "no room in the inventory",
        )?;
        Ok(vec![EventBody::ItemPickedUp {
            player_id,
            ground_id,
            item: g.item.clone(),
            qty: g.qty,
        }])
    }

    /// Everything of `player_id`'s own grave within reach that fits, in the order it was
    /// dropped: the ground items private to them still (a grave, or their loot).
    pub(super) fn decide_reclaim_grave(&self, player_id: Uuid, p: &Player) -> Decision {
        let mine: Vec<&GroundItem> = self
            .ground
            .values()
            .filter(|g| g.owner == Some(player_id) && self.tick < g.public_at)
            .filter(|g| chebyshev(p.x, p.y, g.x, g.y) <= REACH)
            .collect();
        self.rule(
            !mine.is_empty(),
            Code::NoSuchItem,
            "no grave of yours within reach",
        )?;
        let mut room = p.inventory.clone();
        let mut events = Vec::new();
        for g in mine {
            if self.members_item(p, &g.item).is_ok() && room.room_for(&self.content, &g.item, g.qty)
            {
                room.add(&self.content, &g.item, g.qty);
                events.push(EventBody::ItemPickedUp {
                    player_id,
                    ground_id: g.ground_id,
                    item: g.item.clone(),
                    qty: g.qty,
                });
            }
        }
        self.rule(
            !events.is_empty(),
            Code::InventoryFull,
            "no room in the inventory",
        )?;
        Ok(events)
    }

    pub(super) fn decide_eat(&self, player_id: Uuid, p: &Player, slot: u8) -> Decision {
        let s = slot_of(p, slot)?;
        let heals = self
            .content
            .item(&s.item)
            .and_then(|d| d.heals)
            .ok_or_else(|| Rejection::new(Code::NotFood, format!("{} is not food", s.item)))?;
        let max = u32::from(p.skills.level(Skill::Hitpoints));
        Ok(vec![
            EventBody::ItemsBurned {
                player_id,
                slot,
                item: s.item.clone(),
                qty: 1,
                sink: "eaten".into(),
            },
            EventBody::PlayerHealed {
                player_id,
                amount: heals.min(max.saturating_sub(p.hitpoints)),
            },
        ])
    }

    /// `members_only` for a free player and a members item.
    pub(crate) fn members_item(&self, p: &Player, item: &str) -> Result<(), Rejection> {
        let members = self.content.item(item).is_some_and(|d| d.members);
        self.rule(
            !members || p.members,
            Code::MembersOnly,
            format!("{item} is for members"),
        )
    }

    pub(super) fn apply_inventory(&mut self, body: &EventBody) {
        let content = self.content.clone();
        match body {
            EventBody::ItemsMinted {
                player_id,
                item,
                qty,
                ..
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.inventory.add(&content, item, *qty);
                }
            }
            EventBody::ItemsBurned {
                player_id,
                slot,
                qty,
                ..
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.inventory.take_from(*slot, *qty);
                }
            }
            EventBody::ItemMoved {
                player_id,
                from,
                to,
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.inventory.swap(*from, *to);
                }
            }
            EventBody::ItemDropped {
                player_id,
                slot,
                ground,
            } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.inventory.take_from(*slot, ground.qty);
                }
                self.put_on_ground(ground.clone());
            }
            EventBody::ItemPickedUp {
                player_id,
                ground_id,
                ..
            } => {
                if let Some(g) = self.ground.remove(ground_id)
                    && let Some(p) = self.players.get_mut(player_id)
                {
                    p.inventory.add(&content, &g.item, g.qty);
                }
            }
            EventBody::GroundItemDespawned { ground_id, .. } => {
                self.ground.remove(ground_id);
            }
            EventBody::PlayerHealed { player_id, amount } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.hitpoints += amount;
                }
            }
            _ => {}
        }
    }

    pub(super) fn put_on_ground(&mut self, g: GroundItem) {
        self.next_ground_id = self.next_ground_id.max(g.ground_id + 1);
        self.ground.insert(g.ground_id, g);
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use loh_commands::Command;

    #[test]
    fn a_new_player_gets_the_starter_kit_in_the_first_slots() {
        let t = Given::new().player(A);
        let p = t.world.player(A).unwrap();
        assert_eq!(p.inventory.slot(0).unwrap().item, "bronze_axe");
        assert_eq!(p.inventory.count("coins"), 25);
        assert_eq!(p.inventory.free_slots(), 28 - 7);
    }

    #[test]
    fn a_full_inventory_refuses_a_pick_up_with_inventory_full() {
        let mut t = Given::new().player(A).player(B).minted(B, "logs", 1);
        t.when(B, Command::DropItem { slot: 7 }).unwrap();
        t = t.minted(A, "logs", 21);
        t.world
            .set_tick(t.world.tick() + super::GROUND_PRIVATE_TICKS);
        assert_eq!(
            t.rejects(A, Command::PickUp { ground_id: 1 }),
            "inventory_full"
        );
    }

    #[test]
    fn a_dropped_item_is_private_to_the_dropper_then_public_then_gone() {
        let mut t = Given::new().player(A).player(B);
        t.when(A, Command::DropItem { slot: 6 }).unwrap();
        assert_eq!(
            t.rejects(B, Command::PickUp { ground_id: 1 }),
            "no_such_item"
        );
        t.run_ticks(super::GROUND_PRIVATE_TICKS);
        t.when(B, Command::PickUp { ground_id: 1 }).unwrap();
        assert_eq!(t.world.player(B).unwrap().inventory.count("coins"), 50);

        t.when(A, Command::DropItem { slot: 4 }).unwrap();
        t.run_ticks(super::GROUND_DESPAWN_TICKS + 1);
        assert_eq!(t.world.ground_items().count(), 0);
        t.assert_conserved();
    }

    #[test]
    fn a_stack_never_passes_the_maximum() {
        let t = Given::new()
            .player(A)
            .minted(A, "coins", super::MAX_STACK - 25);
        let p = t.world.player(A).unwrap();
        assert!(!p.inventory.room_for(&t.world.content, "coins", 1));
        let mut t = t;
        t = t.player(B);
        t.when(B, Command::DropItem { slot: 6 }).unwrap();
        t.run_ticks(super::GROUND_PRIVATE_TICKS);
        assert_eq!(
            t.rejects(A, Command::PickUp { ground_id: 1 }),
            "inventory_full"
        );
    }

    #[test]
    fn moving_items_swaps_slots_and_an_empty_slot_cannot_move() {
        let mut t = Given::new().player(A);
        t.when(A, Command::MoveItem { from: 0, to: 27 }).unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!(p.inventory.slot(27).unwrap().item, "bronze_axe");
        assert_eq!(
            t.rejects(A, Command::MoveItem { from: 0, to: 1 }),
            "empty_slot"
        );
    }

    #[test]
    fn eating_burns_the_food_and_heals_up_to_the_hitpoints_level() {
        let mut t = Given::new().player(A);
        t.when(A, Command::Eat { slot: 4 }).unwrap();
        let p = t.world.player(A).unwrap();
        assert_eq!(p.hitpoints, 10);
        assert_eq!(p.inventory.count("bread"), 1);
        assert_eq!(t.rejects(A, Command::Eat { slot: 0 }), "not_food");
        t.assert_conserved();
    }
}
