/*
 * engine/delivery/relay_auth.c: the relay's side of a route's AUTH gate
 * (route_auth.h). A route with credentials keeps one gate in its
 * route_state (relay_int.h); every site behind it points at it (st->auth)
 * and is linked on the route's site list. relay.c calls in at four places
 * (see relay_int.h): drain() asks whether the route is paused and takes a
 * session before opening one; msg_done() and session_closed() report what
 * a session learnt. One AUTH attempt per pause: an unproven route opens
 * one session (the probe) and the other sites behind it wait; when the
 * probe passes AUTH or ends without a verdict, every site behind the
 * route is drained again from the run queue (not from inside a session's
 * callback); when it is refused, the route pauses for ROUTE_AUTH_PAUSE_S
 * and every message queued behind it is deferred with category auth,
 * without counting an attempt.
 *
 * Cost: waking or deferring walks the route's own sites, and only on a
 * verdict (at most once per probe), never per message.
 */
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/delivery/classify.h"
#include "engine/delivery/relay_int.h"

#include <stdio.h>

static route_state *route_of(edm_relay *r, const site *st)
{
    return &r->routes[st->route_idx];
}

/* Defers every queued message of a site whose route is paused after a
 * refusal at AUTH, to the end of the pause, without counting an attempt;
 * the receipt says why. */
static void defer_auth_paused(edm_relay *r, site *st)
{
    const route_auth *e = st->auth;
    uint64_t now = edm_time_mono_ms();
    int64_t left = e->until > now ? (int64_t)((e->until - now + 999) / 1000) : 0;
    edm_outcome q = e->why;
    q.attempted = 0;
    char why[EDM_OUTCOME_TEXT_MAX];
    int len = snprintf(why, sizeof why,
                       "relay %s paused %llds after refused credentials: ", st->route->relay,
                       (long long)left);
    if (len > 0 && (size_t)len < sizeof why)
        edm_outcome_put(why + len, sizeof why - (size_t)len, e->why.text);
    EDM_OUTCOME_PUT(q.text, why);
    classify_outcome(&q);
    q.status = EDM_DSTATE_DEFERRED;
    q.next_attempt_at = edm_time_now() + left;
    relay_flush_queue(r, st, &q);
}

/* Every site behind st's route with work, soon (from the run queue, not
 * from inside a session's callback). */
static void wake_route(edm_relay *r, const site *st)
{
    for (site *s = route_of(r, st)->sites; s; s = s->rnext)
        if (s->head)
            relay_wake_later(r, s, 1);
}

int relay_auth_paused(edm_relay *r, site *st, uint64_t now)
{
    if (!route_auth_paused(st->auth, now))
        return 0;
    defer_auth_paused(r, st);
    return 1;
}

int relay_auth_take(site *st, uint64_t now)
{
    return route_auth_take(st->auth, now);
}

void relay_auth_untake(site *st)
{
    route_auth_ended(st->auth);
}

void relay_auth_msg_done(edm_relay *r, site *st, edm_outcome *o)
{
    if (o->step > EDM_STEP_AUTH && route_auth_passed(st->auth))
        wake_route(r, st);
    if (o->step <= EDM_STEP_AUTH && o->category == EDM_CATEGORY_AUTH)
        o->next_attempt_at = edm_time_now() + ROUTE_AUTH_PAUSE_S;
}

void relay_auth_closed(edm_relay *r, site *st, const edm_outcome *fail)
{
    edm_outcome a;
    if (fail) {
        a = *fail;
        classify_outcome(&a);
    }
    if (fail && a.category == EDM_CATEGORY_AUTH) {
        edm_log(EDM_LOG_WARN, "relay", "route=%s event=auth_refused pause=%d code=%d",
                st->route->relay, ROUTE_AUTH_PAUSE_S, a.code);
        route_auth_refused(st->auth, edm_time_mono_ms(), &a);
        for (site *s = route_of(r, st)->sites; s; s = s->rnext)
            if (s->head)
                defer_auth_paused(r, s);
    } else if (route_auth_ended(st->auth)) {
        wake_route(r, st);
    }
}
