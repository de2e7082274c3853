/*
 * engine/store/pg/store_pg_nodes.c: several sending nodes on one
 * PostgreSQL store (docs/postgresql.md, "Several nodes";
 * schema/pg/0008_nodes.sql). A node joins under a session advisory lock
 * on its id (two live engines can never be the same node; the lock goes
 * with the connection when the process dies), hands back what an earlier
 * life of it held, and from then on leases the queued rows it claims
 * (store_pg_jobs.c). Its heartbeat keeps it alive for `lease` seconds and
 * hands the leases of nodes past their time back to everyone: a node
 * killed with kill -9 has its claimed recipients taken over by the others
 * after its lease, at most its in-flight messages sent twice.
 */
#include "engine/base/err.h"
#include "engine/store/pg/store_pg_int.h"

#include <stdio.h>
#include <string.h>

static int release_leases(pg_store *s, const char *node)
{
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, node);
    return pg_do(s, "UPDATE deliveries SET lease_node = NULL WHERE lease_node = $1", &p,
                 "release leases");
}

int pg_node_join(edm_store *st, const edm_node_info *n)
{
    pg_store *s = PG(st);
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, n->id);
    PGresult *r =
        pg_run(s, "SELECT pg_try_advisory_lock(hashtext('edm-node:' || $1))", &p, "node lock");
    if (r == NULL)
        return EDM_EDB;
    int got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!got) {
        snprintf(s->err, sizeof s->err,
                 "node %s: another edm engine is this node on this database; give each node its "
                 "own node.id, or stop the other first",
                 n->id);
        return EDM_EBUSY;
    }
    pgp_init(&p);
    pgp_text(&p, n->id);
    pgp_text(&p, n->api);
    pgp_text(&p, n->ips_json ? n->ips_json : "[]");
    pgp_int(&p, n->now);
    pgp_int(&p, n->now + n->lease);
    int rc = pg_do(s,
                   "INSERT INTO nodes(id, api, ips, started_at, heartbeat_at, expires_at) "
                   "VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (id) DO UPDATE SET "
                   "api = excluded.api, ips = excluded.ips, started_at = excluded.started_at, "
                   "heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at",
                   &p, "node join");
    /* What an earlier life of this node held is nobody's now. */
    if (rc == 0)
        rc = release_leases(s, n->id);
    if (rc != 0)
        return rc;
    snprintf(s->node_id, sizeof s->node_id, "%s", n->id);
    s->lease = n->lease;
    return 0;
}

int pg_node_attach(edm_store *st, const char *id)
{
    pg_store *s = PG(st);
    snprintf(s->node_id, sizeof s->node_id, "%s", id);
    return 0;
}

int pg_node_beat(edm_store *st, int64_t now)
{
    pg_store *s = PG(st);
    if (s->node_id[0] == '\0')
        return 0;
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, s->node_id);
    pgp_int(&p, now);
    pgp_int(&p, now + s->lease);
    int rc = pg_do(s, "UPDATE nodes SET heartbeat_at = $2, expires_at = $3 WHERE id = $1", &p,
                   "heartbeat");
    if (rc != 0)
        return rc;
    /* Nodes past their time: their queued claims go back to everyone (an
     * index seek per dead node; none most of the time). */
    pgp_init(&p);
    pgp_int(&p, now);
    if ((rc = pg_do(s,
                    "UPDATE deliveries SET lease_node = NULL WHERE lease_node IN "
                    "(SELECT id FROM nodes WHERE expires_at < $1)",
                    &p, "take over leases")) != 0)
        return rc;
    PGresult *r = pg_run(s, "SELECT count(*) FROM nodes WHERE expires_at >= $1", &p, "live nodes");
    if (r == NULL)
        return EDM_EDB;
    int n = (int)pg_int(r, 0, 0);
    PQclear(r);
    return n > 0 ? n : 1;
}

int pg_node_leave(edm_store *st)
{
    pg_store *s = PG(st);
    if (s->node_id[0] == '\0')
        return 0;
    int rc = release_leases(s, s->node_id);
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, s->node_id);
    if (rc == 0)
        rc = pg_do(s, "DELETE FROM nodes WHERE id = $1", &p, "node leave");
    pg_do(s, "SELECT pg_advisory_unlock(hashtext('edm-node:' || $1))", &p, "node unlock");
    s->node_id[0] = '\0';
    return rc;
}

int pg_node_list(edm_store *st, int64_t now, json_t **items)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, now);
    PGresult *r = pg_run(PG(st),
                         "SELECT n.id, n.api, n.ips, n.started_at, n.heartbeat_at, "
                         "n.expires_at >= $1, (SELECT count(*) FROM deliveries d WHERE "
                         "d.lease_node = n.id), coalesce((SELECT json_agg(DISTINCT d.campaign_id) "
                         "FROM deliveries d WHERE d.lease_node = n.id), '[]') FROM nodes n "
                         "ORDER BY n.id",
                         &p, "nodes");
    if (r == NULL)
        return EDM_EDB;
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", pg_text_col(r, i, 0));
        json_object_set_new(o, "api", pg_text_col(r, i, 1));
        json_object_set_new(o, "ips", pg_json_col(r, i, 2, "[]"));
        json_object_set_new(o, "started_at", pg_time_col(r, i, 3));
        json_object_set_new(o, "heartbeat_at", pg_time_col(r, i, 4));
        json_object_set_new(o, "alive", json_boolean(strcmp(PQgetvalue(r, i, 5), "t") == 0));
        json_object_set_new(o, "in_flight", json_integer(pg_int(r, i, 6)));
        json_object_set_new(o, "campaigns", pg_json_col(r, i, 7, "[]"));
        json_array_append_new(a, o);
    }
    PQclear(r);
    *items = a;
    return 0;
}
