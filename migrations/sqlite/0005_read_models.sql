-- Read models of issue 5 (loh-projections): holdings, wallet, skills and leaderboards, economy,
-- profiles and trade history; and the analysts' views (docs/ANALYSTS.md).
--
-- Each table matches its `TableDef` in projections/src/<model>.rs (a rebuild recreates it from
-- there); each view matches projections/src/views.rs.

-- holdings.rs
CREATE TABLE rm_holdings (player_id TEXT NOT NULL, container TEXT NOT NULL, item TEXT NOT NULL, qty BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (player_id, container, item));

-- holdings.rs
CREATE TABLE rm_equipment (player_id TEXT NOT NULL, equip_slot TEXT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (player_id, equip_slot));

-- wallet.rs
CREATE TABLE rm_wallet (player_id TEXT NOT NULL, currency TEXT NOT NULL, balance BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (player_id, currency));

-- wallet.rs
CREATE TABLE rm_wallet_ledger (player_id TEXT NOT NULL, position BIGINT NOT NULL, currency TEXT NOT NULL, amount BIGINT NOT NULL, reason TEXT NOT NULL, balance_after BIGINT NOT NULL, occurred_at_us BIGINT NOT NULL, PRIMARY KEY (player_id, position, currency));

-- skills.rs
CREATE TABLE rm_skills (player_id TEXT NOT NULL, skill TEXT NOT NULL, xp BIGINT NOT NULL, level BIGINT NOT NULL, reached_position BIGINT NOT NULL, PRIMARY KEY (player_id, skill));
CREATE INDEX IF NOT EXISTS rm_skills_rank ON rm_skills (skill, level DESC, xp DESC, reached_position);

-- skills.rs
CREATE TABLE rm_skill_totals (player_id TEXT PRIMARY KEY, total_level BIGINT NOT NULL, total_xp BIGINT NOT NULL, reached_position BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS rm_skill_totals_rank ON rm_skill_totals (total_level DESC, total_xp DESC, reached_position);

-- economy.rs
CREATE TABLE rm_economy_hourly (hour BIGINT NOT NULL, item TEXT NOT NULL, flow TEXT NOT NULL, reason TEXT NOT NULL, qty BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (hour, item, flow, reason));
CREATE INDEX IF NOT EXISTS rm_economy_hourly_item ON rm_economy_hourly (item, hour);

-- economy.rs
CREATE TABLE rm_item_supply (item TEXT PRIMARY KEY, minted BIGINT NOT NULL DEFAULT 0, burned BIGINT NOT NULL DEFAULT 0);

-- economy.rs
CREATE TABLE rm_trade_hourly (hour BIGINT NOT NULL, item TEXT NOT NULL, qty BIGINT NOT NULL DEFAULT 0, trades BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (hour, item));

-- economy.rs
CREATE TABLE rm_xp_hourly (hour BIGINT NOT NULL, skill TEXT NOT NULL, xp BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (hour, skill));

-- profile.rs
CREATE TABLE rm_profile (player_id TEXT PRIMARY KEY, spawned_position BIGINT NOT NULL DEFAULT 0, spawned_at_us BIGINT NOT NULL DEFAULT 0, online BIGINT NOT NULL DEFAULT 0, members BIGINT NOT NULL DEFAULT 0, last_seen_us BIGINT NULL, deaths BIGINT NOT NULL DEFAULT 0, kills BIGINT NOT NULL DEFAULT 0);

-- profile.rs
CREATE TABLE rm_trade_history (player_id TEXT NOT NULL, position BIGINT NOT NULL, with_player TEXT NOT NULL, gave TEXT NOT NULL, got TEXT NOT NULL, tick BIGINT NOT NULL, occurred_at_us BIGINT NOT NULL, PRIMARY KEY (player_id, position));

CREATE VIEW v_item_supply AS SELECT item, minted, burned, minted - burned AS in_circulation FROM rm_item_supply;
CREATE VIEW v_coins_in_circulation AS SELECT minted - burned AS coins FROM rm_item_supply WHERE item = 'coins';
CREATE VIEW v_item_flow_hourly AS SELECT hour, item, SUM(CASE WHEN flow = 'minted' THEN qty ELSE 0 END) AS minted, SUM(CASE WHEN flow = 'burned' THEN qty ELSE 0 END) AS burned FROM rm_economy_hourly GROUP BY hour, item;
CREATE VIEW v_leaderboard_overall AS SELECT player_id, total_level, total_xp, reached_position, ROW_NUMBER() OVER (ORDER BY total_level DESC, total_xp DESC, reached_position, player_id) AS rank FROM rm_skill_totals;
CREATE VIEW v_leaderboard_skill AS SELECT skill, player_id, level, xp, reached_position, ROW_NUMBER() OVER (PARTITION BY skill ORDER BY level DESC, xp DESC, reached_position, player_id) AS rank FROM rm_skills;
CREATE VIEW v_player_items AS SELECT player_id, container, item, qty FROM rm_holdings UNION ALL SELECT player_id, 'equipment', item, 1 FROM rm_equipment;
