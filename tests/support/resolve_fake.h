/*
 * tests/support/resolve_fake.h: a table resolver for the relay
 * (engine/delivery/resolve.h's edm_resolve_fn) that sends no query.
 * Each entry answers one name: one MX host with its address, NXDOMAIN
 * (EDM_FAIL_NXDOMAIN) or a temporary DNS failure (EDM_FAIL_DNS_TEMP).
 * Answers come from the loop (a uv timer), in the order asked, as the
 * c-ares resolver's do.
 */
#ifndef EDM_RESOLVE_FAKE_H
#define EDM_RESOLVE_FAKE_H

#include "engine/delivery/resolve.h"

#include <stddef.h>
#include <uv.h>

typedef struct resolve_fake_entry {
    const char *name; /* a domain or a route's host; "*": any name not listed */
    int rc;           /* 0, EDM_ENOTFOUND (NXDOMAIN) or EDM_EDNS (SERVFAIL) */
    const char *host; /* rc 0: the MX host and its address */
    const char *ip;
} resolve_fake_entry;

typedef struct resolve_fake resolve_fake;

/* Names not in the table (and no "*") answer NXDOMAIN. The table is kept
 * by pointer. */
resolve_fake *resolve_fake_new(uv_loop_t *loop, const resolve_fake_entry *table, size_t n);
/* Pending requests are answered EDM_ECANCELED; the memory goes when the
 * loop closes the fake's timer. */
void resolve_fake_free(resolve_fake *r);
/* edm_resolve_fn: ctx is the fake. */
int resolve_fake_resolve(void *ctx, const char *name, edm_resolve_cb cb, void *arg);
/* Requests made so far. */
unsigned resolve_fake_lookups(const resolve_fake *r);

#endif
