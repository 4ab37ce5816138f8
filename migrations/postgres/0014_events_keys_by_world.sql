-- 0014 events keys by world: the log's three unique keys move from the partitioned `events`
-- table to each world's partition, without the `shard` column (issue 11, docs/BENCHMARKS.md
-- "The log's keys without the world's name, and the append's floor").
--
-- A unique key of a partitioned table must hold the partition key, so 0012 kept `shard` first in
-- `(shard, position)`, `(shard, event_id)` and `(shard, stream_id, stream_version)`. Inside a
-- partition `shard` is one value, so those keys say no more than `(position)`, `(event_id)` and
-- `(stream_id, stream_version)` on the partition. But every comparison in their B-trees began
-- with a text comparison of the world's name, and a variable-length first column makes
-- PostgreSQL locate each later column byte by byte (`nocache_index_getattr`): a profile of the
-- append (`loh bench append`) spent 72% of its time inserting into these indexes, a third of it
-- in `_bt_compare`.
--
-- Each world's events partition now carries:
--   * `ev_pos_<suffix>`: the primary key `(position)`: ordered reads of a world's log;
--   * `ev_id_<suffix>`: unique `(event_id)`;
--   * `ev_stream_<suffix>`: unique `(stream_id, stream_version)`: one stream's events in order.
-- Uniqueness is what it was: a row can only be in its own world's partition (there is no
-- default partition). `loh_world_keys` makes them on a world's events partition when it exists;
-- `loh_world_partitions` calls it, so a new world gets them from its first lease, and it is run
-- here for the worlds already stored. The migration creates no partition: a world moved to
-- another database (docs/SCALING.md) has had its partition detached and dropped here, and making
-- it again would take away the fence against a writer still pointed at this database.
-- The journal keeps its keys on the parent: its insert names `(shard, player_id, seq)` for
-- `ON CONFLICT`, and the same move there measured no faster (perhaps because the unnamed
-- `ON CONFLICT` that partition keys need checks the primary key too).
-- On a large log this builds each index once: a maintenance window, like 0012 and 0013.

ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events DROP CONSTRAINT events_event_id_key;
ALTER TABLE events DROP CONSTRAINT events_stream_version_key;

CREATE FUNCTION loh_world_keys(world text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    suffix text := loh_world_suffix(world);
    ev text := 'events_' || suffix;
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
