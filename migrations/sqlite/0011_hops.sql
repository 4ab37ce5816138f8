-- 0011 hops: the outbox of world hops (ARCHITECTURE.md, invariant 11). Same meaning as
-- `postgres/0011_hops.sql`: written with the departure's tick, marked arrived with the arrival's,
-- arrives once, never deleted, at most one hop in flight per character. (The embedded `loh up`
-- runs one world, so nothing hops there; the table keeps the numbers of both schemas aligned.)
CREATE TABLE hops (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    hop_id            BLOB    NOT NULL UNIQUE CHECK (length(hop_id) = 16),
    player_id         BLOB    NOT NULL CHECK (length(player_id) = 16),
    from_shard        TEXT    NOT NULL,
    to_shard          TEXT    NOT NULL CHECK (to_shard <> from_shard),
    state             BLOB    NOT NULL,
    state_hash        TEXT    NOT NULL CHECK (length(state_hash) = 64),
    departed_position INTEGER NOT NULL CHECK (departed_position >= 1),
    departed_at_us    INTEGER NOT NULL,
    arrived_position  INTEGER CHECK (arrived_position >= 1),
    arrived_at_us     INTEGER,
    CHECK ((arrived_position IS NULL) = (arrived_at_us IS NULL))
) STRICT;

CREATE UNIQUE INDEX hops_one_in_flight ON hops (player_id) WHERE arrived_position IS NULL;
CREATE INDEX hops_in_flight_to ON hops (to_shard, id) WHERE arrived_position IS NULL;

CREATE TRIGGER hops_arrive_once BEFORE UPDATE ON hops
WHEN OLD.arrived_position IS NOT NULL OR NEW.arrived_position IS NULL
  OR NEW.hop_id IS NOT OLD.hop_id OR NEW.player_id IS NOT OLD.player_id
  OR NEW.from_shard IS NOT OLD.from_shard OR NEW.to_shard IS NOT OLD.to_shard
  OR NEW.state IS NOT OLD.state OR NEW.state_hash IS NOT OLD.state_hash
  OR NEW.departed_position IS NOT OLD.departed_position
BEGIN
    SELECT RAISE(ABORT, 'loh: hops: a hop arrives once; only its arrival may be set');
END;

CREATE TRIGGER hops_no_delete BEFORE DELETE ON hops
BEGIN
    SELECT RAISE(ABORT, 'loh: hops is append-only: DELETE refused');
END;
