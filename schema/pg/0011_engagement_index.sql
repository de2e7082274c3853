-- schema/pg/0011_engagement_index.sql: the same index as
-- schema/0011_engagement_index.sql, for the PostgreSQL store's look-up of
-- a recipient's first open or click of a kind, class and link.
CREATE INDEX delivery_events_engagement ON delivery_events(delivery_id, type, machine, link)
    WHERE type IS NOT NULL;
