-- 0001 events: the append-only, hash-chained event log of every shard, the shards' sequencer rows
-- (fencing epoch and head) and the command journal.
--
-- The database itself enforces the invariants of ARCHITECTURE.md:
--   * append-only: UPDATE, DELETE and TRUNCATE of `events` and `command_journal` raise (LH003);
--   * fencing: every appended event carries the epoch of the lease it was written under, and an
--     insert whose epoch is not the shard's current epoch raises (LH001);
--   * gapless positions: an insert must continue exactly at head + 1 .. head + n and link its
--     `prev_hash` to the head's hash, else it raises (LH002); the same statement advances the head.
-- Appenders lock the shard row (SELECT ... FOR UPDATE) first, so positions are taken and
-- committed in one order and a reader following positions never skips a late commit.
--
-- Custom SQLSTATEs: LH001 fenced (stale epoch), LH002 not contiguous with the head,
-- LH003 append-only table changed.

CREATE TABLE event_shards (
    shard         text   PRIMARY KEY,
    -- Bumped by every lease acquisition; appends carry the epoch they were written under.
    epoch         bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    -- Last committed position (0 when empty) and its hash (32 zero bytes when empty).
    head_position bigint NOT NULL DEFAULT 0 CHECK (head_position >= 0),
    head_hash     bytea  NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
                         CHECK (octet_length(head_hash) = 32)
);

CREATE TABLE events (
    shard          text   NOT NULL,
    position       bigint NOT NULL CHECK (position >= 1),
    stream_id      text   NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version >= 1),
    tick           bigint NOT NULL CHECK (tick >= 0),
    schema_version int    NOT NULL CHECK (schema_version BETWEEN 1 AND 65535),
    event_id       uuid   NOT NULL,
    correlation_id uuid   NOT NULL,
    causation_id   uuid,
    occurred_at_us bigint NOT NULL,
    kind           text   NOT NULL,
    payload        bytea  NOT NULL,
    prev_hash      bytea  NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash           bytea  NOT NULL CHECK (octet_length(hash) = 32),
    -- The fencing epoch of the writer that appended the event.
    epoch          bigint NOT NULL,
    PRIMARY KEY (shard, position),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (shard, stream_id, stream_version)
);

CREATE TABLE command_journal (
    -- Insertion order, for reading a tick's commands in the order they were decided.
    id              bigserial PRIMARY KEY,
    shard           text   NOT NULL,
    tick            bigint NOT NULL CHECK (tick >= 0),
    player_id       uuid   NOT NULL,
    seq             bigint NOT NULL CHECK (seq >= 0),
    command_id      uuid   NOT NULL,
    -- MessagePack bytes of the command as received.
    command         bytea  NOT NULL,
    -- NULL code and message: accepted; otherwise the rejection.
    outcome_code    text,
    outcome_message text,
    received_at_us  bigint NOT NULL,
    CONSTRAINT command_journal_command_id_key UNIQUE (command_id),
    CONSTRAINT command_journal_player_seq_key UNIQUE (shard, player_id, seq),
    CHECK ((outcome_code IS NULL) = (outcome_message IS NULL))
);

CREATE INDEX command_journal_tick_idx ON command_journal (shard, tick, id);

-- Append-only: any UPDATE, DELETE or TRUNCATE statement on the log tables raises.
CREATE FUNCTION loh_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'loh: % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'LH003';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change();

CREATE TRIGGER command_journal_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON command_journal
    FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change();

-- A shard row is never deleted, and its epoch and head never move backwards.
CREATE TRIGGER event_shards_no_delete
    BEFORE DELETE OR TRUNCATE ON event_shards
    FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change();

CREATE FUNCTION loh_event_shards_monotonic() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.shard <> OLD.shard OR NEW.epoch < OLD.epoch OR NEW.head_position < OLD.head_position THEN
        RAISE EXCEPTION 'loh: shard %: epoch and head never move backwards', OLD.shard
            USING ERRCODE = 'LH002';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER event_shards_monotonic
    BEFORE UPDATE ON event_shards
    FOR EACH ROW EXECUTE FUNCTION loh_event_shards_monotonic();

-- Fencing and gaplessness, once per INSERT or COPY statement over all its new rows: every row
-- carries the shard's current epoch, positions are exactly head + 1 .. head + n, the chain links
-- to the head, and the head advances to the last new row.
CREATE FUNCTION loh_events_sequence() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    batch record;
    cur   record;
    last_hash bytea;
BEGIN
    FOR batch IN
        SELECT shard, count(*) AS n, min(position) AS lo, max(position) AS hi,
               min(epoch) AS min_epoch, max(epoch) AS max_epoch
        FROM new_events
        GROUP BY shard
    LOOP
        SELECT epoch, head_position, head_hash INTO cur
        FROM event_shards WHERE shard = batch.shard
        FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'loh: fenced: shard % has no sequencer lease', batch.shard
                USING ERRCODE = 'LH001';
        END IF;
        IF batch.min_epoch <> cur.epoch OR batch.max_epoch <> cur.epoch THEN
            RAISE EXCEPTION 'loh: fenced: shard % is at epoch %, the append carries epoch %',
                batch.shard, cur.epoch, batch.min_epoch
                USING ERRCODE = 'LH001';
        END IF;
        -- (shard, position) is unique, so n rows spanning exactly n positions are contiguous.
        IF batch.lo <> cur.head_position + 1 OR batch.hi <> cur.head_position + batch.n THEN
            RAISE EXCEPTION 'loh: shard % head is %, the append covers % .. %',
                batch.shard, cur.head_position, batch.lo, batch.hi
                USING ERRCODE = 'LH002';
        END IF;
        IF EXISTS (
            SELECT 1
            FROM (SELECT prev_hash,
                         lag(hash) OVER (ORDER BY position) AS expected
                  FROM new_events WHERE shard = batch.shard) AS links
            WHERE prev_hash <> coalesce(expected, cur.head_hash)
        ) THEN
            RAISE EXCEPTION 'loh: shard % append does not link to the chain', batch.shard
                USING ERRCODE = 'LH002';
        END IF;
        SELECT hash INTO last_hash
        FROM new_events WHERE shard = batch.shard AND position = batch.hi;
        UPDATE event_shards
        SET head_position = batch.hi, head_hash = last_hash
        WHERE shard = batch.shard
          AND epoch = cur.epoch
          AND head_position = cur.head_position;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'loh: shard % head moved during the append', batch.shard
                USING ERRCODE = 'LH002';
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_sequence
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION loh_events_sequence();
