-- 0012 events by world: `events` and `command_journal` become tables partitioned by world
-- (`PARTITION BY LIST (shard)`), one partition of each per world, so a world's log is a unit an
-- operator can move to a PostgreSQL of its own, archive or drop (docs/SCALING.md, "Partitioning
-- the events table by world" and "Moving a world's log to its own PostgreSQL").
--
-- A world's partitions are created by the statement that creates its sequencer row (the first
-- lease of the shard: a trigger on `event_shards`), so no writer ever meets a missing one. There
-- is no default partition: a row for a world without partitions is refused, which is also the
-- fence when a world moves out (its partition detached).
--
-- Every invariant of 0001 holds on the partitions as on the parent:
--   * append-only: a row-level UPDATE/DELETE trigger on the parent is cloned onto every
--     partition, present and future; TRUNCATE (statement-level only) gets its trigger on each
--     partition as it is created, and on the parent;
--   * fencing and gapless positions: the sequencing trigger (0001's function) fires for
--     statements on the parent, and each partition carries it too, for a statement that names
--     the partition directly.
-- Unique keys must hold the partition key: `event_id` and `command_id` are unique per world
-- (they are random UUIDs; nothing needs them unique across worlds: NATS deduplicates per world's
-- stream, and a hop records an event in each world's log), and the journal's key is
-- `(shard, id)`.
--
-- The rows already stored are copied into the new tables, world by world in log order; on a
-- large log this migration is a maintenance window (it reads and writes the log once).

ALTER TABLE events RENAME TO events_0001;
ALTER TABLE events_0001 RENAME CONSTRAINT events_pkey TO events_0001_pkey;
ALTER TABLE events_0001 RENAME CONSTRAINT events_event_id_key TO events_0001_event_id_key;
ALTER TABLE events_0001 RENAME CONSTRAINT events_stream_version_key TO events_0001_stream_version_key;
ALTER TABLE command_journal RENAME TO command_journal_0001;
ALTER TABLE command_journal_0001 RENAME CONSTRAINT command_journal_pkey TO command_journal_0001_pkey;
ALTER TABLE command_journal_0001 RENAME CONSTRAINT command_journal_command_id_key
    TO command_journal_0001_command_id_key;
ALTER TABLE command_journal_0001 RENAME CONSTRAINT command_journal_player_seq_key
    TO command_journal_0001_player_seq_key;
ALTER INDEX command_journal_tick_idx RENAME TO command_journal_0001_tick_idx;

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
    epoch          bigint NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (shard, position),
    CONSTRAINT events_event_id_key UNIQUE (shard, event_id),
    CONSTRAINT events_stream_version_key UNIQUE (shard, stream_id, stream_version)
) PARTITION BY LIST (shard);

CREATE TABLE command_journal (
    id              bigserial,
    shard           text   NOT NULL,
    tick            bigint NOT NULL CHECK (tick >= 0),
    player_id       uuid   NOT NULL,
    seq             bigint NOT NULL CHECK (seq >= 0),
    command_id      uuid   NOT NULL,
    command         bytea  NOT NULL,
    outcome_code    text,
    outcome_message text,
    received_at_us  bigint NOT NULL,
    CONSTRAINT command_journal_pkey PRIMARY KEY (shard, id),
    CONSTRAINT command_journal_command_id_key UNIQUE (shard, command_id),
    CONSTRAINT command_journal_player_seq_key UNIQUE (shard, player_id, seq),
    CHECK ((outcome_code IS NULL) = (outcome_message IS NULL))
) PARTITION BY LIST (shard);

CREATE INDEX command_journal_tick_idx ON command_journal (shard, tick, id);

-- Append-only, on the parents and (cloned, row level) on every partition.
CREATE TRIGGER events_append_only
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change();
CREATE TRIGGER events_append_only_rows
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION loh_refuse_change();
CREATE TRIGGER command_journal_append_only
    BEFORE TRUNCATE ON command_journal
    FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change();
CREATE TRIGGER command_journal_append_only_rows
    BEFORE UPDATE OR DELETE ON command_journal
    FOR EACH ROW EXECUTE FUNCTION loh_refuse_change();

-- Fencing and gaplessness for statements on the parent (0001's function, unchanged).
CREATE TRIGGER events_sequence
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION loh_events_sequence();

-- The suffix of a world's partitions' names: the world's name with anything but letters, digits
-- and `_` replaced (40 characters at most), then 8 hex digits of its MD5, so that two names that
-- clean up alike still differ.
CREATE FUNCTION loh_world_suffix(world text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT left(regexp_replace(world, '[^a-zA-Z0-9_]', '_', 'g'), 40) || '_' || left(md5(world), 8)
$$;

-- The partitions of one world, with the triggers that do not clone: TRUNCATE, and the
-- sequencing of a statement that names the events partition itself. Idempotent.
CREATE FUNCTION loh_world_partitions(world text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    suffix text := loh_world_suffix(world);
    ev text := 'events_' || suffix;
    cj text := 'command_journal_' || suffix;
BEGIN
    IF to_regclass(format('%I', ev)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES IN (%L)', ev, world);
        EXECUTE format('CREATE TRIGGER events_append_only BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change()', ev);
        EXECUTE format('CREATE TRIGGER events_sequence AFTER INSERT ON %I '
                       'REFERENCING NEW TABLE AS new_events '
                       'FOR EACH STATEMENT EXECUTE FUNCTION loh_events_sequence()', ev);
    END IF;
    IF to_regclass(format('%I', cj)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF command_journal FOR VALUES IN (%L)',
                       cj, world);
        EXECUTE format('CREATE TRIGGER command_journal_append_only BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change()', cj);
    END IF;
END;
$$;

CREATE FUNCTION loh_event_shards_partitions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM loh_world_partitions(NEW.shard);
    RETURN NULL;
END;
$$;

CREATE TRIGGER event_shards_partitions
    AFTER INSERT ON event_shards
    FOR EACH ROW EXECUTE FUNCTION loh_event_shards_partitions();

-- The rows already stored, world by world. The copy bypasses the sequencing trigger (the rows
-- were checked when they were appended; the heads in `event_shards` already point at them) by
-- inserting into each partition with its sequencing trigger disabled for the copy.
DO $$
DECLARE
    world text;
    suffix text;
BEGIN
    FOR world IN SELECT shard FROM event_shards ORDER BY shard LOOP
        PERFORM loh_world_partitions(world);
        suffix := loh_world_suffix(world);
        EXECUTE format('ALTER TABLE %I DISABLE TRIGGER events_sequence', 'events_' || suffix);
        EXECUTE format('INSERT INTO %I SELECT * FROM events_0001 WHERE shard = %L '
                       'ORDER BY position', 'events_' || suffix, world);
        EXECUTE format('ALTER TABLE %I ENABLE TRIGGER events_sequence', 'events_' || suffix);
        EXECUTE format('INSERT INTO %I SELECT * FROM command_journal_0001 WHERE shard = %L '
                       'ORDER BY id', 'command_journal_' || suffix, world);
    END LOOP;
END;
$$;
SELECT setval(pg_get_serial_sequence('command_journal', 'id'),
              greatest((SELECT max(id) FROM command_journal_0001), 1));

-- Every row moved (a row of a world without a sequencer row would have no partition: there is
-- none, since appends need the row), then the old tables go, triggers and all.
DO $$
BEGIN
    IF (SELECT count(*) FROM events) <> (SELECT count(*) FROM events_0001)
       OR (SELECT count(*) FROM command_journal) <> (SELECT count(*) FROM command_journal_0001) THEN
        RAISE EXCEPTION 'loh: 0012 did not move every row of the log';
    END IF;
END;
$$;
DROP TABLE events_0001;
DROP TABLE command_journal_0001;
