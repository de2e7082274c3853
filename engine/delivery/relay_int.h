/*
 * engine/delivery/relay_int.h: shared by engine/delivery/relay*.c only: the
 * relay's sites, sessions and tables (relay.c drives sessions and drain();
 * relay_table.c finds sites and destinations and runs the wake-up queue;
 * relay_auth.c holds a route's sessions to its AUTH gate, route_auth.h;
 * relay_carry.c lets a session carry on with another site).
 */
#ifndef EDM_RELAY_INT_H
#define EDM_RELAY_INT_H

#include "engine/delivery/dest.h"
#include "engine/delivery/relay.h"
#include "engine/delivery/route_auth.h"

#include <stddef.h>
#include <stdint.h>

enum site_dns { SITE_DNS_NONE, SITE_DNS_PENDING, SITE_DNS_READY };

/* How long a connection with nothing to send waits for more. */
#define IDLE_MS 5000
/* A site's MX hosts are looked up again when older than this (and it has
 * no session). */
#define DNS_REFRESH_MS (60 * 1000)
#define NO_HEAP        SIZE_MAX

typedef struct rsess rsess;

typedef struct site {
    uint64_t id;
    char *domain; /* recipient domain (lower case) */
    char *pool;
    const struct edm_config_route *route;
    size_t route_idx;
    route_auth *auth;   /* the route's AUTH gate; NULL without credentials */
    struct site *rnext; /* the next site behind the same route */
    edm_dest *dest;     /* set when the site's hosts are known */
    edm_outmsg *head, *tail;
    size_t queued;
    unsigned sessions;
    rsess *shead; /* this site's sessions */
    enum site_dns dns;
    edm_mx_host *hosts;
    size_t nhosts;
    uint64_t resolved_ms;
    uint64_t wake_at; /* monotonic ms the run queue drains it, 0 none */
    size_t heap_idx;  /* in the run queue, or NO_HEAP */
    int waiting;      /* on a destination's or route's wait list */
    struct site *wait_next;
    struct site *hnext; /* hash chain */
} site;

struct rsess {
    edm_relay *r;
    site *site;
    edm_dest *dest;
    size_t ipi; /* index of the source address in the pool (and dest) */
    edm_pool_ip *ip;
    void *s; /* the transport's session */
    unsigned inflight;
    unsigned msgs; /* messages handed to this connection */
    char auth_pass[256];
    rsess *prev, *next;   /* every session */
    rsess *sprev, *snext; /* the site's */
    rsess *dprev, *dnext; /* the destination's or (routed) the route's */
};

/* One message handed to a session, with the site and destination it
 * was taken for (the session may carry on with another site before the
 * result is in). */
typedef struct sent {
    smtp_message sm;
    const char *rcpts[1];
    edm_outmsg *m;
    site *st;
    edm_dest *dest;
} sent;

/* A hash table of chains (sites by domain and pool, destinations by key
 * and pool), doubled when it holds more than two entries per chain. */
typedef struct htab {
    void **b;
    size_t nb, n;
} htab;

/* A route's connections and the sites that wait for one; its AUTH gate
 * when it has credentials, and every site behind it. */
typedef struct route_state {
    unsigned connections;
    site *wait_head, *wait_tail;
    rsess *sessions;
    route_auth auth;
    site *sites; /* linked by rnext */
} route_state;

struct edm_relay {
    edm_relay_opts o;
    htab sites, dests;
    site **by_id; /* by_id[id - 1] */
    size_t nby_id, cap_by_id;
    site **heap; /* the run queue: sites by wake_at */
    size_t nheap, cap_heap;
    route_state *routes;
    rsess *sessions;
    size_t queued, active;
    uv_timer_t timer;
    uint64_t timer_at;
    unsigned next_session_id;
    int stopping;
    void (*stop_cb)(void *);
    void *stop_arg;
    int closed;
};

/* relay.c: decides whether a site opens another session (see relay.c). */
void relay_drain(edm_relay *r, site *st);
/* Ends every queued message of a site with the same outcome (NULL:
 * dropped). */
void relay_flush_queue(edm_relay *r, site *st, const edm_outcome *o);

/* relay.c: looks up the site's MX hosts (or its route's relay); the
 * answer drains it. */
void relay_resolve(edm_relay *r, site *st);
/* relay.c: session rs (between messages) now belongs to site w: its
 * connection counted against w's destination instead of its site's. */
void relay_session_move(edm_relay *r, rsess *rs, site *w);

/* relay_carry.c: called by next_msg when rs's site has nothing queued and
 * a site waits for a connection rs holds; 1 when rs moved to a waiting
 * site it may serve (see relay_carry.c). */
int relay_carry_on(edm_relay *r, rsess *rs, uint64_t now);

/* relay_auth.c: the route AUTH gate's hooks, for sites with st->auth. */
/* In drain, first: 1 when the route is paused after refused credentials
 * (the site's queue has been deferred: open nothing). */
int relay_auth_paused(edm_relay *r, site *st, uint64_t now);
/* In drain, before each new session: 1 if it may open (the first of an
 * unproven route is the probe), 0 while another session probes (the
 * site is drained again when the probe ends). */
int relay_auth_take(site *st, uint64_t now);
/* In drain: a session taken above did not open after all. */
void relay_auth_untake(site *st);
/* In msg_done, for each result of a session of st (o classified): past
 * AUTH proves the route; a refusal at AUTH waits for the pause. */
void relay_auth_msg_done(edm_relay *r, site *st, edm_outcome *o);
/* In session_closed, before anything else looks at fail: a refusal at
 * AUTH pauses the route and defers every site behind it; another end of
 * the probe lets the next site try. */
void relay_auth_closed(edm_relay *r, site *st, const edm_outcome *fail);

/* relay_table.c */
/* The site of (domain, pool), created empty when new. */
site *relay_site_get(edm_relay *r, const char *domain, const char *pool);
/* The site with that id, or NULL. */
site *relay_site_find_id(edm_relay *r, uint64_t id);
/* The destination of a site whose hosts are known (created when new), or
 * NULL when its pool does not exist. */
edm_dest *relay_dest_for(edm_relay *r, site *st);
/* Drains st in delay_ms (at most one entry per site: the earliest). */
void relay_wake_later(edm_relay *r, site *st, uint64_t delay_ms);
/* Frees every site and destination (the relay is closing). */
void relay_free_tables(edm_relay *r);

#endif
