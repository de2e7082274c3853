-- pg/0016_message_attachments.sql: PostgreSQL's dialect of
-- schema/0016_message_attachments.sql: a transactional message's
-- attachments, one copy per message, in the order given.

CREATE TABLE message_attachments (
    campaign_id  BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BYTEA NOT NULL,
    PRIMARY KEY (campaign_id, idx)
);
