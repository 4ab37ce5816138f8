-- Issue 11: the command journal as one row per tick (PostgreSQL only).
--
-- A journal row per command cost a spread tick of 10,000 commands about 60 ms of PostgreSQL time
-- (a heap row and two index entries each, one of them on a random-looking player id), a quarter
-- of the tick's append. From this migration on, each tick's journal is one row of
-- `command_journal_ticks`: the entries encoded together (`journal`, decoded by
-- `loh_journal_entries` below and by `loh_events::pg`), and each entry's player and seq apart
-- (`seqs`), so a writer's start finds every player's last seq without reading the commands.
--
-- The rows of `command_journal` written before stay where they are and are read as before; a
-- world's ticks after the upgrade all come after them. `(player, seq)` is no longer unique in the
-- database: the tick writer refuses a seq at or below a player's last one (loaded from here at
-- every start and rebuild), and a batch retried after a COMMIT it did not hear of meets its own
-- row (`command_journal_ticks_retry_key`) and is stored once.

CREATE TABLE command_journal_ticks (
    -- Insertion order, for a tick journaled in more than one batch.
    id           bigserial,
    shard        text   NOT NULL,
    tick         bigint NOT NULL CHECK (tick >= 0),
    -- The first entry's player and seq: what a retried batch has in common with its first try.
    first_player uuid   NOT NULL,
    first_seq    bigint NOT NULL CHECK (first_seq >= 0),
    entries      int    NOT NULL CHECK (entries >= 1),
    -- Each entry's player (16 bytes) and seq (8 bytes, big-endian), in order.
    seqs         bytea  NOT NULL CHECK (octet_length(seqs) = 24 * entries),
    -- The entries in order, format 1 (all integers big-endian):
    --   byte 1, then per entry: command_id (16) player_id (16) seq (8) received_at_us (8)
    --   command length (4) command; outcome byte 0 (accepted) or 1 (rejected) followed by
    --   code length (4) code, message length (4) message (UTF-8).
    journal      bytea  NOT NULL CHECK (get_byte(journal, 0) = 1),
    CONSTRAINT command_journal_ticks_pkey PRIMARY KEY (shard, tick, id),
    CONSTRAINT command_journal_ticks_retry_key UNIQUE (shard, tick, first_player, first_seq)
) PARTITION BY LIST (shard);

CREATE TRIGGER command_journal_ticks_append_only
    BEFORE TRUNCATE ON command_journal_ticks
    FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change();
CREATE TRIGGER command_journal_ticks_append_only_rows
    BEFORE UPDATE OR DELETE ON command_journal_ticks
    FOR EACH ROW EXECUTE FUNCTION loh_refuse_change();

-- One world's partition: `journal` is stored uncompressed (its bytes are mostly ids that do not
-- compress, and compressing a megabyte a tick costs the writer's transaction milliseconds).
CREATE FUNCTION loh_journal_ticks_partition(world text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    jt text := 'journal_ticks_' || loh_world_suffix(world);
BEGIN
    IF to_regclass(format('%I', jt)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF command_journal_ticks FOR VALUES IN (%L)',
                       jt, world);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN journal SET STORAGE EXTERNAL', jt);
        EXECUTE format('CREATE TRIGGER command_journal_ticks_append_only BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION loh_refuse_change()', jt);
    END IF;
END;
$$;

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
    PERFORM loh_journal_ticks_partition(world);
END;
$$;

DO $$
DECLARE
    world text;
BEGIN
    -- Only worlds whose log is here: a world moved to another database (its partitions
    -- detached and dropped) gets none back, as in 0014.
    FOR world IN SELECT shard FROM event_shards ORDER BY shard LOOP
        IF to_regclass(format('%I', 'events_' || loh_world_suffix(world))) IS NOT NULL THEN
            PERFORM loh_journal_ticks_partition(world);
        END IF;
    END LOOP;
END;
$$;

-- The entries of one `journal` value, in order: for investigators and analysts in SQL.
CREATE FUNCTION loh_journal_entries(journal bytea)
RETURNS TABLE (ord int, command_id uuid, player_id uuid, seq bigint, received_at_us bigint,
               command bytea, outcome_code text, outcome_message text)
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    p int := 1;   -- 0-based offset of the next byte
    n int;
    total int := octet_length(journal);
BEGIN
    IF total < 1 OR get_byte(journal, 0) <> 1 THEN
        RAISE EXCEPTION 'loh: a journal value of an unknown format' USING ERRCODE = 'LH004';
    END IF;
    ord := 0;
    WHILE p < total LOOP
        ord := ord + 1;
        command_id := encode(substring(journal FROM p + 1 FOR 16), 'hex')::uuid;
        player_id := encode(substring(journal FROM p + 17 FOR 16), 'hex')::uuid;
        seq := ('x' || encode(substring(journal FROM p + 33 FOR 8), 'hex'))::bit(64)::bigint;
        received_at_us := ('x' || encode(substring(journal FROM p + 41 FOR 8), 'hex'))::bit(64)::bigint;
        n := ('x' || encode(substring(journal FROM p + 49 FOR 4), 'hex'))::bit(32)::int;
        command := substring(journal FROM p + 53 FOR n);
        p := p + 52 + n;
        IF get_byte(journal, p) = 0 THEN
            outcome_code := NULL;
            outcome_message := NULL;
            p := p + 1;
        ELSE
            n := ('x' || encode(substring(journal FROM p + 2 FOR 4), 'hex'))::bit(32)::int;
            outcome_code := convert_from(substring(journal FROM p + 6 FOR n), 'UTF8');
            p := p + 5 + n;
            n := ('x' || encode(substring(journal FROM p + 1 FOR 4), 'hex'))::bit(32)::int;
            outcome_message := convert_from(substring(journal FROM p + 5 FOR n), 'UTF8');
            p := p + 4 + n;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- Every journal entry, the rows from before this migration and the ticks' entries after, one
-- row per command as `command_journal` had them (without its `id`).
CREATE VIEW command_journal_entries AS
    SELECT shard, tick, player_id, seq, command_id, command, outcome_code, outcome_message,
           received_at_us
    FROM command_journal
    UNION ALL
    SELECT t.shard, t.tick, e.player_id, e.seq, e.command_id, e.command, e.outcome_code,
           e.outcome_message, e.received_at_us
    FROM command_journal_ticks AS t, LATERAL loh_journal_entries(t.journal) AS e;
