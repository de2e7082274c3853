-- 0012_message_key_order.sql: deliveries.message_key (schema/0007) becomes
-- a key that follows the time of sending for the Message-IDs edm makes
-- ("<hex ms>.<hex counter>.<hex>@domain": the milliseconds, then 20 bits
-- of the text's hash), other Message-IDs keep the 64-bit hash
-- (engine/store/sqlite/store_sqlite_strings.c, docs/architecture.md "The
-- ledger"). A hash put every recorded row at a random place of the index:
-- past a few million rows each one cost a page read and a page written to
-- the WAL. Keys in sending order are appended at the index's right edge.
-- The function edm_message_key is the new one: existing keys are redone.
UPDATE deliveries SET message_key = edm_message_key(message_id)
WHERE message_id IS NOT NULL;
