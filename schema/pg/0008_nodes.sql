-- pg/0008_nodes.sql: PostgreSQL's dialect of schema/0008_nodes.sql: the
-- sending nodes sharing this database and the node holding each claimed
-- queued recipient (docs/postgresql.md, "Several nodes").

CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    api          TEXT,
    ips          TEXT NOT NULL DEFAULT '[]',
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

ALTER TABLE deliveries ADD COLUMN lease_node TEXT;

-- The claim of queued rows in id order (nobody's, or the claiming node's
-- own that it dropped unsent), and the leases of one node (released when
-- it is gone).
CREATE INDEX deliveries_claim ON deliveries(campaign_id, id) WHERE status = 0;
CREATE INDEX deliveries_lease ON deliveries(lease_node) WHERE lease_node IS NOT NULL;
