//! The pure game: the authoritative world state, its content and its rules — synchronous,
//! deterministic, with no I/O (no tokio, sqlx, axum, redis or NATS; `.ci/run` checks it).
//!
//! [`World::decide`] holds every rule and returns events or a [`Rejection`]; [`World::apply`]
//! folds an event into the state and holds no rule. [`step::step`] is the one tick step: the
//! tick writer, `loh replay resimulate`, the property tests and the benchmarks all call it.
//! Start-up rebuild and the replay tools call [`World::apply`] alone. Randomness comes only from
//! the [`WorldRng`] handed in, seeded by (world seed, tick, command or step id).
//!
//! # Layout (one file per system, each with given/when/then tests)
//! - [`step`](mod@step): the tick step, its inputs and the ids it derives.
//! - [`phases`]: the per-tick phases (NPCs → players → combat → flush) and [`phases::Sim`],
//!   ticks of the step driven in process.
//! - [`content`]: items, NPCs, nodes, recipes, shops, prayers and zones, loaded and validated.
//! - [`base`]: the limits, distances and ids every module shares (a leaf: `content` uses it,
//!   it uses nothing of the crate); re-exported at the root.
//! - [`state`]: the player, NPC and trade records; [`skills`]: XP table and levels.
//! - [`image`]: the state as deterministic, versioned bytes (the tick writer's snapshots).
//! - [`inventory`], [`bank`], [`equipment`]: holdings; [`ledger`]: mints, burns and sources.
//! - [`membership`]: tiers, the paid-through time, bonds redeemed, lapses.
//! - [`payments`]: what Stripe's events do (purchases, refunds, disputes), once each;
//!   [`bonds`]: which purchase each held bond came from.
//! - [`gathering`], [`production`], [`shops`]: skilling and the economy.
//! - [`combat`], [`npcs`], [`prayer`]: fighting; [`movement`]: steps and paths.
//! - [`trading`], [`social`]: players with players.
//! - [`hop`]: characters leaving for another world and arriving from one, once each.
//! - [`view`]: who sees which event (the view index and redaction); [`snapshot`]: what a
//!   client is told of itself at join and of what comes into view.
//! - `testing` (tests only): the given/when/then helpers of the systems' tests.

pub mod bank;
pub mod base;
pub mod bonds;
pub mod combat;
pub mod content;
pub mod equipment;
pub mod gathering;
pub mod hop;
pub mod image;
pub mod inventory;
pub mod ledger;
pub mod membership;
pub mod movement;
pub mod npcs;
pub mod payments;
pub mod phases;
pub mod prayer;
pub mod production;
pub mod shops;
pub mod skills;
pub mod snapshot;
pub mod social;
pub mod state;
pub mod step;
pub mod trading;
pub mod view;

use crate::content::Content;
use loh_commands::{Command, RejectionCode as Code};
use loh_events::{EventBody, GroundItem};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

pub use base::{
    COINS, GROUND_DESPAWN_TICKS, GROUND_PRIVATE_TICKS, MAX_STACK, REACH, RUN_TILES, WALK_TILES,
    chebyshev,
};
pub use ledger::Ledger;
pub use loh_commands::RejectionCode;
pub use state::{Npc, Player, Trade};

/// The RNG every decision draws from.
pub type WorldRng = ChaCha8Rng;

/// The map and spawn of a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapConfig {
    pub min_x: i32,
    pub max_x: i32,
    pub min_y: i32,
    pub max_y: i32,
    pub spawn_x: i32,
    pub spawn_y: i32,
}

impl Default for MapConfig {
    fn default() -> Self {
        MapConfig {
            min_x: 3136,
            max_x: 3327,
            min_y: 3136,
            max_y: 3327,
            spawn_x: 3222,
            spawn_y: 3218,
        }
    }
}

impl MapConfig {
    /// Whether `(x, y)` is a tile of the map.
    pub fn contains(&self, x: i32, y: i32) -> bool {
        (self.min_x..=self.max_x).contains(&x) && (self.min_y..=self.max_y).contains(&y)
    }

    /// A square map of `tiles` × `tiles` tiles centred on the default spawn, grown where needed
    /// to hold the whole default map (so every zone of the content stays inside). `loh up
    /// --map-tiles` and the load generator's `spread` scenario share it.
    pub fn square(tiles: u32) -> MapConfig {
        let d = MapConfig::default();
        let tiles = i32::try_from(tiles).unwrap_or(i32::MAX / 4).min(1 << 20);
        let half = tiles / 2;
        let (min_x, min_y) = (
            (d.spawn_x - half).min(d.min_x),
            (d.spawn_y - half).min(d.min_y),
        );
        MapConfig {
            min_x,
            max_x: (min_x + tiles - 1).max(d.max_x),
            min_y,
            max_y: (min_y + tiles - 1).max(d.max_y),
            ..d
        }
    }
}

/// Why a command changed nothing: a stable [`RejectionCode`] and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectionCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

/// The result of deciding a command.
pub type Decision = Result<Vec<EventBody>, Rejection>;

/// The world of one shard.
#[derive(Debug, Clone)]
pub struct World {
    pub map: MapConfig,
    pub content: Arc<Content>,
    seed: u64,
    /// The tick being decided (or, during rebuild, the tick of the event being applied).
    tick: u64,
    players: BTreeMap<Uuid, Player>,
    npcs: BTreeMap<u32, Npc>,
    /// When each dead NPC's spawn point brings it back.
    npc_respawns: BTreeMap<u32, u64>,
    ground: BTreeMap<u64, GroundItem>,
    next_ground_id: u64,
    /// Depleted nodes and the tick they come back.
    depleted: BTreeMap<u32, u64>,
    /// Open trades, keyed by each side.
    trades: BTreeMap<Uuid, Trade>,
    ledger: Ledger,
    /// Payments applied, purchases and where their bonds are.
    payments: payments::Payments,
    /// The tick's clock reading, Unix seconds ([`World::set_clock`]).
    now: i64,
    /// Version of the world stream.
    world_version: u64,
    /// Tiles each player has moved in the current tick (reset by [`World::begin_tick`]).
    moved_this_tick: BTreeMap<Uuid, u32>,
    /// Whether each player's moves this tick were running.
    ran_this_tick: BTreeMap<Uuid, bool>,
    /// How this world's log names its events.
    event_ids: step::EventIds,
    /// The other worlds a character may hop to now (a tick input; [`hop`]).
    hop_worlds: std::collections::BTreeSet<String>,
    /// Hops applied and characters that left ([`hop`]).
    hops: hop::Hops,
    /// Shops' stock of the items whose stock is not their full stock, by shop and item.
    shop_stock: BTreeMap<String, BTreeMap<String, u32>>,
    /// The rules this world decides by ([`RULES`]; [`ORIGINAL_RULES`] until the log adopts
    /// newer ones).
    rules: u32,
}

/// The rules of the game as this build decides them. A log records the version it was decided
/// under (`RulesAdopted`, adopted by the writer's first tick on a newer build), and a world
/// folded or re-simulated from a log decides by the version in force at each tick, so an older
/// log re-simulates byte for byte. What each version changed:
///
/// 1. The rules before versions were recorded ([`ORIGINAL_RULES`]).
/// 2. Shops with stock: they sell out and restock, and prices move with the stock
///    (`ShopStockChanged`; before, stock was unlimited at fixed prices).
/// 3. A private message to a friend who is not in this world is accepted (another world
///    delivers it); before, it was refused `offline`.
/// 4. A deeper world ([`DEEPER_WORLD_RULES`]); each system that changed names it:
///    - a death outside PvP keeps the three most valuable unstackable items and leaves the
///      rest in a grave, its owner's for [`combat::GRAVE_TICKS`]; before, it cost nothing;
///    - ranged and magic ([`combat::kinds`]): a wielded bow shoots and a chosen spell is cast
///      (before, everyone fought in melee), the `rapid` and `longrange` styles and the
///      protection from missiles and magic exist (before, unknown);
///    - zones carry the rules version that brought them ([`content::ZoneDef::rules`]): a world
///      deciding by older rules has none of their NPCs, objects or nodes;
///    - the map is the content's 1,000 × 1,000 tiles ([`World::on_map`]; before, the
///      configured map), the dead come back at the nearest spawn point
///      ([`World::respawn_point`]; before, at home), and in the wilderness players fight only
///      within its level of each other (`level_gap`).
/// 5. A `WalkTo` that can step at once takes its first step as it is decided, in one
///    `PlayerMoved` that also sets the path (`path_to`, [`ONE_EVENT_WALK_RULES`]); before, a
///    `PathSet` was recorded and the first step was a second event in the players phase. A
///    walking player costs the log one event a tick instead of two.
pub const RULES: u32 = 5;

/// The rules version under which a `WalkTo` is one event ([`RULES`], 5).
pub const ONE_EVENT_WALK_RULES: u32 = 5;

/// The rules version that brought a deeper world: every decision it changed is taken the old
/// way under an older version, so a log decided before it re-simulates byte for byte.
pub const DEEPER_WORLD_RULES: u32 = 4;

/// The rules of a log that has adopted none.
pub const ORIGINAL_RULES: u32 = 1;

impl Default for World {
    fn default() -> Self {
        World::new(MapConfig::default())
    }
}

impl World {
    /// A world on `map` with the embedded content and seed 0.
    pub fn new(map: MapConfig) -> World {
        World::with_content(map, Content::embedded(), 0)
    }

    /// A world on `map` with `content` and a world `seed`.
    pub fn with_content(map: MapConfig, content: Arc<Content>, seed: u64) -> World {
        World {
            map,
            content,
            seed,
            tick: 0,
            players: BTreeMap::new(),
            npcs: BTreeMap::new(),
            npc_respawns: BTreeMap::new(),
            ground: BTreeMap::new(),
            next_ground_id: 1,
            depleted: BTreeMap::new(),
            trades: BTreeMap::new(),
            ledger: Ledger::default(),
            payments: payments::Payments::default(),
            now: 0,
            world_version: 0,
            moved_this_tick: BTreeMap::new(),
            ran_this_tick: BTreeMap::new(),
            event_ids: step::EventIds::default(),
            hop_worlds: Default::default(),
            hops: Default::default(),
            shop_stock: BTreeMap::new(),
            rules: ORIGINAL_RULES,
        }
    }

    /// How this world's log names its events ([`step::EventIds::for_log`]); the writer and
    /// `loh replay resimulate` set it before the first step.
    pub fn set_event_ids(&mut self, ids: step::EventIds) {
        self.event_ids = ids;
    }

    pub fn event_ids(&self) -> &step::EventIds {
        &self.event_ids
    }

    /// The version of the rules this world decides by ([`RULES`]).
    pub fn rules(&self) -> u32 {
        self.rules
    }

    /// What a tick's inputs should carry to bring this world to this build's rules: `Some`
    /// when it decides by older ones ([`step::TickInputs::rules`]).
    pub fn rules_to_adopt(&self) -> Option<u32> {
        (self.rules < RULES).then_some(RULES)
    }

    pub fn player(&self, id: Uuid) -> Option<&Player> {
        self.players.get(&id)
    }

    pub fn players(&self) -> impl Iterator<Item = (&Uuid, &Player)> {
        self.players.iter()
    }

    pub fn npc(&self, id: u32) -> Option<&Npc> {
        self.npcs.get(&id)
    }

    pub fn npcs(&self) -> impl Iterator<Item = (&u32, &Npc)> {
        self.npcs.iter()
    }

    pub fn ground_items(&self) -> impl Iterator<Item = &GroundItem> {
        self.ground.values()
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn trade(&self, player: Uuid) -> Option<&Trade> {
        self.trades.get(&player)
    }

    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Starts tick `tick`: forgets per-tick budgets.
    pub fn begin_tick(&mut self, tick: u64) {
        self.tick = tick;
        self.moved_this_tick.clear();
        self.ran_this_tick.clear();
    }

    /// Sets the tick of the events about to be applied (start-up rebuild).
    pub fn set_tick(&mut self, tick: u64) {
        self.tick = tick;
    }

    /// The RNG for one decision in the current tick: seeded by (world seed, tick, `id`).
    pub fn rng_for(&self, id: Uuid) -> WorldRng {
        let mut h = Sha256::new();
        h.update(self.seed.to_be_bytes());
        h.update(self.tick.to_be_bytes());
        h.update(id.as_bytes());
        WorldRng::from_seed(h.finalize().into())
    }

    /// The current version of the stream `body` belongs to (before `body` is applied).
    pub fn stream_version(&self, body: &EventBody) -> u64 {
        if let EventBody::CharacterArrived { state, .. } = body {
            // A character's stream continues from its departure from another world.
            return state.version;
        }
        match body.player_id() {
            Some(p) => self.players.get(&p).map_or(0, |p| p.version),
            None => self.world_version,
        }
    }

    /// The events that bring a new player into the world with a starter kit, if they are not
    /// in it yet.
    pub fn spawn(&self, player_id: Uuid) -> Vec<EventBody> {
        if self.players.contains_key(&player_id) || self.departed(player_id) {
            return Vec::new();
        }
        let mut events = vec![EventBody::PlayerSpawned {
            player_id,
            x: self.map.spawn_x,
            y: self.map.spawn_y,
        }];
        for (item, qty) in inventory::STARTER_KIT {
            if self.content.item(item).is_some() {
                events.push(EventBody::ItemsMinted {
                    player_id,
                    item: (*item).to_owned(),
                    qty: *qty,
                    source: "starter_kit".into(),
                });
            }
        }
        events
    }

    /// Decides a command: the events it causes, or why it is refused. Pure.
    pub fn decide(&self, player_id: Uuid, cmd: &Command, rng: &mut WorldRng) -> Decision {
        cmd.validate()
            .map_err(|e| Rejection::new(e.code(), e.to_string()))?;
        let p = self
            .players
            .get(&player_id)
            .ok_or_else(|| Rejection::new(Code::NotSpawned, "the player is not in the world"))?;
        let id = player_id;
        match cmd {
            Command::Move { x, y, run } => self.decide_move(id, p, *x, *y, *run),
            Command::Say { text } => Ok(vec![EventBody::PlayerSaid {
                player_id,
                text: text.clone(),
            }]),
            Command::WalkTo { x, y, run } => self.decide_walk_to(id, p, *x, *y, *run),
            Command::MoveItem { from, to } => self.decide_move_item(id, p, *from, *to),
            Command::DropItem { slot } => self.decide_drop(id, p, *slot),
            Command::PickUp { ground_id } => self.decide_pick_up(id, p, *ground_id),
            Command::Eat { slot } => self.decide_eat(id, p, *slot),
            Command::BankDeposit { slot, qty } => self.decide_deposit(id, p, *slot, *qty),
            Command::BankDepositAll => self.decide_deposit_all(id, p),
            Command::BankWithdraw { item, qty } => self.decide_withdraw(id, p, item, *qty),
            Command::Equip { slot } => self.decide_equip(id, p, *slot),
            Command::Unequip { equip_slot } => self.decide_unequip(id, p, equip_slot),
            Command::Gather { x, y } => self.decide_gather(id, p, *x, *y),
            Command::Produce { recipe } => self.decide_produce(id, p, recipe),
            Command::Buy { shop, item, qty } => self.decide_buy(id, p, shop, item, *qty),
            Command::Sell { shop, slot, qty } => self.decide_sell(id, p, shop, *slot, *qty),
            Command::AttackNpc { npc } => self.decide_attack_npc(id, p, *npc),
            Command::AttackPlayer { player_id: other } => self.decide_attack_player(id, p, *other),
            Command::SetAttackStyle { style } => self.decide_style(id, style),
            Command::SetAutocast { spell } => self.decide_autocast(id, p, spell.as_deref()),
            Command::Pray { prayer, on } => self.decide_pray(id, p, prayer, *on),
            Command::PrayAtAltar => self.decide_altar(id, p),
            Command::ReclaimGrave => self.decide_reclaim_grave(id, p),
            Command::Bury { slot } => self.decide_bury(id, p, *slot, false),
            Command::OfferAtAltar { slot } => self.decide_bury(id, p, *slot, true),
            Command::TradeRequest { player_id: other } => self.decide_trade_request(id, p, *other),
            Command::TradeOffer { slot, qty } => self.decide_trade_offer(id, p, *slot, *qty),
            Command::TradeAccept => self.decide_trade_accept(id),
            Command::TradeDecline => self.decide_trade_decline(id),
            Command::AddFriend { player_id: other } => self.decide_friend(id, p, *other, true),
            Command::RemoveFriend { player_id: other } => self.decide_friend(id, p, *other, false),
            Command::AddIgnore { player_id: other } => self.decide_ignore(id, p, *other, true),
            Command::RemoveIgnore { player_id: other } => self.decide_ignore(id, p, *other, false),
            Command::PrivateMessage { to, text } => self.decide_private_message(id, *to, text),
            Command::RedeemBond { slot } => self.decide_redeem(id, p, *slot),
            Command::HopWorld { world } => self.decide_hop(id, p, world, rng),
        }
    }

    /// Folds an event into the state. Holds no rule.
    pub fn apply(&mut self, body: &EventBody) {
        match body.player_id() {
            Some(p) => {
                if let Some(p) = self.players.get_mut(&p) {
                    p.version += 1;
                }
            }
            None => self.world_version += 1,
        }
        self.ledger.record(body);
        let bond_holders = self.bond_holders(body);
        self.apply_body(body);
        if !bond_holders.is_empty() {
            self.follow_bonds(&bond_holders);
        }
    }

    fn apply_body(&mut self, body: &EventBody) {
        use EventBody as E;
        match body {
            E::PlayerSpawned { player_id, x, y } => {
                self.players.insert(*player_id, Player::new(*x, *y));
            }
            E::PlayerMoved { .. } | E::PathSet { .. } | E::PathCleared { .. } => {
                self.apply_movement(body)
            }
            E::PlayerSaid { player_id, text } => {
                if let Some(p) = self.players.get_mut(player_id) {
                    p.last_say = Some(text.clone());
                }
            }
            E::ItemsMinted { .. }
            | E::ItemsBurned { .. }
            | E::ItemMoved { .. }
            | E::ItemDropped { .. }
            | E::ItemPickedUp { .. }
            | E::GroundItemDespawned { .. }
            | E::PlayerHealed { .. } => self.apply_inventory(body),
            E::MembershipChanged { .. } | E::MembershipLapsed { .. } => self.apply_membership(body),
            E::PurchaseCredited { .. }
            | E::MembershipExtended { .. }
            | E::BondRedeemed { .. }
            | E::BondsClawedBack { .. }
            | E::MembershipShortened { .. }
            | E::PurchaseDebtRecorded { .. }
            | E::PurchaseReinstated { .. }
            | E::PaymentNoted { .. } => self.apply_payments(body),
            E::BankDeposited { .. } | E::BankWithdrawn { .. } => self.apply_bank(body),
            E::ItemEquipped { .. } | E::ItemUnequipped { .. } => self.apply_equipment(body),
            E::XpGained { .. } | E::LevelledUp { .. } => self.apply_skills(body),
            E::GatheringStarted { .. }
            | E::GatheringStopped { .. }
            | E::ResourceGathered { .. }
            | E::NodeRespawned { .. } => self.apply_gathering(body),
            E::ItemsProduced { .. } => self.apply_production(body),
            E::ShopBought { .. } | E::ShopSold { .. } | E::ShopStockChanged { .. } => {
                self.apply_shops(body)
            }
            E::CombatTargetSet { .. }
            | E::CombatTargetCleared { .. }
            | E::AttackStyleSet { .. }
            | E::AutocastSet { .. }
            | E::PlayerAttacked { .. }
            | E::NpcAttacked { .. }
            | E::PlayerDied { .. } => self.apply_combat(body),
            E::NpcSpawned { .. } | E::NpcMoved { .. } | E::NpcDied { .. } => self.apply_npcs(body),
            E::PrayerActivated { .. }
            | E::PrayerDeactivated { .. }
            | E::PrayerDrained { .. }
            | E::PrayerRestored { .. } => self.apply_prayer(body),
            E::TradeRequested { .. }
            | E::TradeOpened { .. }
            | E::TradeOffered { .. }
            | E::TradeAccepted { .. }
            | E::TradeConfirming { .. }
            | E::TradeSettled { .. }
            | E::TradeCancelled { .. } => self.apply_trading(body),
            E::FriendAdded { .. }
            | E::FriendRemoved { .. }
            | E::IgnoreAdded { .. }
            | E::IgnoreRemoved { .. }
            | E::PrivateMessageSent { .. }
            | E::PlayerPresence { .. } => self.apply_social(body),
            E::CharacterDeparted { .. } | E::CharacterArrived { .. } => self.apply_hop(body),
            E::RulesAdopted { rules } => self.rules = *rules,
        }
    }

    /// Where an event happens, for deciding who sees it.
    pub fn event_tile(&self, body: &EventBody) -> Option<(i32, i32)> {
        if let Some(p) = body.player_id() {
            return self.players.get(&p).map(|p| (p.x, p.y));
        }
        match body {
            EventBody::NpcSpawned { x, y, .. } | EventBody::NpcMoved { x, y, .. } => Some((*x, *y)),
            EventBody::NpcDied { loot, .. } => loot.first().map(|g| (g.x, g.y)),
            EventBody::GroundItemDespawned { ground_id, .. } => {
                self.ground.get(ground_id).map(|g| (g.x, g.y))
            }
            EventBody::NodeRespawned { node } => self
                .content
                .node_placements
                .get(*node as usize)
                .map(|n| (n.x, n.y)),
            EventBody::ShopStockChanged { shop, .. } => self.shop_tile(shop),
            _ => None,
        }
    }

    /// Whether a player may stand on `(x, y)`: inside the map and not blocked.
    pub fn walkable(&self, x: i32, y: i32) -> bool {
        self.on_map(x, y) && !self.content.blocked.contains(&(x, y))
    }

    /// Whether `(x, y)` is a tile of the map: the configured one ([`MapConfig`]), and since
    /// rules 4 ([`DEEPER_WORLD_RULES`]) the content's whole map too.
    pub fn on_map(&self, x: i32, y: i32) -> bool {
        self.map.contains(x, y)
            || (self.rules >= DEEPER_WORLD_RULES
                && self.content.map.is_some_and(|m| m.contains(x, y)))
    }

    /// Where a player who died on `(x, y)` comes back: the home spawn, or since rules 4 the
    /// nearest of it and the content's player spawn points (the earlier among equals).
    pub fn respawn_point(&self, x: i32, y: i32) -> (i32, i32) {
        let home = (self.map.spawn_x, self.map.spawn_y);
        if self.rules < DEEPER_WORLD_RULES {
            return home;
        }
        std::iter::once(home)
            .chain(self.content.player_spawns(self.rules))
            .min_by_key(|&(sx, sy)| chebyshev(x, y, sx, sy))
            .unwrap_or(home)
    }

    fn rule(
        &self,
        ok: bool,
        code: RejectionCode,
        message: impl Into<String>,
    ) -> Result<(), Rejection> {
        if ok {
            Ok(())
        } else {
            Err(Rejection::new(code, message))
        }
    }
}

#[cfg(test)]
pub(crate) mod testing;
