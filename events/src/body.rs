//! The event vocabulary: every fact the world can record.
//!
//! Bodies are serialised as externally tagged JSON (`{"PlayerMoved": {...}}`); those bytes are the
//! stored payload and part of the hash chain, so a body's fields are never reordered or renamed
//! once released. A changed shape gets a new schema version and an upcaster in [`crate::codec`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A fact recorded by the tick writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventBody {
    /// A player entered the world for the first time, at a spawn tile.
    PlayerSpawned {
        player_id: Uuid,
        x: i32,
        y: i32,
    },
    /// A player moved from one tile to another within one tick.
    PlayerMoved {
        player_id: Uuid,
        from_x: i32,
        from_y: i32,
        x: i32,
        y: i32,
        running: bool,
        /// Since rules 5: this move is the first step of a path the player set this tick
        /// (a `WalkTo`), which it goes on walking toward, running if `running`; it replaces
        /// what a `PathSet` followed by a `PlayerMoved` said before. Absent otherwise, and in
        /// every event stored before it existed (so their bytes and hashes are unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path_to: Option<Tile>,
    },
    /// A player said something in local chat.
    PlayerSaid {
        player_id: Uuid,
        text: String,
    },

    // ---- Items (every mint names a `source`, every burn a `sink`) ----
    /// Items minted into a player's inventory from `source` (e.g. `starter_kit`).
    ItemsMinted {
        player_id: Uuid,
        item: String,
        qty: u32,
        source: String,
    },
    /// Items burned from an inventory slot into `sink` (e.g. `eaten`).
    ItemsBurned {
        player_id: Uuid,
        slot: u8,
        item: String,
        qty: u32,
        sink: String,
    },
    /// Two inventory slots swapped.
    ItemMoved {
        player_id: Uuid,
        from: u8,
        to: u8,
    },
    /// An inventory slot dropped to the ground: visible to the dropper, to everyone from
    /// `public_at`, gone at `despawn_at`.
    ItemDropped {
        player_id: Uuid,
        slot: u8,
        ground: GroundItem,
    },
    /// A ground item picked up into the inventory.
    ItemPickedUp {
        player_id: Uuid,
        ground_id: u64,
        item: String,
        qty: u32,
    },
    /// A ground item despawned; burned into sink `despawn`.
    GroundItemDespawned {
        ground_id: u64,
        item: String,
        qty: u32,
    },
    /// Items moved from an inventory slot into the bank.
    BankDeposited {
        player_id: Uuid,
        slot: u8,
        item: String,
        qty: u32,
    },
    /// Items moved from the bank into the inventory.
    BankWithdrawn {
        player_id: Uuid,
        item: String,
        qty: u32,
    },
    /// An item worn from an inventory slot; what was worn in `equip_slot` goes to that slot.
    ItemEquipped {
        player_id: Uuid,
        slot: u8,
        item: String,
        equip_slot: EquipSlot,
    },
    /// A worn item moved back to the inventory.
    ItemUnequipped {
        player_id: Uuid,
        equip_slot: EquipSlot,
        item: String,
    },
    /// A player's membership changed (payments); gates members zones, items and recipes.
    MembershipChanged {
        player_id: Uuid,
        members: bool,
    },

    // ---- Payments, membership and bonds (docs/PAYMENTS.md) ----
    // `payment` is always the Stripe event id that caused the event: the world applies each
    // Stripe event once. `purchase` names the payment (its Stripe payment intent, else the
    // invoice or charge) that refunds and disputes refer to.
    /// A paid bond pack: `bonds` bonds minted into the buyer's bank (source `purchase`).
    PurchaseCredited {
        player_id: Uuid,
        payment: String,
        purchase: String,
        product: String,
        bonds: u32,
    },
    /// A paid subscription invoice: membership of `tier` paid through `paid_through` (Unix
    /// seconds).
    MembershipExtended {
        player_id: Uuid,
        payment: String,
        purchase: String,
        tier: Tier,
        paid_through: i64,
    },
    /// A bond from an inventory slot redeemed: burned (sink `redeem`); membership of `tier` paid
    /// through `paid_through` (Unix seconds).
    BondRedeemed {
        player_id: Uuid,
        slot: u8,
        tier: Tier,
        paid_through: i64,
    },
    /// Membership reached its paid-through time: the player is free again. Members items stay
    /// where they are (bank, inventory, worn).
    MembershipLapsed {
        player_id: Uuid,
    },
    /// A refund or dispute (`payment`) burned bonds of `purchase` from the player holding them
    /// now (sink `refund`): `bank` from the bank, and `inventory` from inventory slots.
    BondsClawedBack {
        player_id: Uuid,
        payment: String,
        purchase: String,
        bank: u32,
        inventory: Vec<SlotQty>,
    },
    /// A refund or dispute took back `days` of membership that bonds of `purchase` had bought
    /// (they were redeemed): paid through `paid_through` now.
    MembershipShortened {
        player_id: Uuid,
        payment: String,
        purchase: String,
        days: u32,
        paid_through: i64,
    },
    /// What a refund or dispute could not claw back from `purchase` (bonds gone another way,
    /// membership already used): a debt on the buyer's account, flagged for investigators.
    PurchaseDebtRecorded {
        player_id: Uuid,
        payment: String,
        purchase: String,
        bonds: u32,
        days: u32,
    },
    /// A dispute of `purchase` was won: the bonds clawed back are minted to the buyer's bank
    /// again (source `purchase`), the days taken back are given back, the debt is cleared.
    PurchaseReinstated {
        player_id: Uuid,
        payment: String,
        purchase: String,
        bonds: u32,
        days: u32,
        paid_through: i64,
    },
    /// A Stripe event that changes nothing in the world (why: `note`), recorded so that it is
    /// applied once like every other.
    PaymentNoted {
        payment: String,
        note: String,
    },

    // ---- Skills, gathering, production ----
    /// XP gained in a skill (combat, prayer); other XP rides on its action's event.
    XpGained {
        player_id: Uuid,
        skill: Skill,
        xp: u32,
    },
    /// A skill reached a new level (informational: levels follow from XP).
    LevelledUp {
        player_id: Uuid,
        skill: Skill,
        level: u8,
    },
    /// A player started gathering at a node (repeated each tick until stopped).
    GatheringStarted {
        player_id: Uuid,
        node: u32,
    },
    /// A gathering action stopped (`inventory_full`, `node_depleted`).
    GatheringStopped {
        player_id: Uuid,
        reason: String,
    },
    /// One resource gathered; minted from source `gather`. The node is depleted until
    /// `depleted_until` when set.
    ResourceGathered {
        player_id: Uuid,
        node: u32,
        item: String,
        skill: Skill,
        xp: u32,
        depleted_until: Option<u64>,
    },
    /// A node came back after depletion.
    NodeRespawned {
        node: u32,
    },
    /// A recipe made: `consumed` burned (sink `craft`) and `produced` minted (source `craft`)
    /// at once, with XP.
    ItemsProduced {
        player_id: Uuid,
        recipe: String,
        consumed: Vec<ItemQty>,
        produced: Vec<ItemQty>,
        skill: Skill,
        xp: u32,
    },

    // ---- Shops ----
    /// Bought from a shop: `price` coins burned (sink `shop`), the items minted (source `shop`).
    ShopBought {
        player_id: Uuid,
        shop: String,
        item: String,
        qty: u32,
        price: u32,
    },
    /// Sold to a shop from a slot: the items burned (sink `shop`), `price` coins minted
    /// (source `shop`).
    ShopSold {
        player_id: Uuid,
        shop: String,
        slot: u8,
        item: String,
        qty: u32,
        price: u32,
    },
    /// The world's rules from this tick on ([`RulesAdopted`](EventBody::RulesAdopted)'s
    /// version): a log records the rules it was decided under, so a newer build re-decides an
    /// older log by the older rules. Seen by nobody.
    RulesAdopted {
        rules: u32,
    },
    /// A shop's stock of an item changed — a purchase, a sale, or a restock tick moving it one
    /// toward its full stock — and `stock` is what the shop holds now. Moves no value; seen by
    /// whoever stands near the shop keeper.
    ShopStockChanged {
        shop: String,
        item: String,
        stock: u32,
    },

    // ---- Combat, NPCs, prayer ----
    /// A player chose what to attack.
    CombatTargetSet {
        player_id: Uuid,
        target: Target,
    },
    /// A player stopped attacking (target gone, out of reach, moved).
    CombatTargetCleared {
        player_id: Uuid,
    },
    /// A player chose an attack style.
    AttackStyleSet {
        player_id: Uuid,
        style: AttackStyle,
    },
    /// A player chose the spell they fight with (`None`: back to the weapon).
    AutocastSet {
        player_id: Uuid,
        spell: Option<String>,
    },
    /// A player swung at a target: `hit` false is a miss; the next swing is due at `next_at`.
    PlayerAttacked {
        player_id: Uuid,
        target: Target,
        hit: bool,
        damage: u32,
        next_at: u64,
    },
    /// An NPC swung at a player.
    NpcAttacked {
        npc: u32,
        player_id: Uuid,
        hit: bool,
        damage: u32,
        next_at: u64,
    },
    /// An NPC (spawn point `npc`) entered the world.
    NpcSpawned {
        npc: u32,
        kind: String,
        x: i32,
        y: i32,
        hitpoints: u32,
    },
    /// An NPC wandered or chased one tile.
    NpcMoved {
        npc: u32,
        x: i32,
        y: i32,
    },
    /// An NPC died; its `loot` is minted to the ground (source `npc_drop`), visible to the
    /// killer first. It respawns at `respawn_at`.
    NpcDied {
        npc: u32,
        killer: Option<Uuid>,
        respawn_at: u64,
        loot: Vec<GroundItem>,
    },
    /// A player died and respawned at (`x`, `y`) with full hitpoints. When `dropped` or `kept`
    /// is not empty, the inventory and equipment were emptied: `dropped` went to the ground
    /// (in PvP everything, owned by the killer; elsewhere, since rules 4, the grave: owned by
    /// the dead player until it turns public) and `kept` (outside PvP, the three most valuable
    /// unstackable items) came back into the inventory, in order, from its first slot.
    PlayerDied {
        player_id: Uuid,
        killer: Option<Uuid>,
        x: i32,
        y: i32,
        dropped: Vec<GroundItem>,
        /// Left out of the encoding when empty, so every earlier death encodes as it did.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kept: Vec<ItemQty>,
    },
    /// Hitpoints restored by eating (the food is burned by a preceding `ItemsBurned`).
    PlayerHealed {
        player_id: Uuid,
        amount: u32,
    },
    PrayerActivated {
        player_id: Uuid,
        prayer: String,
    },
    /// A prayer switched off (by the player, or `points` ran out).
    PrayerDeactivated {
        player_id: Uuid,
        prayer: String,
    },
    /// Prayer points drained by active prayers this tick.
    PrayerDrained {
        player_id: Uuid,
        points: u32,
    },
    /// Prayer points restored at an altar, up to the Prayer level.
    PrayerRestored {
        player_id: Uuid,
        points: u32,
    },

    // ---- Movement ----
    /// A server-side path to a target tile; the player steps along it over the next ticks.
    PathSet {
        player_id: Uuid,
        x: i32,
        y: i32,
        run: bool,
    },
    /// The path ended before its target (blocked, or replaced by another action).
    PathCleared {
        player_id: Uuid,
    },

    // ---- Trading ----
    /// A player asked another to trade.
    TradeRequested {
        player_id: Uuid,
        with: Uuid,
    },
    /// Both asked: the offer screen opened for both.
    TradeOpened {
        player_id: Uuid,
        with: Uuid,
    },
    /// A player put items from an inventory slot on offer (resets both acceptances).
    TradeOffered {
        player_id: Uuid,
        slot: u8,
        item: String,
        qty: u32,
    },
    /// A player accepted the current screen.
    TradeAccepted {
        player_id: Uuid,
    },
    /// Both accepted the offer screen: the confirm screen opened.
    TradeConfirming {
        player_id: Uuid,
        with: Uuid,
    },
    /// Both accepted the confirm screen: both sides swapped at once.
    TradeSettled {
        player_id: Uuid,
        with: Uuid,
        gave: Vec<ItemQty>,
        got: Vec<ItemQty>,
    },
    /// The trade ended with nothing swapped (`declined`, `moved_apart`, `disconnected`,
    /// `no_room`).
    TradeCancelled {
        player_id: Uuid,
        with: Uuid,
        reason: String,
    },

    // ---- Social ----
    FriendAdded {
        player_id: Uuid,
        friend: Uuid,
    },
    FriendRemoved {
        player_id: Uuid,
        friend: Uuid,
    },
    IgnoreAdded {
        player_id: Uuid,
        ignored: Uuid,
    },
    IgnoreRemoved {
        player_id: Uuid,
        ignored: Uuid,
    },
    PrivateMessageSent {
        player_id: Uuid,
        to: Uuid,
        text: String,
    },
    /// A player's session opened (`online`) or closed; friends see the status.
    PlayerPresence {
        player_id: Uuid,
        online: bool,
    },

    // ---- World hops (invariant 11; `crate::hop`) ----
    /// The character left this world for world `to` by hop `hop`: it is no longer in this world,
    /// and everything it held (`state`'s inventory, bank and worn items) is burned with sink
    /// `hop`. `state_hash` is [`crate::hop::CharacterState::hash_hex`] of `state`.
    CharacterDeparted {
        player_id: Uuid,
        hop: Uuid,
        to: String,
        state: crate::hop::CharacterState,
        state_hash: String,
    },
    /// The character of hop `hop` from world `from` entered this world at (`x`, `y`) with the
    /// state and hash its departure recorded; everything it holds is minted with source `hop`.
    /// A world applies each hop's arrival once.
    CharacterArrived {
        player_id: Uuid,
        hop: Uuid,
        from: String,
        x: i32,
        y: i32,
        state: crate::hop::CharacterState,
        state_hash: String,
    },
}

/// A tile of the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tile {
    pub x: i32,
    pub y: i32,
}

/// An item and a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemQty {
    pub item: String,
    pub qty: u32,
}

/// Items taken from one inventory slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotQty {
    pub slot: u8,
    pub qty: u32,
}

/// A membership tier: what the world lets a player reach (members zones, items, recipes, the
/// bank's size).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    #[default]
    Free,
    Member,
    Premium,
}

impl Tier {
    /// Whether the tier reaches members content.
    pub fn is_member(self) -> bool {
        self != Tier::Free
    }

    /// The wire name (`free`, `member`, `premium`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Member => "member",
            Tier::Premium => "premium",
        }
    }
}

/// An item lying on a tile. Visible to `owner` only until `public_at` (everyone when `owner`
/// is none), gone at `despawn_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundItem {
    pub ground_id: u64,
    pub item: String,
    pub qty: u32,
    pub x: i32,
    pub y: i32,
    pub owner: Option<Uuid>,
    pub public_at: u64,
    pub despawn_at: u64,
}

/// What a player attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Target {
    Npc(u32),
    Player(Uuid),
}

/// The skills, in their stable order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Skill {
    Attack,
    Strength,
    Defence,
    Hitpoints,
    Prayer,
    Woodcutting,
    Mining,
    Fishing,
    Smithing,
    Crafting,
    Cooking,
    Ranged,
    Magic,
}

impl Skill {
    pub const ALL: [Skill; 13] = [
        Skill::Attack,
        Skill::Strength,
        Skill::Defence,
        Skill::Hitpoints,
        Skill::Prayer,
        Skill::Woodcutting,
        Skill::Mining,
        Skill::Fishing,
        Skill::Smithing,
        Skill::Crafting,
        Skill::Cooking,
        Skill::Ranged,
        Skill::Magic,
    ];

    /// The skill's index in [`Skill::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The 11 equipment slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EquipSlot {
    Head,
    Cape,
    Neck,
    Ammo,
    Weapon,
    Body,
    Shield,
    Legs,
    Hands,
    Feet,
    Ring,
}

impl EquipSlot {
    pub const ALL: [EquipSlot; 11] = [
        EquipSlot::Head,
        EquipSlot::Cape,
        EquipSlot::Neck,
        EquipSlot::Ammo,
        EquipSlot::Weapon,
        EquipSlot::Body,
        EquipSlot::Shield,
        EquipSlot::Legs,
        EquipSlot::Hands,
        EquipSlot::Feet,
        EquipSlot::Ring,
    ];

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Attack styles. Melee: accurate (+3 attack, Attack XP), aggressive (+3 strength, Strength
/// XP), defensive (+3 defence, Defence XP), controlled (+1 each, XP shared). With a bow:
/// accurate (+3 ranged), rapid (one tick faster), longrange (+2 tiles of range, +3 defence, XP
/// shared with Defence). A style chosen for one kind of weapon stands for the one in the same
/// place of the other's list: aggressive for rapid, defensive for longrange (and back).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackStyle {
    #[default]
    Accurate,
    Aggressive,
    Defensive,
    Controlled,
    Rapid,
    Longrange,
}

impl EventBody {
    /// The stable name stored in the `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::PlayerSpawned { .. } => "PlayerSpawned",
            EventBody::PlayerMoved { .. } => "PlayerMoved",
            EventBody::PlayerSaid { .. } => "PlayerSaid",
            EventBody::ItemsMinted { .. } => "ItemsMinted",
            EventBody::ItemsBurned { .. } => "ItemsBurned",
            EventBody::ItemMoved { .. } => "ItemMoved",
            EventBody::ItemDropped { .. } => "ItemDropped",
            EventBody::ItemPickedUp { .. } => "ItemPickedUp",
            EventBody::GroundItemDespawned { .. } => "GroundItemDespawned",
            EventBody::BankDeposited { .. } => "BankDeposited",
            EventBody::BankWithdrawn { .. } => "BankWithdrawn",
            EventBody::ItemEquipped { .. } => "ItemEquipped",
            EventBody::ItemUnequipped { .. } => "ItemUnequipped",
            EventBody::MembershipChanged { .. } => "MembershipChanged",
            EventBody::PurchaseCredited { .. } => "PurchaseCredited",
            EventBody::MembershipExtended { .. } => "MembershipExtended",
            EventBody::BondRedeemed { .. } => "BondRedeemed",
            EventBody::MembershipLapsed { .. } => "MembershipLapsed",
            EventBody::BondsClawedBack { .. } => "BondsClawedBack",
            EventBody::MembershipShortened { .. } => "MembershipShortened",
            EventBody::PurchaseDebtRecorded { .. } => "PurchaseDebtRecorded",
            EventBody::PurchaseReinstated { .. } => "PurchaseReinstated",
            EventBody::PaymentNoted { .. } => "PaymentNoted",
            EventBody::XpGained { .. } => "XpGained",
            EventBody::LevelledUp { .. } => "LevelledUp",
            EventBody::GatheringStarted { .. } => "GatheringStarted",
            EventBody::GatheringStopped { .. } => "GatheringStopped",
            EventBody::ResourceGathered { .. } => "ResourceGathered",
            EventBody::NodeRespawned { .. } => "NodeRespawned",
            EventBody::ItemsProduced { .. } => "ItemsProduced",
            EventBody::ShopBought { .. } => "ShopBought",
            EventBody::ShopSold { .. } => "ShopSold",
            EventBody::ShopStockChanged { .. } => "ShopStockChanged",
            EventBody::RulesAdopted { .. } => "RulesAdopted",
            EventBody::CombatTargetSet { .. } => "CombatTargetSet",
            EventBody::CombatTargetCleared { .. } => "CombatTargetCleared",
            EventBody::AttackStyleSet { .. } => "AttackStyleSet",
            EventBody::AutocastSet { .. } => "AutocastSet",
            EventBody::PlayerAttacked { .. } => "PlayerAttacked",
            EventBody::NpcAttacked { .. } => "NpcAttacked",
            EventBody::NpcSpawned { .. } => "NpcSpawned",
            EventBody::NpcMoved { .. } => "NpcMoved",
            EventBody::NpcDied { .. } => "NpcDied",
            EventBody::PlayerDied { .. } => "PlayerDied",
            EventBody::PlayerHealed { .. } => "PlayerHealed",
            EventBody::PrayerActivated { .. } => "PrayerActivated",
            EventBody::PrayerDeactivated { .. } => "PrayerDeactivated",
            EventBody::PrayerDrained { .. } => "PrayerDrained",
            EventBody::PrayerRestored { .. } => "PrayerRestored",
            EventBody::PathSet { .. } => "PathSet",
            EventBody::PathCleared { .. } => "PathCleared",
            EventBody::TradeRequested { .. } => "TradeRequested",
            EventBody::TradeOpened { .. } => "TradeOpened",
            EventBody::TradeOffered { .. } => "TradeOffered",
            EventBody::TradeAccepted { .. } => "TradeAccepted",
            EventBody::TradeConfirming { .. } => "TradeConfirming",
            EventBody::TradeSettled { .. } => "TradeSettled",
            EventBody::TradeCancelled { .. } => "TradeCancelled",
            EventBody::FriendAdded { .. } => "FriendAdded",
            EventBody::FriendRemoved { .. } => "FriendRemoved",
            EventBody::IgnoreAdded { .. } => "IgnoreAdded",
            EventBody::IgnoreRemoved { .. } => "IgnoreRemoved",
            EventBody::PrivateMessageSent { .. } => "PrivateMessageSent",
            EventBody::PlayerPresence { .. } => "PlayerPresence",
            EventBody::CharacterDeparted { .. } => "CharacterDeparted",
            EventBody::CharacterArrived { .. } => "CharacterArrived",
        }
    }

    /// The schema version this build writes for the body's kind.
    pub fn schema_version(&self) -> u16 {
        1
    }

    /// The player whose stream this event belongs to; `None` for world events (NPCs, nodes,
    /// ground items), which go to the [`WORLD_STREAM`].
    pub fn player_id(&self) -> Option<Uuid> {
        match self {
            EventBody::PlayerSpawned { player_id, .. }
            | EventBody::PlayerMoved { player_id, .. }
            | EventBody::PlayerSaid { player_id, .. }
            | EventBody::ItemsMinted { player_id, .. }
            | EventBody::ItemsBurned { player_id, .. }
            | EventBody::ItemMoved { player_id, .. }
            | EventBody::ItemDropped { player_id, .. }
            | EventBody::ItemPickedUp { player_id, .. }
            | EventBody::BankDeposited { player_id, .. }
            | EventBody::BankWithdrawn { player_id, .. }
            | EventBody::ItemEquipped { player_id, .. }
            | EventBody::ItemUnequipped { player_id, .. }
            | EventBody::MembershipChanged { player_id, .. }
            | EventBody::PurchaseCredited { player_id, .. }
            | EventBody::MembershipExtended { player_id, .. }
            | EventBody::BondRedeemed { player_id, .. }
            | EventBody::MembershipLapsed { player_id, .. }
            | EventBody::BondsClawedBack { player_id, .. }
            | EventBody::MembershipShortened { player_id, .. }
            | EventBody::PurchaseDebtRecorded { player_id, .. }
            | EventBody::PurchaseReinstated { player_id, .. }
            | EventBody::XpGained { player_id, .. }
            | EventBody::LevelledUp { player_id, .. }
            | EventBody::GatheringStarted { player_id, .. }
            | EventBody::GatheringStopped { player_id, .. }
            | EventBody::ResourceGathered { player_id, .. }
            | EventBody::ItemsProduced { player_id, .. }
            | EventBody::ShopBought { player_id, .. }
            | EventBody::ShopSold { player_id, .. }
            | EventBody::CombatTargetSet { player_id, .. }
            | EventBody::CombatTargetCleared { player_id, .. }
            | EventBody::AttackStyleSet { player_id, .. }
            | EventBody::AutocastSet { player_id, .. }
            | EventBody::PlayerAttacked { player_id, .. }
            | EventBody::NpcAttacked { player_id, .. }
            | EventBody::PlayerDied { player_id, .. }
            | EventBody::PlayerHealed { player_id, .. }
            | EventBody::PrayerActivated { player_id, .. }
            | EventBody::PrayerDeactivated { player_id, .. }
            | EventBody::PrayerDrained { player_id, .. }
            | EventBody::PrayerRestored { player_id, .. }
            | EventBody::PathSet { player_id, .. }
            | EventBody::PathCleared { player_id, .. }
            | EventBody::TradeRequested { player_id, .. }
            | EventBody::TradeOpened { player_id, .. }
            | EventBody::TradeOffered { player_id, .. }
            | EventBody::TradeAccepted { player_id, .. }
            | EventBody::TradeConfirming { player_id, .. }
            | EventBody::TradeSettled { player_id, .. }
            | EventBody::TradeCancelled { player_id, .. }
            | EventBody::FriendAdded { player_id, .. }
            | EventBody::FriendRemoved { player_id, .. }
            | EventBody::IgnoreAdded { player_id, .. }
            | EventBody::IgnoreRemoved { player_id, .. }
            | EventBody::PrivateMessageSent { player_id, .. }
            | EventBody::PlayerPresence { player_id, .. }
            | EventBody::CharacterDeparted { player_id, .. }
            | EventBody::CharacterArrived { player_id, .. } => Some(*player_id),
            EventBody::GroundItemDespawned { .. }
            | EventBody::NodeRespawned { .. }
            | EventBody::NpcSpawned { .. }
            | EventBody::NpcMoved { .. }
            | EventBody::NpcDied { .. }
            | EventBody::ShopStockChanged { .. }
            | EventBody::RulesAdopted { .. }
            | EventBody::PaymentNoted { .. } => None,
        }
    }

    /// The stream the event is appended to: its player's, or the world's.
    pub fn stream_id(&self) -> String {
        self.player_id()
            .map_or_else(|| WORLD_STREAM.to_owned(), player_stream)
    }
}

/// The stream of world events that belong to no player.
pub const WORLD_STREAM: &str = "world";

/// The stream id of a player's events.
pub fn player_stream(player_id: Uuid) -> String {
    format!("player-{player_id}")
}
