-- schema/0019_deleted_campaign_outbox.sql: what a deleted campaign still
-- left in sight while SQLite purges it in the background
-- (schema/0017_campaign_purge.sql, docs/api.md "DELETE /v1/campaigns"):
--   * its events waiting in the webhook outbox were still posted, with the
--     email and campaign of receipts the API no longer shows (and, once
--     purged, with neither). The outbox batch now skips them, and each
--     purge chunk deletes the outbox rows of the receipts it deletes: by
--     this index, not a scan of an outbox a dead endpoint let grow.
--   * the receipts view (for people at the sqlite3 prompt) listed its
--     receipts until they were purged; it hides a marked campaign as every
--     read of edm does.
-- IF [NOT] EXISTS: tests run the migrations again on a database stepped
-- back to an older version.
CREATE INDEX IF NOT EXISTS webhook_outbox_delivery ON webhook_outbox(delivery_id);
-- Posts of campaigns purged before this migration: their receipts are
-- gone, the batch skips them now; they go, once.
DELETE FROM webhook_outbox
WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = webhook_outbox.delivery_id);

DROP VIEW IF EXISTS receipts;
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
FROM deliveries d
WHERE d.campaign_id NOT IN (SELECT campaign_id FROM campaign_purges);
