-- Read models and projector checkpoints (loh-projections).
--
-- A projector writes its read-model rows and its checkpoint in one transaction, so the checkpoint
-- is exactly the last event position whose effects the read model holds. The column list of each
-- read-model table must match its `TableDef` in `projections/src/` (rebuild creates shadow tables
-- from that definition and swaps them in).

CREATE TABLE projection_checkpoints (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);

CREATE TABLE rm_player_position (
    player_id TEXT PRIMARY KEY,
    x BIGINT NOT NULL,
    y BIGINT NOT NULL,
    last_say TEXT NULL,
    last_say_tick BIGINT NULL,
    last_position BIGINT NOT NULL
);
