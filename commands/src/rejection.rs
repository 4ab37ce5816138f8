//! Why a command changed nothing: the stable codes of `Rejected` frames and of the command
//! journal's rejected outcomes.
//!
//! Each code's serde name is its wire string (`too_far`, …), so stored journals, their hashes and
//! the frames clients see are unchanged by the type. `docs/protocol.md` lists the same codes: the
//! test `commands/tests/protocol_doc.rs` fails when the two differ.

use serde::{Deserialize, Serialize};

/// A rejection code. The doc comment of each is its line in `docs/protocol.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    /// the move exceeds the tiles left this tick (1 walking, 2 running), or a `WalkTo` target is over 32 tiles away
    TooFar,
    /// the target tile is outside the map
    OutOfBounds,
    /// the player already stands on the target tile
    NoMove,
    /// the tile (or the middle tile of a run) is blocked
    Blocked,
    /// a members zone, item, node or recipe, and the player is not a member
    MembersOnly,
    /// the chat line is empty, too long or holds control, bidirectional or zero-width characters
    BadText,
    /// a quantity is 0 where it must be at least 1, or a price would pass 2,147,483,647 coins
    BadQuantity,
    /// the player is not in the world yet
    NotSpawned,
    /// the bank, shop keeper, station, altar, node, item, NPC or player is not within reach
    NotInRange,
    /// no room in the inventory for what would arrive (a stack never passes 2,147,483,647)
    InventoryFull,
    /// the inventory (or equipment) slot is empty
    EmptySlot,
    /// the slot number or equipment slot name does not exist
    BadSlot,
    /// no ground item with that id is visible to the player
    NoSuchItem,
    /// the item cannot be eaten
    NotFood,
    /// the item cannot be buried or offered (it is not bones)
    NotBones,
    /// the item in the slot is not a bond
    NotABond,
    /// the bank already holds its 400 (members: 800, premium: 1,200) distinct items
    BankFull,
    /// the bank stack would pass 2,147,483,647
    StackFull,
    /// the bank holds none of that item
    NotInBank,
    /// nothing to deposit
    EmptyInventory,
    /// the item cannot be worn
    NotEquipable,
    /// a skill level is below the item's, node's, recipe's or prayer's requirement
    LevelTooLow,
    /// the action is not allowed during a trade, or one side is already trading
    InTrade,
    /// nothing to gather on that tile
    NoSuchNode,
    /// the node is depleted until it respawns
    NodeDepleted,
    /// the needed tool is neither carried nor wielded
    NoTool,
    /// unknown recipe
    NoSuchRecipe,
    /// the recipe's inputs are not in the inventory
    MissingItems,
    /// shop rules
    NoSuchShop,
    /// shop rules
    NotInStock,
    /// shop rules
    NotEnoughCoins,
    /// shop rules
    NotSellable,
    /// the target does not exist, or is the player themself
    NoSuchNpc,
    /// the target does not exist, or is the player themself
    NoSuchPlayer,
    /// the target does not exist, or is the player themself
    BadTarget,
    /// players fight only when both stand in a PvP zone
    NotInPvp,
    /// in the wilderness, combat levels may differ by the wilderness level at most
    LevelGap,
    /// unknown attack style
    BadStyle,
    /// unknown combat spell
    NoSuchSpell,
    /// prayer rules
    NoSuchPrayer,
    /// prayer rules
    AlreadyActive,
    /// prayer rules
    NotActive,
    /// prayer rules
    NoPrayerPoints,
    /// prayer rules
    AlreadyFull,
    /// the other player is offline (or ignores the sender)
    Offline,
    /// trade rules
    NoTrade,
    /// trade rules
    WrongStage,
    /// trade rules
    AlreadyAccepted,
    /// trade rules
    NotEnoughItems,
    /// friend and ignore lists
    AlreadyListed,
    /// friend and ignore lists
    NotFriend,
    /// friend and ignore lists
    NotIgnored,
    /// friend and ignore lists
    ListFull,
    /// the action is not allowed in combat (attacking, or attacked by an NPC or a player)
    InCombat,
    /// `HopWorld`: no such world, or the player is already in it
    NoSuchWorld,
    /// the seq was already decided and its outcome is no longer remembered
    DuplicateSeq,
    /// the intake queue is full; send the same seq again later
    ServerBusy,
    /// more than 8 commands (or 2 chat lines) from one player in a tick, or a connection sending faster than 20 commands per second after a burst of 40; not journaled, so the same seq may be sent again
    RateLimited,
    /// the seq is 0, above 9,223,372,036,854,775,807, or more than 1,048,576 above the last decided seq; not journaled
    BadSeq,
    /// a field is outside its documented length or alphabet (identifiers: 1–32 of `a`–`z`, `0`–`9`, `_`; chat: at most 200 characters); not journaled
    BadCommand,
}

impl RejectionCode {
    /// Every code, in the order of `docs/protocol.md`.
    pub const ALL: [RejectionCode; 60] = [
        RejectionCode::TooFar,
        RejectionCode::OutOfBounds,
        RejectionCode::NoMove,
        RejectionCode::Blocked,
        RejectionCode::MembersOnly,
        RejectionCode::BadText,
        RejectionCode::BadQuantity,
        RejectionCode::NotSpawned,
        RejectionCode::NotInRange,
        RejectionCode::InventoryFull,
        RejectionCode::EmptySlot,
        RejectionCode::BadSlot,
        RejectionCode::NoSuchItem,
        RejectionCode::NotFood,
        RejectionCode::NotBones,
        RejectionCode::NotABond,
        RejectionCode::BankFull,
        RejectionCode::StackFull,
        RejectionCode::NotInBank,
        RejectionCode::EmptyInventory,
        RejectionCode::NotEquipable,
        RejectionCode::LevelTooLow,
        RejectionCode::InTrade,
        RejectionCode::NoSuchNode,
        RejectionCode::NodeDepleted,
        RejectionCode::NoTool,
        RejectionCode::NoSuchRecipe,
        RejectionCode::MissingItems,
        RejectionCode::NoSuchShop,
        RejectionCode::NotInStock,
        RejectionCode::NotEnoughCoins,
        RejectionCode::NotSellable,
        RejectionCode::NoSuchNpc,
        RejectionCode::NoSuchPlayer,
        RejectionCode::BadTarget,
        RejectionCode::NotInPvp,
        RejectionCode::LevelGap,
        RejectionCode::BadStyle,
        RejectionCode::NoSuchSpell,
        RejectionCode::NoSuchPrayer,
        RejectionCode::AlreadyActive,
        RejectionCode::NotActive,
        RejectionCode::NoPrayerPoints,
        RejectionCode::AlreadyFull,
        RejectionCode::Offline,
        RejectionCode::NoTrade,
        RejectionCode::WrongStage,
        RejectionCode::AlreadyAccepted,
        RejectionCode::NotEnoughItems,
        RejectionCode::AlreadyListed,
        RejectionCode::NotFriend,
        RejectionCode::NotIgnored,
        RejectionCode::ListFull,
        RejectionCode::InCombat,
        RejectionCode::NoSuchWorld,
        RejectionCode::DuplicateSeq,
        RejectionCode::ServerBusy,
        RejectionCode::RateLimited,
        RejectionCode::BadSeq,
        RejectionCode::BadCommand,
    ];

    /// The wire string (the serde name).
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectionCode::TooFar => "too_far",
            RejectionCode::OutOfBounds => "out_of_bounds",
            RejectionCode::NoMove => "no_move",
            RejectionCode::Blocked => "blocked",
            RejectionCode::MembersOnly => "members_only",
            RejectionCode::BadText => "bad_text",
            RejectionCode::BadQuantity => "bad_quantity",
            RejectionCode::NotSpawned => "not_spawned",
            RejectionCode::NotInRange => "not_in_range",
            RejectionCode::InventoryFull => "inventory_full",
            RejectionCode::EmptySlot => "empty_slot",
            RejectionCode::BadSlot => "bad_slot",
            RejectionCode::NoSuchItem => "no_such_item",
            RejectionCode::NotFood => "not_food",
            RejectionCode::NotBones => "not_bones",
            RejectionCode::NotABond => "not_a_bond",
            RejectionCode::BankFull => "bank_full",
            RejectionCode::StackFull => "stack_full",
            RejectionCode::NotInBank => "not_in_bank",
            RejectionCode::EmptyInventory => "empty_inventory",
            RejectionCode::NotEquipable => "not_equipable",
            RejectionCode::LevelTooLow => "level_too_low",
            RejectionCode::InTrade => "in_trade",
            RejectionCode::NoSuchNode => "no_such_node",
            RejectionCode::NodeDepleted => "node_depleted",
            RejectionCode::NoTool => "no_tool",
            RejectionCode::NoSuchRecipe => "no_such_recipe",
            RejectionCode::MissingItems => "missing_items",
            RejectionCode::NoSuchShop => "no_such_shop",
            RejectionCode::NotInStock => "not_in_stock",
            RejectionCode::NotEnoughCoins => "not_enough_coins",
            RejectionCode::NotSellable => "not_sellable",
            RejectionCode::NoSuchNpc => "no_such_npc",
            RejectionCode::NoSuchPlayer => "no_such_player",
            RejectionCode::BadTarget => "bad_target",
            RejectionCode::NotInPvp => "not_in_pvp",
            RejectionCode::LevelGap => "level_gap",
            RejectionCode::BadStyle => "bad_style",
            RejectionCode::NoSuchSpell => "no_such_spell",
            RejectionCode::NoSuchPrayer => "no_such_prayer",
            RejectionCode::AlreadyActive => "already_active",
            RejectionCode::NotActive => "not_active",
            RejectionCode::NoPrayerPoints => "no_prayer_points",
            RejectionCode::AlreadyFull => "already_full",
            RejectionCode::Offline => "offline",
            RejectionCode::NoTrade => "no_trade",
            RejectionCode::WrongStage => "wrong_stage",
            RejectionCode::AlreadyAccepted => "already_accepted",
            RejectionCode::NotEnoughItems => "not_enough_items",
            RejectionCode::AlreadyListed => "already_listed",
            RejectionCode::NotFriend => "not_friend",
            RejectionCode::NotIgnored => "not_ignored",
            RejectionCode::ListFull => "list_full",
            RejectionCode::InCombat => "in_combat",
            RejectionCode::NoSuchWorld => "no_such_world",
            RejectionCode::DuplicateSeq => "duplicate_seq",
            RejectionCode::ServerBusy => "server_busy",
            RejectionCode::RateLimited => "rate_limited",
            RejectionCode::BadSeq => "bad_seq",
            RejectionCode::BadCommand => "bad_command",
        }
    }
}

impl std::fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_serialises_to_its_wire_string_and_back() {
        for code in RejectionCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<RejectionCode>(&json).unwrap(), code);
            let packed = rmp_serde::to_vec(&code).unwrap();
            assert_eq!(
                rmp_serde::from_slice::<RejectionCode>(&packed).unwrap(),
                code
            );
        }
    }
}
