/*
 * api/routes/nodes.c: GET /v1/nodes: the sending nodes sharing this
 * database (docs/postgresql.md): id, API address, source IPs, when each
 * started and last sent a heartbeat, whether it is alive, and what it is
 * sending (recipients it holds in flight, their campaigns). Any node
 * answers for all of them.
 */
#include "api/api_int.h"
#include "engine/base/timeutil.h"

void api_nodes_list(api_call *c)
{
    int limit;
    int64_t after;
    if (api_paging(c, &limit, &after) != 0)
        return;
    edm_store *st = c->api->store;
    json_t *items = NULL;
    int rc = st->ops->node_list(st, edm_time_now(), &items);
    if (rc != 0) {
        api_store_error(c, rc, "node");
        return;
    }
    api_reply(c, 200, api_list_page(items, after, limit, 0));
}
