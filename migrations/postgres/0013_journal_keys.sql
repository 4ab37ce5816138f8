-- 0013 journal keys: the command journal keeps two indexes instead of four. Under a crowd of
-- 2,500 players its INSERT was a third of the tick's append time in PostgreSQL (issue 11,
-- docs/BENCHMARKS.md "The journal's indexes").
--
--   * The unique `(shard, command_id)` goes. A command's id is derived from its world, player
--     and seq (`loh_world::step::command_id`; a tick's inputs use `inputs_id` with seq = tick),
--     and `command_journal_player_seq_key` keeps `(shard, player_id, seq)` unique, so the ids
--     stay unique without a random-UUID index that every command's row touched at a random page.
--   * The primary key becomes `(shard, tick, id)` and replaces `command_journal_tick_idx`, which
--     served the same read (a world's journal from a tick on, in the order it was decided).
--
-- On a large journal this rebuilds the primary key once: a maintenance window, like 0012.

ALTER TABLE command_journal DROP CONSTRAINT command_journal_command_id_key;
ALTER TABLE command_journal DROP CONSTRAINT command_journal_pkey;
DROP INDEX command_journal_tick_idx;
ALTER TABLE command_journal ADD CONSTRAINT command_journal_pkey PRIMARY KEY (shard, tick, id);
