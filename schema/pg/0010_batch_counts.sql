-- pg/0010_batch_counts.sql: the campaign counters of pg/0002_campaign_counts.sql
-- kept by statement-level triggers: each INSERT, UPDATE or DELETE on
-- deliveries adds its rows' changes to campaign_counts once, grouped by
-- (campaign, state, category), from the statement's transition tables,
-- instead of two function calls and two counter writes per row
-- (docs/postgresql.md, "Operating notes"). The counters' meaning is
-- unchanged. Keys are written in order, so nodes recording at once lock
-- the counter rows in the same order.

DROP TRIGGER deliveries_count ON deliveries;
DROP FUNCTION deliveries_count();

CREATE FUNCTION edm_count_key_cat(st INTEGER, cat TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN st = 3 THEN coalesce(cat, '') ELSE '' END;
$$;

CREATE FUNCTION deliveries_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_counts(campaign_id, status, category, n)
    SELECT campaign_id, status, edm_count_key_cat(status, bounce_category), count(*)
    FROM edm_new GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (campaign_id, status, category) DO UPDATE SET n = campaign_counts.n + excluded.n;
    RETURN NULL;
END $$;

CREATE FUNCTION deliveries_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaign_counts c SET n = c.n - d.n
    FROM (SELECT campaign_id, status, edm_count_key_cat(status, bounce_category) AS category,
                 count(*) AS n
          FROM edm_old GROUP BY 1, 2, 3) d
    WHERE c.campaign_id = d.campaign_id AND c.status = d.status AND c.category = d.category;
    RETURN NULL;
END $$;

-- Every updated row leaves its old key and enters its new one: the old
-- rows counted -1 and the new +1 per key, summed, cancel out for rows whose
-- key did not change (a claim's lease, a retry time). No join of the two
-- transition tables (they have no index).
CREATE FUNCTION deliveries_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_counts(campaign_id, status, category, n)
    SELECT campaign_id, status, category, sum(d)
    FROM (SELECT campaign_id, status, edm_count_key_cat(status, bounce_category) AS category,
                 -1 AS d FROM edm_old
          UNION ALL
          SELECT campaign_id, status, edm_count_key_cat(status, bounce_category), 1
          FROM edm_new) k
    GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (campaign_id, status, category) DO UPDATE SET n = campaign_counts.n + excluded.n;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries
REFERENCING NEW TABLE AS edm_new FOR EACH STATEMENT EXECUTE FUNCTION deliveries_count_insert();
CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries
REFERENCING OLD TABLE AS edm_old FOR EACH STATEMENT EXECUTE FUNCTION deliveries_count_delete();
CREATE TRIGGER deliveries_count_update AFTER UPDATE ON deliveries
REFERENCING OLD TABLE AS edm_old NEW TABLE AS edm_new FOR EACH STATEMENT
EXECUTE FUNCTION deliveries_count_update();
