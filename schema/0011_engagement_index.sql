-- schema/0011_engagement_index.sql: opens and clicks of one recipient found
-- by an index (engine/store/sqlite/store_sqlite_tracking.c, "first_of"):
-- whether an event is the recipient's first of its kind, class and link
-- is one index probe instead of a walk over all of that recipient's
-- events. Partial: attempts (type NULL) are not in it, so the sending path
-- pays nothing for it.
CREATE INDEX delivery_events_engagement ON delivery_events(delivery_id, type, machine, link)
    WHERE type IS NOT NULL;
