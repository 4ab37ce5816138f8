-- Refresh-token families when no Redis is configured (the embedded default keeps them here so
-- that sessions survive a restart). With Redis, these tables stay empty.
CREATE TABLE auth_sessions (
    sid            TEXT PRIMARY KEY,
    player_id      TEXT NOT NULL,
    -- SHA-256 (hex) of the current refresh token's secret
    current_hash   TEXT NOT NULL,
    -- HMAC request-signing key (base64url) and its id; the previous one stays valid
    kid            TEXT NOT NULL,
    signing_key    TEXT NOT NULL,
    prev_kid       TEXT,
    prev_key       TEXT,
    -- the family's absolute end of life
    expires_at_us  BIGINT NOT NULL
);

-- Spent refresh tokens: presenting one again revokes its family.
CREATE TABLE auth_spent_tokens (
    token_hash     TEXT PRIMARY KEY,
    sid            TEXT NOT NULL
);
CREATE INDEX auth_spent_tokens_sid ON auth_spent_tokens (sid);
