/*
 * engine/store/pg/store_pg_feedback.c: the PostgreSQL backend's side of
 * what comes back (store.h, feedback.h; schema/pg/0005_feedback.sql): one
 * DSN, complaint or unsubscribe applied to its receipt with its event and
 * suppression in one transaction (the receipt's row locked FOR UPDATE, so
 * two nodes applying reports for it at once see each other's result);
 * deliveries by Message-ID; the events feed (up to the settled bound of
 * store_pg_feed.c, so it never passes an event that commits late); the
 * feedback counts of a
 * campaign's stats. Attempt events carry type NULL; the others 1 dsn,
 * 2 complaint, 3 unsubscribe.
 */
#include "engine/base/err.h"
#include "engine/store/pg/store_pg_int.h"

#include <stdio.h>
#include <string.h>

static const char *opt(const char *v)
{
    return v && v[0] ? v : NULL;
}

static int apply(pg_store *s, const edm_feedback_rec *f, edm_feedback_done *d)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, f->delivery_id);
    PGresult *r = pg_run(s,
                         "SELECT campaign_id, email, status, feedback FROM deliveries "
                         "WHERE id = $1 FOR UPDATE",
                         &p, "feedback delivery");
    if (r == NULL)
        return EDM_EDB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return EDM_ENOTFOUND;
    }
    d->campaign_id = pg_int(r, 0, 0);
    snprintf(d->email, sizeof d->email, "%s", PQgetvalue(r, 0, 1));
    d->status = (enum edm_dstate)pg_int(r, 0, 2);
    int feedback = (int)pg_int(r, 0, 3);
    PQclear(r);

    int rc, add_event = 1;
    if (f->type == EDM_EVENT_DSN) {
        if (f->bounce && (d->status == EDM_DSTATE_DELIVERED || d->status == EDM_DSTATE_DEFERRED)) {
            pgp_init(&p);
            pgp_int(&p, f->delivery_id);
            if (f->code)
                pgp_int(&p, f->code);
            else
                pgp_null(&p);
            pgp_text(&p, opt(f->enhanced));
            pgp_text(&p, f->text);
            pgp_text(&p, opt(edm_category_name(f->category)));
            if ((rc = pg_do(s,
                            "UPDATE deliveries SET status = 3, smtp_code = $2, enhanced_code = $3, "
                            "response = $4, bounce_category = $5, next_attempt_at = 0 "
                            "WHERE id = $1",
                            &p, "feedback bounce")) != 0)
                return rc;
            d->status = EDM_DSTATE_BOUNCED;
            d->changed = 1;
        }
    } else {
        int want =
            f->type == EDM_EVENT_COMPLAINT ? EDM_FEEDBACK_COMPLAINED : EDM_FEEDBACK_UNSUBSCRIBED;
        /* A complaint overrides an unsubscribe; an unsubscribe sets only
         * an empty feedback; a repeat changes nothing. */
        add_event = feedback != want && (want == EDM_FEEDBACK_COMPLAINED || feedback == 0);
        if (add_event) {
            pgp_init(&p);
            pgp_int(&p, f->delivery_id);
            pgp_int(&p, want);
            pgp_int(&p, f->at);
            if ((rc =
                     pg_do(s, "UPDATE deliveries SET feedback = $2, feedback_at = $3 WHERE id = $1",
                           &p, "feedback")) != 0)
                return rc;
            d->changed = 1;
        }
    }
    if (add_event) {
        pgp_init(&p);
        pgp_int(&p, f->delivery_id);
        pgp_int(&p, f->at);
        pgp_int(&p, f->type == EDM_EVENT_DSN ? (int)f->event_status : (int)d->status);
        if (f->code)
            pgp_int(&p, f->code);
        else
            pgp_null(&p);
        pgp_text(&p, opt(f->enhanced));
        pgp_text(&p, opt(f->text));
        pgp_text(&p, opt(f->mx_host));
        pgp_int(&p, (int)f->type);
        if ((rc = pg_do(s,
                        "INSERT INTO delivery_events(delivery_id, attempted_at, status, "
                        "smtp_code, enhanced_code, response, mx_host, type) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        &p, "feedback event")) != 0)
            return rc;
        d->event = 1;
    }
    if (f->suppress) {
        pgp_init(&p);
        pgp_text(&p, d->email);
        pgp_text(&p, f->suppress);
        pgp_int(&p, f->at);
        /* under the list's lock, for GET /v1/suppressions?after= */
        if ((rc = pg_do(s, PG_LIST_LOCK(PG_LOCK_SUPPRESSIONS), NULL, "suppressions lock")) != 0)
            return rc;
        if ((rc = pg_do(s,
                        "INSERT INTO suppressions(value, kind, reason, created_at) "
                        "VALUES (lower($1), 'email', $2, $3) ON CONFLICT (value) DO NOTHING",
                        &p, "feedback suppression")) != 0)
            return rc;
        d->suppressed = 1;
    }
    return 0;
}

int pg_feedback_apply(edm_store *st, const edm_feedback_rec *f, edm_feedback_done *done)
{
    pg_store *s = PG(st);
    memset(done, 0, sizeof *done);
    EDM_ASSERT(f->type == EDM_EVENT_DSN || f->type == EDM_EVENT_COMPLAINT ||
               f->type == EDM_EVENT_UNSUBSCRIBE);
    int rc = pg_begin(s);
    if (rc != 0)
        return rc;
    if ((rc = apply(s, f, done)) == 0)
        rc = pg_commit(s);
    if (rc != 0)
        pg_rollback(s);
    return rc;
}

int pg_delivery_by_message_id(edm_store *st, const char *message_id, const char *email, int64_t *id)
{
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, message_id);
    pgp_text(&p, email && *email ? email : NULL);
    /* email = NULL is NULL for every row: no preference */
    PGresult *r = pg_run(PG(st),
                         "SELECT id FROM deliveries WHERE message_id = $1 "
                         "ORDER BY (email = $2::text) DESC NULLS LAST, id LIMIT 1",
                         &p, "delivery by message id");
    if (r == NULL)
        return EDM_EDB;
    int found = PQntuples(r) == 1;
    if (found)
        *id = pg_int(r, 0, 0);
    PQclear(r);
    return found ? 0 : EDM_ENOTFOUND;
}

json_t *pg_event_object(const PGresult *q, int r, int first)
{
    json_t *e = json_object();
    json_object_set_new(e, "type", json_string(edm_event_type_name((int)pg_int(q, r, first))));
    json_object_set_new(e, "attempted_at", pg_time_col(q, r, first + 1));
    json_object_set_new(e, "status", json_string(edm_dstate_name((int)pg_int(q, r, first + 2))));
    json_object_set_new(e, "smtp_code", pg_int_col(q, r, first + 3));
    json_object_set_new(e, "enhanced_code", pg_text_col(q, r, first + 4));
    json_object_set_new(e, "response", pg_text_col(q, r, first + 5));
    json_object_set_new(e, "mx_host", pg_text_col(q, r, first + 6));
    json_object_set_new(e, "mx_ip", pg_text_col(q, r, first + 7));
    json_object_set_new(e, "source_ip", pg_text_col(q, r, first + 8));
    json_object_set_new(e, "tls", pg_text_col(q, r, first + 9));
    json_object_set_new(e, "duration_ms", pg_int_col(q, r, first + 10));
    int type = (int)pg_int(q, r, first);
    if (type == EDM_EVENT_CLICK) {
        json_object_set_new(e, "url", pg_text_col(q, r, first + 11));
        json_object_set_new(e, "link", pg_int_col(q, r, first + 12));
    }
    if (type == EDM_EVENT_OPEN || type == EDM_EVENT_CLICK) {
        json_object_set_new(e, "machine", json_boolean(pg_int(q, r, first + 13)));
        json_object_set_new(e, "user_agent", pg_text_col(q, r, first + 14));
        json_object_set_new(e, "ip", pg_text_col(q, r, first + 15));
    }
    return e;
}

/* The feed passes no id above the settled bound (store_pg_feed.c): an
 * event whose transaction may still commit below a later one is not shown
 * yet, nor any after it, and `next` does not pass it (null: the end of the
 * feed for now; the reader polls again from the last id it saw). The scan
 * stays a range of the primary key (or of delivery_events_type), now
 * bounded on both sides. */
int pg_event_list(edm_store *st, int type, int64_t after, int limit, edm_page *page)
{
    page->items = NULL;
    page->next = 0;
    if (limit <= 0 || limit > 1000)
        limit = 100;
    pg_store *s = PG(st);
    int64_t upto;
    int rc = pg_feed_settled(s, &s->events_bound,
                             "SELECT last_value - (NOT is_called)::int FROM delivery_events_id_seq",
                             &upto);
    if (rc != 0)
        return rc;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, after);
    pgp_int(&p, limit + 1);
    pgp_int(&p, type);
    pgp_int(&p, upto);
    /* type -1: every event; 0: attempts (type NULL); else that type */
    PGresult *r =
        pg_run(s,
               "SELECT e.id, e.delivery_id, d.campaign_id, d.email, d.txn, " PG_EVENT_COLUMNS
               " FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id "
               "WHERE e.id > $1 AND e.id <= $4 AND ($3::integer < 0 OR ($3::integer = 0 "
               "AND e.type IS NULL) OR e.type = $3::integer) ORDER BY e.id LIMIT $2",
               &p, "events");
    if (r == NULL)
        return EDM_EDB;
    json_t *items = json_array();
    int rows = PQntuples(r);
    for (int i = 0; i < rows && i < limit; i++) {
        json_t *e = pg_event_object(r, i, 5);
        json_object_set_new(e, "id", json_integer(pg_int(r, i, 0)));
        json_object_set_new(e, "receipt_id", json_integer(pg_int(r, i, 1)));
        /* a message's recipient: campaign_id null and the message's id,
         * as in its receipts and its webhook events (d.txn) */
        json_int_t parent = pg_int(r, i, 2);
        int txn = pg_int(r, i, 4) != 0;
        json_object_set_new(e, "campaign_id", txn ? json_null() : json_integer(parent));
        json_object_set_new(e, "message_id", txn ? json_integer(parent) : json_null());
        json_object_set_new(e, "email", pg_text_col(r, i, 3));
        json_array_append_new(items, e);
    }
    if (rows > limit)
        page->next = pg_int(r, limit - 1, 0);
    PQclear(r);
    page->items = items;
    return 0;
}

int pg_feedback_stats(pg_store *s, int64_t campaign_id, json_t *stats)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, campaign_id);
    PGresult *r = pg_run(s,
                         "SELECT feedback, count(*) FROM deliveries WHERE campaign_id = $1 AND "
                         "feedback IS NOT NULL GROUP BY 1",
                         &p, "feedback stats");
    if (r == NULL)
        return EDM_EDB;
    int64_t n[3] = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t f = pg_int(r, i, 0);
        if (f >= 1 && f <= 2)
            n[f] = pg_int(r, i, 1);
    }
    PQclear(r);
    json_t *counts = json_object_get(stats, "counts");
    int64_t delivered = json_integer_value(json_object_get(counts, "delivered"));
    json_object_set_new(stats, "complaints", json_integer(n[EDM_FEEDBACK_COMPLAINED]));
    json_object_set_new(stats, "unsubscribes", json_integer(n[EDM_FEEDBACK_UNSUBSCRIBED]));
    json_object_set_new(
        stats, "complaint_rate",
        json_real(delivered ? (double)n[EDM_FEEDBACK_COMPLAINED] / (double)delivered : 0.0));
    return 0;
}
