-- Player accounts: the login identity behind a player id. Not event-sourced: credentials are not
-- game facts and must be erasable.
CREATE TABLE accounts (
    player_id      TEXT PRIMARY KEY,
    -- normalised (lower case); unique
    username       TEXT NOT NULL UNIQUE,
    -- as the player typed it
    display_name   TEXT NOT NULL,
    -- Argon2id PHC string
    password_hash  TEXT NOT NULL,
    created_at_us  BIGINT NOT NULL
);
