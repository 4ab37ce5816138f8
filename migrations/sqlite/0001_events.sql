-- 0001 events: the append-only, hash-chained event log of every shard, the shards' sequencer rows
-- (fencing epoch and head) and the command journal. Same meaning as postgres/0001_events.sql.
--
-- The database itself enforces the invariants of ARCHITECTURE.md:
--   * append-only: UPDATE and DELETE of `events` and `command_journal` abort;
--   * fencing: an event whose epoch is not the shard's current epoch aborts ('loh: fenced');
--   * gapless positions: an event must sit at head + 1 and link its prev_hash to the head's hash
--     ('loh: not contiguous'); inserting it advances the head.
-- Appenders write inside BEGIN IMMEDIATE, so appends are serialised and commit in position order.
-- UUIDs are 16-byte BLOBs, hashes 32-byte BLOBs.

CREATE TABLE event_shards (
    shard         TEXT    PRIMARY KEY NOT NULL,
    epoch         INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    head_position INTEGER NOT NULL DEFAULT 0 CHECK (head_position >= 0),
    head_hash     BLOB    NOT NULL
                  DEFAULT (X'0000000000000000000000000000000000000000000000000000000000000000')
                  CHECK (length(head_hash) = 32)
) STRICT;

CREATE TABLE events (
    shard          TEXT    NOT NULL,
    position       INTEGER NOT NULL CHECK (position >= 1),
    stream_id      TEXT    NOT NULL,
    stream_version INTEGER NOT NULL CHECK (stream_version >= 1),
    tick           INTEGER NOT NULL CHECK (tick >= 0),
    schema_version INTEGER NOT NULL CHECK (schema_version BETWEEN 1 AND 65535),
    event_id       BLOB    NOT NULL CHECK (length(event_id) = 16),
    correlation_id BLOB    NOT NULL CHECK (length(correlation_id) = 16),
    causation_id   BLOB    CHECK (causation_id IS NULL OR length(causation_id) = 16),
    occurred_at_us INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    payload        BLOB    NOT NULL,
    prev_hash      BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash           BLOB    NOT NULL CHECK (length(hash) = 32),
    epoch          INTEGER NOT NULL,
    PRIMARY KEY (shard, position),
    UNIQUE (event_id),
    UNIQUE (shard, stream_id, stream_version)
) STRICT;

CREATE TABLE command_journal (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    shard           TEXT    NOT NULL,
    tick            INTEGER NOT NULL CHECK (tick >= 0),
    player_id       BLOB    NOT NULL CHECK (length(player_id) = 16),
    seq             INTEGER NOT NULL CHECK (seq >= 0),
    command_id      BLOB    NOT NULL CHECK (length(command_id) = 16),
    command         BLOB    NOT NULL,
    outcome_code    TEXT,
    outcome_message TEXT,
    received_at_us  INTEGER NOT NULL,
    UNIQUE (command_id),
    UNIQUE (shard, player_id, seq),
    CHECK ((outcome_code IS NULL) = (outcome_message IS NULL))
) STRICT;

CREATE INDEX command_journal_tick_idx ON command_journal (shard, tick, id);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'loh: events is append-only: UPDATE refused');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'loh: events is append-only: DELETE refused');
END;

CREATE TRIGGER command_journal_no_update BEFORE UPDATE ON command_journal
BEGIN
    SELECT RAISE(ABORT, 'loh: command_journal is append-only: UPDATE refused');
END;

CREATE TRIGGER command_journal_no_delete BEFORE DELETE ON command_journal
BEGIN
    SELECT RAISE(ABORT, 'loh: command_journal is append-only: DELETE refused');
END;

CREATE TRIGGER event_shards_no_delete BEFORE DELETE ON event_shards
BEGIN
    SELECT RAISE(ABORT, 'loh: event_shards rows are never deleted');
END;

CREATE TRIGGER event_shards_monotonic BEFORE UPDATE ON event_shards
WHEN NEW.shard <> OLD.shard OR NEW.epoch < OLD.epoch OR NEW.head_position < OLD.head_position
BEGIN
    SELECT RAISE(ABORT, 'loh: not contiguous: epoch and head never move backwards');
END;

CREATE TRIGGER events_sequence BEFORE INSERT ON events
BEGIN
    SELECT RAISE(ABORT, 'loh: fenced: the append carries a stale epoch')
    WHERE NOT EXISTS (
        SELECT 1 FROM event_shards WHERE shard = NEW.shard AND epoch = NEW.epoch
    );
    SELECT RAISE(ABORT, 'loh: not contiguous: position is not head + 1 or does not link to the head')
    WHERE NOT EXISTS (
        SELECT 1 FROM event_shards
        WHERE shard = NEW.shard
          AND head_position + 1 = NEW.position
          AND head_hash = NEW.prev_hash
    );
END;

CREATE TRIGGER events_advance_head AFTER INSERT ON events
BEGIN
    UPDATE event_shards
    SET head_position = NEW.position, head_hash = NEW.hash
    WHERE shard = NEW.shard;
END;
