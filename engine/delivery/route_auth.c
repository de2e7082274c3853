/*
 * engine/delivery/route_auth.c: a relay route's AUTH gate (see
 * route_auth.h). Pure bookkeeping, no I/O: the relay asks before opening
 * a session and tells what became of it. Limits: the pause is fixed
 * (ROUTE_AUTH_PAUSE_S); a route proven once is trusted until a refusal.
 */
#include "engine/delivery/route_auth.h"
#include "engine/base/err.h"

int route_auth_paused(route_auth *e, uint64_t now)
{
    if (e->state != ROUTE_AUTH_PAUSED)
        return 0;
    if (now < e->until)
        return 1;
    e->state = ROUTE_AUTH_UNKNOWN;
    return 0;
}

int route_auth_take(route_auth *e, uint64_t now)
{
    if (route_auth_paused(e, now))
        return 0;
    switch (e->state) {
    case ROUTE_AUTH_UNKNOWN: e->state = ROUTE_AUTH_PROBING; return 1;
    case ROUTE_AUTH_PROBING: return 0;
    case ROUTE_AUTH_OK: return 1;
    case ROUTE_AUTH_PAUSED:
    default: EDM_PANIC("route_auth_take in state %d", (int)e->state);
    }
}

int route_auth_passed(route_auth *e)
{
    if (e->state == ROUTE_AUTH_OK || e->state == ROUTE_AUTH_PAUSED)
        return 0; /* a late success of a session older than the pause changes nothing */
    e->state = ROUTE_AUTH_OK;
    return 1;
}

void route_auth_refused(route_auth *e, uint64_t now, const edm_outcome *why)
{
    e->state = ROUTE_AUTH_PAUSED;
    e->until = now + (uint64_t)ROUTE_AUTH_PAUSE_S * 1000;
    e->why = *why;
}

int route_auth_ended(route_auth *e)
{
    if (e->state != ROUTE_AUTH_PROBING)
        return 0;
    e->state = ROUTE_AUTH_UNKNOWN;
    return 1;
}

const char *route_auth_state_name(enum route_auth_state st)
{
    switch (st) {
    case ROUTE_AUTH_UNKNOWN: return "unknown";
    case ROUTE_AUTH_PROBING: return "probing";
    case ROUTE_AUTH_OK: return "ok";
    case ROUTE_AUTH_PAUSED: return "paused";
    }
    return "?";
}
