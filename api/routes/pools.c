/*
 * api/routes/pools.c: GET /v1/pools: the live state of each source IP (sent this
 * hour, rate, connections, paused domains), as the engine reports it
 * through edm_api_engine.pools. Without an engine (the API alone) the list
 * is empty.
 */
#include "api/api_int.h"

void api_pools_get(api_call *c)
{
    int limit;
    int64_t after;
    if (api_paging(c, &limit, &after) != 0)
        return;
    json_t *items = NULL;
    if (c->api->engine.pools)
        items = c->api->engine.pools(c->api->engine.ctx);
    if (!json_is_array(items)) {
        json_decref(items);
        items = json_array();
    }
    api_reply(c, 200, api_list_page(items, after, limit, 0));
}
