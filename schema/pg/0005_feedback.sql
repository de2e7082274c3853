-- pg/0005_feedback.sql: PostgreSQL's dialect of schema/0005_feedback.sql:
-- a receipt's feedback (1 complained, 2 unsubscribed) and when; an event's
-- type (NULL attempt, 1 dsn, 2 complaint, 3 unsubscribe); look-ups of a
-- returned message by its Message-ID (docs/feedback.md).

ALTER TABLE deliveries ADD COLUMN feedback INTEGER CHECK (feedback BETWEEN 1 AND 2);
ALTER TABLE deliveries ADD COLUMN feedback_at BIGINT;
ALTER TABLE delivery_events ADD COLUMN type INTEGER CHECK (type BETWEEN 1 AND 3);

CREATE INDEX delivery_events_type ON delivery_events(type, id) WHERE type IS NOT NULL;
CREATE INDEX deliveries_feedback ON deliveries(campaign_id, feedback) WHERE feedback IS NOT NULL;
CREATE INDEX deliveries_message_id ON deliveries(message_id) WHERE message_id IS NOT NULL;
