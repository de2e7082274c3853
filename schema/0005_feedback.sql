-- 0005_feedback.sql: what comes back after sending (docs/feedback.md):
-- a receipt's feedback (complained or unsubscribed) and when; an event's
-- type (NULL for the attempts the pipeline records, so the hot path writes
-- nothing new); look-ups of a returned message by its Message-ID.
-- deliveries.feedback: NULL none, 1 complained, 2 unsubscribed.
-- delivery_events.type: NULL attempt, 1 dsn, 2 complaint, 3 unsubscribe.

ALTER TABLE deliveries ADD COLUMN feedback INTEGER CHECK (feedback BETWEEN 1 AND 2);
ALTER TABLE deliveries ADD COLUMN feedback_at INTEGER;
ALTER TABLE delivery_events ADD COLUMN type INTEGER CHECK (type BETWEEN 1 AND 3);

-- The events feed filtered by type (GET /v1/events?type=dsn): only the
-- rare non-attempt events are in it.
CREATE INDEX delivery_events_type ON delivery_events(type, id) WHERE type IS NOT NULL;
-- Receipts filtered by feedback, and the stats' complaint count.
CREATE INDEX deliveries_feedback ON deliveries(campaign_id, feedback) WHERE feedback IS NOT NULL;
-- A complaint report without a VERP token is matched by the Message-ID of
-- the message it carries.
CREATE INDEX deliveries_message_id ON deliveries(message_id) WHERE message_id IS NOT NULL;
