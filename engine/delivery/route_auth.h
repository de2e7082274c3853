/*
 * engine/delivery/route_auth.h: whether a relay route's credentials may be
 * tried now. A wrong relay password must cost one AUTH attempt per pause,
 * not one per message or per recipient domain (a relay with lockout would
 * block the source IP): a route not yet proven gets one session at a time
 * (the probe); a refusal at AUTH (category auth, e.g. 535) pauses the
 * route for ROUTE_AUTH_PAUSE_S, and everything waiting for it is deferred
 * with category auth (docs/smtp.md, "Relay credentials"). Once a session
 * has passed AUTH the route opens sessions freely until the next refusal.
 *
 * One gate per route, held in the relay's per-route state (route_state in
 * relay_int.h, zeroed = UNKNOWN); engine/delivery/relay_auth.c wires it to
 * the relay's events. Times are monotonic milliseconds.
 */
#ifndef EDM_ROUTE_AUTH_H
#define EDM_ROUTE_AUTH_H

#include "engine/store/outcome.h"

#include <stdint.h>

#define ROUTE_AUTH_PAUSE_S 300

enum route_auth_state {
    ROUTE_AUTH_UNKNOWN, /* not proven: the next session is the probe */
    ROUTE_AUTH_PROBING, /* one session is trying AUTH; others wait */
    ROUTE_AUTH_OK,      /* a session passed AUTH */
    ROUTE_AUTH_PAUSED   /* refused: nothing tries until `until` */
};

typedef struct route_auth {
    enum route_auth_state state;
    uint64_t until;  /* while PAUSED */
    edm_outcome why; /* the refusal (facts, classified), while PAUSED */
} route_auth;

/* 1 while a refusal's pause runs; a pause that is over becomes UNKNOWN. */
int route_auth_paused(route_auth *e, uint64_t now);
/* 1 if a session may open now, and counts it: the first one of an
 * unproven route is the probe. */
int route_auth_take(route_auth *e, uint64_t now);
/* A session passed AUTH. 1 if that changed the state (others may go). */
int route_auth_passed(route_auth *e);
/* A session was refused at AUTH: pause (why is copied). */
void route_auth_refused(route_auth *e, uint64_t now, const edm_outcome *why);
/* A session ended (or never started) without a verdict. 1 if the probe
 * is over (others may try). */
int route_auth_ended(route_auth *e);
const char *route_auth_state_name(enum route_auth_state st);

#endif
