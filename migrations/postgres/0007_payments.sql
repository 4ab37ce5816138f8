-- Stripe events as received (docs/PAYMENTS.md): signature checked, stored once by event id, then
-- taken by the tick writer into a tick. Not event-sourced: the world's events a payment causes
-- carry the Stripe event id, and the world applies each id once.
CREATE TABLE stripe_events (
    event_id        TEXT PRIMARY KEY,
    event_type      TEXT NOT NULL,
    -- the body exactly as received and signed
    payload         TEXT NOT NULL,
    -- what the world takes (JSON of loh_world::payments::Payment); NULL for a type it ignores
    input           TEXT,
    received_at_us  BIGINT NOT NULL,
    -- when the tick writer applied it (or stored it as ignored); NULL while it waits
    applied_at_us   BIGINT
);
CREATE INDEX stripe_events_waiting ON stripe_events (received_at_us) WHERE applied_at_us IS NULL;

-- The `membership` read model (projections/src/membership.rs; a rebuild recreates them from there).
CREATE TABLE rm_membership (player_id TEXT PRIMARY KEY, tier TEXT NOT NULL DEFAULT 'free', paid_through BIGINT NOT NULL DEFAULT 0, debt_bonds BIGINT NOT NULL DEFAULT 0, debt_days BIGINT NOT NULL DEFAULT 0);
CREATE TABLE rm_purchases (player_id TEXT NOT NULL, position BIGINT NOT NULL, payment TEXT NOT NULL, purchase TEXT NOT NULL, what TEXT NOT NULL, product TEXT NOT NULL, bonds BIGINT NOT NULL, days BIGINT NOT NULL, occurred_at_us BIGINT NOT NULL, PRIMARY KEY (player_id, position));
CREATE INDEX IF NOT EXISTS rm_purchases_position ON rm_purchases (position);
