-- schema/pg/0015_ids_never_reused.sql: the counterpart of
-- schema/0015_ids_never_reused.sql, which makes SQLite's ids of templates,
-- campaigns (and transactional messages), receipts, events, suppressions
-- and webhooks never reused once their rows are deleted. Here every one is
-- an identity column, whose sequence never hands a value out twice (and
-- `edm migrate --to` starts them past the highest id SQLite had used):
-- nothing to change but to say so.
COMMENT ON COLUMN templates.id IS 'from a sequence, never reused';
COMMENT ON COLUMN campaigns.id IS 'from a sequence, never reused';
COMMENT ON COLUMN deliveries.id IS 'the receipt id; from a sequence, never reused';
COMMENT ON COLUMN delivery_events.id IS 'the /v1/events cursor; from a sequence, never reused';
COMMENT ON COLUMN suppressions.id IS 'from a sequence, never reused';
COMMENT ON COLUMN webhooks.id IS 'from a sequence, never reused';
