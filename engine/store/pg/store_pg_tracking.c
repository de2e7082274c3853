/*
 * engine/store/pg/store_pg_tracking.c: engagement tracking and webhooks
 * (docs/tracking.md) on the PostgreSQL store: not implemented yet
 * (docs/postgresql.md, "Not yet on PostgreSQL"). The ops answer so that
 * nothing breaks: tracking tokens are unknown (the public listener answers
 * 404), there are no webhooks and nothing in the outbox, and creating a
 * webhook is refused with a clear message (EDM_EINVAL).
 */
#include "engine/base/err.h"
#include "engine/store/pg/store_pg_int.h"

#include <stdio.h>

static const char not_yet[] = "opens, clicks and webhooks are not available on the PostgreSQL "
                              "store yet (docs/postgresql.md)";

int pg_track_lookup(edm_store *st, int64_t delivery_id, edm_track_target *out)
{
    (void)st, (void)delivery_id, (void)out;
    return EDM_ENOTFOUND;
}

int pg_track_source(edm_store *st, int64_t campaign_id, edm_template_row *out)
{
    (void)st, (void)campaign_id, (void)out;
    return EDM_ENOTFOUND;
}

int pg_engagement_record(edm_store *st, const edm_engagement_rec *r, int *first)
{
    (void)r, (void)first;
    snprintf(PG(st)->err, sizeof PG(st)->err, "%s", not_yet);
    return EDM_EINVAL;
}

int pg_webhook_create(edm_store *st, const char *url, unsigned events, const char *secret,
                      json_t **out)
{
    (void)url, (void)events, (void)secret, (void)out;
    snprintf(PG(st)->err, sizeof PG(st)->err, "%s", not_yet);
    return EDM_EINVAL;
}

int pg_webhook_list(edm_store *st, json_t **items)
{
    (void)st;
    *items = json_array();
    return *items ? 0 : EDM_ENOMEM;
}

int pg_webhook_delete(edm_store *st, int64_t id)
{
    (void)st, (void)id;
    return EDM_ENOTFOUND;
}

int pg_webhook_all(edm_store *st, edm_webhook_row **rows, size_t *n)
{
    (void)st;
    *rows = NULL;
    *n = 0;
    return 0;
}

int pg_outbox_batch(edm_store *st, int64_t webhook_id, int64_t now, size_t limit, int64_t *last_id,
                    int64_t *first_created, int *attempts, char **body, size_t *count)
{
    (void)st, (void)webhook_id, (void)now, (void)limit, (void)last_id, (void)first_created;
    (void)attempts;
    *body = NULL;
    *count = 0;
    return 0;
}

int pg_outbox_ack(edm_store *st, int64_t webhook_id, int64_t last_id)
{
    (void)st, (void)webhook_id, (void)last_id;
    return 0;
}

int pg_outbox_retry(edm_store *st, int64_t webhook_id, int64_t last_id, int64_t next_attempt_at)
{
    (void)st, (void)webhook_id, (void)last_id, (void)next_attempt_at;
    return 0;
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
