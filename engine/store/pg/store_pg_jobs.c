/*
 * engine/store/pg/store_pg_jobs.c: the PostgreSQL backend's hot paths
 * (store.h): recipient upload (UPLOAD_CHUNK rows a statement, as arrays
 * unnested server-side, the suppression check inside the insert; a commit
 * every UPLOAD_BATCH rows), claiming due
 * work (deferred rows leased with FOR UPDATE SKIP LOCKED, queued rows read
 * by cursor), recording a batch of outcomes and their attempt events in
 * one statement (arrays unnested server-side), handing claims back,
 * cancelling what is left of a campaign, and the per source address
 * counters (schema/pg/0003_ip_counters.sql).
 */
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/store/pg/store_pg_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define UPLOAD_BATCH 20000 /* rows a transaction */
#define UPLOAD_CHUNK 5000  /* rows a statement */

/* ---- recipient upload ---- */

struct edm_upload {
    pg_store *s;
    int64_t campaign_id;
    int64_t now;
    size_t in_batch;
    int any_suppressions;
};

int pg_upload_begin(edm_store *st, int64_t campaign_id, edm_upload **up)
{
    pg_store *s = PG(st);
    int rc = pg_campaign_get(st, campaign_id, NULL);
    if (rc != 0)
        return rc;
    if ((rc = pg_begin(s)) != 0)
        return rc;
    PGresult *r = pg_run(s, "SELECT EXISTS (SELECT 1 FROM suppressions)", NULL, "suppressions");
    if (r == NULL) {
        pg_rollback(s);
        return EDM_EDB;
    }
    edm_upload *u = edm_xcalloc(1, sizeof *u);
    u->s = s;
    u->campaign_id = campaign_id;
    u->now = edm_time_now();
    u->any_suppressions = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    *up = u;
    return 0;
}

/* A chunk of rows in one statement: the rows as four arrays unnested
 * server-side (the compact variables as hex text, store_pg_vars.c), the first of each address in
 * the chunk inserted in the order given (ids grow in that order), the suppression check inside the
 * insert. It returns the 1-based position and state of each row written;
 * every other row is a duplicate (earlier in the chunk or already there). */
static const char SQL_UPLOAD[] =
    "WITH v AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $7::text[]) WITH "
    "ORDINALITY AS v(email, domain, vars, vars_hex, ord)), "
    "f AS (SELECT DISTINCT ON (email) email, domain, vars, vars_hex, ord FROM v "
    "ORDER BY email, ord), "
    "i AS (INSERT INTO deliveries(campaign_id, email, domain, vars, vars_bin, status, queued_at, "
    "next_attempt_at) SELECT $1, f.email, f.domain, f.vars, decode(f.vars_hex, 'hex'), "
    "CASE WHEN $6::boolean AND EXISTS "
    "(SELECT 1 FROM suppressions WHERE value IN (f.email, f.domain)) THEN 4 ELSE 0 END, $5, 0 "
    "FROM f ORDER BY f.ord ON CONFLICT (email, campaign_id) DO NOTHING RETURNING email, status) "
    "SELECT f.ord, i.status FROM f JOIN i ON i.email = f.email";

static void arr_text(edm_buf *b, const char *v, int empty_is_null);

/* An element of a text[] literal: the bytes of v as hex, or NULL.
 * Returns 0 or EDM_ENOMEM. */
static int arr_hex(edm_buf *b, const edm_buf *v)
{
    static const char digits[] = "0123456789abcdef";
    if (edm_buf_reserve(b, (v ? v->len * 2 : 4) + 3) != 0)
        return EDM_ENOMEM;
    if (b->len > 1)
        edm_buf_append_char(b, ',');
    if (v == NULL)
        return edm_buf_append_str(b, "NULL");
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < v->len; i++) {
        *o++ = digits[(unsigned char)v->data[i] >> 4];
        *o++ = digits[(unsigned char)v->data[i] & 15];
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

static int upload_chunk(edm_upload *u, const edm_recipient *rows, size_t n,
                        enum edm_add_outcome *outcomes)
{
    edm_buf cols[4];
    for (int c = 0; c < 4; c++) {
        edm_buf_init(&cols[c]);
        edm_buf_append_char(&cols[c], '{');
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        arr_text(&cols[0], rows[i].email, 0);
        arr_text(&cols[1], rows[i].domain, 0);
        rc = pg_vars_encode(u->s, &rows[i]);
        arr_text(&cols[2], rc == 0 ? rows[i].vars_json : NULL, 0);
        if (rc >= 0 && arr_hex(&cols[3], rc == 1 ? &u->s->vars_buf : NULL) != 0)
            rc = EDM_ENOMEM;
        outcomes[i] = EDM_ADD_DUPLICATE;
    }
    if (rc > 0)
        rc = 0;
    for (int c = 0; c < 4; c++) {
        edm_buf_append_char(&cols[c], '}');
        if (cols[c].data == NULL)
            rc = EDM_ENOMEM;
    }
    if (rc == 0) {
        pg_params p;
        pgp_init(&p);
        pgp_int(&p, u->campaign_id);
        for (int c = 0; c < 3; c++)
            pgp_text(&p, cols[c].data);
        pgp_int(&p, u->now);
        pgp_text(&p, u->any_suppressions ? "true" : "false");
        pgp_text(&p, cols[3].data);
        PGresult *q = pg_run(u->s, SQL_UPLOAD, &p, "insert recipients");
        if (q == NULL) {
            rc = pg_code(u->s);
        } else {
            for (int k = 0; k < PQntuples(q); k++) {
                int64_t ord = pg_int(q, k, 0);
                EDM_ASSERT(ord >= 1 && (size_t)ord <= n);
                outcomes[ord - 1] = pg_int(q, k, 1) == EDM_DSTATE_SUPPRESSED ? EDM_ADD_SUPPRESSED
                                                                             : EDM_ADD_ACCEPTED;
            }
            PQclear(q);
        }
    }
    for (int c = 0; c < 4; c++)
        edm_buf_free(&cols[c]);
    return rc;
}

int pg_upload_add(edm_upload *u, const edm_recipient *rows, size_t n,
                  enum edm_add_outcome *outcomes)
{
    for (size_t at = 0; at < n;) {
        size_t k = n - at < UPLOAD_CHUNK ? n - at : UPLOAD_CHUNK;
        int rc = upload_chunk(u, rows + at, k, outcomes + at);
        if (rc != 0)
            return rc;
        at += k;
        u->s->uploaded += (int64_t)k;
        if ((u->in_batch += k) >= UPLOAD_BATCH) {
            u->in_batch = 0;
            if ((rc = pg_commit(u->s)) != 0 || (rc = pg_begin(u->s)) != 0)
                return rc;
        }
    }
    return 0;
}

/* The planner's statistics after big uploads: until autovacuum gets to a
 * freshly filled table (minutes later), PostgreSQL plans as if it were
 * nearly empty, and a receipts page became a sort of the whole campaign
 * (89 ms at 200k rows, against 0.6 ms once analyzed). ANALYZE samples a
 * fixed number of rows; it runs when this connection has uploaded at
 * least ANALYZE_MIN rows, and as many again as at the previous one, so a
 * 10M-row upload analyzes about eight times. A failure is only logged:
 * the upload is committed. */
#define ANALYZE_MIN 50000

static void analyze_after_upload(pg_store *s)
{
    int64_t due = s->analyzed_at > ANALYZE_MIN ? s->analyzed_at : ANALYZE_MIN;
    if (s->uploaded < due)
        return;
    s->analyzed_at += s->uploaded;
    s->uploaded = 0;
    if (pg_do(s, "ANALYZE deliveries", NULL, "analyze deliveries") != 0)
        edm_log(EDM_LOG_WARN, "store", "ANALYZE after an upload failed: %s", s->err);
}

int pg_upload_end(edm_upload *u, int commit)
{
    if (u == NULL)
        return 0;
    int rc = 0;
    if (commit)
        rc = pg_commit(u->s);
    if (!commit || rc != 0)
        pg_rollback(u->s);
    else
        analyze_after_upload(u->s);
    edm_free(u);
    return rc;
}

/* ---- claim ---- */

/* Each claim updates the rows whose ids its locking sub-select returns:
 * "id = ANY(ARRAY(sub-select))" makes those ids one array looked up in the
 * primary key. "id IN (sub-select)" let the planner hash-join the whole
 * table against the few hundred ids (a sequential scan every claim). */
static const char SQL_CLAIM_RETRY[] =
    "UPDATE deliveries SET next_attempt_at = $4 WHERE id = ANY(ARRAY(SELECT id FROM deliveries "
    "WHERE campaign_id = $1 AND status = 1 AND next_attempt_at <= $2 "
    "ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)) "
    "RETURNING id, email, domain, vars, attempts, queued_at, first_attempt_at, vars_bin";
/* A node (store_pg_nodes.c) leases the queued rows it claims: nobody else
 * claims them until it records them, hands them back, or is gone. Its own
 * leased rows stay claimable by itself: the pipeline drops queued rows it
 * will not send (pause, cancel) without handing them back, moving its
 * cursor back instead, and never hands out a row it has in flight. */
static const char SQL_CLAIM_LEASED[] =
    "UPDATE deliveries SET lease_node = $4 WHERE id = ANY(ARRAY(SELECT id FROM deliveries "
    "WHERE campaign_id = $1 AND status = 0 AND (lease_node IS NULL OR lease_node = $4) "
    "AND id > $2 "
    "ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)) "
    "RETURNING id, email, domain, vars, attempts, queued_at, first_attempt_at, vars_bin";
/* The second round from the start: only rows nobody holds (a dead node's,
 * handed back by a heartbeat), never this node's own again. */
static const char SQL_CLAIM_FREE[] =
    "UPDATE deliveries SET lease_node = $4 WHERE id = ANY(ARRAY(SELECT id FROM deliveries "
    "WHERE campaign_id = $1 AND status = 0 AND lease_node IS NULL AND id > $2 "
    "ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)) "
    "RETURNING id, email, domain, vars, attempts, queued_at, first_attempt_at, vars_bin";
static const char SQL_CLAIM_QUEUED[] =
    "SELECT id, email, domain, vars, attempts, queued_at, first_attempt_at, vars_bin "
    "FROM deliveries WHERE campaign_id = $1 AND status = 0 AND id > $2 ORDER BY id LIMIT $3";

static char *col_dup(const PGresult *q, int r, int c)
{
    return pg_isnull(q, r, c) ? NULL
                              : edm_strndup(PQgetvalue(q, r, c), (size_t)PQgetlength(q, r, c));
}

/* Appends the rows of q to v[*cnt..limit); 0 or EDM_ENOMEM. */
static int read_jobs(pg_store *s, const PGresult *q, int64_t campaign_id, edm_job *v, size_t *cnt,
                     size_t limit)
{
    int oom = 0, failed = 0;
    for (int i = 0; i < PQntuples(q) && *cnt < limit; i++) {
        edm_job *j = &v[(*cnt)++];
        j->id = pg_int(q, i, 0);
        j->campaign_id = campaign_id;
        j->email = col_dup(q, i, 1);
        j->domain = col_dup(q, i, 2);
        int vrc = pg_vars_col(s, q, i, 3, 7, &j->vars);
        j->attempts = (int)pg_int(q, i, 4);
        j->queued_at = pg_int(q, i, 5);
        j->first_attempt_at = pg_int(q, i, 6);
        if (j->email == NULL || j->domain == NULL || vrc == EDM_ENOMEM)
            oom = 1;
        else if (vrc != 0)
            failed = vrc;
    }
    return oom ? EDM_ENOMEM : failed;
}

/* Ids handed out by RETURNING come in no order: id order for the caller. */
static int cmp_job(const void *a, const void *b)
{
    int64_t x = ((const edm_job *)a)->id, y = ((const edm_job *)b)->id;
    return x < y ? -1 : x > y;
}

int pg_claim(edm_store *st, int64_t campaign_id, int64_t now, int64_t lease, int64_t *cursor,
             size_t limit, edm_job **jobs, size_t *n)
{
    pg_store *s = PG(st);
    *jobs = NULL;
    *n = 0;
    if (limit == 0)
        return 0;
    edm_job *v = edm_calloc(limit, sizeof *v);
    if (v == NULL)
        return EDM_ENOMEM;
    size_t cnt = 0;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, campaign_id);
    pgp_int(&p, now);
    pgp_int(&p, (int64_t)limit);
    pgp_int(&p, now + lease);
    int rc = EDM_EDB;
    PGresult *q = pg_run(s, SQL_CLAIM_RETRY, &p, "claim deferred");
    if (q == NULL)
        goto fail;
    rc = read_jobs(s, q, campaign_id, v, &cnt, limit);
    PQclear(q);
    if (rc != 0)
        goto fail; /* the leased deferred rows come back when the lease ends */
    qsort(v, cnt, sizeof *v, cmp_job);
    /* Queued rows after the cursor; a node goes round once more from the
     * start when that is not enough: rows a dead node held come back below
     * the cursor (its own are leased, so never handed out twice). */
    for (int round = 0; cnt < limit && round < 2; round++) {
        int leased = s->node_id[0] != '\0';
        if (round == 1 && (!leased || *cursor == 0))
            break;
        pgp_init(&p);
        pgp_int(&p, campaign_id);
        pgp_int(&p, round == 0 ? *cursor : 0);
        pgp_int(&p, (int64_t)(limit - cnt));
        if (leased)
            pgp_text(&p, s->node_id);
        rc = EDM_EDB;
        const char *sql = !leased ? SQL_CLAIM_QUEUED : round ? SQL_CLAIM_FREE : SQL_CLAIM_LEASED;
        if ((q = pg_run(s, sql, &p, "claim queued")) == NULL)
            goto fail;
        size_t first = cnt;
        rc = read_jobs(s, q, campaign_id, v, &cnt, limit);
        PQclear(q);
        if (rc != 0)
            goto fail;
        qsort(v + first, cnt - first, sizeof *v, cmp_job);
        if (cnt > first && v[cnt - 1].id > *cursor)
            *cursor = v[cnt - 1].id;
    }
    if (cnt == 0) {
        edm_free(v);
        v = NULL;
    }
    *jobs = v;
    *n = cnt;
    return 0;
fail:
    edm_store_jobs_free(v, cnt);
    return rc;
}

int pg_unclaim(edm_store *st, const int64_t *ids, size_t n, int64_t now)
{
    if (n == 0)
        return 0;
    edm_buf arr = EDM_BUF_INIT;
    edm_buf_append_char(&arr, '{');
    for (size_t i = 0; i < n; i++)
        edm_buf_appendf(&arr, "%s%" PRId64, i ? "," : "", ids[i]);
    edm_buf_append_char(&arr, '}');
    if (arr.data == NULL)
        return EDM_ENOMEM;
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, arr.data);
    pgp_int(&p, now);
    int rc = pg_do(PG(st),
                   "UPDATE deliveries SET next_attempt_at = CASE WHEN status = 1 OR txn = 1 "
                   "THEN $2 ELSE next_attempt_at END, lease_node = NULL "
                   "WHERE id = ANY($1::bigint[]) AND status IN (0, 1)",
                   &p, "unclaim");
    edm_buf_free(&arr);
    return rc;
}

/* ---- suppression look-up of a claimed batch ---- */

int pg_suppression_filter(edm_store *st, const edm_job *jobs, size_t n, unsigned char *hit)
{
    memset(hit, 0, n);
    if (n == 0)
        return 0;
    /* Every email and domain of the batch in one array, one statement. */
    edm_buf arr = EDM_BUF_INIT;
    edm_buf_append_char(&arr, '{');
    for (size_t i = 0; i < n; i++) {
        arr_text(&arr, jobs[i].email, 0);
        arr_text(&arr, jobs[i].domain, 0);
    }
    edm_buf_append_char(&arr, '}');
    if (arr.data == NULL)
        return EDM_ENOMEM;
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, arr.data);
    PGresult *r = pg_run(PG(st), "SELECT value FROM suppressions WHERE value = ANY($1::text[])", &p,
                         "suppression filter");
    edm_buf_free(&arr);
    if (r == NULL)
        return EDM_EDB;
    for (int k = 0; k < PQntuples(r); k++) {
        const char *v = PQgetvalue(r, k, 0);
        for (size_t i = 0; i < n; i++)
            if ((jobs[i].email && strcmp(jobs[i].email, v) == 0) ||
                (jobs[i].domain && strcmp(jobs[i].domain, v) == 0))
                hit[i] = 1;
    }
    PQclear(r);
    return 0;
}

/* ---- record ---- */

/* The columns of a batch of outcomes, each a PostgreSQL array literal. */
enum {
    RC_ID,
    RC_STATUS,
    RC_ATTEMPTED,
    RC_CODE,
    RC_ENH,
    RC_RESP,
    RC_CAT,
    RC_MXH,
    RC_MXIP,
    RC_SRC,
    RC_TLS,
    RC_MSGID,
    RC_RQID,
    RC_AT,
    RC_NEXT,
    RC_DUR,
    RC_COUNT
};

static void arr_int(edm_buf *b, int64_t v, int null_if_zero)
{
    if (b->len > 1)
        edm_buf_append_char(b, ',');
    if (null_if_zero && v == 0)
        edm_buf_append_str(b, "NULL");
    else
        edm_buf_appendf(b, "%" PRId64, v);
}

/* A text element, quoted and escaped; NULL (or "" when empty_is_null). */
static void arr_text(edm_buf *b, const char *v, int empty_is_null)
{
    if (b->len > 1)
        edm_buf_append_char(b, ',');
    if (v == NULL || (empty_is_null && v[0] == '\0')) {
        edm_buf_append_str(b, "NULL");
        return;
    }
    edm_buf_append_char(b, '"');
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\')
            edm_buf_append_char(b, '\\');
        edm_buf_append_char(b, *c);
    }
    edm_buf_append_char(b, '"');
}

static const char SQL_RECORD[] =
    "WITH v AS (SELECT * FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::integer[], "
    "$5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], "
    "$12::text[], $13::text[], $14::bigint[], $15::bigint[], $16::bigint[]) AS v(id, status, "
    "attempted, code, enhanced, response, category, mx_host, mx_ip, source_ip, tls, message_id, "
    "remote_queue_id, at, next_at, duration_ms)), "
    "u AS (UPDATE deliveries d SET status = v.status, attempts = d.attempts + v.attempted, "
    "smtp_code = v.code, enhanced_code = v.enhanced, response = v.response, "
    "bounce_category = v.category, mx_host = coalesce(v.mx_host, d.mx_host), "
    "mx_ip = coalesce(v.mx_ip, d.mx_ip), source_ip = coalesce(v.source_ip, d.source_ip), "
    "tls = coalesce(v.tls, d.tls), message_id = coalesce(v.message_id, d.message_id), "
    "remote_queue_id = v.remote_queue_id, "
    "first_attempt_at = CASE WHEN v.attempted = 1 THEN coalesce(d.first_attempt_at, v.at) "
    "ELSE d.first_attempt_at END, "
    "last_attempt_at = CASE WHEN v.attempted = 1 THEN v.at ELSE d.last_attempt_at END, "
    "delivered_at = CASE WHEN v.status = 2 THEN v.at ELSE d.delivered_at END, "
    "next_attempt_at = v.next_at, lease_node = NULL FROM v WHERE d.id = v.id RETURNING d.id) "
    "INSERT INTO delivery_events(delivery_id, attempted_at, status, smtp_code, enhanced_code, "
    "response, mx_host, mx_ip, source_ip, tls, duration_ms) "
    "SELECT v.id, v.at, v.status, v.code, v.enhanced, v.response, v.mx_host, v.mx_ip, "
    "v.source_ip, v.tls, v.duration_ms FROM v JOIN u ON u.id = v.id WHERE v.attempted = 1 "
    "ORDER BY v.id";

/* Writes order[0..n) (distinct ids) in one statement. */
static int record_batch(pg_store *s, const edm_outcome **order, size_t n)
{
    edm_buf cols[RC_COUNT];
    for (int c = 0; c < RC_COUNT; c++) {
        edm_buf_init(&cols[c]);
        edm_buf_append_char(&cols[c], '{');
    }
    int64_t now = edm_time_now();
    for (size_t i = 0; i < n; i++) {
        const edm_outcome *r = order[i];
        EDM_ASSERT(r->status != EDM_DSTATE_QUEUED);
        arr_int(&cols[RC_ID], r->id, 0);
        arr_int(&cols[RC_STATUS], (int)r->status, 0);
        arr_int(&cols[RC_ATTEMPTED], r->attempted ? 1 : 0, 0);
        arr_int(&cols[RC_CODE], r->code, 1);
        arr_text(&cols[RC_ENH], r->enhanced, 1);
        arr_text(&cols[RC_RESP], r->text, 0);
        arr_text(&cols[RC_CAT], edm_category_name(r->category), 1);
        arr_text(&cols[RC_MXH], r->mx_host, 1);
        arr_text(&cols[RC_MXIP], r->mx_ip, 1);
        arr_text(&cols[RC_SRC], r->source_ip, 1);
        arr_text(&cols[RC_TLS], r->tls, 1);
        arr_text(&cols[RC_MSGID], r->message_id, 1);
        arr_text(&cols[RC_RQID], r->remote_queue_id, 1);
        arr_int(&cols[RC_AT], r->attempted_at ? r->attempted_at : now, 0);
        arr_int(&cols[RC_NEXT], r->status == EDM_DSTATE_DEFERRED ? r->next_attempt_at : 0, 0);
        arr_int(&cols[RC_DUR], r->duration_ms, 0);
    }
    pg_params p;
    pgp_init(&p);
    int rc = 0;
    for (int c = 0; c < RC_COUNT; c++) {
        edm_buf_append_char(&cols[c], '}');
        if (cols[c].data == NULL)
            rc = EDM_ENOMEM;
        pgp_text(&p, cols[c].data);
    }
    if (rc == 0)
        rc = pg_do(s, SQL_RECORD, &p, "record results");
    for (int c = 0; c < RC_COUNT; c++)
        edm_buf_free(&cols[c]);
    return rc;
}

int pg_record(edm_store *st, const edm_outcome *results, size_t n)
{
    pg_store *s = PG(st);
    if (n == 0)
        return 0;
    const edm_outcome **order = edm_outcomes_by_id(results, n);
    if (order == NULL)
        return EDM_ENOMEM;
    /* One statement per run of distinct ids (an id twice in a batch is
     * written in two statements, in the order given), one transaction. */
    int rc = pg_begin(s);
    size_t start = 0;
    while (rc == 0 && start < n) {
        size_t end = start + 1;
        while (end < n && order[end]->id != order[end - 1]->id)
            end++;
        rc = record_batch(s, order + start, end - start);
        start = end;
    }
    /* Hard bounces suppress their address (edm_category_hard), in the
     * same transaction; one already listed keeps its reason. */
    edm_buf hard = EDM_BUF_INIT;
    edm_buf_append_char(&hard, '{');
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (order[i]->status == EDM_DSTATE_BOUNCED && edm_category_hard(order[i]->category))
            arr_int(&hard, order[i]->id, 0);
    if (rc == 0 && hard.len > 1) {
        if (edm_buf_append_char(&hard, '}') != 0 || hard.data == NULL) {
            rc = EDM_ENOMEM;
        } else {
            pg_params p;
            pgp_init(&p);
            pgp_text(&p, hard.data);
            pgp_int(&p, edm_time_now());
            /* under the list's lock, for GET /v1/suppressions?after= */
            rc = pg_do(s, PG_LIST_LOCK(PG_LOCK_SUPPRESSIONS), NULL, "suppressions lock");
            if (rc == 0)
                rc = pg_do(s,
                           "INSERT INTO suppressions(value, kind, reason, created_at) "
                           "SELECT lower(email), 'email', 'bounce', $2 FROM deliveries "
                           "WHERE id = ANY($1::bigint[]) ON CONFLICT (value) DO NOTHING",
                           &p, "record suppression");
        }
    }
    edm_buf_free(&hard);
    edm_free(order);
    if (rc == 0)
        rc = pg_commit(s);
    if (rc != 0)
        pg_rollback(s);
    return rc;
}

int pg_cancel_pending(edm_store *st, int64_t campaign_id)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, campaign_id);
    PGresult *r = pg_run(PG(st),
                         "UPDATE deliveries SET status = 6, next_attempt_at = 0, lease_node = NULL "
                         "WHERE campaign_id = $1 AND status IN (0, 1)",
                         &p, "cancel pending");
    if (r == NULL)
        return EDM_EDB;
    int64_t n = pg_affected(r);
    PQclear(r);
    return (int)n;
}

/* ---- per source address counters ---- */

int pg_ip_counters_get(edm_store *st, const char *addr, int64_t *first_day, char **hour, char **day)
{
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, addr);
    PGresult *r = pg_run(PG(st), "SELECT first_day, hour, day FROM ip_counters WHERE addr = $1", &p,
                         "read ip counters");
    if (r == NULL)
        return EDM_EDB;
    int found = PQntuples(r) == 1;
    if (found) {
        *first_day = pg_int(r, 0, 0);
        *hour = pg_dup(r, 0, 1);
        *day = pg_dup(r, 0, 2);
    }
    PQclear(r);
    return found ? 0 : EDM_ENOTFOUND;
}

int pg_ip_counters_put(edm_store *st, const edm_ip_counters *rows, size_t n)
{
    pg_store *s = PG(st);
    int rc = pg_begin(s);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        pg_params p;
        pgp_init(&p);
        pgp_text(&p, rows[i].addr);
        pgp_int(&p, rows[i].first_day);
        pgp_text(&p, rows[i].hour);
        pgp_text(&p, rows[i].day);
        pgp_int(&p, edm_time_now());
        rc = pg_do(s,
                   "INSERT INTO ip_counters(addr, first_day, hour, day, updated_at) "
                   "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (addr) DO UPDATE SET "
                   "first_day = excluded.first_day, hour = excluded.hour, day = excluded.day, "
                   "updated_at = excluded.updated_at",
                   &p, "write ip counters");
    }
    if (rc == 0)
        rc = pg_commit(s);
    if (rc != 0)
        pg_rollback(s);
    return rc;
}
