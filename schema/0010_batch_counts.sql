-- 0010_batch_counts.sql: nothing to do on SQLite. PostgreSQL's
-- pg/0010_batch_counts.sql keeps the campaign counters with statement-level
-- triggers; SQLite's row triggers (0002_campaign_counts.sql) cost no round
-- trip and stay.
SELECT 1;
