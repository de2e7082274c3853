/*
 * engine/engine.h: the sending engine as one object on a libuv loop: the
 * scheduler, the delivery pipeline, the relay with its SMTP sessions, the
 * source IP pools, DNS, DKIM keys and the TLS client context, wired
 * together from the configuration. `edm serve` and `edm send` run it; the
 * API reads its live state through this interface.
 */
#ifndef EDM_ENGINE_H
#define EDM_ENGINE_H

#include "engine/config/config.h"
#include "engine/store/store.h"

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

typedef struct edm_engine edm_engine;

/* Starts the engine. cfg and st must outlive it. On failure returns a
 * negative code with the reason in err. */
int edm_engine_start(uv_loop_t *loop, const edm_config *cfg, edm_store *st, edm_engine **out,
                     char *err, size_t errlen);
/* Graceful stop: no more claims, sessions aborted (their messages stay
 * queued in the store), outcomes written; cb runs when every handle is
 * closed and the engine freed. */
void edm_engine_stop(edm_engine *e, void (*cb)(void *arg), void *arg);

/* GET /v1/pools: one object per source IP: {pool, addr, helo,
 * sent_this_hour, sent_today, rate (messages in the last minute),
 * max_per_hour, day_cap, connections, weight, has_capacity,
 * paused_domains: [{domain, seconds_left}]}. */
json_t *edm_engine_pools_json(edm_engine *e);
/* Claims due transactional messages now (one was just committed). */
void edm_engine_kick(edm_engine *e);
/* Wakes the scheduler at once (a campaign changed state through the API). */
void edm_engine_wake(edm_engine *e);
/* The whole signed message for a template preview (see
 * edm_message_preview), with the engine's keys and secret. from NULL:
 * preview@ the first DKIM key's domain (example.com without keys); to
 * NULL: vars' "email" if it is an address, else recipient@example.com. */
int edm_engine_render_raw(edm_engine *e, json_t *tpl, json_t *vars, const char *from,
                          const char *to, char **msg, size_t *len, char *err, size_t errlen);
/* Messages sent in the last minute by a campaign (0: all campaigns). */
double edm_engine_rate_per_minute(edm_engine *e, int64_t campaign_id);
/* The HMAC secret of VERP and unsubscribe tokens (owned by the engine). */
const unsigned char *edm_engine_secret(const edm_engine *e, size_t *len);

#endif
