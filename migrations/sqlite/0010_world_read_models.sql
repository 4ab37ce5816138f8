-- 0010 world read models: see migrations/postgres/0010_world_read_models.sql. The embedded mode
-- holds one world, so this only gives the tables the same keys and columns: checkpoints keyed by
-- (shard, name) and the world of each player's position. (SQLite cannot change a primary key in
-- place: the checkpoint table is copied.) The events table needs no partitioning here: it holds
-- one world's log (PostgreSQL partitions it by world in its 0010).
CREATE TABLE projection_checkpoints__new (
    shard TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (shard, name)
);
INSERT INTO projection_checkpoints__new (shard, name, position)
SELECT COALESCE((SELECT CASE WHEN count(*) = 1 THEN min(shard) END FROM event_shards), ''),
       name, position
FROM projection_checkpoints;
DROP TABLE projection_checkpoints;
ALTER TABLE projection_checkpoints__new RENAME TO projection_checkpoints;

-- player_position.rs
ALTER TABLE rm_player_position ADD COLUMN shard TEXT NOT NULL DEFAULT '';
UPDATE rm_player_position
SET shard = (SELECT min(shard) FROM event_shards)
WHERE (SELECT count(*) FROM event_shards) = 1;
CREATE INDEX IF NOT EXISTS rm_player_position_shard ON rm_player_position (shard, player_id);
