/*
 * engine/store/pg/store_pg_tracking.c: the PostgreSQL backend's side of
 * engagement tracking and webhooks (store.h; schema/pg/0006_tracking.sql
 * and 0009_tracking_sources.sql; docs/tracking.md, docs/postgresql.md):
 * what a click or an open needs to be answered, its recording (event,
 * receipt, counters in one transaction, the receipt's row locked so that
 * two nodes recording for it at once agree on the first), the engagement
 * part of a campaign's stats, webhooks and their outbox.
 *
 * The outbox is filled by triggers, so every writer queues webhook events
 * in its own transaction. Reading a batch takes the webhook's sender
 * lease (webhooks.sender_node, sender_until) for this node; a webhook
 * another node holds answers no batch, so one node at a time posts a
 * webhook's events, oldest first. A batch holds no id above the settled
 * bound (store_pg_feed.c), so acknowledging it (ids up to its last) never
 * deletes a row that committed after it was read. Acknowledging or
 * delaying the batch gives the lease back; a node that dies holding it
 * loses it after PG_SENDER_LEASE seconds.
 */
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/store/pg/store_pg_int.h"

#include <stdio.h>
#include <string.h>

/* Seconds a node holds a webhook while it posts a batch: past the
 * sender's request timeout (engine/webhook/hooks.c, 10 s). */
#define PG_SENDER_LEASE 60

int pg_track_lookup(edm_store *st, int64_t delivery_id, edm_track_target *out)
{
    pg_store *s = PG(st);
    memset(out, 0, sizeof *out);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, delivery_id);
    PGresult *r = pg_run(s,
                         "SELECT d.campaign_id, c.kind, c.track, d.status, d.delivered_at, d.vars, "
                         "c.unsubscribe, coalesce(t.updated_at, 0), c.template_id, d.email, "
                         "(src.campaign_id IS NOT NULL)::integer, d.vars_bin "
                         "FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id "
                         "LEFT JOIN templates t ON t.id = c.template_id "
                         "LEFT JOIN campaign_sources src ON src.campaign_id = d.campaign_id "
                         "WHERE d.id = $1",
                         &p, "track lookup");
    if (r == NULL)
        return EDM_EDB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return EDM_ENOTFOUND;
    }
    out->campaign_id = pg_int(r, 0, 0);
    out->is_message = pg_int(r, 0, 1) == 1;
    out->track = (unsigned)pg_int(r, 0, 2);
    out->status = (enum edm_dstate)pg_int(r, 0, 3);
    out->delivered_at = pg_int(r, 0, 4);
    int rc;
    if ((rc = pg_vars_col(s, r, 0, 5, 11, &out->vars)) != 0) {
        PQclear(r);
        return rc;
    }
    out->unsubscribe = pg_dup(r, 0, 6);
    snprintf(out->email, sizeof out->email, "%s", PQgetvalue(r, 0, 9));
    /* The source taken when sending started never changes (-1); without
     * one, the template's id and its last change. */
    out->source_version = pg_int(r, 0, 10) ? -1 : pg_int(r, 0, 8) * 4294967296LL + pg_int(r, 0, 7);
    PQclear(r);
    return 0;
}

int pg_track_source(edm_store *st, int64_t campaign_id, edm_template_row *out)
{
    pg_store *s = PG(st);
    memset(out, 0, sizeof *out);
    /* The template as it was when sending started, else a message's own
     * content, else the template as it is now. */
    int rc = pg_source_get(s, campaign_id, out);
    if (rc != EDM_ENOTFOUND)
        return rc;
    memset(out, 0, sizeof *out);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, campaign_id);
    PGresult *r = pg_run(s,
                         "SELECT c.template_id, mc.subject, mc.html, mc.text, "
                         "(mc.campaign_id IS NOT NULL AND mc.raw IS NULL)::integer "
                         "FROM campaigns c LEFT JOIN message_content mc ON mc.campaign_id = c.id "
                         "WHERE c.id = $1",
                         &p, "track source");
    if (r == NULL)
        return EDM_EDB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return EDM_ENOTFOUND;
    }
    int64_t tid = pg_int(r, 0, 0);
    if (tid <= 0 && pg_int(r, 0, 4)) {
        out->subject = pg_dup(r, 0, 1);
        out->html = pg_dup(r, 0, 2);
        out->text = pg_dup(r, 0, 3);
        PQclear(r);
        return 0;
    }
    PQclear(r);
    return tid > 0 ? pg_template_get(st, tid, out) : EDM_ENOTFOUND;
}

/* 1 if the delivery has no event of this type and class (and link, when
 * link >= -1; -2: any link). */
static int first_of(pg_store *s, const edm_engagement_rec *e, int link, int *first)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, e->delivery_id);
    pgp_int(&p, (int)e->type);
    pgp_int(&p, e->machine ? 1 : 0);
    pgp_int(&p, link);
    PGresult *r = pg_run(s,
                         "SELECT 1 FROM delivery_events WHERE delivery_id = $1 AND type = $2 AND "
                         "machine = $3 AND ($4::integer = -2 OR coalesce(link, -1) = $4::integer) "
                         "LIMIT 1",
                         &p, "engagement first");
    if (r == NULL)
        return EDM_EDB;
    *first = PQntuples(r) == 0;
    PQclear(r);
    return 0;
}

static int count(pg_store *s, int64_t campaign_id, int what, int link, int machine, int uniq,
                 const char *url)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, campaign_id);
    pgp_int(&p, what);
    pgp_int(&p, link);
    pgp_int(&p, machine);
    pgp_int(&p, uniq);
    pgp_text(&p, url);
    return pg_do(
        s,
        "INSERT INTO engagement_counts AS k(campaign_id, what, link, machine, total, uniq, "
        "url) VALUES ($1, $2, $3, $4, 1, $5, $6) "
        "ON CONFLICT (campaign_id, what, link, machine) DO UPDATE SET "
        "total = k.total + 1, uniq = k.uniq + EXCLUDED.uniq, "
        "url = coalesce(k.url, EXCLUDED.url)",
        &p, "engagement count");
}

static int record(pg_store *s, const edm_engagement_rec *e, int *first_out)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, e->delivery_id);
    PGresult *r = pg_run(s, "SELECT campaign_id, status FROM deliveries WHERE id = $1 FOR UPDATE",
                         &p, "engagement delivery");
    if (r == NULL)
        return EDM_EDB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return EDM_ENOTFOUND;
    }
    int64_t campaign_id = pg_int(r, 0, 0);
    int status = (int)pg_int(r, 0, 1);
    PQclear(r);
    int click = e->type == EDM_EVENT_CLICK;
    int link = click ? e->link : -1, first = 0, any_first = 0, rc;
    if ((rc = first_of(s, e, link, &first)) != 0 ||
        (click && (rc = first_of(s, e, -2, &any_first)) != 0))
        return rc;
    pgp_init(&p);
    pgp_int(&p, e->delivery_id);
    pgp_int(&p, e->at);
    pgp_int(&p, status);
    pgp_int(&p, (int)e->type);
    pgp_text(&p, click ? e->url : NULL);
    if (click)
        pgp_int(&p, e->link);
    else
        pgp_null(&p);
    pgp_int(&p, e->machine ? 1 : 0);
    pgp_text(&p, e->user_agent);
    pgp_text(&p, e->ip);
    if ((rc = pg_do(s,
                    "INSERT INTO delivery_events(delivery_id, attempted_at, status, type, url, "
                    "link, machine, user_agent, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &p, "engagement event")) != 0)
        return rc;
    pgp_init(&p);
    pgp_int(&p, e->delivery_id);
    pgp_int(&p, e->at);
    if ((rc = pg_do(s,
                    click ? "UPDATE deliveries SET clicked_at = coalesce(clicked_at, $2) "
                            "WHERE id = $1"
                          : "UPDATE deliveries SET opened_at = coalesce(opened_at, $2) "
                            "WHERE id = $1",
                    &p, "engagement receipt")) != 0)
        return rc;
    int m = e->machine ? 1 : 0;
    if (click) {
        if ((rc = count(s, campaign_id, 1, e->link, m, first, e->url)) != 0 ||
            (rc = count(s, campaign_id, 1, -1, m, any_first, NULL)) != 0)
            return rc;
    } else if ((rc = count(s, campaign_id, 0, -1, m, first, NULL)) != 0) {
        return rc;
    }
    if (first_out)
        *first_out = first;
    return 0;
}

int pg_engagement_record(edm_store *st, const edm_engagement_rec *e, int *first)
{
    pg_store *s = PG(st);
    EDM_ASSERT(e->type == EDM_EVENT_OPEN || e->type == EDM_EVENT_CLICK);
    int rc = pg_begin(s);
    if (rc != 0)
        return rc;
    if ((rc = record(s, e, first)) == 0)
        rc = pg_commit(s);
    if (rc != 0)
        pg_rollback(s);
    return rc;
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

/* id, url, events, created_at from column 0. */
static json_t *webhook_object(const PGresult *r, int i)
{
    return json_pack("{s:I, s:o, s:o, s:o}", "id", (json_int_t)pg_int(r, i, 0), "url",
                     pg_text_col(r, i, 1), "events", events_array((unsigned)pg_int(r, i, 2)),
                     "created_at", pg_time_col(r, i, 3));
}

int pg_webhook_create(edm_store *st, const char *url, unsigned events, const char *secret,
                      json_t **out)
{
    pg_params p;
    pgp_init(&p);
    pgp_text(&p, url);
    pgp_int(&p, (int64_t)events);
    pgp_text(&p, secret);
    PGresult *r = pg_run(PG(st),
                         "INSERT INTO webhooks(url, events, secret, created_at) "
                         "VALUES ($1, $2, $3, extract(epoch FROM now())::bigint) "
                         "RETURNING id, url, events, created_at",
                         &p, "webhook create");
    if (r == NULL)
        return EDM_EDB;
    *out = webhook_object(r, 0);
    json_object_set_new(*out, "secret", json_string(secret));
    PQclear(r);
    return 0;
}

int pg_webhook_list(edm_store *st, json_t **items)
{
    PGresult *r = pg_run(PG(st),
                         "SELECT w.id, w.url, w.events, w.created_at, "
                         "(SELECT count(*) FROM webhook_outbox o WHERE o.webhook_id = w.id), "
                         "(SELECT max(attempts) FROM webhook_outbox o WHERE o.webhook_id = w.id) "
                         "FROM webhooks w ORDER BY w.id",
                         NULL, "webhook list");
    if (r == NULL)
        return EDM_EDB;
    *items = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = webhook_object(r, i);
        json_object_set_new(o, "pending", json_integer(pg_int(r, i, 4)));
        json_object_set_new(o, "failed_attempts", json_integer(pg_int(r, i, 5)));
        json_array_append_new(*items, o);
    }
    PQclear(r);
    return 0;
}

int pg_webhook_delete(edm_store *st, int64_t id)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, id);
    PGresult *r = pg_run(PG(st), "DELETE FROM webhooks WHERE id = $1", &p, "webhook delete");
    if (r == NULL)
        return EDM_EDB;
    int64_t n = pg_affected(r);
    PQclear(r);
    return n ? 0 : EDM_ENOTFOUND;
}

int pg_webhook_all(edm_store *st, edm_webhook_row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    PGresult *r = pg_run(PG(st), "SELECT id, url, events, secret FROM webhooks ORDER BY id", NULL,
                         "webhooks");
    if (r == NULL)
        return EDM_EDB;
    int rn = PQntuples(r);
    if (rn > 0)
        *rows = edm_xcalloc((size_t)rn, sizeof **rows);
    for (int i = 0; i < rn; i++) {
        edm_webhook_row *w = &(*rows)[i];
        w->id = pg_int(r, i, 0);
        w->url = pg_dup(r, i, 1);
        w->events = (unsigned)pg_int(r, i, 2);
        w->secret = pg_dup(r, i, 3);
    }
    *n = (size_t)rn;
    PQclear(r);
    return 0;
}

/* Who holds a webhook's sender lease: the node, else this connection. */
static const char *holder(pg_store *s, char *buf, size_t len)
{
    if (s->node_id[0])
        return s->node_id;
    snprintf(buf, len, "backend:%d", PQbackendPID(s->conn));
    return buf;
}

/* Takes (or renews) the webhook's sender lease: 1 taken, 0 another node
 * holds it, or EDM_E*. */
static int lease_take(pg_store *s, int64_t webhook_id, int64_t now)
{
    char buf[64];
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, webhook_id);
    pgp_text(&p, holder(s, buf, sizeof buf));
    pgp_int(&p, now);
    pgp_int(&p, now + PG_SENDER_LEASE);
    PGresult *r = pg_run(s,
                         "UPDATE webhooks SET sender_node = $2, sender_until = $4 "
                         "WHERE id = $1 AND (sender_node IS NULL OR sender_node = $2 OR "
                         "sender_until < $3) RETURNING id",
                         &p, "webhook lease");
    if (r == NULL)
        return EDM_EDB;
    int taken = PQntuples(r) == 1;
    PQclear(r);
    return taken;
}

static int lease_give_back(pg_store *s, int64_t webhook_id)
{
    char buf[64];
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, webhook_id);
    pgp_text(&p, holder(s, buf, sizeof buf));
    return pg_do(s,
                 "UPDATE webhooks SET sender_node = NULL, sender_until = 0 "
                 "WHERE id = $1 AND sender_node = $2",
                 &p, "webhook lease end");
}

/* 1 when the webhook's oldest outbox row is due at now. A row whose
 * receipt is gone (a campaign deleted while a feedback event of it was
 * being recorded) is no head: it is never posted, and goes with the
 * acknowledgement of a later row. */
static int head_due(pg_store *s, int64_t webhook_id, int64_t now)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, webhook_id);
    PGresult *r = pg_run(s,
                         "SELECT o.next_attempt_at FROM webhook_outbox o "
                         "JOIN deliveries d ON d.id = o.delivery_id WHERE o.webhook_id = $1 "
                         "ORDER BY o.id LIMIT 1",
                         &p, "outbox head");
    if (r == NULL)
        return EDM_EDB;
    int due = PQntuples(r) == 1 && pg_int(r, 0, 0) <= now;
    PQclear(r);
    return due;
}

int pg_outbox_batch(edm_store *st, int64_t webhook_id, int64_t now, size_t limit, int64_t *last_id,
                    int64_t *first_created, int *attempts, char **body, size_t *count_out)
{
    pg_store *s = PG(st);
    *body = NULL;
    *count_out = 0;
    /* Nothing due costs one read and no write; the lease is taken only
     * for a batch to send, and the batch read under it. */
    int rc = head_due(s, webhook_id, now);
    if (rc <= 0)
        return rc;
    /* The batch passes no id above the settled bound (store_pg_feed.c):
     * acknowledging it deletes ids up to its last, so no lower id may
     * commit after it was read. */
    int64_t upto;
    if ((rc = pg_feed_settled(s, &s->outbox_bound,
                              "SELECT last_value - (NOT is_called)::int FROM webhook_outbox_id_seq",
                              &upto)) != 0)
        return rc;
    if ((rc = lease_take(s, webhook_id, now)) <= 0)
        return rc;
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, webhook_id);
    pgp_int(&p, (int64_t)limit);
    pgp_int(&p, upto);
    PGresult *r =
        pg_run(s,
               "SELECT o.id, o.event, o.delivery_id, d.campaign_id, c.kind, d.email, "
               "o.at, o.attempts, o.next_attempt_at, "
               "(o.event_id IS NOT NULL)::integer, d.status, d.response, " PG_EVENT_COLUMNS
               " FROM webhook_outbox o LEFT JOIN delivery_events e ON e.id = o.event_id "
               "JOIN deliveries d ON d.id = o.delivery_id "
               "LEFT JOIN campaigns c ON c.id = d.campaign_id "
               "WHERE o.webhook_id = $1 AND o.id <= $3 ORDER BY o.id LIMIT $2",
               &p, "outbox");
    if (r == NULL) {
        lease_give_back(s, webhook_id);
        return EDM_EDB;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        if (i == 0) {
            if (pg_int(r, i, 8) > now)
                break; /* the head of the queue waits: nothing is due */
            *first_created = pg_int(r, i, 6);
            *attempts = (int)pg_int(r, i, 7);
        }
        json_t *o = pg_int(r, i, 9) ? pg_event_object(r, i, 12) : json_object();
        if (!pg_int(r, i, 9) && !PQgetisnull(r, i, 10)) {
            /* failed or suppressed: no event row; the receipt's state and
             * why it failed */
            json_object_set_new(o, "status", json_string(edm_dstate_name((int)pg_int(r, i, 10))));
            json_object_set_new(o, "response", pg_text_col(r, i, 11));
        }
        json_object_del(o, "attempted_at");
        json_object_set_new(o, "id", json_integer(pg_int(r, i, 0)));
        json_object_set_new(o, "event", pg_text_col(r, i, 1));
        json_object_set_new(o, "receipt_id", json_integer(pg_int(r, i, 2)));
        json_object_set_new(o, pg_int(r, i, 4) == 1 ? "message_id" : "campaign_id",
                            pg_int_col(r, i, 3));
        json_object_set_new(o, "email", pg_text_col(r, i, 5));
        json_object_set_new(o, "at", pg_time_col(r, i, 6));
        json_array_append_new(arr, o);
        *last_id = pg_int(r, i, 0);
    }
    PQclear(r);
    *count_out = json_array_size(arr);
    if (*count_out)
        *body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (*count_out == 0)
        return lease_give_back(s, webhook_id);
    return *body ? 0 : EDM_ENOMEM;
}

int pg_outbox_ack(edm_store *st, int64_t webhook_id, int64_t last_id)
{
    pg_store *s = PG(st);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, webhook_id);
    pgp_int(&p, last_id);
    int rc =
        pg_do(s, "DELETE FROM webhook_outbox WHERE webhook_id = $1 AND id <= $2", &p, "outbox ack");
    int rc2 = lease_give_back(s, webhook_id);
    return rc ? rc : rc2;
}

int pg_outbox_retry(edm_store *st, int64_t webhook_id, int64_t last_id, int64_t next_attempt_at)
{
    pg_store *s = PG(st);
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, webhook_id);
    pgp_int(&p, last_id);
    pgp_int(&p, next_attempt_at);
    int rc = pg_do(s,
                   "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = $3 "
                   "WHERE webhook_id = $1 AND id <= $2",
                   &p, "outbox retry");
    int rc2 = lease_give_back(s, webhook_id);
    return rc ? rc : rc2;
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
int pg_engagement_stats(pg_store *s, int64_t campaign_id, json_t *stats)
{
    pg_params p;
    pgp_init(&p);
    pgp_int(&p, campaign_id);
    PGresult *r = pg_run(s,
                         "SELECT what, link, machine, total, uniq, url FROM engagement_counts "
                         "WHERE campaign_id = $1 ORDER BY what, link, machine",
                         &p, "engagement stats");
    if (r == NULL)
        return EDM_EDB;
    json_t *opens = counts_object(), *clicks = counts_object(), *links = json_array();
    json_t *cur = NULL;
    int64_t cur_link = -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t what = pg_int(r, i, 0), link = pg_int(r, i, 1);
        int machine = (int)pg_int(r, i, 2);
        if (link < 0) {
            add_counts(what ? clicks : opens, machine, pg_int(r, i, 3), pg_int(r, i, 4));
            continue;
        }
        if (cur == NULL || cur_link != link) {
            cur = counts_object();
            json_object_set_new(cur, "link", json_integer(link));
            json_object_set_new(cur, "url", pg_text_col(r, i, 5));
            json_array_append_new(links, cur);
            cur_link = link;
        }
        add_counts(cur, machine, pg_int(r, i, 3), pg_int(r, i, 4));
    }
    PQclear(r);
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
