-- 0011 hops: the outbox of world hops (ARCHITECTURE.md, invariant 11: a character is in exactly
-- one world).
--
-- A hop is written here in the same transaction as the source world's tick that records the
-- character's departure (`CharacterDeparted`), which also moves `characters.shard` to the
-- destination; the destination world's tick writer takes the un-arrived hops to it as inputs of
-- a tick, and the same transaction as that tick's append (`CharacterArrived`) sets
-- `arrived_position`. So whatever process dies, a character is either in its source world's
-- log, in flight here, or in its destination's, never two of them and never none.
--
-- The database holds the rules: a hop arrives once (only `arrived_position` and `arrived_at_us`
-- may change, and only from NULL), rows are never deleted, and a character has at most one hop
-- in flight.
CREATE TABLE hops (
    -- Insertion order: arrivals are taken in the order the departures committed.
    id                bigserial PRIMARY KEY,
    hop_id            uuid      NOT NULL UNIQUE,
    player_id         uuid      NOT NULL,
    from_shard        text      NOT NULL,
    to_shard          text      NOT NULL CHECK (to_shard <> from_shard),
    -- The character's portable state (`loh_events::hop::CharacterState`), JSON bytes.
    state             bytea     NOT NULL,
    -- SHA-256 of the state, hex, as the departure event records it.
    state_hash        text      NOT NULL CHECK (length(state_hash) = 64),
    -- The departure's position in the source world's log.
    departed_position bigint    NOT NULL CHECK (departed_position >= 1),
    departed_at_us    bigint    NOT NULL,
    -- The arrival's position in the destination world's log (NULL: in flight).
    arrived_position  bigint    CHECK (arrived_position >= 1),
    arrived_at_us     bigint,
    CHECK ((arrived_position IS NULL) = (arrived_at_us IS NULL))
);

CREATE UNIQUE INDEX hops_one_in_flight ON hops (player_id) WHERE arrived_position IS NULL;
CREATE INDEX hops_in_flight_to ON hops (to_shard, id) WHERE arrived_position IS NULL;

CREATE FUNCTION loh_hops_arrive_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.arrived_position IS NOT NULL
       OR NEW.arrived_position IS NULL
       OR (NEW.id, NEW.hop_id, NEW.player_id, NEW.from_shard, NEW.to_shard, NEW.state,
           NEW.state_hash, NEW.departed_position, NEW.departed_at_us)
          IS DISTINCT FROM
          (OLD.id, OLD.hop_id, OLD.player_id, OLD.from_shard, OLD.to_shard, OLD.state,
           OLD.state_hash, OLD.departed_position, OLD.departed_at_us) THEN
        RAISE EXCEPTION 'loh: hop % arrives once; only its arrival may be set', OLD.hop_id
            USING ERRCODE = 'LH003';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER hops_arrive_once
    BEFORE UPDATE ON hops
    FOR EACH ROW EXECUTE FUNCTION loh_hops_arrive_once();

CREATE TRIGGER hops_no_delete
    BEFORE DELETE OR TRUNCATE ON hops
    FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change();
