-- 0006_tracking.sql: opens, clicks and webhooks (docs/tracking.md).
--
-- campaigns.track: bit 1 opens, bit 2 clicks (campaigns and transactional
-- messages alike). deliveries.opened_at / clicked_at: the first open and
-- click of any kind. delivery_events gains the types 4 open and 5 click,
-- with the click's url and link index and the machine flag; SQLite cannot
-- widen a CHECK, so the table is rebuilt (ids, and so the /v1/events
-- cursors, are kept).
--
-- Engagement counters per campaign, kept by the store's engagement write
-- in its transaction: what 0 opens, 1 clicks; link -1 for opens, the link
-- index for clicks; machine 0 or 1; total events and unique recipients.
--
-- Webhooks and their durable outbox: a trigger on delivery_events (and one
-- on deliveries for the states that have no event: failed, suppressed)
-- queues one outbox row per subscribed webhook in the writer's own
-- transaction, so no writer can forget it; with no webhook the triggers'
-- WHEN is one cheap look-up. Webhook event bits: 1 delivered, 2 deferred,
-- 4 bounced, 8 failed, 16 suppressed, 32 complained, 64 unsubscribed,
-- 128 open, 256 click.

ALTER TABLE campaigns ADD COLUMN track INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN opened_at INTEGER;
ALTER TABLE deliveries ADD COLUMN clicked_at INTEGER;

CREATE TABLE delivery_events_new (
    id            INTEGER PRIMARY KEY,
    delivery_id   INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempted_at  INTEGER NOT NULL,
    status        INTEGER NOT NULL,
    smtp_code     INTEGER,
    enhanced_code TEXT,
    response      TEXT,
    mx_host       TEXT,
    mx_ip         TEXT,
    source_ip     TEXT,
    tls           TEXT,
    duration_ms   INTEGER,
    type          INTEGER CHECK (type BETWEEN 1 AND 5),
    url           TEXT,
    link          INTEGER,
    machine       INTEGER,
    user_agent    TEXT,
    ip            TEXT
);
INSERT INTO delivery_events_new(id, delivery_id, attempted_at, status, smtp_code, enhanced_code,
                                response, mx_host, mx_ip, source_ip, tls, duration_ms, type)
SELECT id, delivery_id, attempted_at, status, smtp_code, enhanced_code, response, mx_host,
       mx_ip, source_ip, tls, duration_ms, type FROM delivery_events;
DROP TABLE delivery_events;
ALTER TABLE delivery_events_new RENAME TO delivery_events;
CREATE INDEX delivery_events_delivery ON delivery_events(delivery_id);
CREATE INDEX delivery_events_type ON delivery_events(type, id) WHERE type IS NOT NULL;

CREATE TABLE engagement_counts (
    campaign_id INTEGER NOT NULL,
    what        INTEGER NOT NULL,
    link        INTEGER NOT NULL,
    machine     INTEGER NOT NULL,
    total       INTEGER NOT NULL DEFAULT 0,
    uniq        INTEGER NOT NULL DEFAULT 0,
    url         TEXT,
    PRIMARY KEY (campaign_id, what, link, machine)
) WITHOUT ROWID;

CREATE TRIGGER campaigns_engagement_delete AFTER DELETE ON campaigns
BEGIN
    DELETE FROM engagement_counts WHERE campaign_id = OLD.id;
END;

CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    url        TEXT NOT NULL,
    events     INTEGER NOT NULL,
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE webhook_outbox (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    delivery_id     INTEGER NOT NULL,
    event_id        INTEGER,          -- NULL: a state without an event (failed, suppressed)
    event           TEXT NOT NULL,    -- the webhook event name
    at              INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(webhook_id, id);

CREATE TRIGGER delivery_events_outbox AFTER INSERT ON delivery_events
WHEN EXISTS (SELECT 1 FROM webhooks)
BEGIN
    INSERT INTO webhook_outbox(webhook_id, delivery_id, event_id, event, at)
    SELECT w.id, NEW.delivery_id, NEW.id, ev.name, NEW.attempted_at
    FROM webhooks w,
         (SELECT CASE coalesce(NEW.type, 0)
                   WHEN 0 THEN CASE NEW.status WHEN 2 THEN 'delivered' WHEN 1 THEN 'deferred'
                                               WHEN 3 THEN 'bounced' END
                   WHEN 1 THEN CASE NEW.status WHEN 3 THEN 'bounced' WHEN 1 THEN 'deferred' END
                   WHEN 2 THEN 'complained' WHEN 3 THEN 'unsubscribed'
                   WHEN 4 THEN 'open' WHEN 5 THEN 'click' END AS name,
                 CASE coalesce(NEW.type, 0)
                   WHEN 0 THEN CASE NEW.status WHEN 2 THEN 1 WHEN 1 THEN 2 WHEN 3 THEN 4 ELSE 0 END
                   WHEN 1 THEN CASE NEW.status WHEN 3 THEN 4 WHEN 1 THEN 2 ELSE 0 END
                   WHEN 2 THEN 32 WHEN 3 THEN 64 WHEN 4 THEN 128 WHEN 5 THEN 256
                   ELSE 0 END AS bit) ev
    WHERE ev.name IS NOT NULL AND (w.events & ev.bit) != 0;
END;

CREATE TRIGGER deliveries_outbox AFTER UPDATE OF status ON deliveries
WHEN OLD.status != NEW.status AND NEW.status IN (4, 5) AND EXISTS (SELECT 1 FROM webhooks)
BEGIN
    INSERT INTO webhook_outbox(webhook_id, delivery_id, event, at)
    SELECT w.id, NEW.id, CASE NEW.status WHEN 4 THEN 'suppressed' ELSE 'failed' END,
           coalesce(NEW.last_attempt_at, CAST(strftime('%s', 'now') AS INTEGER))
    FROM webhooks w
    WHERE (w.events & CASE NEW.status WHEN 4 THEN 16 ELSE 8 END) != 0;
END;

CREATE TRIGGER deliveries_outbox_insert AFTER INSERT ON deliveries
WHEN NEW.status = 4 AND EXISTS (SELECT 1 FROM webhooks)
BEGIN
    INSERT INTO webhook_outbox(webhook_id, delivery_id, event, at)
    SELECT w.id, NEW.id, 'suppressed', NEW.queued_at FROM webhooks w WHERE (w.events & 16) != 0;
END;
