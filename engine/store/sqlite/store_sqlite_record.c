/*
 * engine/store/sqlite/store_sqlite_record.c: the SQLite backend's `record`
 * (store.h): each result updates its delivery row and, when attempted,
 * appends an attempt event; one transaction per batch, written in id order.
 *
 * The counters without the row trigger. schema/0002's triggers keep
 * campaign_counts for every writer; on this path, the busiest, running
 * trigger programs cost about as much as the update itself (4 to 5 us of
 * CPU a row, measured with scripts/bench-campaign). So a batch turns the
 * connection's triggers off (SQLITE_DBCONFIG_ENABLE_TRIGGER, this
 * connection only), reads each row's campaign, state and bounce category
 * before updating it, and applies the batch's counter changes, summed per
 * (campaign, state, category), before the commit: the changes the trigger
 * would make, in the same transaction. While a webhook exists the outbox
 * triggers (schema/0006) must fire, and the batch runs with triggers on
 * (nothing is switched). Turning triggers off or on expires the
 * connection's prepared statements (they are prepared again on next use):
 * a few per batch, not per row.
 *
 * A hard bounce (edm_category_hard) puts its address on the suppression
 * list, reason "bounce", in the same transaction; one already listed
 * keeps its reason.
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"

#include <stdlib.h>
#include <string.h>

enum {
    RS_OLD,   /* a row's campaign, state and category before its update */
    RS_HOOKS, /* does any webhook exist? */
    RS_ADD,   /* a counter grows (created when new) */
    RS_SUB,   /* a counter shrinks */
    RS_HARD,  /* a hard bounce's address is suppressed */
    RS_N
};

static const char *const rs_sql[RS_N] = {
    [RS_OLD] = "SELECT campaign_id, status, coalesce(bounce_category, '') FROM deliveries "
               "WHERE id = ?1",
    [RS_HOOKS] = "SELECT EXISTS (SELECT 1 FROM webhooks)",
    [RS_ADD] = "INSERT INTO campaign_counts(campaign_id, status, category, n) "
               "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (campaign_id, status, category) "
               "DO UPDATE SET n = n + excluded.n",
    [RS_SUB] = "UPDATE campaign_counts SET n = n + ?4 "
               "WHERE campaign_id = ?1 AND status = ?2 AND category = ?3",
    [RS_HARD] = "INSERT INTO suppressions(value, kind, reason, created_at) "
                "SELECT lower(email), 'email', 'bounce', ?2 FROM deliveries WHERE id = ?1 "
                "ON CONFLICT(value) DO NOTHING",
};

_Static_assert(RS_N <= SQ_RECORD_STMTS, "record_stmts holds every statement");

static sqlite3_stmt *rs_stmt(sq_store *s, int which)
{
    sqlite3_stmt **q = &s->record_stmts[which];
    if (*q == NULL && sqlite3_prepare_v3(s->db, rs_sql[which], -1, SQLITE_PREPARE_PERSISTENT, q,
                                         NULL) != SQLITE_OK) {
        sq_fail(s, "prepare record");
        return NULL;
    }
    sqlite3_reset(*q);
    sqlite3_clear_bindings(*q);
    return *q;
}

/* ---- counter changes of a batch ---- */

#define DELTA_CAT 64
#define DELTA_MAX 32

typedef struct delta {
    int64_t campaign_id;
    int status;
    char category[DELTA_CAT];
    int64_t n;
} delta;

typedef struct deltas {
    delta d[DELTA_MAX];
    size_t n;
} deltas;

static int apply_one(sq_store *s, int64_t cid, int status, const char *cat, int64_t n)
{
    if (n == 0)
        return 0;
    sqlite3_stmt *q = rs_stmt(s, n > 0 ? RS_ADD : RS_SUB);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, cid);
    sqlite3_bind_int(q, 2, status);
    sqlite3_bind_text(q, 3, cat, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, n);
    return sq_step_done(s, q, "record counts");
}

static int apply_all(sq_store *s, deltas *ds)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ds->n; i++)
        rc = apply_one(s, ds->d[i].campaign_id, ds->d[i].status, ds->d[i].category, ds->d[i].n);
    ds->n = 0;
    return rc;
}

/* Adds n to the counter (campaign, status, category); a full table is
 * applied first, a category too long to keep is applied at once. */
static int add_delta(sq_store *s, deltas *ds, int64_t cid, int status, const char *cat, int64_t n)
{
    const char *c = status == EDM_DSTATE_BOUNCED ? cat : "";
    if (strlen(c) >= DELTA_CAT)
        return apply_one(s, cid, status, c, n);
    for (size_t i = 0; i < ds->n; i++) {
        delta *d = &ds->d[i];
        if (d->campaign_id == cid && d->status == status && strcmp(d->category, c) == 0) {
            d->n += n;
            return 0;
        }
    }
    int rc = ds->n == DELTA_MAX ? apply_all(s, ds) : 0;
    if (rc != 0)
        return rc;
    delta *d = &ds->d[ds->n++];
    d->campaign_id = cid;
    d->status = status;
    strcpy(d->category, c);
    d->n = n;
    return 0;
}

/* What schema/0002's update trigger does for the row r is about to
 * update: fires when the state changes, or a bounce's category does. */
static int note_counts(sq_store *s, deltas *ds, const edm_outcome *r)
{
    sqlite3_stmt *q = rs_stmt(s, RS_OLD);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, r->id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        return 0; /* no such row: the update changes nothing */
    if (rc != SQLITE_ROW)
        return sq_fail(s, "record old state");
    int64_t cid = sqlite3_column_int64(q, 0);
    int old = sqlite3_column_int(q, 1);
    const char *old_cat = (const char *)sqlite3_column_text(q, 2);
    const char *new_cat = edm_category_name(r->category);
    int now = (int)r->status;
    if (old_cat == NULL)
        old_cat = "";
    rc = 0;
    if (old != now || (now == EDM_DSTATE_BOUNCED && strcmp(old_cat, new_cat) != 0)) {
        rc = add_delta(s, ds, cid, old, old_cat, -1);
        if (rc == 0)
            rc = add_delta(s, ds, cid, now, new_cat, 1);
    }
    sqlite3_reset(q); /* old_cat points into q's row until here */
    return rc;
}

/* ---- the row and its event ---- */

/* An outcome's inline string: "" is stored as NULL. */
static void bind_opt(sqlite3_stmt *q, int i, const char *s)
{
    sq_bind_text(q, i, s[0] ? s : NULL);
}

/* The ids of the MX host, MX address, source address and TLS version of
 * an outcome, at parameters i..i+3 (NULL where unknown). */
static int bind_paths(sq_store *s, sqlite3_stmt *q, int i, const edm_outcome *r)
{
    int rc;
    if ((rc = sq_bind_string(s, q, i, r->mx_host)) != 0 ||
        (rc = sq_bind_string(s, q, i + 1, r->mx_ip)) != 0 ||
        (rc = sq_bind_string(s, q, i + 2, r->source_ip)) != 0)
        return rc;
    return sq_bind_string(s, q, i + 3, r->tls);
}

static int record_one(sq_store *s, const edm_outcome *r)
{
    sqlite3_stmt *q = sq_stmt(s, SQ_RECORD);
    if (q == NULL)
        return EDM_EDB;
    int64_t at = r->attempted_at ? r->attempted_at : edm_time_now();
    sqlite3_bind_int64(q, 1, r->id);
    sqlite3_bind_int(q, 2, (int)r->status);
    sqlite3_bind_int(q, 3, r->attempted ? 1 : 0);
    if (r->code)
        sqlite3_bind_int(q, 4, r->code);
    bind_opt(q, 5, r->enhanced);
    sq_bind_text(q, 6, r->text);
    bind_opt(q, 7, edm_category_name(r->category));
    int rc;
    if ((rc = bind_paths(s, q, 8, r)) != 0)
        return rc;
    bind_opt(q, 12, r->message_id);
    bind_opt(q, 13, r->remote_queue_id);
    sqlite3_bind_int64(q, 14, at);
    sqlite3_bind_int64(q, 15, r->status == EDM_DSTATE_DEFERRED ? r->next_attempt_at : 0);
    if (r->message_id[0])
        sqlite3_bind_int64(q, 16, sq_message_key(r->message_id));
    else
        sqlite3_bind_null(q, 16);
    rc = sq_step_done(s, q, "record result");
    if (rc != 0)
        return rc;
    if (!r->attempted)
        return 0;
    sqlite3_stmt *e = sq_stmt(s, SQ_EVENT);
    if (e == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(e, 1, r->id);
    sqlite3_bind_int64(e, 2, at);
    sqlite3_bind_int(e, 3, (int)r->status);
    if (r->code)
        sqlite3_bind_int(e, 4, r->code);
    bind_opt(e, 5, r->enhanced);
    sq_bind_text(e, 6, r->text);
    if ((rc = bind_paths(s, e, 7, r)) != 0)
        return rc;
    sqlite3_bind_int64(e, 11, r->duration_ms);
    return sq_step_done(s, e, "record event");
}

/* Turns the connection's triggers on or off; returns whether they are on
 * afterwards (as SQLite reports it). */
static int set_triggers(sq_store *s, int on)
{
    int now_on = 1;
    if (sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, on, &now_on) != SQLITE_OK)
        now_on = 1; /* unknown: count as if they ran */
    return now_on;
}

int sq_record(edm_store *st, const edm_outcome *results, size_t n)
{
    sq_store *s = SQ(st);
    if (n == 0)
        return 0;
    /* Write in id order: neighbouring rows share index pages. */
    const edm_outcome **order = edm_outcomes_by_id(results, n);
    if (order == NULL)
        return EDM_ENOMEM;
    /* Triggers off for the batch unless a webhook exists: asked inside
     * the write transaction (none can be added before the commit), and
     * switched there, so a store with webhooks never switches at all. */
    int counting = 0;
    int rc = sq_begin(s);
    sqlite3_stmt *q = rc == 0 ? rs_stmt(s, RS_HOOKS) : NULL;
    if (rc == 0 && q == NULL)
        rc = EDM_EDB;
    if (rc == 0) {
        int step = sqlite3_step(q);
        int hooks = step == SQLITE_ROW && sqlite3_column_int(q, 0);
        sqlite3_reset(q);
        if (step != SQLITE_ROW)
            rc = sq_fail(s, "record webhooks");
        else if (!hooks)
            counting = !set_triggers(s, 0); /* still on (it failed): they count */
    }
    deltas ds = {.n = 0};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        EDM_ASSERT(order[i]->status != EDM_DSTATE_QUEUED);
        if (counting)
            rc = note_counts(s, &ds, order[i]);
        if (rc == 0)
            rc = record_one(s, order[i]);
        if (rc == 0 && order[i]->status == EDM_DSTATE_BOUNCED &&
            edm_category_hard(order[i]->category)) {
            sqlite3_stmt *h = rs_stmt(s, RS_HARD);
            if (h == NULL) {
                rc = EDM_EDB;
            } else {
                sqlite3_bind_int64(h, 1, order[i]->id);
                sqlite3_bind_int64(
                    h, 2, order[i]->attempted_at ? order[i]->attempted_at : edm_time_now());
                rc = sq_step_done(s, h, "record suppression");
            }
        }
    }
    edm_free(order);
    if (rc == 0 && counting)
        rc = apply_all(s, &ds);
    if (rc == 0)
        rc = sq_commit(s);
    if (rc != 0)
        sq_rollback(s);
    /* Every other writer counts through the triggers: they must be on. */
    if (counting && !set_triggers(s, 1))
        EDM_PANIC("SQLite refused to turn triggers back on");
    return rc;
}
