-- pg/0003_ip_counters.sql: PostgreSQL's dialect of schema/0003_ip_counters.sql:
-- per source address warm-up start day and sliding-window counts.

CREATE TABLE ip_counters (
    addr       TEXT PRIMARY KEY,
    first_day  BIGINT NOT NULL DEFAULT 0,
    hour       TEXT NOT NULL DEFAULT '',
    day        TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL DEFAULT 0
);

INSERT INTO ip_counters (addr, first_day)
    SELECT substr(name, 8), CAST(convert_from(value, 'UTF8') AS BIGINT) FROM settings
    WHERE name LIKE 'warmup:%';
DELETE FROM settings WHERE name LIKE 'warmup:%';
