/*
 * api/routes/health.c: GET /v1/health (no key needed): liveness, version, the
 * store's schema version and the server time.
 */
#include "api/api_int.h"
#include "engine/base/timeutil.h"
#include "engine/base/version.h"

void api_health_get(api_call *c)
{
    int cur = 0, sup = 0;
    edm_store *st = c->api->store;
    int rc = st->ops->schema_version(st, &cur, &sup);
    char now[32];
    edm_time_rfc3339(edm_time_now(), now, sizeof now);
    json_t *v = json_pack("{s:s,s:s,s:s,s:i}", "status", rc == 0 ? "ok" : "degraded", "version",
                          edm_version(), "time", now, "schema_version", cur);
    api_reply(c, rc == 0 ? 200 : 503, v);
}
