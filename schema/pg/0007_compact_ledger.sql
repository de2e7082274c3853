-- pg/0007_compact_ledger.sql: PostgreSQL's side of schema/0007_compact_ledger.sql.
-- The compact ledger is SQLite's saving of bytes per recipient (repeated
-- strings stored once, Message-IDs found through a 64-bit key). PostgreSQL
-- keeps the text columns of 0001 (its pages compress and its btree
-- deduplicates repeated keys), and finds Message-IDs through the index of
-- pg/0005_feedback.sql; the receipts keep the same columns on both. This
-- version only records that the schemas are at the same point.

COMMENT ON TABLE deliveries IS
    'one row per recipient; text columns (schema/pg/0007_compact_ledger.sql)';
