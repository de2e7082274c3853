/*
 * engine/store/pg/store_pg_copy.c: an SQLite store copied into PostgreSQL
 * (see store_pg_copy.h). Both databases are first opened through their
 * backends, which migrates them to the same schema version; the rows then
 * go table by table, parents first, with COPY ... FROM STDIN in text
 * format inside one transaction, so the target has everything or nothing.
 * Columns are the SQLite table's own, the same names on both sides (the
 * migrations are the same). Identity sequences move past the copied ids
 * and past any id SQLite gave out before (sqlite_sequence).
 * Variables (engine/store/vars.h): var_names is copied with its ids, so a
 * delivery's compact bytes, which name their names row by id, go as they
 * are into deliveries.vars_bin; JSON text stays in deliveries.vars.
 */
#include "engine/store/pg/store_pg_copy.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/store/store.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* Parents before children; campaign_counts is rebuilt by the triggers,
 * nodes and schema_version belong to the target. */
static const char *const tables[] = {"settings",
                                     "templates",
                                     "campaigns",
                                     "message_content",
                                     "message_attachments",
                                     "campaign_sources",
                                     "var_names",
                                     "deliveries",
                                     "delivery_events",
                                     "suppressions",
                                     "idempotency",
                                     "ip_counters",
                                     "engagement_counts",
                                     "webhooks",
                                     "webhook_outbox",
                                     NULL};

/* What to read from SQLite for a table: its own rows, but the compact
 * ledger's string ids (schema/0007_compact_ledger.sql) as the text
 * columns PostgreSQL keeps. */
static const char *select_of(const char *table)
{
    if (strcmp(table, "deliveries") == 0)
        return "SELECT d.id, d.campaign_id, d.email, substr(d.email, instr(d.email, '@') + 1) "
               "AS domain, CASE WHEN typeof(d.vars) = 'blob' THEN NULL ELSE d.vars END AS vars, "
               "CASE WHEN typeof(d.vars) = 'blob' THEN d.vars END AS vars_bin, d.status, "
               "d.attempts, d.smtp_code, d.enhanced_code, "
               "d.response, d.bounce_category, (SELECT value FROM strings WHERE id = "
               "d.mx_host_id) AS mx_host, (SELECT value FROM strings WHERE id = d.mx_ip_id) AS "
               "mx_ip, (SELECT value FROM strings WHERE id = d.source_ip_id) AS source_ip, "
               "(SELECT value FROM strings WHERE id = d.tls_id) AS tls, d.message_id, "
               "d.remote_queue_id, d.queued_at, d.first_attempt_at, d.last_attempt_at, "
               "d.delivered_at, d.next_attempt_at, d.txn, d.feedback, d.feedback_at, d.opened_at, "
               "d.clicked_at "
               "FROM deliveries d ORDER BY d.id";
    if (strcmp(table, "delivery_events") == 0)
        return "SELECT e.id, e.delivery_id, e.attempted_at, e.status, e.smtp_code, "
               "e.enhanced_code, e.response, (SELECT value FROM strings WHERE id = "
               "e.mx_host_id) AS mx_host, (SELECT value FROM strings WHERE id = e.mx_ip_id) AS "
               "mx_ip, (SELECT value FROM strings WHERE id = e.source_ip_id) AS source_ip, "
               "(SELECT value FROM strings WHERE id = e.tls_id) AS tls, e.duration_ms, e.type, "
               "e.url, "
               "e.link, e.machine, e.user_agent, e.ip "
               "FROM delivery_events e ORDER BY e.id";
    return NULL;
}

/* bytea on PostgreSQL: sent as hex whatever SQLite stored. */
static int is_bytea(const char *table, const char *col)
{
    return (strcmp(table, "settings") == 0 && strcmp(col, "value") == 0) ||
           (strcmp(table, "message_content") == 0 && strcmp(col, "raw") == 0) ||
           (strcmp(table, "message_attachments") == 0 && strcmp(col, "data") == 0) ||
           (strcmp(table, "deliveries") == 0 && strcmp(col, "vars_bin") == 0);
}

/* One field in COPY's text format. */
static void copy_field(edm_buf *b, sqlite3_stmt *q, int i, int bytea)
{
    if (sqlite3_column_type(q, i) == SQLITE_NULL) {
        edm_buf_append_str(b, "\\N");
        return;
    }
    if (bytea) {
        const unsigned char *v = sqlite3_column_blob(q, i);
        int n = sqlite3_column_bytes(q, i);
        edm_buf_append_str(b, "\\\\x");
        for (int k = 0; k < n; k++)
            edm_buf_appendf(b, "%02x", v[k]);
        return;
    }
    const unsigned char *v = sqlite3_column_text(q, i);
    int n = sqlite3_column_bytes(q, i);
    for (int k = 0; k < n; k++) {
        switch (v[k]) {
        case '\\': edm_buf_append_str(b, "\\\\"); break;
        case '\t': edm_buf_append_str(b, "\\t"); break;
        case '\n': edm_buf_append_str(b, "\\n"); break;
        case '\r': edm_buf_append_str(b, "\\r"); break;
        default: edm_buf_append_char(b, (char)v[k]);
        }
    }
}

static int pg_exec(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType t = PQresultStatus(r);
    int ok = t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : EDM_EDB;
}

static int copy_table(sqlite3 *db, PGconn *c, const char *table, int64_t *rows, char *err,
                      size_t errlen)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s", table);
    const char *own = select_of(table);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, own ? own : sql, -1, &q, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", table, sqlite3_errmsg(db));
        return EDM_EDB;
    }
    int ncol = sqlite3_column_count(q);
    edm_buf b = EDM_BUF_INIT;
    edm_buf_appendf(&b, "COPY %s (", table);
    for (int i = 0; i < ncol; i++)
        edm_buf_appendf(&b, "%s%s", i ? ", " : "", sqlite3_column_name(q, i));
    edm_buf_append_str(&b, ") FROM STDIN");
    PGresult *r = PQexec(c, edm_buf_cstr(&b));
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        snprintf(err, errlen, "%s: %s", table, PQresultErrorMessage(r));
        PQclear(r);
        sqlite3_finalize(q);
        edm_buf_free(&b);
        return EDM_EDB;
    }
    PQclear(r);
    int rc = 0, src;
    *rows = 0;
    while ((src = sqlite3_step(q)) == SQLITE_ROW) {
        edm_buf_reset(&b);
        for (int i = 0; i < ncol; i++) {
            if (i)
                edm_buf_append_char(&b, '\t');
            copy_field(&b, q, i, is_bytea(table, sqlite3_column_name(q, i)));
        }
        edm_buf_append_char(&b, '\n');
        if (b.data == NULL || PQputCopyData(c, b.data, (int)b.len) != 1) {
            snprintf(err, errlen, "%s: %s", table, b.data ? PQerrorMessage(c) : "out of memory");
            rc = EDM_EDB;
            break;
        }
        (*rows)++;
    }
    if (rc == 0 && src != SQLITE_DONE) {
        snprintf(err, errlen, "%s: %s", table, sqlite3_errmsg(db));
        rc = EDM_EDB;
    }
    sqlite3_finalize(q);
    edm_buf_free(&b);
    if (PQputCopyEnd(c, rc ? "aborted" : NULL) != 1 && rc == 0) {
        snprintf(err, errlen, "%s: %s", table, PQerrorMessage(c));
        rc = EDM_EDB;
    }
    while ((r = PQgetResult(c)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
            snprintf(err, errlen, "%s: %s", table, PQresultErrorMessage(r));
            rc = EDM_EDB;
        }
        PQclear(r);
    }
    return rc;
}

/* Both stores opened (and so migrated) by their backends, then closed.
 * Campaigns deleted on SQLite whose rows were not purged yet (the engine
 * does it in the background: schema/0017_campaign_purge.sql) are purged
 * first, so the copy has nothing of them. */
static int migrate_both(const char *sqlite_path, const char *uri, char *err, size_t errlen)
{
    edm_store *st;
    int rc = edm_store_sqlite_open(sqlite_path, &st, err, errlen);
    if (rc != 0)
        return rc;
    while ((rc = st->ops->campaign_purge(st, 20000)) > 0)
        ;
    if (rc < 0)
        snprintf(err, errlen, "purging deleted campaigns: %s", edm_store_errmsg(st));
    edm_store_close(st);
    if (rc < 0)
        return rc;
    if ((rc = edm_store_pg_open(uri, &st, err, errlen)) != 0)
        return rc;
    edm_store_close(st);
    return 0;
}

/* The highest id SQLite ever gave a row of table (AUTOINCREMENT,
 * schema/0014 and 0015), deleted rows included: PostgreSQL's sequence
 * starts past it, so no id shown before the copy names another row after. */
static int64_t sqlite_sequence(sqlite3 *db, const char *table)
{
    sqlite3_stmt *st;
    int64_t seq = 0;
    if (sqlite3_prepare_v2(db, "SELECT seq FROM sqlite_sequence WHERE name = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return seq;
}

int edm_store_pg_copy_from_sqlite(const char *sqlite_path, const char *uri,
                                  void (*progress)(const char *table, int64_t rows, void *arg),
                                  void *arg, char *err, size_t errlen)
{
    int rc = migrate_both(sqlite_path, uri, err, errlen);
    if (rc != 0)
        return rc;
    sqlite3 *db = NULL;
    PGconn *c = PQconnectdb(uri);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s", PQerrorMessage(c));
        PQfinish(c);
        return EDM_EDB;
    }
    if (sqlite3_open_v2(sqlite_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", sqlite_path, sqlite3_errmsg(db));
        rc = EDM_EDB;
        goto out;
    }
    PGresult *r = PQexec(c, "SELECT (SELECT count(*) FROM templates) + (SELECT count(*) FROM "
                            "campaigns) + (SELECT count(*) FROM suppressions)");
    int used = PQresultStatus(r) != PGRES_TUPLES_OK || strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    PQclear(r);
    if (used) {
        snprintf(err, errlen,
                 "the PostgreSQL database already holds templates, campaigns or suppressions; "
                 "copy into an empty database");
        rc = EDM_EEXIST;
        goto out;
    }
    /* A read transaction on SQLite: one consistent snapshot. */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        (rc = pg_exec(c, "BEGIN", err, errlen)) != 0 ||
        (rc = pg_exec(c, "SET client_min_messages = warning", err, errlen)) != 0 ||
        (rc = pg_exec(c,
                      "DELETE FROM settings; DELETE FROM ip_counters; DELETE FROM idempotency; "
                      "DELETE FROM var_names",
                      err, errlen)) != 0) {
        rc = rc ? rc : EDM_EDB;
        goto out;
    }
    for (int i = 0; tables[i]; i++) {
        int64_t rows;
        /* The campaigns' insert trigger took sources for the messages that
         * name a template (schema/pg/0009_tracking_sources.sql): SQLite's
         * are the ones they were sent with. */
        if (strcmp(tables[i], "campaign_sources") == 0 &&
            (rc = pg_exec(c, "DELETE FROM campaign_sources", err, errlen)) != 0) {
            pg_exec(c, "ROLLBACK", err + strlen(err), 0);
            goto out;
        }
        if ((rc = copy_table(db, c, tables[i], &rows, err, errlen)) != 0) {
            pg_exec(c, "ROLLBACK", err + strlen(err), 0);
            goto out;
        }
        if (progress)
            progress(tables[i], rows, arg);
    }
    static const char *const ids[] = {"templates",       "campaigns",    "deliveries",
                                      "delivery_events", "suppressions", "webhooks",
                                      "webhook_outbox",  "var_names",    NULL};
    for (int i = 0; ids[i]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT setval(pg_get_serial_sequence('%s', 'id'), "
                 "greatest(coalesce(max(id), 0), %lld) + 1, false) FROM %s",
                 ids[i], (long long)sqlite_sequence(db, ids[i]), ids[i]);
        if ((rc = pg_exec(c, sql, err, errlen)) != 0) {
            pg_exec(c, "ROLLBACK", err + strlen(err), 0);
            goto out;
        }
    }
    rc = pg_exec(c, "COMMIT", err, errlen);
out:
    if (db)
        sqlite3_close(db);
    PQfinish(c);
    return rc;
}
