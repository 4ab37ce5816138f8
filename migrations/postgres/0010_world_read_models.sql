-- 0010 world read models: several worlds (shards) project into one read database.
--
-- * Projection checkpoints are keyed by (shard, name): each world's projectors keep their own
--   place in their own world's log, so two worlds on one database no longer overwrite each
--   other's checkpoints. The rows that were there belong to the database's one world when it has
--   exactly one; otherwise they keep shard '' and the first world whose projectors start adopts
--   them (`loh_projections::ReadDb::adopt_legacy_checkpoints`).
-- * `rm_player_position` records the world each player's position is in: a world's positions are
--   its own (`loh_projections::player_position::in_world`), while the per-player models (skills,
--   holdings, wallet, membership, profile) follow the character across worlds.
ALTER TABLE projection_checkpoints ADD COLUMN shard text NOT NULL DEFAULT '';
UPDATE projection_checkpoints
SET shard = (SELECT min(shard) FROM event_shards)
WHERE (SELECT count(*) FROM event_shards) = 1;
ALTER TABLE projection_checkpoints DROP CONSTRAINT projection_checkpoints_pkey;
ALTER TABLE projection_checkpoints ADD PRIMARY KEY (shard, name);

-- player_position.rs
ALTER TABLE rm_player_position ADD COLUMN shard text NOT NULL DEFAULT '';
UPDATE rm_player_position
SET shard = (SELECT min(shard) FROM event_shards)
WHERE (SELECT count(*) FROM event_shards) = 1;
CREATE INDEX IF NOT EXISTS rm_player_position_shard ON rm_player_position (shard, player_id);
