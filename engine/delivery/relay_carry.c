/*
 * engine/delivery/relay_carry.c: a connection carries on across domains
 * (MX rollup; docs/config.md, "Connections carry on across domains").
 * When a session's site has nothing left while another site waits for a
 * connection it holds, next_msg() (relay.c) asks relay_carry_on() for one
 * of the first CARRY_LOOK waiters it may serve: behind the same route
 * (same relay, pool and proven credentials) with a destination that admits
 * one more connection from the session's address, or on the session's own
 * destination with the same MX hosts. The session then moves to that site
 * (relay_session_move: its connection counted against the new
 * destination) instead of closing while the waiter opens a new one.
 *
 * Cost: at most CARRY_LOOK waiters looked at per empty site; nothing walks
 * every domain.
 */
#include "engine/base/log.h"
#include "engine/delivery/relay_int.h"

#include <string.h>

/* How many waiting sites a session with nothing left looks at for one
 * it may carry on with, before it gives its connection up. */
#define CARRY_LOOK 8

static int same_hosts(const site *a, const site *b)
{
    if (a->nhosts != b->nhosts)
        return 0;
    for (size_t i = 0; i < a->nhosts; i++)
        if (strcmp(a->hosts[i].host, b->hosts[i].host) != 0 ||
            strcmp(a->hosts[i].ip, b->hosts[i].ip) != 0)
            return 0;
    return 1;
}

/* May rs, whose site has nothing left, deliver w's messages on its
 * connection? w must be resolved, on the same pool, and either behind
 * the same route (whose relay the connection reaches whatever the age of
 * w's look-up), with a destination that admits one more connection from
 * rs's address, or on rs's own destination with the same MX hosts, looked
 * up less than DNS_REFRESH_MS ago; and the connection must not have
 * carried w's max_messages_per_connection already. */
static int can_carry(const rsess *rs, const site *w, uint64_t now)
{
    const site *st = rs->site;
    if (w->head == NULL || w->dns != SITE_DNS_READY || w->dest == NULL || w->dest->p != rs->dest->p)
        return 0;
    if (st->route == NULL && now - w->resolved_ms > DNS_REFRESH_MS)
        return 0;
    unsigned maxm = (unsigned)w->dest->rule->max_messages_per_connection;
    if (maxm && rs->msgs >= maxm)
        return 0;
    if (st->route)
        return w->route_idx == st->route_idx && w->dest != rs->dest &&
               edm_dest_admits(w->dest, rs->ipi, now);
    return w->route == NULL && w->dest == rs->dest && same_hosts(st, w);
}

/* A session whose site has nothing queued takes over a site that waits
 * for a connection it could use (the route's list for a routed site,
 * else its destination's), looking at the first CARRY_LOOK waiters.
 * Returns 1 when rs now belongs to that site. */
int relay_carry_on(edm_relay *r, rsess *rs, uint64_t now)
{
    site *st = rs->site;
    site **head, **tail;
    if (st->route) {
        /* Its own destination must have no waiter left to wake (one site
         * per destination behind a route), and an unproven route keeps
         * its one probing session to its own site. */
        if (rs->dest->wait_head || (st->auth && st->auth->state != ROUTE_AUTH_OK))
            return 0;
        route_state *rt = &r->routes[st->route_idx];
        head = &rt->wait_head;
        tail = &rt->wait_tail;
    } else {
        head = (site **)&rs->dest->wait_head;
        tail = (site **)&rs->dest->wait_tail;
    }
    site *prev = NULL;
    int looked = 0;
    for (site *w = *head; w && looked < CARRY_LOOK; prev = w, w = w->wait_next, looked++) {
        if (st->route == NULL && w->dns == SITE_DNS_READY && w->sessions == 0 &&
            now - w->resolved_ms > DNS_REFRESH_MS)
            relay_resolve(r, w); /* looked up again, it can be carried on the next turn */
        if (!can_carry(rs, w, now))
            continue;
        if (prev)
            prev->wait_next = w->wait_next;
        else
            *head = w->wait_next;
        if (*tail == w)
            *tail = prev;
        w->waiting = 0;
        w->wait_next = NULL;
        EDM_DEBUG("relay", "session carries on from domain=%s to domain=%s after %u messages",
                  st->domain, w->domain, rs->msgs);
        relay_session_move(r, rs, w);
        return 1;
    }
    return 0;
}
