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
