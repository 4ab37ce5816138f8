//! Commands: what a player may ask the world to do.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest chat line, in characters.
pub const MAX_SAY_CHARS: usize = 200;

/// A player's request. The tick writer decides it against the world; this type only knows its
/// shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Step to the tile `(x, y)`: at most 1 tile away walking, 2 running (Chebyshev distance).
    Move {
        x: i32,
        y: i32,
        /// Run instead of walk.
        #[serde(default)]
        run: bool,
    },
    /// Say a line in local chat.
    Say {
        text: String,
    },
    /// Walk (or run) to a tile over as many ticks as it takes, on a server-side path.
    WalkTo {
        x: i32,
        y: i32,
        #[serde(default)]
        run: bool,
    },
    /// Swap two inventory slots (0–27).
    MoveItem {
        from: u8,
        to: u8,
    },
    /// Drop an inventory slot's whole stack on the player's tile.
    DropItem {
        slot: u8,
    },
    /// Pick up a ground item on the player's tile or next to it.
    PickUp {
        ground_id: u64,
    },
    /// Eat the food in an inventory slot.
    Eat {
        slot: u8,
    },
    /// Deposit `qty` (0 = all) of an inventory slot's item into the bank; a bank must be near.
    BankDeposit {
        slot: u8,
        #[serde(default)]
        qty: u32,
    },
    /// Deposit the whole inventory.
    BankDepositAll,
    /// Withdraw `qty` of an item from the bank.
    BankWithdraw {
        item: String,
        qty: u32,
    },
    /// Wear the item in an inventory slot.
    Equip {
        slot: u8,
    },
    /// Take off a worn item; `equip_slot` is one of `head`, `cape`, `neck`, `ammo`, `weapon`,
    /// `body`, `shield`, `legs`, `hands`, `feet`, `ring`.
    Unequip {
        equip_slot: String,
    },
    /// Start gathering at the node on tile (`x`, `y`) (next to the player).
    Gather {
        x: i32,
        y: i32,
    },
    /// Make a recipe once (at its station, with its tool).
    Produce {
        recipe: String,
    },
    /// Buy `qty` of an item from a shop whose keeper is near.
    Buy {
        shop: String,
        item: String,
        qty: u32,
    },
    /// Sell `qty` (0 = all) of an inventory slot's item to a shop whose keeper is near.
    Sell {
        shop: String,
        slot: u8,
        #[serde(default)]
        qty: u32,
    },
    /// Attack an NPC (by its id from `NpcSpawned`).
    AttackNpc {
        npc: u32,
    },
    /// Attack a player (PvP zones only).
    AttackPlayer {
        player_id: Uuid,
    },
    /// Choose an attack style: `accurate`, `aggressive`, `defensive` or `controlled` (melee);
    /// `accurate`, `rapid` or `longrange` (bows).
    SetAttackStyle {
        style: String,
    },
    /// Fight with a combat spell (its id, e.g. `wind_strike`) instead of the weapon, or with
    /// the weapon again (`null`).
    SetAutocast {
        #[serde(default)]
        spell: Option<String>,
    },
    /// Switch a prayer on or off.
    Pray {
        prayer: String,
        on: bool,
    },
    /// Restore prayer points at a nearby altar.
    PrayAtAltar,
    /// Take back into the inventory, in one go, everything of one's own grave within reach
    /// (the items a death outside PvP left; rules 4) that fits.
    ReclaimGrave,
    /// Bury the bones in an inventory slot, for Prayer XP.
    Bury {
        slot: u8,
    },
    /// Offer the bones in an inventory slot at a nearby altar, for 3.5 times the XP of burying.
    OfferAtAltar {
        slot: u8,
    },
    /// Ask a nearby player to trade, or accept their request.
    TradeRequest {
        player_id: Uuid,
    },
    /// Offer `qty` (0 = all) of an inventory slot's item in the open trade.
    TradeOffer {
        slot: u8,
        #[serde(default)]
        qty: u32,
    },
    /// Accept the current trade screen.
    TradeAccept,
    /// Decline the open trade.
    TradeDecline,
    AddFriend {
        player_id: Uuid,
    },
    RemoveFriend {
        player_id: Uuid,
    },
    AddIgnore {
        player_id: Uuid,
    },
    RemoveIgnore {
        player_id: Uuid,
    },
    /// Send a private message to a friend who is online and does not ignore the sender.
    PrivateMessage {
        to: Uuid,
        text: String,
    },
    /// Redeem the bond in an inventory slot: it is burned and membership extended by 14 days.
    RedeemBond {
        slot: u8,
    },
    /// Hop to another world (a shard of `GET /v1/worlds`, e.g. `world2`): the character leaves
    /// this world with its whole state and arrives in that one, exactly once. Refused in
    /// combat or a trade. After the tick commits, the server sends `Hop` with the world's
    /// address and closes the session; the client connects there.
    HopWorld {
        world: String,
    },
}

/// A command whose shape is wrong, before any game rule is consulted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("chat text must be 1 to {MAX_SAY_CHARS} characters")]
    BadText,
    #[error("chat text holds control characters")]
    ControlCharacters,
    #[error("the quantity must be at least 1")]
    ZeroQuantity,
}

impl ShapeError {
    /// The stable rejection code.
    pub fn code(&self) -> crate::RejectionCode {
        match self {
            ShapeError::BadText => crate::RejectionCode::BadText,
            ShapeError::ControlCharacters => crate::RejectionCode::BadText,
            ShapeError::ZeroQuantity => crate::RejectionCode::BadQuantity,
        }
    }
}

impl Command {
    /// Checks the command's shape (lengths, characters); game rules come later, in the world.
    pub fn validate(&self) -> Result<(), ShapeError> {
        match self {
            Command::Say { text } | Command::PrivateMessage { text, .. } => {
                let n = text.chars().count();
                if n == 0 || n > MAX_SAY_CHARS || text.trim().is_empty() {
                    return Err(ShapeError::BadText);
                }
                if text.chars().any(char::is_control) {
                    return Err(ShapeError::ControlCharacters);
                }
                Ok(())
            }
            Command::BankWithdraw { qty: 0, .. } | Command::Buy { qty: 0, .. } => {
                Err(ShapeError::ZeroQuantity)
            }
            _ => Ok(()),
        }
    }

    /// The command's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Move { .. } => "Move",
            Command::Say { .. } => "Say",
            Command::WalkTo { .. } => "WalkTo",
            Command::MoveItem { .. } => "MoveItem",
            Command::DropItem { .. } => "DropItem",
            Command::PickUp { .. } => "PickUp",
            Command::Eat { .. } => "Eat",
            Command::BankDeposit { .. } => "BankDeposit",
            Command::BankDepositAll => "BankDepositAll",
            Command::BankWithdraw { .. } => "BankWithdraw",
            Command::Equip { .. } => "Equip",
            Command::Unequip { .. } => "Unequip",
            Command::Gather { .. } => "Gather",
            Command::Produce { .. } => "Produce",
            Command::Buy { .. } => "Buy",
            Command::Sell { .. } => "Sell",
            Command::AttackNpc { .. } => "AttackNpc",
            Command::AttackPlayer { .. } => "AttackPlayer",
            Command::SetAttackStyle { .. } => "SetAttackStyle",
            Command::SetAutocast { .. } => "SetAutocast",
            Command::Pray { .. } => "Pray",
            Command::PrayAtAltar => "PrayAtAltar",
            Command::ReclaimGrave => "ReclaimGrave",
            Command::Bury { .. } => "Bury",
            Command::OfferAtAltar { .. } => "OfferAtAltar",
            Command::TradeRequest { .. } => "TradeRequest",
            Command::TradeOffer { .. } => "TradeOffer",
            Command::TradeAccept => "TradeAccept",
            Command::TradeDecline => "TradeDecline",
            Command::AddFriend { .. } => "AddFriend",
            Command::RemoveFriend { .. } => "RemoveFriend",
            Command::AddIgnore { .. } => "AddIgnore",
            Command::RemoveIgnore { .. } => "RemoveIgnore",
            Command::PrivateMessage { .. } => "PrivateMessage",
            Command::RedeemBond { .. } => "RedeemBond",
            Command::HopWorld { .. } => "HopWorld",
        }
    }
}
