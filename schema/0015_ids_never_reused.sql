-- schema/0015_ids_never_reused.sql: an id the API has shown never names
-- another object later (docs/api.md, "DELETE /v1/campaigns/{id}").
-- Without AUTOINCREMENT SQLite hands out max(rowid) + 1, so deleting the
-- newest campaign (with its receipts and events), template, suppression or
-- webhook gave its ids to the next rows, and a reader of
-- GET /v1/events?after= that had passed them skipped the new events.
-- AUTOINCREMENT keeps the highest id ever used in sqlite_sequence, written
-- in the inserting transaction, so it holds across restarts and crashes.
-- The other tables with ids (strings, var_names) never delete a row;
-- webhook_outbox has had it since 0014.
--
-- SQLite cannot add AUTOINCREMENT to a table: each one is made again
-- (O(rows), once) with the same columns in the same order, the same
-- constraints and foreign keys, every row and id kept; the copy is then
-- renamed in legacy mode, which renames only that table (other tables'
-- triggers and the receipts view name these tables by name and find the
-- new ones). The migration runner turns foreign keys off while a migration
-- runs (a DROP TABLE would otherwise delete the children) and checks them
-- before it commits. Dropping a table drops its indexes and triggers: they
-- are created again below exactly as schema/0001 to 0014 left them.
-- Ids used and deleted before this migration are not known: the sequences
-- start at each table's highest id. (Run again on a table that already is
-- AUTOINCREMENT, as tests do by stepping schema_version back, its sequence
-- is carried over first: the copy only raises it.)
PRAGMA legacy_alter_table = ON;

CREATE TABLE templates_0015 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    subject    TEXT NOT NULL DEFAULT '',
    html       TEXT,
    text       TEXT,
    partials   TEXT NOT NULL DEFAULT '{}',   -- JSON object name -> source
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO sqlite_sequence(name, seq) SELECT 'templates_0015', seq FROM sqlite_sequence WHERE name = 'templates';
INSERT INTO templates_0015 SELECT * FROM templates ORDER BY id;
DROP TABLE templates;
ALTER TABLE templates_0015 RENAME TO templates;

CREATE TABLE campaigns_0015 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    template_id  INTEGER REFERENCES templates(id),
    from_addr    TEXT NOT NULL,
    reply_to     TEXT,
    pool         TEXT NOT NULL DEFAULT 'default',
    status       INTEGER NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 5),
    send_at      INTEGER,
    headers      TEXT NOT NULL DEFAULT '{}',  -- JSON object
    tags         TEXT NOT NULL DEFAULT '[]',  -- JSON array
    unsubscribe  TEXT,
    max_per_hour INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    started_at   INTEGER,
    completed_at INTEGER,
    kind         INTEGER NOT NULL DEFAULT 0 CHECK (kind IN (0, 1)),
    track        INTEGER NOT NULL DEFAULT 0
);
INSERT INTO sqlite_sequence(name, seq) SELECT 'campaigns_0015', seq FROM sqlite_sequence WHERE name = 'campaigns';
INSERT INTO campaigns_0015 SELECT * FROM campaigns ORDER BY id;
DROP TABLE campaigns;
ALTER TABLE campaigns_0015 RENAME TO campaigns;

CREATE TABLE deliveries_0015 (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id      INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    email            TEXT NOT NULL,
    vars             TEXT,                -- JSON object, NULL = {}
    status           INTEGER NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 6),
    attempts         INTEGER NOT NULL DEFAULT 0,
    smtp_code        INTEGER,
    enhanced_code    TEXT,
    response         TEXT,
    bounce_category  TEXT,
    message_id       TEXT,
    remote_queue_id  TEXT,
    queued_at        INTEGER NOT NULL,
    first_attempt_at INTEGER,
    last_attempt_at  INTEGER,
    delivered_at     INTEGER,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    txn              INTEGER NOT NULL DEFAULT 0,
    feedback         INTEGER CHECK (feedback BETWEEN 1 AND 2),
    feedback_at      INTEGER,
    opened_at        INTEGER,
    clicked_at       INTEGER,
    domain_id        INTEGER NOT NULL DEFAULT 0,
    mx_host_id       INTEGER,
    mx_ip_id         INTEGER,
    source_ip_id     INTEGER,
    tls_id           INTEGER,
    message_key      INTEGER,
    lease_node       TEXT
);
INSERT INTO sqlite_sequence(name, seq) SELECT 'deliveries_0015', seq FROM sqlite_sequence WHERE name = 'deliveries';
INSERT INTO deliveries_0015 SELECT * FROM deliveries ORDER BY id;
DROP TABLE deliveries;
ALTER TABLE deliveries_0015 RENAME TO deliveries;

CREATE TABLE delivery_events_0015 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempted_at  INTEGER NOT NULL,
    status        INTEGER NOT NULL,
    smtp_code     INTEGER,
    enhanced_code TEXT,
    response      TEXT,
    duration_ms   INTEGER,
    type          INTEGER CHECK (type BETWEEN 1 AND 5),
    url           TEXT,
    link          INTEGER,
    machine       INTEGER,
    user_agent    TEXT,
    ip            TEXT,
    mx_host_id    INTEGER,
    mx_ip_id      INTEGER,
    source_ip_id  INTEGER,
    tls_id        INTEGER
);
INSERT INTO sqlite_sequence(name, seq) SELECT 'delivery_events_0015', seq FROM sqlite_sequence WHERE name = 'delivery_events';
INSERT INTO delivery_events_0015 SELECT * FROM delivery_events ORDER BY id;
DROP TABLE delivery_events;
ALTER TABLE delivery_events_0015 RENAME TO delivery_events;

CREATE TABLE suppressions_0015 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    value      TEXT NOT NULL UNIQUE,          -- lower-case email or domain
    kind       TEXT NOT NULL CHECK (kind IN ('email', 'domain')),
    reason     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
INSERT INTO sqlite_sequence(name, seq) SELECT 'suppressions_0015', seq FROM sqlite_sequence WHERE name = 'suppressions';
INSERT INTO suppressions_0015 SELECT * FROM suppressions ORDER BY id;
DROP TABLE suppressions;
ALTER TABLE suppressions_0015 RENAME TO suppressions;

CREATE TABLE webhooks_0015 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    url        TEXT NOT NULL,
    events     INTEGER NOT NULL,
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO sqlite_sequence(name, seq) SELECT 'webhooks_0015', seq FROM sqlite_sequence WHERE name = 'webhooks';
INSERT INTO webhooks_0015 SELECT * FROM webhooks ORDER BY id;
DROP TABLE webhooks;
ALTER TABLE webhooks_0015 RENAME TO webhooks;

PRAGMA legacy_alter_table = OFF;

-- campaigns (0001, 0004)
CREATE INDEX campaigns_status ON campaigns(status, send_at);
CREATE INDEX campaigns_messages ON campaigns(kind, id) WHERE kind = 1;
-- deliveries (0001, 0004, 0005, 0007)
CREATE UNIQUE INDEX deliveries_email ON deliveries(email, campaign_id);
CREATE INDEX deliveries_status ON deliveries(campaign_id, status);
CREATE INDEX deliveries_retry ON deliveries(campaign_id, next_attempt_at)
    WHERE status = 1;
CREATE INDEX deliveries_txn_due ON deliveries(next_attempt_at)
    WHERE txn = 1 AND status IN (0, 1);
CREATE INDEX deliveries_feedback ON deliveries(campaign_id, feedback) WHERE feedback IS NOT NULL;
CREATE INDEX deliveries_domain ON deliveries(campaign_id, domain_id);
CREATE INDEX deliveries_message_key ON deliveries(message_key) WHERE message_key IS NOT NULL;
-- delivery_events (0006, 0011)
CREATE INDEX delivery_events_delivery ON delivery_events(delivery_id);
CREATE INDEX delivery_events_type ON delivery_events(type, id) WHERE type IS NOT NULL;
CREATE INDEX delivery_events_engagement ON delivery_events(delivery_id, type, machine, link)
    WHERE type IS NOT NULL;

-- triggers on campaigns (0002, 0006, 0009)
CREATE TRIGGER campaigns_count_delete AFTER DELETE ON campaigns
BEGIN
    DELETE FROM campaign_counts WHERE campaign_id = OLD.id;
END;

CREATE TRIGGER campaigns_engagement_delete AFTER DELETE ON campaigns
BEGIN
    DELETE FROM engagement_counts WHERE campaign_id = OLD.id;
END;

CREATE TRIGGER campaigns_source_start AFTER UPDATE OF status ON campaigns
WHEN NEW.status = 2 AND NEW.template_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO campaign_sources(campaign_id, subject, html, text, partials, taken_at)
    SELECT NEW.id, t.subject, t.html, t.text, t.partials, CAST(strftime('%s', 'now') AS INTEGER)
    FROM templates t WHERE t.id = NEW.template_id;
END;

CREATE TRIGGER campaigns_source_message AFTER INSERT ON campaigns
WHEN NEW.kind = 1 AND NEW.template_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO campaign_sources(campaign_id, subject, html, text, partials, taken_at)
    SELECT NEW.id, t.subject, t.html, t.text, t.partials, CAST(strftime('%s', 'now') AS INTEGER)
    FROM templates t WHERE t.id = NEW.template_id;
END;

-- triggers on deliveries (0002, 0006)
CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries
BEGIN
    INSERT INTO campaign_counts(campaign_id, status, category, n)
    VALUES (NEW.campaign_id, NEW.status,
            CASE WHEN NEW.status = 3 THEN coalesce(NEW.bounce_category, '') ELSE '' END, 1)
    ON CONFLICT (campaign_id, status, category) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER deliveries_count_update AFTER UPDATE OF status, bounce_category ON deliveries
WHEN OLD.status != NEW.status
  OR (NEW.status = 3 AND coalesce(OLD.bounce_category, '') != coalesce(NEW.bounce_category, ''))
BEGIN
    UPDATE campaign_counts SET n = n - 1
    WHERE campaign_id = OLD.campaign_id AND status = OLD.status
      AND category = CASE WHEN OLD.status = 3 THEN coalesce(OLD.bounce_category, '') ELSE '' END;
    INSERT INTO campaign_counts(campaign_id, status, category, n)
    VALUES (NEW.campaign_id, NEW.status,
            CASE WHEN NEW.status = 3 THEN coalesce(NEW.bounce_category, '') ELSE '' END, 1)
    ON CONFLICT (campaign_id, status, category) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries
BEGIN
    UPDATE campaign_counts SET n = n - 1
    WHERE campaign_id = OLD.campaign_id AND status = OLD.status
      AND category = CASE WHEN OLD.status = 3 THEN coalesce(OLD.bounce_category, '') ELSE '' END;
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

-- trigger on delivery_events (0006)
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
