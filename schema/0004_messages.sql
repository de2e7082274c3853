-- 0004_messages.sql: transactional messages (POST /v1/messages and SMTP
-- submission, docs/api.md "Transactional messages").
--
-- A message is a campaigns row of kind 1: it carries the message's From,
-- Reply-To, pool, send_at, headers and tags, and its recipients are
-- ordinary deliveries rows (receipts, events, retries, classification,
-- suppression all unchanged). Campaign reads and lists show kind 0 only.
-- A message never goes through the campaign lifecycle (it stays draft);
-- its deliveries carry txn = 1 and are claimed by due time
-- (next_attempt_at: send_at, then the retry time) ahead of campaign ones.
-- One copy of the content per message: message_content holds either the
-- template sources (API) or the raw RFC 5322 message (SMTP).

ALTER TABLE campaigns ADD COLUMN kind INTEGER NOT NULL DEFAULT 0 CHECK (kind IN (0, 1));
ALTER TABLE deliveries ADD COLUMN txn INTEGER NOT NULL DEFAULT 0;

CREATE TABLE message_content (
    campaign_id   INTEGER PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
    source        TEXT NOT NULL CHECK (source IN ('api', 'smtp')),
    subject       TEXT,
    html          TEXT,
    text          TEXT,
    raw           BLOB,     -- SMTP: the message as received (CRLF, dot-unstuffed)
    envelope_from TEXT      -- SMTP: MAIL FROM
);

-- Messages listed newest first (kind 1 only).
CREATE INDEX campaigns_messages ON campaigns(kind, id) WHERE kind = 1;
-- The due-work claim of transactional deliveries, by due time.
CREATE INDEX deliveries_txn_due ON deliveries(next_attempt_at)
    WHERE txn = 1 AND status IN (0, 1);
