-- pg/0004_messages.sql: PostgreSQL's dialect of schema/0004_messages.sql:
-- transactional messages as campaigns rows of kind 1, their deliveries
-- with txn = 1, one copy of the content in message_content.

ALTER TABLE campaigns ADD COLUMN kind INTEGER NOT NULL DEFAULT 0 CHECK (kind IN (0, 1));
ALTER TABLE deliveries ADD COLUMN txn INTEGER NOT NULL DEFAULT 0;

CREATE TABLE message_content (
    campaign_id   BIGINT PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
    source        TEXT NOT NULL CHECK (source IN ('api', 'smtp')),
    subject       TEXT,
    html          TEXT,
    text          TEXT,
    raw           BYTEA,
    envelope_from TEXT
);

CREATE INDEX campaigns_messages ON campaigns(kind, id) WHERE kind = 1;
CREATE INDEX deliveries_txn_due ON deliveries(next_attempt_at)
    WHERE txn = 1 AND status IN (0, 1);
