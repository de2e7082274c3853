-- schema/0017_campaign_purge.sql: DELETE /v1/campaigns/{id} without a long
-- transaction (docs/api.md). The delete inserts the campaign here, in one
-- short write: from then on every read hides the campaign, its receipts
-- and their events (engine/store/sqlite/store_sqlite_purge.c), and the
-- engine purges the rows in small transactions (engine/campaign/purge.c);
-- the campaign row goes last, taking its mark, counters and sources with
-- it. A restart resumes the purge of every campaign listed. Ids stay
-- unused: the tables keep AUTOINCREMENT (schema/0015). A table of its own,
-- not a column of campaigns: a handful of rows to look through, and
-- campaigns keeps the columns schema/0015 makes it again with (tests run
-- 0015 again on a database stepped back to 14; hence IF NOT EXISTS too).
CREATE TABLE IF NOT EXISTS campaign_purges (
    campaign_id INTEGER PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
    deleted_at  INTEGER NOT NULL
);
