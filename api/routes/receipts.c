/*
 * api/routes/receipts.c: receipts of a campaign:
 *  - GET /v1/campaigns/{id}/receipts?status=&domain=&email=&since=&until=
 *    &after=&limit=: one page, ordered by receipt id; the cursor is the
 *    last id, so pages stay stable while the campaign sends (states change,
 *    rows do not move);
 *  - GET /v1/campaigns/{id}/receipts.ndjson (same filters): every receipt,
 *    one JSON object a line, streamed page by page as the socket drains:
 *    the first bytes go out at once and memory stays at one page;
 *  - GET /v1/receipts/{id}/events?after=&limit=: one recipient's history,
 *    oldest first, paged by position (events are only ever appended).
 */
#include "engine/base/addr.h"
#include "api/api_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"

#include <stdlib.h>
#include <string.h>

/* Rows per pull: the HTTP layer pulls one stream per loop turn
 * (api/http_pull.c), so this bounds the export's work per turn. */
#define NDJSON_PAGE 200

typedef struct receipt_query {
    edm_receipt_filter f;
    char status[16];
    char feedback[16];
    char domain[EDM_ADDR_MAX];
    char email[EDM_ADDR_MAX];
} receipt_query;

/* Reads the filters; answers 422 and returns -1 on a bad one. */
static int read_filters(api_call *c, receipt_query *q)
{
    memset(q, 0, sizeof *q);
    char buf[1024];
    const char *why;
    int r = api_query(c, "status", q->status, sizeof q->status);
    if (r < 0 || (r > 0 && edm_dstate_parse(q->status) < 0)) {
        api_error(c, 422, "invalid", "status",
                  "status must be one of queued, deferred, delivered, bounced, suppressed, "
                  "failed, cancelled");
        return -1;
    }
    q->f.status = r > 0 ? q->status : NULL;
    r = api_query(c, "feedback", q->feedback, sizeof q->feedback);
    if (r < 0 || (r > 0 && edm_feedback_parse(q->feedback) < 0)) {
        api_error(c, 422, "invalid", "feedback", "feedback must be complained or unsubscribed");
        return -1;
    }
    q->f.feedback = r > 0 ? q->feedback : NULL;
    r = api_query(c, "domain", buf, sizeof buf);
    if (r < 0 || (r > 0 && edm_addr_normalize_domain(buf, strlen(buf), q->domain, &why) != 0)) {
        api_error(c, 422, "invalid", "domain", "domain is not a valid domain name");
        return -1;
    }
    q->f.domain = r > 0 ? q->domain : NULL;
    r = api_query(c, "email", buf, sizeof buf);
    size_t doff;
    if (r < 0 || (r > 0 && edm_addr_normalize(buf, strlen(buf), q->email, &doff, &why) != 0)) {
        api_error(c, 422, "invalid", "email", "email is not a valid address");
        return -1;
    }
    q->f.email = r > 0 ? q->email : NULL;
    static const char *const times[] = {"since", "until"};
    for (int i = 0; i < 2; i++) {
        int64_t t = 0;
        r = api_query(c, times[i], buf, sizeof buf);
        if (r < 0 || (r > 0 && edm_time_parse_rfc3339(buf, &t) != 0)) {
            api_error(c, 422, "invalid_time", times[i], "%s must be an RFC 3339 time", times[i]);
            return -1;
        }
        if (i == 0)
            q->f.since = t;
        else
            q->f.until = t;
    }
    return 0;
}

/* 404 unless the campaign of the path exists. */
static int campaign_exists(api_call *c)
{
    edm_store *st = c->api->store;
    int rc = c->id > 0 ? st->ops->campaign_get(st, c->id, NULL) : EDM_ENOTFOUND;
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return 0;
    }
    return 1;
}

void api_receipts_list(api_call *c)
{
    receipt_query q;
    int limit;
    if (read_filters(c, &q) != 0 || api_paging(c, &limit, &q.f.after) != 0 || !campaign_exists(c))
        return;
    q.f.limit = limit;
    edm_page page = {0};
    edm_store *st = c->api->store;
    int rc = st->ops->receipt_list(st, c->id, &q.f, &page);
    if (rc != 0) {
        api_store_error(c, rc, "campaign");
        return;
    }
    api_reply(c, 200, api_list(page.items, page.next));
}

typedef struct ndjson_stream {
    receipt_query q;
    int64_t campaign_id;
    int done;
} ndjson_stream;

static int dump_to_buf(const char *data, size_t len, void *buf)
{
    return edm_buf_append(buf, data, len);
}

static int ndjson_next(http_req *req, edm_buf *out)
{
    api_call *c = req->app_data;
    ndjson_stream *s = c->state;
    if (s->done)
        return 0;
    edm_page page = {0};
    edm_store *st = c->api->store;
    int rc = st->ops->receipt_list(st, s->campaign_id, &s->q.f, &page);
    if (rc != 0)
        return rc;
    size_t i;
    json_t *item;
    json_array_foreach(page.items, i, item)
    {
        if (json_dump_callback(item, dump_to_buf, out, JSON_COMPACT) != 0 ||
            edm_buf_append_char(out, '\n') != 0) {
            edm_page_free(&page);
            return EDM_ENOMEM;
        }
    }
    s->q.f.after = page.next;
    s->done = page.next == 0;
    edm_page_free(&page);
    if (out->len == 0)
        return s->done ? 0 : ndjson_next(req, out);
    return s->done ? 0 : 1;
}

void api_receipts_ndjson(api_call *c)
{
    ndjson_stream *s = edm_xcalloc(1, sizeof *s);
    c->state = s;
    c->free_state = edm_free;
    if (read_filters(c, &s->q) != 0 || !campaign_exists(c))
        return;
    s->campaign_id = c->id;
    s->q.f.limit = NDJSON_PAGE;
    c->answered = 1;
    http_stream(c->req, 200, "application/x-ndjson", ndjson_next);
}

void api_receipts_events(api_call *c)
{
    int limit;
    int64_t after;
    if (api_paging(c, &limit, &after) != 0)
        return;
    edm_store *st = c->api->store;
    json_t *r = NULL;
    int rc = c->id > 0 ? st->ops->receipt_get(st, c->id, &r) : EDM_ENOTFOUND;
    json_decref(r);
    if (rc != 0) {
        api_store_error(c, rc, "receipt");
        return;
    }
    json_t *items = NULL;
    rc = st->ops->receipt_events(st, c->id, &items);
    if (rc != 0) {
        api_store_error(c, rc, "receipt");
        return;
    }
    api_reply(c, 200, api_list_page(items, after, limit, 0));
}
