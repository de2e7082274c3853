-- 0003_ip_counters.sql: per source address counters kept across restarts
-- (engine/delivery/pool.c): the warm-up start day (unix day of the first
-- send; it was the setting "warmup:<addr>" before) and the sends of the
-- last hour and day, as "slot_start_ms:count" pairs of the sliding
-- windows (engine/delivery/shaper.h), written at most once a second.

CREATE TABLE ip_counters (
    addr       TEXT PRIMARY KEY,          -- the address, or '*' for the OS-chosen one
    first_day  INTEGER NOT NULL DEFAULT 0,
    hour       TEXT NOT NULL DEFAULT '',
    day        TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL DEFAULT 0 -- unix seconds
) WITHOUT ROWID;

INSERT INTO ip_counters (addr, first_day)
    SELECT substr(name, 8), CAST(CAST(value AS TEXT) AS INTEGER) FROM settings
    WHERE name LIKE 'warmup:%';
DELETE FROM settings WHERE name LIKE 'warmup:%';
