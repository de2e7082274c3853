/*
 * engine/store/sqlite/store_sqlite_jobs.c: the SQLite backend's hot paths (store.h):
 * recipient upload in batches, claiming due work (deferred rows leased,
 * queued rows read by cursor: being in flight is not stored), handing
 * claims back, cancelling what is left of a campaign (recording outcomes:
 * store_sqlite_record.c),
 * the suppression check of a claimed batch (one statement).
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"

#include <stdlib.h>
#include <string.h>

#define UPLOAD_BATCH 20000

/* ---- recipient upload ---- */

struct edm_upload {
    sq_store *s;
    int64_t campaign_id;
    int64_t now;
    size_t in_batch;
    int any_suppressions; /* 0: skip the per-row look-up */
};

int sq_upload_begin(edm_store *st, int64_t campaign_id, edm_upload **up)
{
    sq_store *s = SQ(st);
    int rc = sq_campaign_get(st, campaign_id, NULL);
    if (rc != 0)
        return rc;
    edm_upload *u = edm_calloc(1, sizeof *u);
    if (u == NULL)
        return EDM_ENOMEM;
    u->s = s;
    u->campaign_id = campaign_id;
    u->now = edm_time_now();
    if ((rc = sq_begin(s)) != 0) {
        edm_free(u);
        return rc;
    }
    /* Inside the transaction: no suppression can appear until it ends. */
    sqlite3_stmt *q = sq_stmt(s, SQ_SUPPRESSION_ANY);
    if (q == NULL || sqlite3_step(q) != SQLITE_ROW) {
        sq_rollback(s);
        edm_free(u);
        return sq_fail(s, "suppressions");
    }
    u->any_suppressions = sqlite3_column_int(q, 0);
    sqlite3_reset(q);
    *up = u;
    return 0;
}

/* Is r on the suppression list? 1 yes, 0 no, or an error (< 0). */
int sq_recipient_suppressed(sq_store *s, sqlite3_stmt *q, const edm_recipient *r)
{
    if (q == NULL)
        return EDM_EDB;
    sq_bind_text(q, 1, r->email);
    sq_bind_text(q, 2, r->domain);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_fail(s, "suppression check");
    return rc == SQLITE_ROW;
}

static int upload_suppressed(edm_upload *u, const edm_recipient *r)
{
    return u->any_suppressions
               ? sq_recipient_suppressed(u->s, sq_stmt(u->s, SQ_UPLOAD_SUPPRESSED), r)
               : 0;
}

/* Binds row r as the six parameters from `first` on of ins. */
static int bind_row(edm_upload *u, sqlite3_stmt *ins, int first, const edm_recipient *r,
                    int suppressed)
{
    int rc;
    sqlite3_bind_int64(ins, first, u->campaign_id);
    sq_bind_text(ins, first + 1, r->email);
    if ((rc = sq_bind_string(u->s, ins, first + 2, r->domain)) != 0 ||
        (rc = sq_vars_bind(u->s, ins, first + 3, r)) != 0)
        return rc;
    sqlite3_bind_int(ins, first + 4, suppressed ? EDM_DSTATE_SUPPRESSED : EDM_DSTATE_QUEUED);
    sqlite3_bind_int64(ins, first + 5, u->now);
    return 0;
}

/* Commits every UPLOAD_BATCH rows. */
static int upload_counted(edm_upload *u, size_t n)
{
    int rc = 0;
    u->in_batch += n;
    if (u->in_batch >= UPLOAD_BATCH) {
        u->in_batch = 0;
        if ((rc = sq_commit(u->s)) == 0)
            rc = sq_begin(u->s);
    }
    return rc;
}

static int add_one(edm_upload *u, const edm_recipient *r, enum edm_add_outcome *outcome)
{
    sq_store *s = u->s;
    int rc, suppressed = upload_suppressed(u, r);
    if (suppressed < 0)
        return suppressed;
    sqlite3_stmt *ins = sq_stmt(s, SQ_UPLOAD_INSERT);
    if (ins == NULL)
        return EDM_EDB;
    if ((rc = bind_row(u, ins, 1, r, suppressed)) != 0 ||
        (rc = sq_step_done(s, ins, "insert recipient")) != 0)
        return rc;
    if (sqlite3_changes(s->db) == 0)
        *outcome = EDM_ADD_DUPLICATE;
    else
        *outcome = suppressed ? EDM_ADD_SUPPRESSED : EDM_ADD_ACCEPTED;
    return upload_counted(u, 1);
}

/* SQ_UPLOAD_ROWS rows in one statement. The rows it returns are those
 * inserted: a row whose address is not among them (or was taken by an
 * earlier row of the same address) was a duplicate. */
static int add_many(edm_upload *u, const edm_recipient *r, enum edm_add_outcome *outcome)
{
    sq_store *s = u->s;
    unsigned char suppressed[SQ_UPLOAD_ROWS], inserted[SQ_UPLOAD_ROWS] = {0};
    sqlite3_stmt *ins = sq_stmt(s, SQ_UPLOAD_INSERT_MANY);
    if (ins == NULL)
        return EDM_EDB;
    int rc;
    for (int i = 0; i < SQ_UPLOAD_ROWS; i++) {
        if ((rc = upload_suppressed(u, &r[i])) < 0) {
            sqlite3_clear_bindings(ins);
            return rc;
        }
        suppressed[i] = (unsigned char)rc;
        if ((rc = bind_row(u, ins, 1 + 6 * i, &r[i], rc)) != 0) {
            sqlite3_clear_bindings(ins);
            return rc;
        }
    }
    while ((rc = sqlite3_step(ins)) == SQLITE_ROW) {
        const char *email = (const char *)sqlite3_column_text(ins, 0);
        for (int i = 0; email && i < SQ_UPLOAD_ROWS; i++)
            if (!inserted[i] && strcmp(r[i].email, email) == 0) {
                inserted[i] = 1;
                break;
            }
    }
    sqlite3_reset(ins);
    sqlite3_clear_bindings(ins);
    if (rc != SQLITE_DONE)
        return sq_fail(s, "insert recipients");
    for (int i = 0; i < SQ_UPLOAD_ROWS; i++)
        outcome[i] = !inserted[i]    ? EDM_ADD_DUPLICATE
                     : suppressed[i] ? EDM_ADD_SUPPRESSED
                                     : EDM_ADD_ACCEPTED;
    return upload_counted(u, SQ_UPLOAD_ROWS);
}

/* SQ_UPLOAD_ROWS rows a statement, the rest one by one. */
int sq_upload_add(edm_upload *u, const edm_recipient *rows, size_t n,
                  enum edm_add_outcome *outcomes)
{
    size_t i = 0;
    int rc = 0;
    for (; rc == 0 && i + SQ_UPLOAD_ROWS <= n; i += SQ_UPLOAD_ROWS)
        rc = add_many(u, &rows[i], &outcomes[i]);
    for (; rc == 0 && i < n; i++)
        rc = add_one(u, &rows[i], &outcomes[i]);
    return rc;
}

int sq_upload_end(edm_upload *u, int commit)
{
    int rc = 0;
    if (u == NULL)
        return 0;
    if (commit)
        rc = sq_commit(u->s);
    if (!commit || rc != 0)
        sq_rollback(u->s);
    edm_free(u);
    return rc;
}

/* ---- hot path: claim, record, release ---- */

char *sq_email_domain(const char *email)
{
    /* the stored address is normalised: its domain follows its only '@' */
    const char *at = email ? strrchr(email, '@') : NULL;
    return at ? edm_strndup(at + 1, strlen(at + 1)) : NULL;
}

static char *col_dup(sqlite3_stmt *q, int i)
{
    const char *t = (const char *)sqlite3_column_text(q, i);
    return t ? edm_strndup(t, (size_t)sqlite3_column_bytes(q, i)) : NULL;
}

/* Appends the rows of a claim statement to v[*cnt..limit). */
static int collect_jobs(sq_store *s, sqlite3_stmt *q, int64_t campaign_id, edm_job *v, size_t *cnt,
                        size_t limit, const char *what)
{
    int rc = SQLITE_DONE, oom = 0, failed = 0;
    while (*cnt < limit && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        edm_job *j = &v[(*cnt)++];
        j->id = sqlite3_column_int64(q, 0);
        j->campaign_id = campaign_id;
        j->email = col_dup(q, 1);
        j->domain = sq_email_domain(j->email);
        int vrc = sq_vars_col(s, q, 2, &j->vars);
        j->attempts = sqlite3_column_int(q, 3);
        j->queued_at = sqlite3_column_int64(q, 4);
        j->first_attempt_at = sqlite3_column_int64(q, 5);
        if (j->email == NULL || j->domain == NULL || vrc == EDM_ENOMEM)
            oom = 1;
        else if (vrc != 0)
            failed = vrc;
    }
    /* RETURNING rows must all be stepped for the UPDATE to finish. */
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (oom)
        return EDM_ENOMEM;
    if (failed)
        return failed;
    return rc == SQLITE_DONE ? 0 : sq_fail(s, what);
}

int sq_claim(edm_store *st, int64_t campaign_id, int64_t now, int64_t lease, int64_t *cursor,
             size_t limit, edm_job **jobs, size_t *n)
{
    sq_store *s = SQ(st);
    *jobs = NULL;
    *n = 0;
    if (limit == 0)
        return 0;
    edm_job *v = edm_calloc(limit, sizeof *v);
    if (v == NULL)
        return EDM_ENOMEM;
    size_t cnt = 0;
    int rc = sq_begin(s);
    sqlite3_stmt *q = rc == 0 ? sq_stmt(s, SQ_CLAIM_RETRY) : NULL;
    if (q == NULL) {
        rc = EDM_EDB;
        goto fail;
    }
    sqlite3_bind_int64(q, 1, campaign_id);
    sqlite3_bind_int64(q, 2, now);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)limit);
    sqlite3_bind_int64(q, 4, now + lease);
    if ((rc = collect_jobs(s, q, campaign_id, v, &cnt, limit, "claim deferred")) != 0)
        goto fail;
    if (cnt < limit) {
        if ((q = sq_stmt(s, SQ_CLAIM_QUEUED)) == NULL) {
            rc = EDM_EDB;
            goto fail;
        }
        sqlite3_bind_int64(q, 1, campaign_id);
        sqlite3_bind_int64(q, 2, *cursor);
        sqlite3_bind_int64(q, 3, (sqlite3_int64)(limit - cnt));
        size_t first = cnt;
        if ((rc = collect_jobs(s, q, campaign_id, v, &cnt, limit, "claim queued")) != 0)
            goto fail;
        if (cnt > first)
            *cursor = v[cnt - 1].id;
    }
    if ((rc = sq_commit(s)) != 0)
        goto fail;
    if (cnt == 0) {
        edm_free(v);
        v = NULL;
    }
    *jobs = v;
    *n = cnt;
    return 0;
fail:
    sq_rollback(s);
    edm_store_jobs_free(v, cnt);
    return rc;
}

int sq_unclaim(edm_store *st, const int64_t *ids, size_t n, int64_t now)
{
    sq_store *s = SQ(st);
    int rc = sq_begin(s);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_stmt *q = sq_stmt(s, SQ_UNCLAIM);
        if (q == NULL) {
            rc = EDM_EDB;
            break;
        }
        sqlite3_bind_int64(q, 1, ids[i]);
        sqlite3_bind_int64(q, 2, now);
        rc = sq_step_done(s, q, "unclaim");
    }
    if (rc == 0)
        rc = sq_commit(s);
    if (rc != 0)
        sq_rollback(s);
    return rc;
}

int sq_cancel_pending(edm_store *st, int64_t campaign_id)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE deliveries SET status = 6, next_attempt_at = 0 "
                           "WHERE campaign_id = ?1 AND status IN (0, 1)",
                           -1, &q, NULL) != SQLITE_OK)
        return sq_fail(s, "prepare cancel");
    sqlite3_bind_int64(q, 1, campaign_id);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sq_fail(s, "cancel pending");
    return sqlite3_changes(s->db);
}

/* ---- suppression check of a claimed batch ---- */

static int json_str(edm_buf *b, const char *v)
{
    int rc = edm_buf_append_char(b, '"');
    for (const char *c = v ? v : ""; rc == 0 && *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u == '"' || u == '\\')
            rc = edm_buf_appendf(b, "\\%c", u);
        else if (u < 0x20)
            rc = edm_buf_appendf(b, "\\u%04x", u);
        else
            rc = edm_buf_append_char(b, (char)u);
    }
    return rc ? rc : edm_buf_append_char(b, '"');
}

int sq_suppression_filter(edm_store *st, const edm_job *jobs, size_t n, unsigned char *hit)
{
    sq_store *s = SQ(st);
    memset(hit, 0, n);
    if (n == 0)
        return 0;
    /* An empty list (the usual case) costs one probe for the batch. */
    sqlite3_stmt *q = sq_stmt(s, SQ_SUPPRESSION_ANY);
    if (q == NULL)
        return EDM_EDB;
    int rc = sqlite3_step(q);
    int any = rc == SQLITE_ROW && sqlite3_column_int(q, 0);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW)
        return sq_fail(s, "suppressions");
    if (!any)
        return 0;
    edm_buf arr = EDM_BUF_INIT;
    rc = edm_buf_append_char(&arr, '[');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((rc = json_str(&arr, jobs[i].email)) == 0 && (rc = edm_buf_append_char(&arr, ',')) == 0)
            rc = json_str(&arr, jobs[i].domain);
        if (rc == 0 && i + 1 < n)
            rc = edm_buf_append_char(&arr, ',');
    }
    if (rc == 0)
        rc = edm_buf_append_char(&arr, ']');
    if (rc != 0 || (q = sq_stmt(s, SQ_SUPPRESSION_FILTER)) == NULL) {
        edm_buf_free(&arr);
        return rc ? EDM_ENOMEM : EDM_EDB;
    }
    sqlite3_bind_text(q, 1, arr.data, (int)arr.len, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(q, 0);
        for (size_t i = 0; v && i < n; i++)
            if ((jobs[i].email && strcmp(jobs[i].email, v) == 0) ||
                (jobs[i].domain && strcmp(jobs[i].domain, v) == 0))
                hit[i] = 1;
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    edm_buf_free(&arr);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, "suppression filter");
}
