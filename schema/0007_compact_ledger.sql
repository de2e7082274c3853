-- 0007_compact_ledger.sql: the compact ledger (docs/architecture.md, "The
-- ledger"): fewer bytes per recipient at any campaign size.
--
-- * Repeated strings are stored once in `strings` and referenced by id:
--   the recipient domain (deliveries.domain -> domain_id), and the MX
--   host, MX address, source address and TLS version of a receipt and of
--   an event (mx_host, mx_ip, source_ip, tls -> *_id). The domain stays
--   derivable from the address too (the text after its '@').
-- * Complaint reports are matched by Message-ID through a 64-bit key
--   (FNV-1a, deliveries.message_key, filled by the engine and here by its
--   SQL function edm_message_key) instead of an index on the whole text.
-- The receipts view keeps its columns. Rows of `strings` are never
-- deleted (ids are cached by writers).

CREATE TABLE strings (
    id    INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);

INSERT OR IGNORE INTO strings(value)
    SELECT domain FROM deliveries
    UNION SELECT mx_host FROM deliveries UNION SELECT mx_ip FROM deliveries
    UNION SELECT source_ip FROM deliveries UNION SELECT tls FROM deliveries
    UNION SELECT mx_host FROM delivery_events UNION SELECT mx_ip FROM delivery_events
    UNION SELECT source_ip FROM delivery_events UNION SELECT tls FROM delivery_events;
DELETE FROM strings WHERE value IS NULL OR value = '';

DROP VIEW receipts;
DROP INDEX deliveries_domain;
DROP INDEX deliveries_message_id;

ALTER TABLE deliveries ADD COLUMN domain_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN mx_host_id INTEGER;
ALTER TABLE deliveries ADD COLUMN mx_ip_id INTEGER;
ALTER TABLE deliveries ADD COLUMN source_ip_id INTEGER;
ALTER TABLE deliveries ADD COLUMN tls_id INTEGER;
ALTER TABLE deliveries ADD COLUMN message_key INTEGER;
UPDATE deliveries SET
    domain_id = (SELECT id FROM strings WHERE value = domain),
    mx_host_id = (SELECT id FROM strings WHERE value = mx_host),
    mx_ip_id = (SELECT id FROM strings WHERE value = mx_ip),
    source_ip_id = (SELECT id FROM strings WHERE value = source_ip),
    tls_id = (SELECT id FROM strings WHERE value = tls),
    message_key = edm_message_key(message_id);
ALTER TABLE deliveries DROP COLUMN domain;
ALTER TABLE deliveries DROP COLUMN mx_host;
ALTER TABLE deliveries DROP COLUMN mx_ip;
ALTER TABLE deliveries DROP COLUMN source_ip;
ALTER TABLE deliveries DROP COLUMN tls;

ALTER TABLE delivery_events ADD COLUMN mx_host_id INTEGER;
ALTER TABLE delivery_events ADD COLUMN mx_ip_id INTEGER;
ALTER TABLE delivery_events ADD COLUMN source_ip_id INTEGER;
ALTER TABLE delivery_events ADD COLUMN tls_id INTEGER;
UPDATE delivery_events SET
    mx_host_id = (SELECT id FROM strings WHERE value = mx_host),
    mx_ip_id = (SELECT id FROM strings WHERE value = mx_ip),
    source_ip_id = (SELECT id FROM strings WHERE value = source_ip),
    tls_id = (SELECT id FROM strings WHERE value = tls)
WHERE mx_host IS NOT NULL OR mx_ip IS NOT NULL OR source_ip IS NOT NULL OR tls IS NOT NULL;
ALTER TABLE delivery_events DROP COLUMN mx_host;
ALTER TABLE delivery_events DROP COLUMN mx_ip;
ALTER TABLE delivery_events DROP COLUMN source_ip;
ALTER TABLE delivery_events DROP COLUMN tls;

-- Receipts by campaign and recipient domain.
CREATE INDEX deliveries_domain ON deliveries(campaign_id, domain_id);
-- A complaint report without a VERP token is matched by the Message-ID of
-- the message it carries (the key, then the text in the row).
CREATE INDEX deliveries_message_key ON deliveries(message_key) WHERE message_key IS NOT NULL;

CREATE VIEW receipts AS
SELECT d.id, d.campaign_id, d.email,
       CASE d.status WHEN 0 THEN 'queued' WHEN 1 THEN 'deferred'
            WHEN 2 THEN 'delivered' WHEN 3 THEN 'bounced' WHEN 4 THEN 'suppressed'
            WHEN 5 THEN 'failed' ELSE 'cancelled' END AS status,
       d.attempts, d.smtp_code, d.enhanced_code, d.response, d.bounce_category,
       (SELECT value FROM strings WHERE id = d.mx_host_id) AS mx_host,
       (SELECT value FROM strings WHERE id = d.mx_ip_id) AS mx_ip,
       (SELECT value FROM strings WHERE id = d.source_ip_id) AS source_ip,
       (SELECT value FROM strings WHERE id = d.tls_id) AS tls,
       d.message_id, d.remote_queue_id,
       d.queued_at, d.first_attempt_at, d.last_attempt_at, d.delivered_at,
       d.next_attempt_at
FROM deliveries d;
