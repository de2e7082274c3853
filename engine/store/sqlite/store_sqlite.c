/*
 * engine/store/sqlite/store_sqlite.c: the SQLite backend of the storage interface
 * (store.h): opening (WAL, synchronous=NORMAL, busy timeout, foreign keys;
 * a transactional message's commit alone runs FULL: store_sqlite_messages.c),
 * schema migrations, the prepared-statement cache, settings and the
 * campaign state compare-and-set. The hot paths (upload, claim, record)
 * are in store_sqlite_jobs.c; JSON-shaped objects (templates, campaigns,
 * receipts, suppressions) in store_sqlite_objects.c.
 *
 * Entry point: edm_store_sqlite_open(path, &st, err, errlen). Migrations
 * run there, each in its own transaction with foreign keys off (a migration
 * may make a parent table again) and checked before it commits, recorded in
 * schema_version; a database whose version is newer than this binary's is
 * refused.
 *
 * Limits: one connection, used from one thread (and one more for WAL
 * checkpoints on a thread of their own: store_sqlite_ckpt.c); its memory
 * is a 16 MiB page cache and a map of at most 128 MiB of the file. Writes are batched by the
 * callers (an upload commits every 20,000 rows, record takes arrays).
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/store/schema.h"
#include "engine/base/timeutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* SQ_UPLOAD_INSERT_MANY's rows: SQ_UPLOAD_ROWS of them. */
#define UP_ROW    "(?, ?, ?, ?, ?, ?, 0)"
#define UP_ROWS4  UP_ROW ", " UP_ROW ", " UP_ROW ", " UP_ROW
#define UP_ROWS16 UP_ROWS4 ", " UP_ROWS4 ", " UP_ROWS4 ", " UP_ROWS4
_Static_assert(SQ_UPLOAD_ROWS == 16, "UP_ROWS16 writes SQ_UPLOAD_ROWS rows");

static const char *const stmt_sql[SQ_COUNT] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_SYNC_FULL] = "PRAGMA synchronous=FULL",
    [SQ_SYNC_NORMAL] = "PRAGMA synchronous=NORMAL",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SETTING_GET] = "SELECT value FROM settings WHERE name = ?1",
    [SQ_SETTING_PUT] = "INSERT INTO settings(name, value) VALUES (?1, ?2)",
    [SQ_SETTING_REPLACE] = "INSERT OR REPLACE INTO settings(name, value) VALUES (?1, ?2)",
    [SQ_UPLOAD_SUPPRESSED] = "SELECT 1 FROM suppressions WHERE value IN (?1, ?2) LIMIT 1",
    [SQ_UPLOAD_INSERT] = "INSERT OR IGNORE INTO deliveries(campaign_id, email, domain_id, vars, "
                         "status, queued_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
    /* SQ_UPLOAD_ROWS of the above; RETURNING names the rows inserted (not
     * the duplicates OR IGNORE skipped) */
    [SQ_UPLOAD_INSERT_MANY] =
        "INSERT OR IGNORE INTO deliveries(campaign_id, email, domain_id, "
        "vars, status, queued_at, next_attempt_at) VALUES " UP_ROWS16 " RETURNING email",
    [SQ_CLAIM_RETRY] = "UPDATE deliveries SET next_attempt_at = ?4 WHERE id IN (SELECT id FROM "
                       "deliveries WHERE campaign_id = ?1 AND status = 1 AND "
                       "next_attempt_at <= ?2 ORDER BY next_attempt_at LIMIT ?3) "
                       "RETURNING id, email, vars, attempts, queued_at, first_attempt_at",
    [SQ_CLAIM_QUEUED] = "SELECT id, email, vars, attempts, queued_at, first_attempt_at "
                        "FROM deliveries WHERE campaign_id = ?1 AND status = 0 AND id > ?2 "
                        "ORDER BY id LIMIT ?3",
    [SQ_UNCLAIM] = "UPDATE deliveries SET next_attempt_at = ?2 WHERE id = ?1 AND "
                   "(status = 1 OR (txn = 1 AND status = 0))",
    [SQ_SUPPRESSION_ANY] = "SELECT EXISTS (SELECT 1 FROM suppressions)",
    [SQ_HAS_PENDING] = "SELECT EXISTS (SELECT 1 FROM campaign_counts WHERE campaign_id = ?1 "
                       "AND status IN (0, 1) AND n > 0)",
    /* the counters of one campaign (schema/0002_campaign_counts.sql) */
    [SQ_COUNTS] = "SELECT status, category, n FROM campaign_counts WHERE campaign_id = ?1",
    [SQ_RECORD] = "UPDATE deliveries SET status = ?2, attempts = attempts + ?3, "
                  "smtp_code = ?4, enhanced_code = ?5, response = ?6, bounce_category = ?7, "
                  "mx_host_id = coalesce(?8, mx_host_id), mx_ip_id = coalesce(?9, mx_ip_id), "
                  "source_ip_id = coalesce(?10, source_ip_id), tls_id = coalesce(?11, tls_id), "
                  "message_id = coalesce(?12, message_id), "
                  "message_key = coalesce(?16, message_key), remote_queue_id = ?13, "
                  "first_attempt_at = CASE WHEN ?3 THEN coalesce(first_attempt_at, ?14) "
                  "ELSE first_attempt_at END, "
                  "last_attempt_at = CASE WHEN ?3 THEN ?14 ELSE last_attempt_at END, "
                  "delivered_at = CASE WHEN ?2 = 2 THEN ?14 ELSE delivered_at END, "
                  "next_attempt_at = ?15 WHERE id = ?1",
    [SQ_EVENT] = "INSERT INTO delivery_events(delivery_id, attempted_at, status, smtp_code, "
                 "enhanced_code, response, mx_host_id, mx_ip_id, source_ip_id, tls_id, "
                 "duration_ms) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [SQ_TEMPLATE_GET] = "SELECT id, name, subject, html, text, partials, created_at, updated_at "
                        "FROM templates WHERE id = ?1",
    [SQ_CAMPAIGN_GET] =
        "SELECT id, name, template_id, from_addr, reply_to, pool, status, "
        "send_at, headers, tags, unsubscribe, max_per_hour, created_at, "
        "updated_at, started_at, completed_at, track FROM campaigns WHERE id = ?1 AND kind = 0 "
        "AND " SQ_SHOWN("id"),
    [SQ_RECEIPT_GET] =
        "SELECT " RECEIPT_COLUMNS " FROM deliveries WHERE id = ?1 AND " SQ_SHOWN("campaign_id"),
    [SQ_SUPPRESSION_CHECK] = "SELECT 1 FROM suppressions WHERE value IN (?1, ?2) LIMIT 1",
    /* ?1: a JSON array of the batch's emails and domains */
    [SQ_SUPPRESSION_FILTER] = "SELECT value FROM suppressions WHERE value IN "
                              "(SELECT value FROM json_each(?1))",
    /* the first delivery id of a campaign: one index seek per state */
    [SQ_CAMPAIGN_FIRST_DELIVERY] =
        "SELECT min(m) FROM ("
        "SELECT (SELECT min(id) FROM deliveries WHERE campaign_id = ?1 AND status = 0) AS m "
        "UNION ALL SELECT (SELECT min(id) FROM deliveries WHERE campaign_id = ?1 AND status = 1) "
        "UNION ALL SELECT (SELECT min(id) FROM deliveries WHERE campaign_id = ?1 AND status = 2) "
        "UNION ALL SELECT (SELECT min(id) FROM deliveries WHERE campaign_id = ?1 AND status = 3) "
        "UNION ALL SELECT (SELECT min(id) FROM deliveries WHERE campaign_id = ?1 AND status = 4) "
        "UNION ALL SELECT (SELECT min(id) FROM deliveries WHERE campaign_id = ?1 AND status = 5) "
        "UNION ALL SELECT (SELECT min(id) FROM deliveries WHERE campaign_id = ?1 AND status = 6))",
    [SQ_STRING_GET] = "SELECT id FROM strings WHERE value = ?1",
    [SQ_STRING_PUT] = "INSERT INTO strings(value) VALUES (?1)",
    [SQ_VARNAMES_GET] = "SELECT id FROM var_names WHERE names = ?1",
    [SQ_VARNAMES_PUT] = "INSERT INTO var_names(names) VALUES (?1)",
    [SQ_VARNAMES_TEXT] = "SELECT names FROM var_names WHERE id = ?1",
};

int sq_prepare(sq_store *s, sqlite3_stmt **q, const char *sql)
{
    return sqlite3_prepare_v2(s->db, sql, -1, q, NULL) == SQLITE_OK ? 0 : sq_fail(s, "prepare");
}

sqlite3_stmt *sq_stmt(sq_store *s, enum sq_stmt id)
{
    if (s->stmts[id] == NULL &&
        sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[id],
                           NULL) != SQLITE_OK) {
        sq_fail(s, "prepare");
        return NULL;
    }
    sqlite3_reset(s->stmts[id]);
    sqlite3_clear_bindings(s->stmts[id]);
    return s->stmts[id];
}

int sq_fail(sq_store *s, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s: %s", what, sqlite3_errmsg(s->db));
    int code = sqlite3_errcode(s->db) & 0xff;
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
        /* Another process holds the lock past SQ_BUSY_MS: the caller
         * answers "try again" instead of stalling the loop. */
        edm_log(EDM_LOG_WARN, "store", "op=%s err=\"%s\"", what, sqlite3_errmsg(s->db));
        return EDM_EBUSY;
    }
    edm_log(EDM_LOG_ERROR, "store", "op=%s err=\"%s\"", what, sqlite3_errmsg(s->db));
    return EDM_EDB;
}

int sq_step_done(sq_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sq_fail(s, what);
}

int sq_begin(sq_store *s)
{
    sqlite3_stmt *st = sq_stmt(s, SQ_BEGIN);
    return st == NULL ? EDM_EDB : sq_step_done(s, st, "begin");
}

int sq_commit(sq_store *s)
{
    sqlite3_stmt *st = sq_stmt(s, SQ_COMMIT);
    return st == NULL ? EDM_EDB : sq_step_done(s, st, "commit");
}

void sq_rollback(sq_store *s)
{
    if (sqlite3_get_autocommit(s->db) == 0) {
        sqlite3_stmt *st = sq_stmt(s, SQ_ROLLBACK);
        if (st)
            sq_step_done(s, st, "rollback");
    }
    /* ids learned in the transaction may be gone with it */
    sq_strings_clear(s);
    edm_vars_cache_forget_ids(&s->vars);
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

json_t *sq_json_col(sqlite3_stmt *st, int i, const char *fallback)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    json_t *v = json_loads(t ? t : fallback, JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

json_t *sq_time_col(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL || sqlite3_column_int64(st, i) <= 0)
        return json_null();
    char buf[40];
    return json_string(edm_time_rfc3339(sqlite3_column_int64(st, i), buf, sizeof buf));
}

json_t *sq_text_col(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? json_stringn(t, (size_t)sqlite3_column_bytes(st, i)) : json_null();
}

json_t *sq_int_col(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    return json_integer(sqlite3_column_int64(st, i));
}

/* ---- open, migrate, close ---- */

static int exec(sq_store *s, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(s->err, sizeof s->err, "%s: %s", what, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return EDM_EDB;
    }
    return 0;
}

static int supported_version(void)
{
    int v = 0;
    for (const struct edm_migration *m = edm_migrations; m->version; m++)
        v = m->version;
    return v;
}

static int current_version(sq_store *s, int *version)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &st,
                           NULL) != SQLITE_OK)
        return sq_fail(s, "read schema version");
    int rc = sqlite3_step(st);
    *version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : sq_fail(s, "read schema version");
}

/* A migration may make a table again (schema/0006, 0014, 0015: SQLite
 * cannot change a column's constraints in place). With foreign keys on,
 * dropping a parent table would delete its children's rows first, so they
 * are off while migrations run (they can only be switched outside a
 * transaction) and each migration must leave none broken before it
 * commits (SQLite's "making other kinds of table schema changes"). */
static int foreign_keys_intact(sq_store *s, const char *name)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare foreign key check");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(s->err, sizeof s->err, "migration %s: a row of %s names a missing %s row", name,
                 (const char *)sqlite3_column_text(st, 0),
                 (const char *)sqlite3_column_text(st, 2));
    else if (rc != SQLITE_DONE)
        sq_fail(s, "foreign key check");
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : EDM_EDB;
}

static int apply(sq_store *s, const struct edm_migration *m)
{
    int rc;
    if ((rc = exec(s, "BEGIN IMMEDIATE", "begin migration")) != 0)
        return rc;
    char what[128];
    snprintf(what, sizeof what, "migration %s", m->name);
    char rec[256];
    snprintf(rec, sizeof rec, "INSERT INTO schema_version VALUES (%d, '%s', %lld)", m->version,
             m->name, (long long)edm_time_now());
    if ((rc = exec(s, m->sql, what)) != 0 || (rc = foreign_keys_intact(s, m->name)) != 0 ||
        (rc = exec(s, rec, "record migration")) != 0 ||
        (rc = exec(s, "COMMIT", "commit migration")) != 0) {
        exec(s, "ROLLBACK", "rollback");
        return rc;
    }
    edm_log(EDM_LOG_INFO, "store", "event=migrated version=%d name=%s", m->version, m->name);
    return 0;
}

static int migrate(sq_store *s)
{
    int rc = exec(s,
                  "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                  "name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                  "create schema_version");
    if (rc != 0)
        return rc;
    int cur;
    if ((rc = current_version(s, &cur)) != 0)
        return rc;
    int sup = supported_version();
    if (cur > sup) {
        snprintf(s->err, sizeof s->err,
                 "%s: database schema version %d is newer than this edm supports (%d); "
                 "upgrade edm or use another database",
                 s->path, cur, sup);
        return EDM_ESTATE;
    }
    if (cur == sup)
        return 0;
    if ((rc = exec(s, "PRAGMA foreign_keys=OFF", "foreign keys off")) != 0)
        return rc;
    for (const struct edm_migration *m = edm_migrations; m->version && rc == 0; m++)
        if (m->version > cur)
            rc = apply(s, m);
    /* a migration that failed half-way may have left legacy renames on */
    int rc2 = exec(s, "PRAGMA legacy_alter_table=OFF; PRAGMA foreign_keys=ON", "foreign keys on");
    return rc ? rc : rc2;
}

static void sq_close(edm_store *st)
{
    sq_store *s = SQ(st);
    sq_ckpt_stop(s);
    for (int i = 0; i < SQ_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    for (int i = 0; i < SQ_RECEIPT_VARIANTS; i++)
        sqlite3_finalize(s->receipt_stmts[i]);
    for (int i = 0; i < SQ_MSG_STMTS; i++)
        sqlite3_finalize(s->msg_stmts[i]);
    for (int i = 0; i < SQ_TRACK_STMTS; i++)
        sqlite3_finalize(s->track_stmts[i]);
    for (int i = 0; i < SQ_RECORD_STMTS; i++)
        sqlite3_finalize(s->record_stmts[i]);
    sq_strings_clear(s);
    edm_vars_cache_free(&s->vars);
    edm_buf_free(&s->vars_buf);
    sqlite3_close(s->db);
    edm_free(s->path);
    edm_free(s);
}

static const char *sq_errmsg(edm_store *st)
{
    return SQ(st)->err;
}

static int sq_schema_version(edm_store *st, int *current, int *supported)
{
    *supported = supported_version();
    return current_version(SQ(st), current);
}

/* ---- settings ---- */

static int sq_setting_get_or_create(edm_store *st, const char *name, unsigned char *out, size_t len)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q = sq_stmt(s, SQ_SETTING_GET);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && (size_t)sqlite3_column_bytes(q, 0) == len) {
        memcpy(out, sqlite3_column_blob(q, 0), len);
        sqlite3_reset(q);
        return 0;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_fail(s, "read setting");
    if (rc == SQLITE_ROW) {
        snprintf(s->err, sizeof s->err, "setting %s has the wrong size", name);
        return EDM_EDB;
    }
    for (size_t got = 0; got < len;) {
        ssize_t n = getrandom(out + got, len - got, 0);
        if (n <= 0)
            return EDM_EIO;
        got += (size_t)n;
    }
    sqlite3_stmt *w = sq_stmt(s, SQ_SETTING_PUT);
    if (w == NULL)
        return EDM_EDB;
    sqlite3_bind_text(w, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(w, 2, out, (int)len, SQLITE_STATIC);
    return sq_step_done(s, w, "write setting");
}

static int sq_setting_get(edm_store *st, const char *name, char **value)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q = sq_stmt(s, SQ_SETTING_GET);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *value = edm_strndup((const char *)sqlite3_column_blob(q, 0),
                             (size_t)sqlite3_column_bytes(q, 0));
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        return *value ? 0 : EDM_ENOMEM;
    return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "read setting");
}

static int sq_setting_put(edm_store *st, const char *name, const char *value)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *w = sq_stmt(s, SQ_SETTING_REPLACE);
    if (w == NULL)
        return EDM_EDB;
    sqlite3_bind_text(w, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(w, 2, value, -1, SQLITE_STATIC);
    return sq_step_done(s, w, "write setting");
}

/* ---- campaign state ---- */

static int sq_campaign_transition(edm_store *st, int64_t id, unsigned from_mask, enum edm_cstate to,
                                  int64_t send_at)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    const char *sql =
        "UPDATE campaigns SET status = ?2, updated_at = ?4, "
        "send_at = CASE WHEN ?5 >= 0 THEN ?5 ELSE send_at END, "
        "started_at = CASE WHEN ?2 = 2 THEN coalesce(started_at, ?4) ELSE started_at END, "
        "completed_at = CASE WHEN ?2 IN (4, 5) THEN ?4 ELSE completed_at END "
        "WHERE id = ?1 AND ((1 << status) & ?3) != 0 AND " SQ_SHOWN("id");
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare transition");
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int(q, 2, (int)to);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)from_mask);
    sqlite3_bind_int64(q, 4, edm_time_now());
    sqlite3_bind_int64(q, 5, send_at);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sq_fail(s, "campaign transition");
    if (sqlite3_changes(s->db) == 1)
        return 0;
    rc = sq_campaign_get(st, id, NULL);
    return rc == 0 ? EDM_ESTATE : rc;
}

/* Campaigns in state ?1, deleted ones left out. */
#define CAMPAIGN_IDS "SELECT id FROM campaigns WHERE status = ?1 AND " SQ_SHOWN("id")

static int sq_campaign_ids(edm_store *st, enum edm_cstate state, int64_t due, int64_t **ids,
                           size_t *n)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    const char *sql = due >= 0 ? CAMPAIGN_IDS " AND coalesce(send_at, 0) <= ?2 ORDER BY id"
                               : CAMPAIGN_IDS " ORDER BY id";
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare campaign ids");
    sqlite3_bind_int(q, 1, (int)state);
    if (due >= 0)
        sqlite3_bind_int64(q, 2, due);
    size_t cap = 0, cnt = 0;
    int64_t *v = NULL;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            int64_t *nv = edm_realloc(v, cap * sizeof *v);
            if (nv == NULL) {
                edm_free(v);
                sqlite3_finalize(q);
                return EDM_ENOMEM;
            }
            v = nv;
        }
        v[cnt++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        edm_free(v);
        return sq_fail(s, "campaign ids");
    }
    *ids = v;
    *n = cnt;
    return 0;
}

static int sq_campaign_has_pending(edm_store *st, int64_t id)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q = sq_stmt(s, SQ_HAS_PENDING);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    int v = rc == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_reset(q);
    return v >= 0 ? v : sq_fail(s, "pending");
}

static int sq_campaign_counts(edm_store *st, int64_t id, int64_t counts[EDM_DSTATE_COUNT])
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q = sq_stmt(s, SQ_COUNTS);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, id);
    memset(counts, 0, sizeof(int64_t) * EDM_DSTATE_COUNT);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int stt = sqlite3_column_int(q, 0);
        if (stt >= 0 && stt < EDM_DSTATE_COUNT)
            counts[stt] += sqlite3_column_int64(q, 2);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, "counts");
}

static const struct edm_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .errmsg = sq_errmsg,
    .schema_version = sq_schema_version,
    .node_join = sq_node_join,
    .node_beat = sq_node_beat,
    .node_leave = sq_node_leave,
    .node_attach = sq_node_attach,
    .node_list = sq_node_list,
    .feedback_apply = sq_feedback_apply,
    .delivery_by_message_id = sq_delivery_by_message_id,
    .event_list = sq_event_list,
    .setting_get_or_create = sq_setting_get_or_create,
    .setting_get = sq_setting_get,
    .setting_put = sq_setting_put,
    .ip_counters_get = sq_ip_counters_get,
    .ip_counters_put = sq_ip_counters_put,
    .template_create = sq_template_create,
    .template_get = sq_template_get,
    .template_list = sq_template_list,
    .template_update = sq_template_update,
    .template_delete = sq_template_delete,
    .campaign_create = sq_campaign_create,
    .campaign_get = sq_campaign_get,
    .campaign_list = sq_campaign_list,
    .campaign_update = sq_campaign_update,
    .campaign_delete = sq_campaign_delete,
    .campaign_purge = sq_campaign_purge,
    .campaign_transition = sq_campaign_transition,
    .campaign_ids = sq_campaign_ids,
    .campaign_has_pending = sq_campaign_has_pending,
    .campaign_counts = sq_campaign_counts,
    .campaign_stats = sq_campaign_stats,
    .upload_begin = sq_upload_begin,
    .upload_add = sq_upload_add,
    .upload_end = sq_upload_end,
    .claim = sq_claim,
    .record = sq_record,
    .unclaim = sq_unclaim,
    .cancel_pending = sq_cancel_pending,
    .receipt_list = sq_receipt_list,
    .receipt_get = sq_receipt_get,
    .receipt_events = sq_receipt_events,
    .suppression_add = sq_suppression_add,
    .suppression_list = sq_suppression_list,
    .suppression_delete = sq_suppression_delete,
    .suppression_check = sq_suppression_check,
    .suppression_filter = sq_suppression_filter,
    .idem_get = sq_idem_get,
    .idem_put = sq_idem_put,
    .message_create = sq_message_create,
    .message_load = sq_message_load,
    .message_get = sq_message_get,
    .message_list = sq_message_list,
    .claim_txn = sq_claim_txn,
    .track_lookup = sq_track_lookup,
    .track_source = sq_track_source,
    .engagement_record = sq_engagement_record,
    .engagement_record_batch = sq_engagement_record_batch,
    .webhook_create = sq_webhook_create,
    .webhook_list = sq_webhook_list,
    .webhook_delete = sq_webhook_delete,
    .webhook_all = sq_webhook_all,
    .outbox_batch = sq_outbox_batch,
    .outbox_ack = sq_outbox_ack,
    .outbox_retry = sq_outbox_retry,
};

/* Creates a new database file readable by its owner only (0600, whatever
 * the umask); SQLite gives its -wal and -shm files the database's mode.
 * An existing file keeps its mode. */
static void create_private(const char *path)
{
    if (path[0] == '\0' || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
        return;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return; /* exists (or cannot be made: sqlite3_open says why) */
    if (fchmod(fd, 0600) != 0)
        edm_log(EDM_LOG_WARN, "store", "event=chmod_failed path=%s", path);
    close(fd);
}

static void sqlite_global_config(void)
{
    /* Before SQLite initialises: no allocation statistics (they take a
     * mutex on every malloc). Harmless if the library is already in use. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int edm_store_sqlite_open(const char *path, edm_store **out, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_global_config);
    *out = NULL;
    sq_store *s = edm_calloc(1, sizeof *s);
    if (s == NULL)
        return EDM_ENOMEM;
    s->base.ops = &sqlite_ops;
    s->path = edm_strdup(path);
    int rc = EDM_EDB;
    if (s->path == NULL) {
        rc = EDM_ENOMEM;
        goto fail;
    }
    create_private(path);
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(s->err, sizeof s->err, "%s: cannot open: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* A lock held by another process (the sqlite3 shell, a backup) is
     * waited for SQ_BUSY_MS at most, on the loop thread: then the write
     * fails with EDM_EBUSY (the API answers 503 with Retry-After, the
     * pipeline keeps its outcomes and stops claiming until a write
     * succeeds). */
    sqlite3_busy_timeout(s->db, SQ_BUSY_MS);
    /* The first statement reads the header: a file that is not SQLite
     * fails here with SQLITE_NOTADB. 8 KiB pages (for a new database;
     * an existing one keeps its own) make the indexes of a million-row
     * upload shallower: about a fifth more rows/s in bench-store, without
     * the larger WAL writes of 16 KiB pages that slowed bench-api. */
    char *msg = NULL;
    int src =
        sqlite3_exec(s->db, "PRAGMA page_size=8192; PRAGMA journal_mode=WAL", NULL, NULL, &msg);
    if (src != SQLITE_OK) {
        if ((src & 0xff) == SQLITE_NOTADB)
            snprintf(s->err, sizeof s->err, "%s: not an SQLite database", path);
        else
            snprintf(s->err, sizeof s->err, "%s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        goto fail;
    }
    /* Memory stays bounded whatever the database's size (docs/config.md,
     * pipeline.window): a 16 MiB page cache (anonymous memory) and at most
     * 128 MiB of the file mapped (file-backed, reclaimable). A 1 GiB map
     * made the RSS of a 1M-recipient campaign grow past 500 MB. */
    if ((rc = exec(s,
                   "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                   "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384; "
                   "PRAGMA wal_autocheckpoint=4000; PRAGMA mmap_size=134217728",
                   "pragmas")) != 0)
        goto fail;
    if ((rc = sq_strings_register(s)) != 0 || (rc = migrate(s)) != 0 ||
        (rc = sq_ckpt_start(s)) != 0)
        goto fail;
    *out = &s->base;
    return 0;
fail:
    if (err)
        snprintf(err, errlen, "%s", s->err[0] ? s->err : edm_strerror(rc));
    sq_close(&s->base);
    return rc ? rc : EDM_EDB;
}
