-- schema/0014_webhook_outbox_ids.sql: an event's id in a webhook batch is
-- the outbox row's id, and receivers de-duplicate by it (docs/tracking.md,
-- "Webhooks"). Without AUTOINCREMENT SQLite hands out max(rowid) + 1, so
-- once a batch was acknowledged and the outbox emptied, the next event got
-- an id a receiver had already seen (and would drop). AUTOINCREMENT never
-- reuses one. SQLite cannot add it to a table, so the table is made again
-- under its own name (it holds only the undelivered events: small), which
-- leaves the triggers that fill it (schema/0006) as they are; a rename
-- would not, since SQLite checks other tables' triggers when renaming.
CREATE TEMP TABLE webhook_outbox_keep AS SELECT * FROM main.webhook_outbox;
DROP TABLE main.webhook_outbox;
CREATE TABLE main.webhook_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    delivery_id     INTEGER NOT NULL,
    event_id        INTEGER,          -- NULL: a state without an event (failed, suppressed)
    event           TEXT NOT NULL,    -- the webhook event name
    at              INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0
);
INSERT INTO main.webhook_outbox (id, webhook_id, delivery_id, event_id, event, at, attempts,
                                 next_attempt_at)
    SELECT id, webhook_id, delivery_id, event_id, event, at, attempts, next_attempt_at
    FROM temp.webhook_outbox_keep ORDER BY id;
DROP TABLE temp.webhook_outbox_keep;
-- Ids delivered before this migration are not known (they were reused):
-- where webhooks exist, new ids start past any count of rows a database
-- can have held, the time in milliseconds (below 2^53: exact in JSON).
DELETE FROM sqlite_sequence WHERE name = 'webhook_outbox';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'webhook_outbox', max(coalesce((SELECT max(id) FROM main.webhook_outbox), 0),
                                 CAST(strftime('%s', 'now') AS INTEGER) * 1000)
    WHERE EXISTS (SELECT 1 FROM webhooks);
CREATE INDEX main.webhook_outbox_due ON webhook_outbox(webhook_id, id);
