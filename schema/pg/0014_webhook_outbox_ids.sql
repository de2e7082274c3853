-- schema/pg/0014_webhook_outbox_ids.sql: the counterpart of
-- schema/0014_webhook_outbox_ids.sql, which makes SQLite's outbox ids
-- never reused (receivers de-duplicate webhook events by them). Here the
-- id is an identity column, whose sequence never hands a value out twice:
-- nothing to change but to say so.
COMMENT ON COLUMN webhook_outbox.id IS
    'the event id in webhook batches; from a sequence, never reused';
