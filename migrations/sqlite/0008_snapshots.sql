-- 0008 snapshots: the tick writer's saved worlds, so that start-up folds only the log's tail.
-- Each is bound to the log by the position and the hash of the event there, and signed like a
-- checkpoint (a compact JWS over {shard, position, hash, tick, state: SHA-256 of the bytes}).
-- A snapshot is derived data, never a source of truth: start-up checks it against the log and
-- the signature, and folds from position 1 when none holds. Written whole in one INSERT (one
-- transaction), never changed; old ones may be deleted (the writer keeps the newest few).

CREATE TABLE snapshots (
    shard         TEXT    NOT NULL,
    position      INTEGER NOT NULL CHECK (position >= 1),
    hash          BLOB    NOT NULL CHECK (length(hash) = 32),
    tick          INTEGER NOT NULL CHECK (tick >= 0),
    -- The world's saved form (`loh_world::image`): magic, format version, content fingerprint,
    -- then the state.
    state         BLOB    NOT NULL,
    state_hash    BLOB    NOT NULL CHECK (length(state_hash) = 32),
    signature     TEXT    NOT NULL,
    created_at_us INTEGER NOT NULL,
    PRIMARY KEY (shard, position)
) STRICT;

CREATE TRIGGER snapshots_no_update BEFORE UPDATE ON snapshots
BEGIN
    SELECT RAISE(ABORT, 'loh: snapshots is append-only: UPDATE refused');
END;
