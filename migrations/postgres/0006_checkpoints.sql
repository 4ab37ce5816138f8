-- 0006 checkpoints: the tick writer's periodic signatures over (position, hash) of the chain,
-- so a rewritten and re-chained history is still found by `loh replay verify`. Append-only.

CREATE TABLE checkpoints (
    shard         text   NOT NULL,
    position      bigint NOT NULL CHECK (position >= 1),
    hash          bytea  NOT NULL CHECK (octet_length(hash) = 32),
    -- A compact JWS (RS256, header `kid`) over {shard, position, hash (hex)}.
    signature     text   NOT NULL,
    created_at_us bigint NOT NULL,
    PRIMARY KEY (shard, position)
);

CREATE TRIGGER checkpoints_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change();
