-- pg/0002_campaign_counts.sql: PostgreSQL's dialect of
-- schema/0002_campaign_counts.sql: counters of recipients per campaign,
-- delivery state and bounce category (docs/architecture.md, "Counters"),
-- kept by triggers on deliveries in the transaction of every write.

CREATE TABLE campaign_counts (
    campaign_id BIGINT NOT NULL,
    status      INTEGER NOT NULL,
    category    TEXT NOT NULL DEFAULT '',
    n           BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, status, category)
);

INSERT INTO campaign_counts(campaign_id, status, category, n)
SELECT campaign_id, status,
       CASE WHEN status = 3 THEN coalesce(bounce_category, '') ELSE '' END, count(*)
FROM deliveries GROUP BY 1, 2, 3;

CREATE FUNCTION edm_count_add(cid BIGINT, st INTEGER, cat TEXT, d BIGINT) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO campaign_counts(campaign_id, status, category, n)
    VALUES (cid, st, CASE WHEN st = 3 THEN coalesce(cat, '') ELSE '' END, d)
    ON CONFLICT (campaign_id, status, category) DO UPDATE SET n = campaign_counts.n + d;
$$;

CREATE FUNCTION edm_count_sub(cid BIGINT, st INTEGER, cat TEXT) RETURNS void
LANGUAGE sql AS $$
    UPDATE campaign_counts SET n = n - 1
    WHERE campaign_id = cid AND status = st
      AND category = CASE WHEN st = 3 THEN coalesce(cat, '') ELSE '' END;
$$;

CREATE FUNCTION deliveries_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM edm_count_add(NEW.campaign_id, NEW.status, NEW.bounce_category, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM edm_count_sub(OLD.campaign_id, OLD.status, OLD.bounce_category);
    ELSIF OLD.status IS DISTINCT FROM NEW.status
       OR (NEW.status = 3 AND coalesce(OLD.bounce_category, '') <> coalesce(NEW.bounce_category, '')) THEN
        PERFORM edm_count_sub(OLD.campaign_id, OLD.status, OLD.bounce_category);
        PERFORM edm_count_add(NEW.campaign_id, NEW.status, NEW.bounce_category, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_count AFTER INSERT OR DELETE OR UPDATE OF status, bounce_category
ON deliveries FOR EACH ROW EXECUTE FUNCTION deliveries_count();

CREATE FUNCTION campaigns_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM campaign_counts WHERE campaign_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER campaigns_count_delete AFTER DELETE ON campaigns
FOR EACH ROW EXECUTE FUNCTION campaigns_count_delete();
