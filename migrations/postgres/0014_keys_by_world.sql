-- 0014 keys by world: the unique keys of the log and of the journal move from the partitioned
-- tables to each world's partitions, without the `shard` column (issue 11, docs/BENCHMARKS.md
-- "The log's keys without the world's name, and the append's floor").
--
-- A unique key of a partitioned table must hold the partition key, so 0012 and 0013 kept `shard`
-- first in every key. Inside a partition `shard` is one value, so those keys say no more than the
-- same keys without it on the partition. But every comparison in their B-trees began with a text
-- comparison of the world's name, and a variable-length first column makes PostgreSQL locate
-- each later column byte by byte (`nocache_index_getattr`): a profile of the append (`loh bench
-- append`) spent 72% of its time inserting into the log's indexes, a third of it in
-- `_bt_compare`.
--
-- Each world's events partition now carries:
--   * `ev_pos_<suffix>`: the primary key `(position)`: ordered reads of a world's log;
--   * `ev_id_<suffix>`: unique `(event_id)`;
--   * `ev_stream_<suffix>`: unique `(stream_id, stream_version)`: one stream's events in order.
-- and each world's journal partition:
--   * `cj_pkey_<suffix>`: the primary key `(tick, id)`: the journal in the order it was decided;
--   * `cj_seq_<suffix>`: unique `(player_id, seq)`: a command is journaled once. The store's
--     insert says `ON CONFLICT DO NOTHING` without naming a key (the parent has none to name),
--     which checks every unique key of the partition; `id` is a sequence's, so that is this one.
-- Uniqueness is what it was: a row can only be in its own world's partition (there is no
-- default partition). `loh_world_keys` makes them on a world's partitions when they exist;
-- `loh_world_partitions` calls it, so a new world gets them from its first lease, and it is run
-- here for the worlds already stored. The migration creates no partition: a world moved to
-- another database (docs/SCALING.md) has had its partition detached and dropped here, and making
-- it again would take away the fence against a writer still pointed at this database.
-- On a large log this builds each key once: a maintenance window, like 0012 and 0013.

ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events DROP CONSTRAINT events_event_id_key;
ALTER TABLE events DROP CONSTRAINT events_stream_version_key;
ALTER TABLE command_journal DROP CONSTRAINT command_journal_pkey;
ALTER TABLE command_journal DROP CONSTRAINT command_journal_player_seq_key;

CREATE FUNCTION loh_world_keys(world text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    suffix text := loh_world_suffix(world);
    ev text := 'events_' || suffix;
    cj text := 'command_journal_' || suffix;
BEGIN
    IF to_regclass(format('%I', ev)) IS NOT NULL THEN
        IF to_regclass(format('%I', 'ev_pos_' || suffix)) IS NULL THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (position)',
                           ev, 'ev_pos_' || suffix);
        END IF;
        EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %I (event_id)',
                       'ev_id_' || suffix, ev);
        EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %I (stream_id, stream_version)',
                       'ev_stream_' || suffix, ev);
    END IF;
    IF to_regclass(format('%I', cj)) IS NOT NULL THEN
        IF to_regclass(format('%I', 'cj_pkey_' || suffix)) IS NULL THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (tick, id)',
                           cj, 'cj_pkey_' || suffix);
        END IF;
        EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %I (player_id, seq)',
                       'cj_seq_' || suffix, cj);
    END IF;
END;
$$;

-- 0012's function, then the keys.
CREATE OR REPLACE FUNCTION loh_world_partitions(world text) RETURNS void
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
    PERFORM loh_world_keys(world);
END;
$$;

DO $$
DECLARE
    world text;
BEGIN
    FOR world IN SELECT shard FROM event_shards ORDER BY shard LOOP
        PERFORM loh_world_keys(world);
    END LOOP;
END;
$$;
