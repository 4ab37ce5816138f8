//! The crate's leaf: the limits, distances and ids every module shares, [`crate::content`]
//! included. It uses nothing of the crate, so no module cycle can run through it; the crate root
//! re-exports all of it (`loh_world::MAX_STACK`, `loh_world::chebyshev`, …).

/// The largest stack (and any quantity): 2,147,483,647.
pub const MAX_STACK: u32 = i32::MAX as u32;
/// The item id of coins.
pub use loh_events::value::COINS;
/// Tiles a player may move per tick.
pub const WALK_TILES: u32 = 1;
pub const RUN_TILES: u32 = 2;
/// Tiles within which a player may use a bank, shop, furnace, anvil or altar, or pick up.
pub const REACH: u32 = 1;
/// Ticks a dropped item stays private to its owner, and then until it disappears.
pub const GROUND_PRIVATE_TICKS: u64 = 150;
pub const GROUND_DESPAWN_TICKS: u64 = 300;

/// Tiles between two points when diagonal steps count as one.
pub fn chebyshev(ax: i32, ay: i32, bx: i32, by: i32) -> u32 {
    ax.abs_diff(bx).max(ay.abs_diff(by))
}
