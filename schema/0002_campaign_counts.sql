-- 0002_campaign_counts.sql: counters of recipients per campaign, delivery
-- state and bounce category, so that a campaign's stats, its progress and
-- "is anything pending" are a few primary-key reads at any campaign size
-- (docs/architecture.md, "Counters"), never a GROUP BY over its rows.
--
-- Kept by triggers on deliveries, so every writer (upload, outcomes,
-- cancel, a later DSN turning delivered into bounced, a campaign deleted)
-- updates them in its own transaction, with nothing to forget.
-- `category` is the bounce category of bounced recipients (status 3) and
-- '' for every other state: the stats' categories count bounced only.
-- Existing databases: the counters are backfilled from the rows.

CREATE TABLE campaign_counts (
    campaign_id INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    category    TEXT NOT NULL DEFAULT '',
    n           INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, status, category)
) WITHOUT ROWID;

INSERT INTO campaign_counts(campaign_id, status, category, n)
SELECT campaign_id, status,
       CASE WHEN status = 3 THEN coalesce(bounce_category, '') ELSE '' END, count(*)
FROM deliveries GROUP BY 1, 2, 3;

CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries
BEGIN
    INSERT INTO campaign_counts(campaign_id, status, category, n)
    VALUES (NEW.campaign_id, NEW.status,
            CASE WHEN NEW.status = 3 THEN coalesce(NEW.bounce_category, '') ELSE '' END, 1)
    ON CONFLICT (campaign_id, status, category) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER deliveries_count_update AFTER UPDATE OF status, bounce_category ON deliveries
WHEN OLD.status != NEW.status
  OR (NEW.status = 3 AND coalesce(OLD.bounce_category, '') != coalesce(NEW.bounce_category, ''))
BEGIN
    UPDATE campaign_counts SET n = n - 1
    WHERE campaign_id = OLD.campaign_id AND status = OLD.status
      AND category = CASE WHEN OLD.status = 3 THEN coalesce(OLD.bounce_category, '') ELSE '' END;
    INSERT INTO campaign_counts(campaign_id, status, category, n)
    VALUES (NEW.campaign_id, NEW.status,
            CASE WHEN NEW.status = 3 THEN coalesce(NEW.bounce_category, '') ELSE '' END, 1)
    ON CONFLICT (campaign_id, status, category) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries
BEGIN
    UPDATE campaign_counts SET n = n - 1
    WHERE campaign_id = OLD.campaign_id AND status = OLD.status
      AND category = CASE WHEN OLD.status = 3 THEN coalesce(OLD.bounce_category, '') ELSE '' END;
END;

CREATE TRIGGER campaigns_count_delete AFTER DELETE ON campaigns
BEGIN
    DELETE FROM campaign_counts WHERE campaign_id = OLD.id;
END;
