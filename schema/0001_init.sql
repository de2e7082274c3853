-- 0001_init.sql: templates, campaigns, deliveries (one row per recipient of a
-- campaign: its variables and its receipt), delivery events (one row per
-- attempt), suppressions, settings, idempotency keys.
-- Times are unix seconds (UTC). States are small integers (engine/store.h
-- names them); the receipts view shows the names.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE templates (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    subject    TEXT NOT NULL DEFAULT '',
    html       TEXT,
    text       TEXT,
    partials   TEXT NOT NULL DEFAULT '{}',   -- JSON object name -> source
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE campaigns (
    id           INTEGER PRIMARY KEY,
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
    completed_at INTEGER
);
CREATE INDEX campaigns_status ON campaigns(status, send_at);

CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY,
    campaign_id      INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    email            TEXT NOT NULL,
    domain           TEXT NOT NULL,
    vars             TEXT,                -- JSON object, NULL = {}
    status           INTEGER NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 6),
    attempts         INTEGER NOT NULL DEFAULT 0,
    smtp_code        INTEGER,
    enhanced_code    TEXT,
    response         TEXT,
    bounce_category  TEXT,
    mx_host          TEXT,
    mx_ip            TEXT,
    source_ip        TEXT,
    tls              TEXT,
    message_id       TEXT,
    remote_queue_id  TEXT,
    queued_at        INTEGER NOT NULL,
    first_attempt_at INTEGER,
    last_attempt_at  INTEGER,
    delivered_at     INTEGER,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0
);
-- One recipient once per campaign; also serves look-ups by email.
CREATE UNIQUE INDEX deliveries_email ON deliveries(email, campaign_id);
-- Receipts by campaign and state (in id order), and the due-work claim of
-- queued rows (campaign, state 0, id after a cursor).
CREATE INDEX deliveries_status ON deliveries(campaign_id, status);
-- The due-work claim of deferred rows: only they are in it, so uploads
-- (all queued) never touch it.
CREATE INDEX deliveries_retry ON deliveries(campaign_id, next_attempt_at)
    WHERE status = 1;
-- Receipts by campaign and recipient domain.
CREATE INDEX deliveries_domain ON deliveries(campaign_id, domain);

CREATE TABLE delivery_events (
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
    duration_ms   INTEGER
);
CREATE INDEX delivery_events_delivery ON delivery_events(delivery_id);

CREATE TABLE suppressions (
    id         INTEGER PRIMARY KEY,
    value      TEXT NOT NULL UNIQUE,          -- lower-case email or domain
    kind       TEXT NOT NULL CHECK (kind IN ('email', 'domain')),
    reason     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE idempotency (
    key        TEXT PRIMARY KEY,
    status     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE VIEW receipts AS
SELECT d.id, d.campaign_id, d.email,
       CASE d.status WHEN 0 THEN 'queued' WHEN 1 THEN 'deferred'
            WHEN 2 THEN 'delivered' WHEN 3 THEN 'bounced' WHEN 4 THEN 'suppressed'
            WHEN 5 THEN 'failed' ELSE 'cancelled' END AS status,
       d.attempts, d.smtp_code, d.enhanced_code, d.response, d.bounce_category,
       d.mx_host, d.mx_ip, d.source_ip, d.tls, d.message_id, d.remote_queue_id,
       d.queued_at, d.first_attempt_at, d.last_attempt_at, d.delivered_at,
       d.next_attempt_at
FROM deliveries d;
