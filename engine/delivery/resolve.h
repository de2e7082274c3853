/*
 * engine/delivery/resolve.h: where the relay's destinations come from: a domain's
 * MX hosts with their addresses (through engine/net/dns.c), a route's relay
 * host, or an address literal as it is. Implements relay.h's
 * edm_resolve_fn.
 */
#ifndef EDM_RESOLVE_H
#define EDM_RESOLVE_H

#include "engine/config/config.h"
#include "engine/delivery/relay.h"

#include <uv.h>

typedef struct edm_resolver edm_resolver;

int edm_resolver_new(uv_loop_t *loop, const edm_config *cfg, edm_resolver **out, char *err,
                     size_t errlen);
/* Pending requests are answered EDM_ECANCELED before it returns. */
void edm_resolver_free(edm_resolver *r);
/* edm_resolve_fn: ctx is the resolver. */
int edm_resolver_resolve(void *ctx, const char *name, edm_resolve_cb cb, void *arg);

#endif
