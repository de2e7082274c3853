/*
 * engine/store/pg/store_pg.c: the PostgreSQL backend of the storage
 * interface (store.h), chosen by a "postgresql://" db (docs/postgresql.md):
 * connecting (libpq), the schema migrations of schema/pg/ applied under an
 * advisory lock so that nodes starting together migrate once, the
 * prepared-statement cache and parameter helpers, settings and the
 * campaign state compare-and-set. Hot paths are in store_pg_jobs.c,
 * JSON-shaped objects in store_pg_objects.c, typed rows in store_pg_rows.c,
 * transactional messages in store_pg_messages.c.
 *
 * Entry point: edm_store_pg_open(conninfo, &st, err, errlen). Returns 0 or
 * a negative EDM_E* code as store.h says; a database whose schema is newer
 * than this binary's is refused (EDM_ESTATE).
 *
 * Limits: one connection, used from one thread; a connection that breaks
 * is reset on the next call (that call fails with EDM_EDB, the next one
 * works again).
 */
#include "engine/store/pg/store_pg_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/store/schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* The advisory lock key nodes take while migrating ("edm" + 1). */
#define PG_MIGRATE_LOCK 0x65646d01

/* ---- parameters ---- */

void pgp_init(pg_params *p)
{
    memset(p, 0, sizeof *p);
}

static void pgp_add(pg_params *p, const char *v, int len, int fmt)
{
    EDM_ASSERT(p->n < PG_MAX_PARAMS);
    p->v[p->n] = v;
    p->len[p->n] = len;
    p->fmt[p->n] = fmt;
    p->n++;
}

void pgp_int(pg_params *p, int64_t v)
{
    EDM_ASSERT(p->n < PG_MAX_PARAMS);
    snprintf(p->num[p->n], sizeof p->num[p->n], "%" PRId64, v);
    pgp_add(p, p->num[p->n], 0, 0);
}

void pgp_text(pg_params *p, const char *v)
{
    pgp_add(p, v, 0, 0);
}

void pgp_null(pg_params *p)
{
    pgp_add(p, NULL, 0, 0);
}

void pgp_bytes(pg_params *p, const void *v, size_t len)
{
    pgp_add(p, v, (int)len, 1);
}

/* ---- running statements ---- */

/* Session settings made at connect; PQreset opens a new session, so they
 * are made again after it. */
#define SESSION_SETTINGS "SET client_min_messages = warning; SET TIME ZONE 'UTC'"

static void fail(pg_store *s, const char *what, const PGresult *r)
{
    const char *msg = r ? PQresultErrorMessage(r) : "";
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(s->conn);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(s->sqlstate, sizeof s->sqlstate, "%s", state ? state : "");
    snprintf(s->err, sizeof s->err, "%s: %s", what, msg);
    size_t l = strlen(s->err);
    while (l > 0 && (s->err[l - 1] == '\n' || s->err[l - 1] == ' '))
        s->err[--l] = '\0';
    edm_log(EDM_LOG_ERROR, "store", "op=\"%s\" err=\"%s\"", what, s->err);
    if (PQstatus(s->conn) == CONNECTION_BAD) {
        /* Gone (server restart, network): reconnect for the next call;
         * prepared statements and any transaction went with it. */
        PQreset(s->conn);
        s->nprepared = 0;
        s->in_tx = 0;
        if (PQstatus(s->conn) == CONNECTION_OK) {
            PGresult *set = PQexec(s->conn, SESSION_SETTINGS);
            if (PQresultStatus(set) != PGRES_COMMAND_OK)
                edm_log(EDM_LOG_ERROR, "store", "op=\"session settings\" err=\"%s\"",
                        PQerrorMessage(s->conn));
            PQclear(set);
        }
    }
}

int pg_code(pg_store *s)
{
    return strncmp(s->sqlstate, "23", 2) == 0 ? EDM_EINVAL : EDM_EDB;
}

static PGresult *check(pg_store *s, PGresult *r, const char *what)
{
    ExecStatusType t = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK)
        return r;
    fail(s, what, r);
    PQclear(r);
    return NULL;
}

/* The cache index of sql, preparing it on first use; -1 when the cache is
 * full (run it unprepared), -2 on failure. */
static int prepared_index(pg_store *s, const char *sql, int nparams)
{
    for (int i = 0; i < s->nprepared; i++)
        if (s->prepared[i] == sql)
            return i;
    if (s->nprepared == PG_MAX_STMTS)
        return -1;
    char name[16];
    snprintf(name, sizeof name, "s%d", s->nprepared);
    PGresult *r = PQprepare(s->conn, name, sql, nparams, NULL);
    if (check(s, r, "prepare") == NULL)
        return -2;
    PQclear(r);
    s->prepared[s->nprepared] = sql;
    return s->nprepared++;
}

PGresult *pg_run(pg_store *s, const char *sql, const pg_params *p, const char *what)
{
    static const pg_params none;
    if (p == NULL)
        p = &none;
    int i = prepared_index(s, sql, p->n);
    if (i == -2)
        return NULL;
    if (i == -1)
        return pg_run_once(s, sql, p, what);
    char name[16];
    snprintf(name, sizeof name, "s%d", i);
    return check(s, PQexecPrepared(s->conn, name, p->n, p->v, p->len, p->fmt, 0), what);
}

PGresult *pg_run_once(pg_store *s, const char *sql, const pg_params *p, const char *what)
{
    static const pg_params none;
    if (p == NULL)
        p = &none;
    return check(s, PQexecParams(s->conn, sql, p->n, NULL, p->v, p->len, p->fmt, 0), what);
}

int pg_do(pg_store *s, const char *sql, const pg_params *p, const char *what)
{
    PGresult *r = pg_run(s, sql, p, what);
    if (r == NULL)
        return pg_code(s);
    PQclear(r);
    return 0;
}

int pg_begin(pg_store *s)
{
    int rc = pg_do(s, "BEGIN", NULL, "begin");
    s->in_tx = rc == 0;
    return rc;
}

int pg_commit(pg_store *s)
{
    int rc = pg_do(s, "COMMIT", NULL, "commit");
    s->in_tx = 0;
    return rc;
}

void pg_rollback(pg_store *s)
{
    if (s->in_tx)
        pg_do(s, "ROLLBACK", NULL, "rollback");
    s->in_tx = 0;
    pg_vars_rolled_back(s);
}

/* ---- columns ---- */

int pg_isnull(const PGresult *q, int r, int c)
{
    return PQgetisnull(q, r, c);
}

int64_t pg_int(const PGresult *q, int r, int c)
{
    return PQgetisnull(q, r, c) ? 0 : strtoll(PQgetvalue(q, r, c), NULL, 10);
}

char *pg_dup(const PGresult *q, int r, int c)
{
    if (PQgetisnull(q, r, c))
        return NULL;
    return edm_xstrdup(PQgetvalue(q, r, c));
}

json_t *pg_json_col(const PGresult *q, int r, int c, const char *fallback)
{
    const char *t = PQgetisnull(q, r, c) ? fallback : PQgetvalue(q, r, c);
    json_t *v = json_loads(t, JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

json_t *pg_time_col(const PGresult *q, int r, int c)
{
    int64_t t = pg_int(q, r, c);
    if (t <= 0)
        return json_null();
    char buf[40];
    return json_string(edm_time_rfc3339(t, buf, sizeof buf));
}

json_t *pg_text_col(const PGresult *q, int r, int c)
{
    if (PQgetisnull(q, r, c))
        return json_null();
    return json_stringn(PQgetvalue(q, r, c), (size_t)PQgetlength(q, r, c));
}

json_t *pg_int_col(const PGresult *q, int r, int c)
{
    return PQgetisnull(q, r, c) ? json_null() : json_integer(pg_int(q, r, c));
}

int64_t pg_affected(const PGresult *q)
{
    const char *t = PQcmdTuples((PGresult *)q);
    return t && t[0] ? strtoll(t, NULL, 10) : 0;
}

/* ---- open, migrate, close ---- */

static int supported_version(void)
{
    int v = 0;
    for (const struct edm_migration *m = edm_pg_migrations; m->version; m++)
        v = m->version;
    return v;
}

static int exec_script(pg_store *s, const char *sql, const char *what)
{
    PGresult *r = check(s, PQexec(s->conn, sql), what);
    if (r == NULL)
        return EDM_EDB;
    PQclear(r);
    return 0;
}

static int current_version(pg_store *s, int *version)
{
    PGresult *r =
        pg_run(s, "SELECT coalesce(max(version), 0) FROM schema_version", NULL, "schema version");
    if (r == NULL)
        return EDM_EDB;
    *version = (int)pg_int(r, 0, 0);
    PQclear(r);
    return 0;
}

static int migrate_locked(pg_store *s)
{
    int rc = exec_script(s,
                         "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                         "name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                         "create schema_version");
    int cur;
    if (rc != 0 || (rc = current_version(s, &cur)) != 0)
        return rc;
    int sup = supported_version();
    if (cur > sup) {
        snprintf(s->err, sizeof s->err,
                 "database schema version %d is newer than this edm supports (%d); "
                 "upgrade edm or use another database",
                 cur, sup);
        return EDM_ESTATE;
    }
    for (const struct edm_migration *m = edm_pg_migrations; m->version; m++) {
        if (m->version <= cur)
            continue;
        char what[128];
        snprintf(what, sizeof what, "migration %s", m->name);
        if ((rc = pg_begin(s)) != 0)
            return rc;
        if ((rc = exec_script(s, m->sql, what)) != 0) {
            pg_rollback(s);
            return rc;
        }
        pg_params p;
        pgp_init(&p);
        pgp_int(&p, m->version);
        pgp_text(&p, m->name);
        pgp_int(&p, edm_time_now());
        if ((rc = pg_do(s, "INSERT INTO schema_version VALUES ($1, $2, $3)", &p,
                        "record migration")) != 0 ||
            (rc = pg_commit(s)) != 0) {
            pg_rollback(s);
            return rc;
        }
        edm_log(EDM_LOG_INFO, "store", "event=migrated backend=pg version=%d name=%s", m->version,
                m->name);
    }
    return 0;
}

static int migrate(pg_store *s)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, PG_MIGRATE_LOCK);
    int rc = pg_do(s, "SELECT pg_advisory_lock($1)", &p, "migration lock");
    if (rc != 0)
        return rc;
    rc = migrate_locked(s);
    pg_do(s, "SELECT pg_advisory_unlock($1)", &p, "migration unlock");
    return rc;
}

static void pg_close(edm_store *st)
{
    pg_store *s = PG(st);
    if (s->conn)
        PQfinish(s->conn);
    edm_vars_cache_free(&s->vars);
    edm_buf_free(&s->vars_buf);
    edm_free(s);
}

static const char *pg_errmsg(edm_store *st)
{
    return PG(st)->err;
}

static int pg_schema_version(edm_store *st, int *current, int *supported)
{
    *supported = supported_version();
    return current_version(PG(st), current);
}

/* ---- settings ---- */

static const char SQL_SETTING_GET[] = "SELECT value FROM settings WHERE name = $1";

/* The bytes of a bytea column (text format), malloc'd; NULL on failure. */
static unsigned char *bytea_col(const PGresult *q, int r, int c, size_t *len)
{
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(q, r, c), &n);
    if (raw == NULL)
        return NULL;
    unsigned char *out = edm_xmalloc(n + 1);
    memcpy(out, raw, n);
    out[n] = '\0';
    PQfreemem(raw);
    *len = n;
    return out;
}

static int read_setting(pg_store *s, const char *name, unsigned char **v, size_t *len)
{
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, name);
    PGresult *r = pg_run(s, SQL_SETTING_GET, &p, "read setting");
    if (r == NULL)
        return EDM_EDB;
    int rc = EDM_ENOTFOUND;
    if (PQntuples(r) == 1) {
        *v = bytea_col(r, 0, 0, len);
        rc = *v ? 0 : EDM_ENOMEM;
    }
    PQclear(r);
    return rc;
}

static int pg_setting_get_or_create(edm_store *st, const char *name, unsigned char *out, size_t len)
{
    pg_store *s = PG(st);
    unsigned char *v = NULL;
    size_t vlen = 0;
    int rc = read_setting(s, name, &v, &vlen);
    if (rc == EDM_ENOTFOUND) {
        /* Several nodes may create it at once: the first insert wins and
         * everybody reads the winner's value back. */
        unsigned char *fresh = edm_xmalloc(len);
        for (size_t got = 0; got < len;) {
            ssize_t n = getrandom(fresh + got, len - got, 0);
            if (n <= 0) {
                edm_free(fresh);
                return EDM_EIO;
            }
            got += (size_t)n;
        }
        pg_params p;
        pgp_init(&p);
        pgp_text(&p, name);
        pgp_bytes(&p, fresh, len);
        rc = pg_do(s, "INSERT INTO settings(name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   &p, "write setting");
        edm_free(fresh);
        if (rc == 0)
            rc = read_setting(s, name, &v, &vlen);
    }
    if (rc != 0)
        return rc;
    if (vlen != len) {
        edm_free(v);
        snprintf(s->err, sizeof s->err, "setting %s has the wrong size", name);
        return EDM_EDB;
    }
    memcpy(out, v, len);
    edm_free(v);
    return 0;
}

static int pg_setting_get(edm_store *st, const char *name, char **value)
{
    size_t len;
    return read_setting(PG(st), name, (unsigned char **)value, &len);
}

static int pg_setting_put(edm_store *st, const char *name, const char *value)
{
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, name);
    pgp_bytes(&p, value, strlen(value));
    return pg_do(PG(st),
                 "INSERT INTO settings(name, value) VALUES ($1, $2) "
                 "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                 &p, "write setting");
}

/* ---- campaign state ---- */

static int pg_campaign_transition(edm_store *st, int64_t id, unsigned from_mask, enum edm_cstate to,
                                  int64_t send_at)
{
    pg_store *s = PG(st);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    pgp_int(&p, (int)to);
    pgp_int(&p, (int64_t)from_mask);
    pgp_int(&p, edm_time_now());
    pgp_int(&p, send_at);
    PGresult *r = pg_run(s,
                         "UPDATE campaigns SET status = $2::integer, updated_at = $4::bigint, "
                         "send_at = CASE WHEN $5::bigint >= 0 THEN $5::bigint ELSE send_at END, "
                         "started_at = CASE WHEN $2::integer = 2 THEN coalesce(started_at, $4) "
                         "ELSE started_at END, "
                         "completed_at = CASE WHEN $2::integer IN (4, 5) THEN $4 "
                         "ELSE completed_at END "
                         "WHERE id = $1 AND ((1 << status) & $3::integer) <> 0",
                         &p, "campaign transition");
    if (r == NULL)
        return pg_code(s);
    int64_t changed = pg_affected(r);
    PQclear(r);
    if (changed == 1)
        return 0;
    int rc = pg_campaign_get(st, id, NULL);
    return rc == 0 ? EDM_ESTATE : rc;
}

static int pg_campaign_ids(edm_store *st, enum edm_cstate state, int64_t due, int64_t **ids,
                           size_t *n)
{
    pg_store *s = PG(st);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, (int)state);
    pgp_int(&p, due);
    PGresult *r = pg_run(s,
                         "SELECT id FROM campaigns WHERE status = $1 AND "
                         "($2::bigint < 0 OR coalesce(send_at, 0) <= $2::bigint) ORDER BY id",
                         &p, "campaign ids");
    if (r == NULL)
        return EDM_EDB;
    int rows = PQntuples(r);
    int64_t *v = rows ? edm_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++)
        v[i] = pg_int(r, i, 0);
    PQclear(r);
    *ids = v;
    *n = (size_t)rows;
    return 0;
}

static int pg_campaign_has_pending(edm_store *st, int64_t id)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r = pg_run(PG(st),
                         "SELECT EXISTS (SELECT 1 FROM campaign_counts WHERE campaign_id = $1 "
                         "AND status IN (0, 1) AND n > 0)",
                         &p, "pending");
    if (r == NULL)
        return EDM_EDB;
    int v = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return v;
}

static int pg_campaign_counts(edm_store *st, int64_t id, int64_t counts[EDM_DSTATE_COUNT])
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r = pg_run(PG(st), "SELECT status, n FROM campaign_counts WHERE campaign_id = $1", &p,
                         "counts");
    if (r == NULL)
        return EDM_EDB;
    memset(counts, 0, sizeof(int64_t) * EDM_DSTATE_COUNT);
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t stt = pg_int(r, i, 0);
        if (stt >= 0 && stt < EDM_DSTATE_COUNT)
            counts[stt] += pg_int(r, i, 1);
    }
    PQclear(r);
    return 0;
}

static const struct edm_store_ops pg_ops = {
    .name = "pg",
    .close = pg_close,
    .errmsg = pg_errmsg,
    .schema_version = pg_schema_version,
    .feedback_apply = pg_feedback_apply,
    .delivery_by_message_id = pg_delivery_by_message_id,
    .event_list = pg_event_list,
    .setting_get_or_create = pg_setting_get_or_create,
    .setting_get = pg_setting_get,
    .setting_put = pg_setting_put,
    .ip_counters_get = pg_ip_counters_get,
    .ip_counters_put = pg_ip_counters_put,
    .template_create = pg_template_create,
    .template_get = pg_template_get,
    .template_list = pg_template_list,
    .template_update = pg_template_update,
    .template_delete = pg_template_delete,
    .campaign_create = pg_campaign_create,
    .campaign_get = pg_campaign_get,
    .campaign_list = pg_campaign_list,
    .campaign_update = pg_campaign_update,
    .campaign_delete = pg_campaign_delete,
    .campaign_transition = pg_campaign_transition,
    .campaign_ids = pg_campaign_ids,
    .campaign_has_pending = pg_campaign_has_pending,
    .campaign_counts = pg_campaign_counts,
    .campaign_stats = pg_campaign_stats,
    .upload_begin = pg_upload_begin,
    .upload_add = pg_upload_add,
    .upload_end = pg_upload_end,
    .claim = pg_claim,
    .record = pg_record,
    .unclaim = pg_unclaim,
    .cancel_pending = pg_cancel_pending,
    .receipt_list = pg_receipt_list,
    .receipt_get = pg_receipt_get,
    .receipt_events = pg_receipt_events,
    .suppression_add = pg_suppression_add,
    .suppression_list = pg_suppression_list,
    .suppression_delete = pg_suppression_delete,
    .suppression_check = pg_suppression_check,
    .suppression_filter = pg_suppression_filter,
    .idem_get = pg_idem_get,
    .idem_put = pg_idem_put,
    .message_create = pg_message_create,
    .message_load = pg_message_load,
    .message_get = pg_message_get,
    .message_list = pg_message_list,
    .claim_txn = pg_claim_txn,
    .track_lookup = pg_track_lookup,
    .track_source = pg_track_source,
    .engagement_record = pg_engagement_record,
    .webhook_create = pg_webhook_create,
    .webhook_list = pg_webhook_list,
    .webhook_delete = pg_webhook_delete,
    .webhook_all = pg_webhook_all,
    .outbox_batch = pg_outbox_batch,
    .outbox_ack = pg_outbox_ack,
    .outbox_retry = pg_outbox_retry,
    .node_join = pg_node_join,
    .node_beat = pg_node_beat,
    .node_leave = pg_node_leave,
    .node_attach = pg_node_attach,
    .node_list = pg_node_list,
};

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like */
}

int edm_store_pg_open(const char *conninfo, edm_store **out, char *err, size_t errlen)
{
    *out = NULL;
    pg_store *s = edm_calloc(1, sizeof *s);
    if (s == NULL)
        return EDM_ENOMEM;
    s->base.ops = &pg_ops;
    int rc = EDM_EDB;
    s->conn = PQconnectdb(conninfo);
    if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
        /* libpq's message names the host and socket, never the password */
        snprintf(s->err, sizeof s->err, "cannot connect to PostgreSQL: %s",
                 s->conn ? PQerrorMessage(s->conn) : "out of memory");
        size_t l = strlen(s->err);
        while (l > 0 && s->err[l - 1] == '\n')
            s->err[--l] = '\0';
        goto fail;
    }
    PQsetNoticeProcessor(s->conn, quiet_notices, NULL);
    if ((rc = exec_script(s, SESSION_SETTINGS, "session settings")) != 0)
        goto fail;
    if ((rc = migrate(s)) != 0)
        goto fail;
    *out = &s->base;
    return 0;
fail:
    if (err)
        snprintf(err, errlen, "%s", s->err[0] ? s->err : edm_strerror(rc));
    pg_close(&s->base);
    return rc ? rc : EDM_EDB;
}
