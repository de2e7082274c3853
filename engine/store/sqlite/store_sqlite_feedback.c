/*
 * engine/store/sqlite/store_sqlite_feedback.c: the SQLite backend's side of
 * what comes back (store.h, feedback.h; schema/0005_feedback.sql): one
 * DSN, complaint or unsubscribe applied to its receipt with its event and
 * suppression in one transaction; deliveries by Message-ID; the events
 * feed; the feedback counts of a campaign's stats.
 *
 * Attempt events carry type NULL (the pipeline's insert is unchanged);
 * the others 1 dsn, 2 complaint, 3 unsubscribe.
 */
#include "engine/store/sqlite/store_sqlite_int.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>

static int step_done(sq_store *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, what);
}

static void bind_opt(sqlite3_stmt *q, int i, const char *v)
{
    sq_bind_text(q, i, v && v[0] ? v : NULL);
}

static int apply(sq_store *s, const edm_feedback_rec *f, edm_feedback_done *d)
{
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q,
                        "SELECT campaign_id, email, status, feedback FROM deliveries WHERE id = ?1 "
                        "AND " SQ_SHOWN("campaign_id"));
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, f->delivery_id);
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(q);
        return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "feedback delivery");
    }
    d->campaign_id = sqlite3_column_int64(q, 0);
    snprintf(d->email, sizeof d->email, "%s", (const char *)sqlite3_column_text(q, 1));
    d->status = (enum edm_dstate)sqlite3_column_int(q, 2);
    int feedback = sqlite3_column_int(q, 3);
    sqlite3_finalize(q);

    int add_event = 1;
    if (f->type == EDM_EVENT_DSN) {
        if (f->bounce && (d->status == EDM_DSTATE_DELIVERED || d->status == EDM_DSTATE_DEFERRED)) {
            if ((rc = sq_prepare(s, &q,
                                 "UPDATE deliveries SET status = 3, smtp_code = ?2, "
                                 "enhanced_code = ?3, response = ?4, bounce_category = ?5, "
                                 "next_attempt_at = 0 WHERE id = ?1")) != 0)
                return rc;
            sqlite3_bind_int64(q, 1, f->delivery_id);
            if (f->code)
                sqlite3_bind_int(q, 2, f->code);
            bind_opt(q, 3, f->enhanced);
            sq_bind_text(q, 4, f->text);
            bind_opt(q, 5, edm_category_name(f->category));
            if ((rc = step_done(s, q, "feedback bounce")) != 0)
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
            if ((rc = sq_prepare(s, &q,
                                 "UPDATE deliveries SET feedback = ?2, feedback_at = ?3 "
                                 "WHERE id = ?1")) != 0)
                return rc;
            sqlite3_bind_int64(q, 1, f->delivery_id);
            sqlite3_bind_int(q, 2, want);
            sqlite3_bind_int64(q, 3, f->at);
            if ((rc = step_done(s, q, "feedback")) != 0)
                return rc;
            d->changed = 1;
        }
    }
    if (add_event) {
        if ((rc = sq_prepare(s, &q,
                             "INSERT INTO delivery_events(delivery_id, attempted_at, status, "
                             "smtp_code, enhanced_code, response, mx_host_id, type) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")) != 0)
            return rc;
        sqlite3_bind_int64(q, 1, f->delivery_id);
        sqlite3_bind_int64(q, 2, f->at);
        sqlite3_bind_int(q, 3, f->type == EDM_EVENT_DSN ? (int)f->event_status : (int)d->status);
        if (f->code)
            sqlite3_bind_int(q, 4, f->code);
        bind_opt(q, 5, f->enhanced);
        bind_opt(q, 6, f->text);
        if ((rc = sq_bind_string(s, q, 7, f->mx_host)) != 0) {
            sqlite3_finalize(q);
            return rc;
        }
        sqlite3_bind_int(q, 8, (int)f->type);
        if ((rc = step_done(s, q, "feedback event")) != 0)
            return rc;
        d->event = 1;
    }
    if (f->suppress) {
        if ((rc = sq_prepare(
                 s, &q,
                 "INSERT INTO suppressions(value, kind, reason, created_at) "
                 "VALUES (lower(?1), 'email', ?2, ?3) ON CONFLICT(value) DO NOTHING")) != 0)
            return rc;
        sq_bind_text(q, 1, d->email);
        sq_bind_text(q, 2, f->suppress);
        sqlite3_bind_int64(q, 3, f->at);
        if ((rc = step_done(s, q, "feedback suppression")) != 0)
            return rc;
        d->suppressed = 1;
    }
    return 0;
}

int sq_feedback_apply(edm_store *st, const edm_feedback_rec *f, edm_feedback_done *done)
{
    sq_store *s = SQ(st);
    memset(done, 0, sizeof *done);
    EDM_ASSERT(f->type == EDM_EVENT_DSN || f->type == EDM_EVENT_COMPLAINT ||
               f->type == EDM_EVENT_UNSUBSCRIBE);
    int rc = sq_begin(s);
    if (rc != 0)
        return rc;
    if ((rc = apply(s, f, done)) == 0)
        rc = sq_commit(s);
    if (rc != 0)
        sq_rollback(s);
    return rc;
}

int sq_delivery_by_message_id(edm_store *st, const char *message_id, const char *email, int64_t *id)
{
    sq_store *s = SQ(st);
    sqlite3_stmt *q;
    /* the index holds the Message-ID's key; the row confirms the text;
     * email = NULL is NULL for every row: no preference */
    int rc = sq_prepare(s, &q,
                        "SELECT id FROM deliveries WHERE message_key = ?2 AND message_id = ?1 "
                        "AND " SQ_SHOWN("campaign_id") " ORDER BY email = ?3 DESC, id LIMIT 1");
    if (rc != 0)
        return rc;
    sq_bind_text(q, 1, message_id);
    sqlite3_bind_int64(q, 2, sq_message_key(message_id));
    sq_bind_text(q, 3, email && *email ? email : NULL);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? EDM_ENOTFOUND : sq_fail(s, "delivery by message id");
}

json_t *sq_event_object(sqlite3_stmt *q, int first)
{
    json_t *e = json_object();
    int type = sqlite3_column_int(q, first);
    json_object_set_new(e, "type", json_string(edm_event_type_name(type)));
    json_object_set_new(e, "attempted_at", sq_time_col(q, first + 1));
    json_object_set_new(e, "status",
                        json_string(edm_dstate_name(sqlite3_column_int(q, first + 2))));
    json_object_set_new(e, "smtp_code", sq_int_col(q, first + 3));
    json_object_set_new(e, "enhanced_code", sq_text_col(q, first + 4));
    json_object_set_new(e, "response", sq_text_col(q, first + 5));
    json_object_set_new(e, "mx_host", sq_text_col(q, first + 6));
    json_object_set_new(e, "mx_ip", sq_text_col(q, first + 7));
    json_object_set_new(e, "source_ip", sq_text_col(q, first + 8));
    json_object_set_new(e, "tls", sq_text_col(q, first + 9));
    json_object_set_new(e, "duration_ms", sq_int_col(q, first + 10));
    if (type == EDM_EVENT_CLICK) {
        json_object_set_new(e, "url", sq_text_col(q, first + 11));
        json_object_set_new(e, "link", sq_int_col(q, first + 12));
    }
    if (type == EDM_EVENT_OPEN || type == EDM_EVENT_CLICK) {
        json_object_set_new(e, "machine", json_boolean(sqlite3_column_int(q, first + 13)));
        json_object_set_new(e, "user_agent", sq_text_col(q, first + 14));
        json_object_set_new(e, "ip", sq_text_col(q, first + 15));
    }
    return e;
}

/* The event feed's rows, those of deleted campaigns left out; the
 * conditions follow. d.txn tells a transactional message's recipient
 * (its parent is a message, not a campaign). */
#define EVENTS_SELECT                                                                              \
    "SELECT e.id, e.delivery_id, d.campaign_id, d.email, d.txn, " EDM_SQ_EVENT_COLUMNS             \
    " FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id WHERE " SQ_SHOWN(           \
        "d.campaign_id") " AND "

int sq_event_list(edm_store *st, int type, int64_t after, int limit, edm_page *page)
{
    sq_store *s = SQ(st);
    page->items = NULL;
    page->next = 0;
    if (limit <= 0 || limit > 1000)
        limit = 100;
    const char *sql = type < 0                    ? EVENTS_SELECT "e.id > ?1 ORDER BY e.id LIMIT ?2"
                      : type == EDM_EVENT_ATTEMPT ? EVENTS_SELECT
                          "e.id > ?1 AND e.type IS NULL ORDER BY e.id LIMIT ?2"
                                                  : EVENTS_SELECT
                          "e.type = ?3 AND e.id > ?1 ORDER BY e.type, e.id LIMIT ?2";
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q, sql);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, after);
    sqlite3_bind_int(q, 2, limit + 1);
    if (type > 0)
        sqlite3_bind_int(q, 3, type);
    json_t *items = json_array();
    int count = 0;
    int64_t last = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (count == limit) {
            page->next = last;
            break;
        }
        last = sqlite3_column_int64(q, 0);
        json_t *e = sq_event_object(q, 5);
        json_object_set_new(e, "id", json_integer(last));
        json_object_set_new(e, "receipt_id", json_integer(sqlite3_column_int64(q, 1)));
        /* a message's recipient: campaign_id null and the message's id,
         * as in its receipts and its webhook events */
        json_int_t parent = sqlite3_column_int64(q, 2);
        int txn = sqlite3_column_int(q, 4) != 0;
        json_object_set_new(e, "campaign_id", txn ? json_null() : json_integer(parent));
        json_object_set_new(e, "message_id", txn ? json_integer(parent) : json_null());
        json_object_set_new(e, "email", sq_text_col(q, 3));
        json_array_append_new(items, e);
        count++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        return sq_fail(s, "events");
    }
    page->items = items;
    return 0;
}

int sq_feedback_stats(sq_store *s, int64_t campaign_id, json_t *stats)
{
    sqlite3_stmt *q;
    int rc = sq_prepare(s, &q,
                        "SELECT feedback, count(*) FROM deliveries WHERE campaign_id = ?1 AND "
                        "feedback IS NOT NULL GROUP BY 1");
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(q, 1, campaign_id);
    int64_t n[3] = {0};
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int f = sqlite3_column_int(q, 0);
        if (f >= 1 && f <= 2)
            n[f] = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sq_fail(s, "feedback stats");
    json_t *counts = json_object_get(stats, "counts");
    int64_t delivered = json_integer_value(json_object_get(counts, "delivered"));
    json_object_set_new(stats, "complaints", json_integer(n[EDM_FEEDBACK_COMPLAINED]));
    json_object_set_new(stats, "unsubscribes", json_integer(n[EDM_FEEDBACK_UNSUBSCRIBED]));
    json_object_set_new(
        stats, "complaint_rate",
        json_real(delivered ? (double)n[EDM_FEEDBACK_COMPLAINED] / (double)delivered : 0.0));
    return 0;
}
