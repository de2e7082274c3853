-- schema/pg/0017_campaign_purge.sql: the counterpart of
-- schema/0017_campaign_purge.sql, which lets SQLite delete a campaign in
-- the background. PostgreSQL deletes a campaign with its rows in one
-- statement, which does not hold up its other connections: nothing to
-- change but to say so. (`edm migrate --to` purges what SQLite has marked
-- before it copies: engine/store/pg/store_pg_copy.c.)
COMMENT ON TABLE campaigns IS
    'DELETE /v1/campaigns/{id} deletes the row with its deliveries and events in one statement';
