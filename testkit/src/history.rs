//! Random game histories of many players: proptest strategies for commands and ticks of input,
//! the tiles worth standing on, and the scatter that brings every system within reach. Driven
//! through [`loh_world::phases::Sim`] (or the real tick writer), they reach every system with
//! few commands wasted on a wrong place.

use loh_commands::Command;
use loh_events::EventBody;
use loh_world::{MAX_STACK, World};
use proptest::prelude::*;
use uuid::Uuid;

/// Tiles worth standing on: town, bank, store, armoury, forest, mine, furnace, river, fields,
/// altar, PvP zone, and the bow and rune shop among the goblin archers.
pub const SPOTS: [(i32, i32); 12] = [
    (3222, 3218),
    (3227, 3225),
    (3215, 3216),
    (3232, 3211),
    (3246, 3215),
    (3181, 3216),
    (3195, 3221),
    (3212, 3182),
    (3251, 3185),
    (3210, 3231),
    (3200, 3300),
    (3150, 3216),
];

/// Items the commands name: the starter kit, the store's stock, gathered and made goods.
pub const ITEMS: [&str; 10] = [
    "coins",
    "chisel",
    "bronze_axe",
    "bread",
    "logs",
    "hammer",
    "steel_sword",
    "copper_ore",
    "bronze_sword",
    "bond",
];

/// What the bow and rune shop sells that the commands buy: a bow, arrows and the runes of a
/// wind strike.
pub const RANGED_AND_MAGIC: [&str; 4] = ["shortbow", "bronze_arrow", "air_rune", "mind_rune"];

/// Recipes the commands produce.
pub const RECIPES: [&str; 3] = ["smelt_bronze_bar", "smith_bronze_sword", "cut_sapphire"];

/// The players of a history of `players` players: ids `1..=players`.
pub fn players(players: u128) -> Vec<Uuid> {
    (1..=players).map(Uuid::from_u128).collect()
}

/// Player `i` (any number, wrapped) of a history of `players` players.
pub fn player(i: u128, players: u128) -> Uuid {
    Uuid::from_u128(i % players + 1)
}

/// Any of [`ITEMS`].
pub fn item() -> impl Strategy<Value = String> {
    prop::sample::select(ITEMS.to_vec()).prop_map(str::to_owned)
}

/// A command of any family, aimed at [`SPOTS`], [`ITEMS`], [`RECIPES`], the first NPCs and
/// ground items and the other `players`; slots run past the inventory and quantities include 0,
/// [`MAX_STACK`] and `u32::MAX`, so refusals are drawn as well as successes.
pub fn command(players: u128) -> impl Strategy<Value = Command> {
    let slot = 0u8..30;
    let qty = prop_oneof![Just(0u32), 1u32..5, Just(MAX_STACK), Just(u32::MAX)];
    let other = any::<u8>().prop_map(move |p| player(u128::from(p), players));
    prop_oneof![
        (0usize..SPOTS.len(), any::<bool>()).prop_map(|(s, run)| Command::WalkTo {
            x: SPOTS[s].0,
            y: SPOTS[s].1,
            run
        }),
        (-1i32..=1, -1i32..=1).prop_map(|(dx, dy)| Command::Move {
            x: 3222 + dx,
            y: 3218 + dy,
            run: false
        }),
        (slot.clone(), slot.clone()).prop_map(|(from, to)| Command::MoveItem { from, to }),
        slot.clone().prop_map(|slot| Command::DropItem { slot }),
        (1u64..40).prop_map(|ground_id| Command::PickUp { ground_id }),
        slot.clone().prop_map(|slot| Command::Eat { slot }),
        (slot.clone(), qty.clone()).prop_map(|(slot, qty)| Command::BankDeposit { slot, qty }),
        Just(Command::BankDepositAll),
        Just(Command::ReclaimGrave),
        (item(), qty.clone()).prop_map(|(item, qty)| Command::BankWithdraw { item, qty }),
        slot.clone().prop_map(|slot| Command::Equip { slot }),
        Just(Command::Unequip {
            equip_slot: "weapon".into()
        }),
        (0usize..SPOTS.len()).prop_map(|s| Command::Gather {
            x: SPOTS[s].0 - 1,
            y: SPOTS[s].1 - 1
        }),
        prop::sample::select(RECIPES.to_vec()).prop_map(|r| Command::Produce { recipe: r.into() }),
        (item(), qty.clone()).prop_map(|(item, qty)| Command::Buy {
            shop: "general_store".into(),
            item,
            qty
        }),
        (slot.clone(), qty.clone()).prop_map(|(slot, qty)| Command::Sell {
            shop: "general_store".into(),
            slot,
            qty
        }),
        (0u32..12).prop_map(|npc| Command::AttackNpc { npc }),
        (prop::sample::select(RANGED_AND_MAGIC.to_vec()), 1u32..40).prop_map(|(item, qty)| {
            Command::Buy {
                shop: "archery_and_runes".into(),
                item: item.into(),
                qty,
            }
        }),
        prop::sample::select(vec![Some("wind_strike"), None]).prop_map(|s| {
            Command::SetAutocast {
                spell: s.map(str::to_owned),
            }
        }),
        prop::sample::select(vec!["rapid", "longrange", "accurate"])
            .prop_map(|s| { Command::SetAttackStyle { style: s.into() } }),
        other
            .clone()
            .prop_map(|player_id| Command::AttackPlayer { player_id }),
        Just(Command::Pray {
            prayer: "thick_skin".into(),
            on: true
        }),
        other.prop_map(|player_id| Command::TradeRequest { player_id }),
        slot.clone().prop_map(|slot| Command::RedeemBond { slot }),
        slot.clone().prop_map(|slot| Command::Bury { slot }),
        slot.clone().prop_map(|slot| Command::OfferAtAltar { slot }),
        (slot, qty).prop_map(|(slot, qty)| Command::TradeOffer { slot, qty }),
        Just(Command::TradeAccept),
        Just(Command::TradeDecline),
    ]
}

/// 1 to 39 ticks of input for `players` players, up to 11 commands a tick, each tick's
/// commands sorted by player as the tick writer sorts them.
pub fn ticks(players: u128) -> impl Strategy<Value = Vec<Vec<(Uuid, Command)>>> {
    prop::collection::vec(
        prop::collection::vec(
            (
                any::<u8>().prop_map(move |p| player(u128::from(p), players)),
                command(players),
            ),
            0..12,
        ),
        1..40,
    )
    .prop_map(|ticks| {
        ticks
            .into_iter()
            .map(|mut t| {
                t.sort_by_key(|(p, _)| *p);
                t
            })
            .collect()
    })
}

/// Moves the `k`-th of `players` to spot `k + round` of [`SPOTS`] (outside the rules, as the
/// tests do now and then so that every system is within someone's reach); returns the moves,
/// already applied to `world`.
pub fn scatter(world: &mut World, players: &[Uuid], round: usize) -> Vec<EventBody> {
    let mut moves = Vec::with_capacity(players.len());
    for (k, id) in players.iter().enumerate() {
        let p = world.player(*id).expect("a spawned player");
        let (x, y) = SPOTS[(k + round) % SPOTS.len()];
        let e = EventBody::PlayerMoved {
            player_id: *id,
            from_x: p.x,
            from_y: p.y,
            x,
            y,
            running: false,
            path_to: None,
        };
        world.apply(&e);
        moves.push(e);
    }
    moves
}
