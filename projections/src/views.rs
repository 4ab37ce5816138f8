//! The analysts' SQL views over the read-model tables (documented in `docs/ANALYSTS.md`).
//!
//! Migration `0005_read_models.sql` creates them with exactly these definitions. A rebuild drops
//! them before it swaps tables and creates them again after, in the same transaction (a
//! PostgreSQL view is bound to the table it was created on, not to its name).

/// `(name, SELECT …)` of every view; the SQL means the same on PostgreSQL and SQLite.
pub const VIEWS: &[(&str, &str)] = &[
    (
        "v_item_supply",
        "SELECT item, minted, burned, minted - burned AS in_circulation FROM rm_item_supply",
    ),
    (
        "v_coins_in_circulation",
        "SELECT minted - burned AS coins FROM rm_item_supply WHERE item = 'coins'",
    ),
    (
        "v_item_flow_hourly",
        "SELECT hour, item, \
         SUM(CASE WHEN flow = 'minted' THEN qty ELSE 0 END) AS minted, \
         SUM(CASE WHEN flow = 'burned' THEN qty ELSE 0 END) AS burned \
         FROM rm_economy_hourly GROUP BY hour, item",
    ),
    (
        "v_leaderboard_overall",
        "SELECT player_id, total_level, total_xp, reached_position, \
         ROW_NUMBER() OVER (ORDER BY total_level DESC, total_xp DESC, reached_position, \
         player_id) AS rank FROM rm_skill_totals",
    ),
    (
        "v_leaderboard_skill",
        "SELECT skill, player_id, level, xp, reached_position, \
         ROW_NUMBER() OVER (PARTITION BY skill ORDER BY level DESC, xp DESC, \
         reached_position, player_id) AS rank FROM rm_skills",
    ),
    (
        "v_player_items",
        "SELECT player_id, container, item, qty FROM rm_holdings \
         UNION ALL SELECT player_id, 'equipment', item, 1 FROM rm_equipment",
    ),
];
