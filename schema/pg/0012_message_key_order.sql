-- pg/0012_message_key_order.sql: PostgreSQL's side of
-- schema/0012_message_key_order.sql. PostgreSQL has no message_key column
-- (it indexes the Message-ID text, schema/pg/0005_feedback.sql): nothing
-- to do; this version only records that the schemas are at the same point.
SELECT 1;
