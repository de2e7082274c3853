-- 0009_tracking_sources.sql: the sources campaigns were sent with
-- (docs/tracking.md, "Click tracking"). PostgreSQL's side,
-- schema/pg/0009_tracking_sources.sql, also adds there the webhook outbox
-- triggers SQLite has had since 0006 and the webhook sender lease that
-- several nodes need (one SQLite database has one engine).
--
-- campaign_sources: the template (subject, html, text, partials) as it
-- was when a campaign started sending, or when a transactional message
-- naming a template was created. Messages are rendered from it and clicks
-- resolved from it, so editing the template afterwards changes neither.

CREATE TABLE campaign_sources (
    campaign_id INTEGER PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
    subject     TEXT NOT NULL DEFAULT '',
    html        TEXT,
    text        TEXT,
    partials    TEXT NOT NULL DEFAULT '{}',
    taken_at    INTEGER NOT NULL
);

-- Campaigns already sending and messages already created keep the
-- template as it is now: the best there is for them.
INSERT INTO campaign_sources(campaign_id, subject, html, text, partials, taken_at)
SELECT c.id, t.subject, t.html, t.text, t.partials, CAST(strftime('%s', 'now') AS INTEGER)
FROM campaigns c JOIN templates t ON t.id = c.template_id
WHERE c.kind = 1 OR c.status IN (2, 3, 4);

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
