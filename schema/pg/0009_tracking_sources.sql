-- pg/0009_tracking_sources.sql: engagement tracking and webhooks on
-- PostgreSQL (docs/tracking.md, docs/postgresql.md), completing
-- pg/0006_tracking.sql, and the sources campaigns were sent with (both
-- dialects; schema/0009_tracking_sources.sql is SQLite's side).
--
-- The outbox is filled in the writer's own transaction, as on SQLite
-- (schema/0006_tracking.sql): a statement trigger on delivery_events (one
-- call per batch of events, reading the inserted rows from its transition
-- table) and row triggers on deliveries for the states without an event
-- (failed, suppressed). Webhook event bits: 1 delivered, 2 deferred,
-- 4 bounced, 8 failed, 16 suppressed, 32 complained, 64 unsubscribed,
-- 128 open, 256 click.
--
-- Several nodes share the outbox: webhooks.sender_node / sender_until is
-- the lease of the node posting that webhook's current batch (taken when
-- it reads a batch, given back by its acknowledgement or retry, free when
-- it expires), so two nodes never post a webhook's events at once and the
-- order per receipt holds.
--
-- campaign_sources: the template (subject, html, text, partials) as it
-- was when a campaign started sending, or when a transactional message
-- naming a template was created. Messages are rendered from it and clicks
-- resolved from it, so editing the template afterwards changes neither.

CREATE FUNCTION edm_outbox_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_outbox(webhook_id, delivery_id, event_id, event, at)
    SELECT w.id, ev.delivery_id, ev.id, ev.name, ev.attempted_at
    FROM (SELECT n.id, n.delivery_id, n.attempted_at,
                 CASE coalesce(n.type, 0)
                   WHEN 0 THEN CASE n.status WHEN 2 THEN 'delivered' WHEN 1 THEN 'deferred'
                                             WHEN 3 THEN 'bounced' END
                   WHEN 1 THEN CASE n.status WHEN 3 THEN 'bounced' WHEN 1 THEN 'deferred' END
                   WHEN 2 THEN 'complained' WHEN 3 THEN 'unsubscribed'
                   WHEN 4 THEN 'open' WHEN 5 THEN 'click' END AS name,
                 CASE coalesce(n.type, 0)
                   WHEN 0 THEN CASE n.status WHEN 2 THEN 1 WHEN 1 THEN 2 WHEN 3 THEN 4 ELSE 0 END
                   WHEN 1 THEN CASE n.status WHEN 3 THEN 4 WHEN 1 THEN 2 ELSE 0 END
                   WHEN 2 THEN 32 WHEN 3 THEN 64 WHEN 4 THEN 128 WHEN 5 THEN 256
                   ELSE 0 END AS bit
          FROM new_events n) ev
    JOIN webhooks w ON (w.events & ev.bit) != 0
    WHERE ev.name IS NOT NULL
    ORDER BY ev.id, w.id;
    RETURN NULL;
END $$;

CREATE TRIGGER delivery_events_outbox AFTER INSERT ON delivery_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION edm_outbox_events();

CREATE FUNCTION edm_outbox_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_outbox(webhook_id, delivery_id, event, at)
    SELECT w.id, NEW.id, CASE NEW.status WHEN 4 THEN 'suppressed' ELSE 'failed' END,
           CASE WHEN TG_OP = 'INSERT' THEN NEW.queued_at
                ELSE coalesce(NEW.last_attempt_at, extract(epoch FROM now())::bigint) END
    FROM webhooks w
    WHERE (w.events & CASE NEW.status WHEN 4 THEN 16 ELSE 8 END) != 0
    ORDER BY w.id;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_outbox AFTER UPDATE OF status ON deliveries
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN (4, 5))
    EXECUTE FUNCTION edm_outbox_state();

CREATE TRIGGER deliveries_outbox_insert AFTER INSERT ON deliveries
    FOR EACH ROW WHEN (NEW.status = 4)
    EXECUTE FUNCTION edm_outbox_state();

ALTER TABLE webhooks ADD COLUMN sender_node TEXT;
ALTER TABLE webhooks ADD COLUMN sender_until BIGINT NOT NULL DEFAULT 0;

CREATE TABLE campaign_sources (
    campaign_id BIGINT PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
    subject     TEXT NOT NULL DEFAULT '',
    html        TEXT,
    text        TEXT,
    partials    TEXT NOT NULL DEFAULT '{}',
    taken_at    BIGINT NOT NULL
);

-- Campaigns already sending and messages already created keep the
-- template as it is now: the best there is for them.
INSERT INTO campaign_sources(campaign_id, subject, html, text, partials, taken_at)
SELECT c.id, t.subject, t.html, t.text, t.partials, extract(epoch FROM now())::bigint
FROM campaigns c JOIN templates t ON t.id = c.template_id
WHERE c.kind = 1 OR c.status IN (2, 3, 4);

CREATE FUNCTION edm_campaign_source() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_sources(campaign_id, subject, html, text, partials, taken_at)
    SELECT NEW.id, t.subject, t.html, t.text, t.partials, extract(epoch FROM now())::bigint
    FROM templates t WHERE t.id = NEW.template_id
    ON CONFLICT (campaign_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER campaigns_source_start AFTER UPDATE OF status ON campaigns
    FOR EACH ROW WHEN (NEW.status = 2 AND NEW.template_id IS NOT NULL)
    EXECUTE FUNCTION edm_campaign_source();

CREATE TRIGGER campaigns_source_message AFTER INSERT ON campaigns
    FOR EACH ROW WHEN (NEW.kind = 1 AND NEW.template_id IS NOT NULL)
    EXECUTE FUNCTION edm_campaign_source();
