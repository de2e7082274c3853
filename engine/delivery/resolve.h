/*
 * engine/delivery/resolve.h: where the relay's destinations come from.
 *
 * The interface (edm_resolve_fn): the relay asks for a name (a recipient
 * domain's MX hosts, or a route's relay host) and hears back once, with
 * the hosts in order of preference or why there are none. The relay takes
 * the function and its context in its options (relay.h), so tests plug a
 * table in (tests/support/resolve_fake.c) where the engine plugs DNS.
 *
 * The implementation (edm_resolver_*): a domain's MX hosts with their
 * addresses through engine/net/dns.c, a route's relay host, or an address
 * literal as it is.
 */
#ifndef EDM_RESOLVE_H
#define EDM_RESOLVE_H

#include "engine/config/config.h"
#include "engine/store/outcome.h"

#include <stddef.h>
#include <uv.h>

/* Where a domain's mail goes: hosts in order of preference, each with one
 * address. */
typedef struct edm_mx_host {
    char host[256];
    char ip[64];
} edm_mx_host;

/* Resolution result: rc 0 with hosts (failure EDM_FAIL_NONE); otherwise
 * failure says what happened, as a fact for engine/delivery/classify.c:
 * EDM_FAIL_NXDOMAIN or _NULL_MX with rc EDM_ENOTFOUND (permanent),
 * EDM_FAIL_DNS_TEMP or _NO_ADDRESS with rc EDM_EDNS (temporary) or
 * EDM_ECANCELED (the resolver was freed first). why describes failures.
 * hosts live only during the call. */
typedef void (*edm_resolve_cb)(void *arg, int rc, enum edm_failure failure, const char *why,
                               const edm_mx_host *hosts, size_t n);
/* Starts resolving domain's MX hosts (or an A/AAAA host name); cb runs
 * exactly once, possibly before this returns. Returns 0, or a negative
 * EDM_E* code when the request could not start (cb is then never called). */
typedef int (*edm_resolve_fn)(void *ctx, const char *domain, edm_resolve_cb cb, void *arg);

/* ---- the DNS implementation ---- */

typedef struct edm_resolver edm_resolver;

int edm_resolver_new(uv_loop_t *loop, const edm_config *cfg, edm_resolver **out, char *err,
                     size_t errlen);
/* Pending requests are answered EDM_ECANCELED before it returns. */
void edm_resolver_free(edm_resolver *r);
/* edm_resolve_fn: ctx is the resolver. */
int edm_resolver_resolve(void *ctx, const char *name, edm_resolve_cb cb, void *arg);

#endif
