/*
 * api/routes/events.c: GET /v1/events?type=&after=&limit=: every event of
 * every receipt (attempts, DSNs, complaints, unsubscribes) in the order
 * they were recorded, as a cursor feed for systems that poll
 * (docs/api.md). type filters by one event type.
 */
#include "api/api_int.h"

void api_events_list(api_call *c)
{
    int limit;
    int64_t after;
    if (api_paging(c, &limit, &after) != 0)
        return;
    char tbuf[32];
    int type = -1;
    int r = api_query(c, "type", tbuf, sizeof tbuf);
    if (r < 0 || (r > 0 && (type = edm_event_type_parse(tbuf)) < 0)) {
        api_error(c, 422, "invalid", "type",
                  "type must be one of attempt, dsn, complaint, unsubscribe, open, click");
        return;
    }
    edm_store *st = c->api->store;
    edm_page page = {0};
    int rc = st->ops->event_list(st, type, after, limit, &page);
    if (rc != 0) {
        api_store_error(c, rc, "event");
        return;
    }
    api_reply(c, 200, api_list(page.items, page.next));
}
