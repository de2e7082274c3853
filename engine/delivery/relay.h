/*
 * engine/delivery/relay.h: delivery queues per destination. A "site" is where a
 * recipient domain's mail goes (its MX hosts, or a route's relay host)
 * from one source IP pool; each site has a FIFO of messages and SMTP
 * sessions that reuse their connection for up to
 * max_messages_per_connection messages. The limits are its destination's
 * (dest.h: a domains[] rule, shared by every domain behind the MX hosts of
 * an "mx:" rule), counted per source IP, with backoff per source IP, and
 * its route's connection cap and, for a route with credentials, its AUTH
 * gate (route_auth.h: one AUTH attempt per pause). drain() of a site is safe to call any
 * number of times and runs after every event that may unblock work.
 *
 * Every message handed to edm_relay_submit comes back exactly once through
 * the done callback with its outcome, classified (engine/delivery/classify.c:
 * delivered, deferred or bounced, with its category), or with NULL when it
 * was dropped: never attempted (campaign paused or cancelled, engine
 * stopping, or an 8bit message for a server without 8BITMIME: then
 * m->needs_7bit is set and the caller composes it again without 8bit).
 *
 * Seams: the relay reaches the network only through two interfaces given
 * in its options, a resolver (resolve.h) and a transport (transport.h).
 * engine/engine.c plugs in DNS and SMTP; tests/support/ has a table
 * resolver and a scripted transport, so the relay's queues, limits and
 * pauses are tested without sockets (tests/engine/delivery/test_relay.c).
 */
#ifndef EDM_RELAY_H
#define EDM_RELAY_H

#include "engine/config/config.h"
#include "engine/delivery/outmsg.h"
#include "engine/delivery/pool.h"
#include "engine/delivery/resolve.h"
#include "engine/delivery/transport.h"

#include <jansson.h>
#include <openssl/ssl.h>
#include <uv.h>

typedef struct edm_relay edm_relay;

/* o is NULL when m was dropped; otherwise o lives only during the call. */
typedef void (*edm_relay_done_fn)(void *ctx, edm_outmsg *m, const edm_outcome *o);

typedef struct edm_relay_opts {
    uv_loop_t *loop;
    const edm_config *cfg;
    edm_pools *pools;
    edm_resolve_fn resolve; /* MX lookups: edm_resolver_resolve, or a table in tests */
    void *resolve_ctx;
    const edm_transport_ops *transport; /* sessions: &edm_transport_smtp, or a fake in tests */
    void *transport_ctx;
    SSL_CTX *tls_ctx;
    edm_relay_done_fn done;
    void *ctx;
} edm_relay_opts;

int edm_relay_new(const edm_relay_opts *o, edm_relay **out);
/* Sets the done callback's ctx (when the receiver is created after the relay). */
void edm_relay_set_ctx(edm_relay *r, void *ctx);
/* Queues m for delivery (ownership passes until done is called). */
void edm_relay_submit(edm_relay *r, edm_outmsg *m);
/* Gives back (dropped) every queued message of a campaign. */
void edm_relay_drop_campaign(edm_relay *r, int64_t campaign_id);
/* Aborts every session and gives back every message (dropped); cb runs
 * once nothing is left open. */
void edm_relay_stop(edm_relay *r, void (*cb)(void *arg), void *arg);
void edm_relay_free(edm_relay *r);
/* Live state for GET /v1/pools: {sites:[{domain, pool, destination,
 * queued, sessions}], paused_domains:[{domain (the destination), pool, ip,
 * seconds_left, until}], ip_states:[dest.h's edm_dest_ip_json + ip],
 * queued, active}. */
json_t *edm_relay_json(const edm_relay *r);

#endif
