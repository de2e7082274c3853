-- schema/pg/0019_deleted_campaign_outbox.sql: PostgreSQL's dialect of
-- schema/0019_deleted_campaign_outbox.sql. A deleted campaign's events
-- waiting in the webhook outbox were posted after the delete, with
-- neither email nor campaign (its receipts were gone). The delete now
-- takes them in the same statement (engine/store/pg/store_pg_objects.c),
-- by this index. The receipts view needs no change: PostgreSQL deletes a
-- campaign's rows in the request, there is nothing marked to hide.
CREATE INDEX IF NOT EXISTS webhook_outbox_delivery ON webhook_outbox(delivery_id);
-- Posts of campaigns deleted before this migration: their receipts are
-- gone, the batch skips them now; they go, once.
DELETE FROM webhook_outbox o
WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = o.delivery_id);
