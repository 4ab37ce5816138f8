-- 0012 events by world: see migrations/postgres/0012_events_by_world.sql. PostgreSQL partitions
-- `events` and `command_journal` by world there; the embedded database holds one world's log, so
-- nothing changes here. The number is taken so that the same numbers keep meaning the same
-- tables in both.
SELECT 1;
