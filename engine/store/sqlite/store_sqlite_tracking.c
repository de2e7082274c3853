/*
 * engine/store/sqlite/store_sqlite_tracking.c: the SQLite backend's side of
 * engagement tracking and webhooks (store.h; schema/0006_tracking.sql;
 * docs/tracking.md): what a click or an open needs to be answered, its
 * recording (event, receipt, counters in one transaction), the
 * engagement part of a campaign's stats, webhooks and their outbox.
 *
 * The outbox is filled by triggers on delivery_events and deliveries, so
 * every writer queues webhook events in its own transaction; this file
 * only reads batches out of it and acknowledges or delays them.
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>

/* Steps a one-off statement to its end and finalizes it. */
static int step_fin(sq_store *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sq_fail(s, what);
}

static char *col_dup(sqlite3_stmt *q, int i)
{
    const char *t = (const char *)sqlite3_column_text(q, i);
    return t ? edm_xstrdup(t) : NULL;
}

/* The click path's statements, kept prepared (track_stmts). "type = ?"
 * selects the partial index delivery_events_engagement
 * (schema/0011_engagement_index.sql). */
enum {
    TK_LOOKUP,
    TK_DELIVERY,
    TK_FIRST_LINK,
    TK_FIRST_ANY,
    TK_EVENT,
    TK_CLICKED,
    TK_OPENED,
    TK_COUNT,
    TK_N
};

static const char *const track_sql[TK_N] = {
    [TK_LOOKUP] = "SELECT d.campaign_id, c.kind, c.track, d.status, d.delivered_at, d.vars, "
                  "c.unsubscribe, coalesce(t.updated_at, 0), c.template_id, d.email, "
                  "s.campaign_id IS NOT NULL "
                  "FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id "
                  "LEFT JOIN templates t ON t.id = c.template_id "
                  "LEFT JOIN campaign_sources s ON s.campaign_id = d.campaign_id "
                  "WHERE d.id = ?1 AND " SQ_SHOWN("d.campaign_id"),
    [TK_DELIVERY] =
        "SELECT campaign_id, status FROM deliveries WHERE id = ?1 AND " SQ_SHOWN("campaign_id"),
    [TK_FIRST_LINK] = "SELECT 1 FROM delivery_events WHERE delivery_id = ?1 AND type = ?2 AND "
                      "machine = ?3 AND link IS ?4 LIMIT 1",
    [TK_FIRST_ANY] = "SELECT 1 FROM delivery_events WHERE delivery_id = ?1 AND type = ?2 AND "
                     "machine = ?3 LIMIT 1",
    [TK_EVENT] = "INSERT INTO delivery_events(delivery_id, attempted_at, status, type, url, "
                 "link, machine, user_agent, ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* Only the first sets it: a row already set is not written again. */
    [TK_CLICKED] = "UPDATE deliveries SET clicked_at = ?2 WHERE id = ?1 AND clicked_at IS NULL",
    [TK_OPENED] = "UPDATE deliveries SET opened_at = ?2 WHERE id = ?1 AND opened_at IS NULL",
    [TK_COUNT] = "INSERT INTO engagement_counts(campaign_id, what, link, machine, total, uniq, "
                 "url) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                 "ON CONFLICT (campaign_id, what, link, machine) DO UPDATE SET "
                 "total = total + ?5, uniq = uniq + ?6, url = coalesce(url, ?7)",
};

_Static_assert(TK_N <= SQ_TRACK_STMTS, "track_stmts holds every statement");

static sqlite3_stmt *track_stmt(sq_store *s, int which)
{
    sqlite3_stmt **q = &s->track_stmts[which];
    if (*q == NULL && sqlite3_prepare_v3(s->db, track_sql[which], -1, SQLITE_PREPARE_PERSISTENT, q,
                                         NULL) != SQLITE_OK) {
        sq_fail(s, "prepare");
        return NULL;
    }
    sqlite3_reset(*q);
    sqlite3_clear_bindings(*q);
    return *q;
}

int sq_track_lookup(edm_store *st, int64_t delivery_id, edm_track_target *out)
{
    sq_store *s = SQ(st);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = track_stmt(s, TK_LOOKUP);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, delivery_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->campaign_id = sqlite3_column_int64(q, 0);
        out->is_message = sqlite3_column_int(q, 1) == 1;
        out->track = (unsigned)sqlite3_column_int(q, 2);
        out->status = (enum edm_dstate)sqlite3_column_int(q, 3);
        out->delivered_at = sqlite3_column_int64(q, 4);
        if (sq_vars_col(s, q, 5, &out->vars) != 0)
            rc = SQLITE_NOMEM;
        out->unsubscribe = col_dup(q, 6);
        /* The source taken when sending started never changes (-1);
         * without one, the template's id and its last change: another
         * template or an edited one is another source. */
        const char *em = (const char *)sqlite3_column_text(q, 9);
        snprintf(out->email, sizeof out->email, "%s", em ? em : "");
        out->source_version =
            sqlite3_column_int(q, 10)
                ? -1
                : sqlite3_column_int64(q, 8) * 4294967296LL + sqlite3_column_int64(q, 7);
    }
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_NOMEM) {
        edm_vars_clear(&out->vars);
        edm_free(out->unsubscribe);
        out->unsubscribe = NULL;
        return EDM_ENOMEM;
    }
    return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "track lookup");
}

int sq_track_source(edm_store *st, int64_t campaign_id, edm_template_row *out)
{
    sq_store *s = SQ(st);
    memset(out, 0, sizeof *out);
    /* The template as it was when sending started, else a message's own
     * content, else the template as it is now (of a campaign or a message
     * sent with template_id, from before schema/0009_tracking_sources.sql). */
    int rc = sq_source_get(s, campaign_id, out);
    if (rc != EDM_ENOTFOUND)
        return rc;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q;
    rc = sq_prepare(s, &q,
                    "SELECT mc.subject, mc.html, mc.text FROM message_content mc "
                    "WHERE mc.campaign_id = ?1 AND mc.raw IS NULL AND "
                    "(SELECT template_id FROM campaigns WHERE id = ?1) IS NULL");
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, campaign_id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->subject = col_dup(q, 0);
        out->html = col_dup(q, 1);
        out->text = col_dup(q, 2);
    }
    sqlite3_finalize(q);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return sq_fail(s, "track source");
    if ((rc = sq_prepare(s, &q, "SELECT template_id FROM campaigns WHERE id = ?1")) != 0)
        return rc;
    sqlite3_bind_int64(q, 1, campaign_id);
    rc = sqlite3_step(q);
    int64_t tid = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_fail(s, "track source");
    return tid > 0 ? sq_template_get(st, tid, out) : EDM_ENOTFOUND;
}

/* Steps a kept statement once; 1 for a row, 0 for none, <0 on failure. */
static int step_kept(sq_store *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    int out = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sq_fail(s, what);
    sqlite3_reset(q);
    return out;
}

/* 1 if the delivery has no event of this type and class (and link, when
 * link >= -1; -2: any link). */
static int first_of(sq_store *s, const edm_engagement_rec *r, int link, int *first)
{
    sqlite3_stmt *q = track_stmt(s, link == -2 ? TK_FIRST_ANY : TK_FIRST_LINK);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, r->delivery_id);
    sqlite3_bind_int(q, 2, (int)r->type);
    sqlite3_bind_int(q, 3, r->machine ? 1 : 0);
    if (link >= 0)
        sqlite3_bind_int(q, 4, link); /* else NULL: an open has no link */
    int rc = step_kept(s, q, "engagement first");
    if (rc < 0)
        return rc;
    *first = rc == 0;
    return 0;
}

/* The counters a batch adds to engagement_counts, one row per key. */
typedef struct count_delta {
    int64_t campaign_id;
    int what, link, machine;
    int64_t total, uniq;
    const char *url;
} count_delta;

typedef struct deltas {
    count_delta *d;
    size_t n, cap;
} deltas;

static void add_delta(deltas *ds, int64_t campaign_id, int what, int link, int machine, int uniq,
                      const char *url)
{
    for (size_t i = ds->n; i-- > 0;) {
        count_delta *d = &ds->d[i];
        if (d->campaign_id == campaign_id && d->what == what && d->link == link &&
            d->machine == machine) {
            d->total++;
            d->uniq += uniq;
            if (d->url == NULL)
                d->url = url;
            return;
        }
    }
    if (ds->n == ds->cap) {
        ds->cap = ds->cap ? ds->cap * 2 : 8;
        ds->d = edm_xrealloc(ds->d, ds->cap * sizeof *ds->d);
    }
    ds->d[ds->n++] = (count_delta){campaign_id, what, link, machine, 1, uniq, url};
}

static int write_deltas(sq_store *s, const deltas *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        const count_delta *d = &ds->d[i];
        sqlite3_stmt *q = track_stmt(s, TK_COUNT);
        if (q == NULL)
            return EDM_EDB;
        sqlite3_bind_int64(q, 1, d->campaign_id);
        sqlite3_bind_int(q, 2, d->what);
        sqlite3_bind_int(q, 3, d->link);
        sqlite3_bind_int(q, 4, d->machine);
        sqlite3_bind_int64(q, 5, d->total);
        sqlite3_bind_int64(q, 6, d->uniq);
        sq_bind_text(q, 7, d->url);
        int rc = step_kept(s, q, "engagement count");
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* One event, its receipt's first open or click; its counters go to ds.
 * EDM_ENOTFOUND when the delivery is gone. */
static int record(sq_store *s, const edm_engagement_rec *r, deltas *ds, int *first_out)
{
    sqlite3_stmt *q = track_stmt(s, TK_DELIVERY);
    if (q == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, r->delivery_id);
    int rc = sqlite3_step(q);
    int64_t campaign_id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    int status = rc == SQLITE_ROW ? sqlite3_column_int(q, 1) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "engagement delivery");
    int click = r->type == EDM_EVENT_CLICK;
    int link = click ? r->link : -1, first = 0, any_first = 0;
    /* A click that is not the first on its link is not the first on any:
     * the second probe is only for first clicks on a link. */
    if ((rc = first_of(s, r, link, &first)) != 0 ||
        (click && first && (rc = first_of(s, r, -2, &any_first)) != 0))
        return rc;
    if ((q = track_stmt(s, TK_EVENT)) == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, r->delivery_id);
    sqlite3_bind_int64(q, 2, r->at);
    sqlite3_bind_int(q, 3, status);
    sqlite3_bind_int(q, 4, (int)r->type);
    sq_bind_text(q, 5, click ? r->url : NULL);
    if (click)
        sqlite3_bind_int(q, 6, r->link);
    sqlite3_bind_int(q, 7, r->machine ? 1 : 0);
    sq_bind_text(q, 8, r->user_agent);
    sq_bind_text(q, 9, r->ip);
    if ((rc = step_kept(s, q, "engagement event")) < 0)
        return rc;
    if ((q = track_stmt(s, click ? TK_CLICKED : TK_OPENED)) == NULL)
        return EDM_EDB;
    sqlite3_bind_int64(q, 1, r->delivery_id);
    sqlite3_bind_int64(q, 2, r->at);
    if ((rc = step_kept(s, q, "engagement receipt")) < 0)
        return rc;
    int m = r->machine ? 1 : 0;
    if (click) {
        add_delta(ds, campaign_id, 1, r->link, m, first, r->url);
        add_delta(ds, campaign_id, 1, -1, m, any_first, NULL);
    } else {
        add_delta(ds, campaign_id, 0, -1, m, first, NULL);
    }
    if (first_out)
        *first_out = first;
    return 0;
}

/* r[0..n) in one transaction; gone deliveries are skipped when skip_gone. */
static int record_all(sq_store *s, const edm_engagement_rec *r, size_t n, int skip_gone, int *first)
{
    deltas ds = {0};
    int rc = sq_begin(s);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        EDM_ASSERT(r[i].type == EDM_EVENT_OPEN || r[i].type == EDM_EVENT_CLICK);
        rc = record(s, &r[i], &ds, first);
        if (rc == EDM_ENOTFOUND && skip_gone)
            rc = 0;
    }
    if (rc == 0)
        rc = write_deltas(s, &ds);
    if (rc == 0)
        rc = sq_commit(s);
    if (rc != 0)
        sq_rollback(s);
    edm_free(ds.d);
    return rc;
}

int sq_engagement_record(edm_store *st, const edm_engagement_rec *r, int *first)
{
    return record_all(SQ(st), r, 1, 0, first);
}

int sq_engagement_record_batch(edm_store *st, const edm_engagement_rec *r, size_t n)
{
    return n ? record_all(SQ(st), r, n, 1, NULL) : 0;
}

static json_t *counts_object(void)
{
    return json_pack("{s:i, s:i, s:i, s:i}", "total", 0, "unique", 0, "machine_total", 0,
                     "machine_unique", 0);
}

static void add_counts(json_t *o, int machine, int64_t total, int64_t uniq)
{
    json_object_set_new(o, machine ? "machine_total" : "total", json_integer(total));
    json_object_set_new(o, machine ? "machine_unique" : "unique", json_integer(uniq));
}

int sq_engagement_stats(sq_store *s, int64_t campaign_id, json_t *stats)
{
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q,
                        "SELECT what, link, machine, total, uniq, url FROM engagement_counts "
                        "WHERE campaign_id = ?1 ORDER BY what, link, machine");
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, campaign_id);
    json_t *opens = counts_object(), *clicks = counts_object(), *links = json_array();
    json_t *cur = NULL;
    int cur_link = -1;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int what = sqlite3_column_int(q, 0), link = sqlite3_column_int(q, 1);
        int machine = sqlite3_column_int(q, 2);
        int64_t total = sqlite3_column_int64(q, 3), uniq = sqlite3_column_int64(q, 4);
        if (link < 0) {
            add_counts(what ? clicks : opens, machine, total, uniq);
            continue;
        }
        if (cur == NULL || cur_link != link) {
            cur = counts_object();
            json_object_set_new(cur, "link", json_integer(link));
            json_object_set_new(cur, "url", sq_text_col(q, 5));
            json_array_append_new(links, cur);
            cur_link = link;
        }
        add_counts(cur, machine, total, uniq);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        json_decref(opens);
        json_decref(clicks);
        json_decref(links);
        return sq_fail(s, "engagement stats");
    }
    json_t *counts = json_object_get(stats, "counts");
    int64_t delivered = json_integer_value(json_object_get(counts, "delivered"));
    int64_t uo = json_integer_value(json_object_get(opens, "unique"));
    int64_t uc = json_integer_value(json_object_get(clicks, "unique"));
    json_object_set_new(stats, "opens", opens);
    json_object_set_new(stats, "clicks", clicks);
    json_object_set_new(stats, "links", links);
    json_object_set_new(stats, "open_rate",
                        json_real(delivered ? (double)uo / (double)delivered : 0.0));
    json_object_set_new(stats, "click_through_rate",
                        json_real(delivered ? (double)uc / (double)delivered : 0.0));
    json_object_set_new(stats, "click_to_open_rate", json_real(uo ? (double)uc / (double)uo : 0.0));
    return 0;
}

/* ---- webhooks ---- */

static json_t *events_array(unsigned mask)
{
    json_t *a = json_array();
    for (int i = 0; i < EDM_WEBHOOK_EVENT_COUNT; i++)
        if (mask & (1u << i))
            json_array_append_new(a, json_string(edm_webhook_event_name(i)));
    return a;
}

static json_t *webhook_object(sqlite3_stmt *q)
{
    return json_pack("{s:I, s:o, s:o, s:o}", "id", (json_int_t)sqlite3_column_int64(q, 0), "url",
                     sq_text_col(q, 1), "events", events_array((unsigned)sqlite3_column_int(q, 2)),
                     "created_at", sq_time_col(q, 3));
}

int sq_webhook_create(edm_store *st, const char *url, unsigned events, const char *secret,
                      json_t **out)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q,
                        "INSERT INTO webhooks(url, events, secret, created_at) "
                        "VALUES (?1, ?2, ?3, CAST(strftime('%s', 'now') AS INTEGER)) "
                        "RETURNING id, url, events, created_at");
    if (rc != 0)
        return rc;
    sq_bind_text(q, 1, url);
    sqlite3_bind_int(q, 2, (int)events);
    sq_bind_text(q, 3, secret);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *out = webhook_object(q);
        json_object_set_new(*out, "secret", json_string(secret));
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 0 : sq_fail(s, "webhook create");
}

int sq_webhook_list(edm_store *st, json_t **items)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q,
                        "SELECT w.id, w.url, w.events, w.created_at, "
                        "(SELECT count(*) FROM webhook_outbox o WHERE o.webhook_id = w.id), "
                        "(SELECT max(attempts) FROM webhook_outbox o WHERE o.webhook_id = w.id) "
                        "FROM webhooks w ORDER BY w.id");
    if (rc != 0)
        return rc;
    *items = json_array();
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *o = webhook_object(q);
        json_object_set_new(o, "pending", json_integer(sqlite3_column_int64(q, 4)));
        json_object_set_new(o, "failed_attempts", json_integer(sqlite3_column_int64(q, 5)));
        json_array_append_new(*items, o);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        json_decref(*items);
        *items = NULL;
        return sq_fail(s, "webhook list");
    }
    return 0;
}

int sq_webhook_delete(edm_store *st, int64_t id)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q, "DELETE FROM webhooks WHERE id = ?1");
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, id);
    if ((rc = step_fin(s, q, "webhook delete")) != 0)
        return rc;
    return sqlite3_changes(s->db) ? 0 : EDM_ENOTFOUND;
}

int sq_webhook_all(edm_store *st, edm_webhook_row **rows, size_t *n)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    *rows = NULL;
    *n = 0;
    int rc = sq_prepare(s, &q, "SELECT id, url, events, secret FROM webhooks ORDER BY id");
    if (rc != 0)
        return rc;
    size_t cap = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *rows = edm_xrealloc(*rows, cap * sizeof **rows);
        }
        edm_webhook_row *w = &(*rows)[(*n)++];
        w->id = sqlite3_column_int64(q, 0);
        w->url = col_dup(q, 1);
        w->events = (unsigned)sqlite3_column_int(q, 2);
        w->secret = col_dup(q, 3);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        edm_webhook_rows_free(*rows, *n);
        *rows = NULL;
        *n = 0;
        return sq_fail(s, "webhooks");
    }
    return 0;
}

int sq_outbox_batch(edm_store *st, int64_t webhook_id, int64_t now, size_t limit, int64_t *last_id,
                    int64_t *first_created, int *attempts, char **body, size_t *count_out)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    *body = NULL;
    *count_out = 0;
    int rc = sq_prepare(
        s, &q,
        "SELECT o.id, o.event, o.delivery_id, d.campaign_id, c.kind, d.email, o.at, "
        "o.attempts, o.next_attempt_at, o.event_id IS NOT NULL, d.status, "
        "d.response, " EDM_SQ_EVENT_COLUMNS
        " FROM webhook_outbox o LEFT JOIN delivery_events e ON e.id = o.event_id "
        "JOIN deliveries d ON d.id = o.delivery_id "
        "LEFT JOIN campaigns c ON c.id = d.campaign_id "
        /* a deleted campaign's events are not posted: the purge
         * deletes them, an ack of a later row passes them */
        "WHERE o.webhook_id = ?1 AND " SQ_SHOWN("d.campaign_id") " ORDER BY o.id LIMIT ?2");
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, webhook_id);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)limit);
    json_t *arr = json_array();
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (json_array_size(arr) == 0) {
            if (sqlite3_column_int64(q, 8) > now)
                break; /* the head of the queue waits: nothing is due */
            *first_created = sqlite3_column_int64(q, 6);
            *attempts = sqlite3_column_int(q, 7);
        }
        json_t *o = sqlite3_column_int(q, 9) ? sq_event_object(q, 12) : json_object();
        if (!sqlite3_column_int(q, 9) && sqlite3_column_type(q, 10) != SQLITE_NULL) {
            /* failed or suppressed: no event row; the receipt's state and
             * why it failed */
            json_object_set_new(o, "status",
                                json_string(edm_dstate_name(sqlite3_column_int(q, 10))));
            json_object_set_new(o, "response", sq_text_col(q, 11));
        }
        json_object_del(o, "attempted_at");
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(q, 0)));
        json_object_set_new(o, "event", sq_text_col(q, 1));
        json_object_set_new(o, "receipt_id", json_integer(sqlite3_column_int64(q, 2)));
        json_object_set_new(o, sqlite3_column_int(q, 4) == 1 ? "message_id" : "campaign_id",
                            sq_int_col(q, 3));
        json_object_set_new(o, "email", sq_text_col(q, 5));
        json_object_set_new(o, "at", sq_time_col(q, 6));
        json_array_append_new(arr, o);
        *last_id = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        json_decref(arr);
        return sq_fail(s, "outbox");
    }
    *count_out = json_array_size(arr);
    if (*count_out)
        *body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (*count_out && *body == NULL)
        return EDM_ENOMEM;
    return 0;
}

int sq_outbox_ack(edm_store *st, int64_t webhook_id, int64_t last_id)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q, "DELETE FROM webhook_outbox WHERE webhook_id = ?1 AND id <= ?2");
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, webhook_id);
    sqlite3_bind_int64(q, 2, last_id);
    return step_fin(s, q, "outbox ack");
}

int sq_outbox_retry(edm_store *st, int64_t webhook_id, int64_t last_id, int64_t next_attempt_at)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q,
                        "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?3 "
                        "WHERE webhook_id = ?1 AND id <= ?2");
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, webhook_id);
    sqlite3_bind_int64(q, 2, last_id);
    sqlite3_bind_int64(q, 3, next_attempt_at);
    return step_fin(s, q, "outbox retry");
}
