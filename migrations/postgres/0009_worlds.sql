-- 0009 worlds: where characters live, and the world list players choose from (`GET /v1/worlds`). Each world's game server
-- announces itself here every few seconds: where clients connect, whether it is a members world,
-- how many players it holds, and whether it is open; the list shows a world whose announcement
-- is stale as offline. Not event-sourced: it says where a world can be reached now, not what
-- happened in it, so rows are overwritten.
CREATE TABLE worlds (
    shard          text    PRIMARY KEY,
    address        text    NOT NULL,
    members        boolean NOT NULL,
    population     bigint  NOT NULL CHECK (population >= 0),
    open           boolean NOT NULL,
    updated_at_us  bigint  NOT NULL
);

-- Where each character lives: the world it first entered. Until characters can hop between
-- worlds, a game server refuses a player whose character lives in another world, so a character
-- is never in two worlds at once (ARCHITECTURE.md, invariant 11).
CREATE TABLE characters (
    player_id      text    PRIMARY KEY,
    shard          text    NOT NULL,
    since_us       bigint  NOT NULL
);
