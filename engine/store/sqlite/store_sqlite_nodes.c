/*
 * engine/store/sqlite/store_sqlite_nodes.c: the sending node on an SQLite
 * store (schema/0008_nodes.sql): one engine per database (the file lock
 * of engine/engine.c), so the one node is that engine. It is registered,
 * kept alive and listed like the nodes of a PostgreSQL store
 * (docs/postgresql.md), but claims are not leased: in_flight is null.
 */
#include "engine/base/err.h"
#include "engine/store/sqlite/store_sqlite_int.h"

#include <stdio.h>

static int run(sq_store *s, const char *sql, const char *id, int64_t a, int64_t b, const char *what)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, what);
    sq_bind_text(q, 1, id);
    sqlite3_bind_int64(q, 2, a);
    sqlite3_bind_int64(q, 3, b);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, what);
}

int sq_node_join(edm_store *st, const edm_node_info *n)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO nodes(id, api, ips, started_at, heartbeat_at, "
                           "expires_at) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "node join");
    sq_bind_text(q, 1, n->id);
    sq_bind_text(q, 2, n->api);
    sq_bind_text(q, 3, n->ips_json ? n->ips_json : "[]");
    sqlite3_bind_int64(q, 4, n->now);
    sqlite3_bind_int64(q, 5, n->now + n->lease);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sq_fail(s, "node join");
    /* One engine per database: nodes of earlier runs under another id
     * are gone. */
    if ((rc = run(s, "DELETE FROM nodes WHERE id != ?1", n->id, 0, 0, "node join")) != 0)
        return rc;
    snprintf(s->node_id, sizeof s->node_id, "%s", n->id);
    s->lease = n->lease;
    return 0;
}

/* One engine per database: a second handle claims nothing a lease could
 * mark (SQLite's claims of queued rows are not written). */
int sq_node_attach(edm_store *st, const char *id)
{
    (void)st;
    (void)id;
    return 0;
}

int sq_node_beat(edm_store *st, int64_t now)
{
    sq_store *s = SQ(st);
    if (s->node_id[0] == '\0')
        return 0;
    int rc = run(s, "UPDATE nodes SET heartbeat_at = ?2, expires_at = ?3 WHERE id = ?1", s->node_id,
                 now, now + s->lease, "heartbeat");
    return rc ? rc : 1; /* the one node */
}

int sq_node_leave(edm_store *st)
{
    sq_store *s = SQ(st);
    if (s->node_id[0] == '\0')
        return 0;
    int rc = run(s, "DELETE FROM nodes WHERE id = ?1", s->node_id, 0, 0, "node leave");
    s->node_id[0] = '\0';
    return rc;
}

int sq_node_list(edm_store *st, int64_t now, json_t **items)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, api, ips, started_at, heartbeat_at, expires_at >= ?1 "
                           "FROM nodes ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "nodes");
    sqlite3_bind_int64(q, 1, now);
    json_t *a = json_array();
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "id", sq_text_col(q, 0));
        json_object_set_new(o, "api", sq_text_col(q, 1));
        json_object_set_new(o, "ips", sq_json_col(q, 2, "[]"));
        json_object_set_new(o, "started_at", sq_time_col(q, 3));
        json_object_set_new(o, "heartbeat_at", sq_time_col(q, 4));
        json_object_set_new(o, "alive", json_boolean(sqlite3_column_int(q, 5)));
        json_object_set_new(o, "in_flight", json_null());
        json_object_set_new(o, "campaigns", json_array());
        json_array_append_new(a, o);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        json_decref(a);
        return sq_fail(s, "nodes");
    }
    *items = a;
    return 0;
}
