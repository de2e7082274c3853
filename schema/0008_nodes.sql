-- 0008_nodes.sql: the sending nodes sharing this database
-- (docs/postgresql.md): one row per node (its id, API address, source IPs,
-- when it started and last said it was alive, until when it counts as
-- alive), and the node that holds a queued recipient it claimed
-- (deliveries.lease_node, NULL when nobody does). On SQLite the one node is
-- the engine itself; on PostgreSQL several nodes claim from one store and
-- a dead node's leases pass to the others when its heartbeat expires.

CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    api          TEXT,
    ips          TEXT NOT NULL DEFAULT '[]',  -- JSON array of source addresses
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;

ALTER TABLE deliveries ADD COLUMN lease_node TEXT;
