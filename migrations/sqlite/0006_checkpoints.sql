-- 0006 checkpoints: the tick writer's periodic signatures over (position, hash) of the chain,
-- so a rewritten and re-chained history is still found by `loh replay verify`. Append-only.

CREATE TABLE checkpoints (
    shard         TEXT    NOT NULL,
    position      INTEGER NOT NULL CHECK (position >= 1),
    hash          BLOB    NOT NULL CHECK (length(hash) = 32),
    -- A compact JWS (RS256, header `kid`) over {shard, position, hash (hex)}.
    signature     TEXT    NOT NULL,
    created_at_us INTEGER NOT NULL,
    PRIMARY KEY (shard, position)
) STRICT;

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'loh: checkpoints is append-only: UPDATE refused');
END;

CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'loh: checkpoints is append-only: DELETE refused');
END;
