/*
 * engine/delivery/relay.c: per-destination delivery queues (see relay.h).
 *
 * A site is (recipient domain, source IP pool): a FIFO of messages, where
 * they go (MX hosts or a route's relay) and the site's sessions. Its
 * destination (dest.c: a domains[] rule's limits, counted per source IP)
 * is known once its MX hosts are, since "mx:" rules match host names:
 * domains sharing MX hosts share one destination. drain(site) is the one
 * place that decides whether to open another session: it runs after every
 * event that may unblock work (a message queued, a session closed, a DNS
 * answer, the wake-up timer) and is safe to call any number of times. It
 * asks the destination for a source address (weights, caps, pauses); a
 * site that finds every address at its connection cap, or its route at
 * routes[].max_connections, waits on that destination's or route's list
 * and is drained when one of its connections closes. A session asks for
 * its next message through next_msg(), which takes a token from the
 * address's buckets for the destination; when none is due the session
 * waits on its connection and the wake-up run queue (a binary heap of
 * sites behind one uv timer) drains the site when a token is.
 *
 * A session whose site has nothing left, while another site waits for a
 * connection it holds, carries on with that site instead of closing
 * (relay_carry.c): behind one route (same relay, pool and credentials), or on
 * one destination with the same MX hosts. So a route carrying many
 * domains, or an "mx:" destination, keeps its connections open as
 * KumoMTA's and PowerMTA's MX rollup do, instead of a close and a
 * connect per domain. The connection then counts against the new site's
 * destination (which must admit it), and each message's result against
 * the destination it was taken for.
 *
 * Cost per event: sites and destinations are found through hash tables
 * (relay_table.c, with the run queue),
 * a site by id through an array, kicking idle sessions walks the site's
 * own sessions, and the run queue is a heap: nothing walks every domain.
 *
 * Failures that concern the whole site, not one message (DNS, a session
 * that could not get a connection going, a backoff reply such as 421),
 * defer or bounce the site's whole queue at once, without counting an
 * attempt for messages that were never tried, so that nothing waits in
 * memory for a destination that is down.
 *
 * DNS answers carry the site's id, not its pointer; a site that is gone
 * by then is simply not found.
 *
 * A route with credentials goes through its AUTH gate (route_auth.h,
 * hooked in by relay_auth.c): one session tries AUTH until one has
 * passed, and a refusal pauses the route with every site behind it.
 *
 * Outcomes: a session reports facts (engine/store/outcome.h); the relay
 * adds its own (DNS, a paused destination, a missing pool), has
 * engine/delivery/classify.c judge them, and gives each message back with
 * its outcome, or with NULL when it was never attempted (dropped).
 *
 * Sessions and DNS come through the options' transport and resolver
 * (transport.h, resolve.h); time through engine/base/timeutil.h. Nothing
 * here opens a socket itself.
 */
#include "engine/delivery/relay.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/delivery/classify.h"
#include "engine/delivery/relay_int.h"
#include "engine/delivery/shaper.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum smtp_tls_mode tls_mode(enum edm_tls_mode m)
{
    switch (m) {
    case EDM_TLS_NONE: return SMTP_TLS_NONE;
    case EDM_TLS_OPPORTUNISTIC: return SMTP_TLS_OPPORTUNISTIC;
    case EDM_TLS_REQUIRED: return SMTP_TLS_REQUIRED;
    default: EDM_PANIC("tls mode %d", (int)m);
    }
}

static void give_back(edm_relay *r, edm_outmsg *m, const edm_outcome *o)
{
    r->o.done(r->o.ctx, m, o);
}

/* An outcome decided here, without a session: a failure kind and its
 * description, classified. */
static void relay_outcome(edm_outcome *o, enum edm_failure f, int attempted, const char *why)
{
    memset(o, 0, sizeof *o);
    o->failure = f;
    o->attempted = attempted;
    EDM_OUTCOME_PUT(o->text, why);
    classify_outcome(o);
}

void relay_flush_queue(edm_relay *r, site *st, const edm_outcome *o)
{
    while (st->head) {
        edm_outmsg *m = st->head;
        st->head = m->next;
        m->next = NULL;
        st->queued--;
        r->queued--;
        give_back(r, m, o);
    }
    st->tail = NULL;
}

/* ---- waiting for a connection ---- */

/* The sessions a waiting site competes with: its route's, else its
 * destination's. */
static rsess **holders(edm_relay *r, const site *st, edm_dest *d)
{
    return st->route ? &r->routes[st->route_idx].sessions : (rsess **)&d->sessions;
}

/* Sites wait for a connection of a destination or route; idle sessions
 * holding one with nothing queued are asked again, so that they QUIT and
 * free it (next_msg sees the waiter). */
static void wait_push(edm_relay *r, site **head, site **tail, site *st, rsess **held)
{
    if (st->waiting)
        return;
    st->waiting = 1;
    st->wait_next = NULL;
    if (*tail)
        (*tail)->wait_next = st;
    else
        *head = st;
    *tail = st;
    for (rsess *rs = *held, *nx; rs; rs = nx) {
        nx = rs->dnext; /* a kick may end (and free) rs */
        if (rs->site->head == NULL && r->o.transport->idle(rs->s))
            r->o.transport->kick(rs->s);
    }
}

/* A connection of a destination or route closed: drains the sites that
 * wait for one, in order, until one of them opens a session (one closed
 * connection frees one slot) or each has had its turn. */
static void wait_wake(edm_relay *r, site **head, site **tail)
{
    /* Each site waiting now gets one turn: the walk stops at the present
     * tail (sites pushed meanwhile wait for the next close), so a close
     * costs the sites it wakes, not the length of the list. */
    site *last = *tail;
    for (int done = last == NULL; !done && *head && !r->stopping;) {
        site *st = *head;
        done = st == last;
        *head = st->wait_next;
        if (*head == NULL)
            *tail = NULL;
        st->waiting = 0;
        st->wait_next = NULL;
        unsigned before = st->sessions;
        relay_drain(r, st);
        if (st->sessions > before)
            break;
    }
}

/* ---- sessions ---- */

static const char *ip_text(const edm_pool_ip *ip)
{
    return ip->addr ? ip->addr : "*";
}

/* Messages split by weight (dest.h's edm_dest_turn): which other addresses
 * have work for rs's destination on an open connection now and may still
 * send (not at their hourly or warm-up cap): a session waiting for a
 * token or its turn with mail queued, or one busy with a message taken
 * less than EDM_DEST_HOLD_MS ago (one slow at the receiver holds the
 * others no longer). Returns when the first busy one counted stops
 * holding (monotonic ms; 0: none does). */
static uint64_t mark_competing(edm_relay *r, rsess *rs, uint64_t now)
{
    edm_dest *d = rs->dest;
    int64_t now_unix = edm_time_now();
    uint64_t until = 0;
    for (size_t k = 0; k < d->nips; k++)
        d->ips[k].competing = 0;
    for (rsess *o = *holders(r, rs->site, d); o; o = o->dnext) {
        if (o == rs || o->dest != d || d->ips[o->ipi].competing ||
            !edm_pool_ip_has_capacity(o->ip, now, now_unix))
            continue;
        if (r->o.transport->idle(o->s)) {
            d->ips[o->ipi].competing = o->site->head != NULL;
            continue;
        }
        uint64_t holds = edm_dest_holds_until(d, o->ipi);
        if (holds <= now)
            continue; /* slow at the receiver: sends anyway */
        d->ips[o->ipi].competing = 1;
        if (until == 0 || holds < until)
            until = holds;
    }
    return until;
}

/* An address sent for d while another waited for its turn: the waiting
 * sessions' sites are drained (soon, from the run queue), which asks
 * their idle sessions again. */
static void wake_held(edm_relay *r, rsess *rs)
{
    edm_dest *d = rs->dest;
    d->held = 0;
    for (rsess *o = *holders(r, rs->site, d); o; o = o->dnext)
        if (o->dest == d && o->ipi != rs->ipi && o->site->head && r->o.transport->idle(o->s))
            relay_wake_later(r, o->site, 1);
    if (d->wait_head) /* a site that found the address it could open ahead */
        relay_wake_later(r, d->wait_head, 1);
}

static const smtp_message *next_msg(void *arg)
{
    rsess *rs = arg;
    edm_relay *r = rs->r;
    site *st = rs->site;
    if (r->stopping)
        return NULL;
    uint64_t now = edm_time_mono_ms();
    if (edm_dest_paused(rs->dest, rs->ipi, now))
        return NULL;
    /* Nothing queued right now: keep the connection and wait (the session
     * QUITs after IDLE_MS of nothing); drain() kicks it when there is
     * work. Unless another site waits for a connection this one holds (to
     * its destination or its route): then the session carries on with
     * that site when it can, else QUITs to free the connection. */
    if (st->head == NULL) {
        if (!rs->dest->wait_head && !(st->route && r->routes[st->route_idx].wait_head))
            return SMTP_LATER;
        if (!relay_carry_on(r, rs, now))
            return NULL;
        st = rs->site;
    }
    unsigned maxm = (unsigned)rs->dest->rule->max_messages_per_connection;
    if (maxm && rs->msgs >= maxm)
        return NULL;
    if (!edm_pool_ip_has_capacity(rs->ip, now, edm_time_now()))
        return NULL;
    /* A new connection's first message is not held: the session would
     * end before it connects (the choice of its address was weighted). */
    if (rs->dest->nips > 1 && rs->msgs > 0) {
        uint64_t holds = mark_competing(r, rs, now);
        if (!edm_dest_turn(rs->dest, rs->ipi, now)) {
            /* Woken when another address has sent, or when a busy one
             * stops holding it. */
            if (holds)
                relay_wake_later(r, st, holds - now);
            return SMTP_LATER;
        }
    }
    uint64_t wait = edm_dest_take(rs->dest, rs->ipi, now);
    if (wait == UINT64_MAX)
        return NULL;
    if (wait) {
        relay_wake_later(r, st, wait);
        return SMTP_LATER;
    }
    if (rs->dest->held)
        wake_held(r, rs);
    edm_outmsg *m = st->head;
    st->head = m->next;
    if (st->head == NULL)
        st->tail = NULL;
    m->next = NULL;
    st->queued--;
    r->queued--;
    r->active++;
    rs->inflight++;
    rs->msgs++;
    sent *sn = edm_xcalloc(1, sizeof *sn);
    sn->m = m;
    sn->st = st;
    sn->dest = rs->dest;
    sn->rcpts[0] = m->rcpt;
    sn->sm = (smtp_message){.sender = m->sender,
                            .rcpts = sn->rcpts,
                            .nrcpts = 1,
                            .data = m->data.data,
                            .len = m->data.len,
                            .flags = m->smtp_flags,
                            .user = sn};
    edm_pool_ip_sent(r->o.pools, rs->ip, now, edm_time_now());
    return &sn->sm;
}

/* Defers every queued message of a site to `until` (monotonic ms: the end
 * of the destination's earliest pause), without counting an attempt. */
static void defer_paused(edm_relay *r, site *st, uint64_t until, const char *why)
{
    uint64_t now = edm_time_mono_ms();
    int64_t left = until > now ? (int64_t)((until - now + 999) / 1000) : 0;
    edm_outcome q;
    relay_outcome(&q, EDM_FAIL_BACKOFF, 0, why);
    q.next_attempt_at = edm_time_now() + left;
    relay_flush_queue(r, st, &q);
}

/* What a result means for the address's standing with the destination. */
static enum edm_dest_result dest_result(const edm_dest *dest, const edm_pool_ip *ip,
                                        const edm_outcome *o)
{
    const struct edm_config_domain *d = dest->rule;
    if (o->status == EDM_DSTATE_DELIVERED)
        return EDM_DEST_DELIVERED;
    /* backoff.on may name 4xx and 5xx prefixes: a matching 5xx pauses the
     * address too (its message bounces all the same). */
    if (o->code >= 400 && edm_backoff_matches(d->backoff_on, d->nbackoff_on, o->code, o->enhanced))
        return EDM_DEST_BACKOFF;
    if (o->code >= 500 && ip->addr && strstr(o->text, ip->addr))
        return EDM_DEST_BLOCK_5XX;
    return EDM_DEST_OTHER;
}

static void msg_done(const smtp_result *res, void *arg)
{
    rsess *rs = arg;
    edm_relay *r = rs->r;
    sent *sn = res->msg->user;
    edm_outmsg *m = sn->m;
    site *st = sn->st;
    edm_dest *dest = sn->dest;
    /* One recipient per message: its outcome is the whole story (a
     * refusal at RCPT, or the end-of-data reply it shares). */
    edm_outcome o = res->msg->nrcpts ? res->rcpts[0] : *res->outcome;
    o.attempted = 1;
    classify_outcome(&o);
    if (st->auth)
        relay_auth_msg_done(r, st, &o);
    /* 8bit for a server without 8BITMIME: never sent, given back
     * (dropped) to be composed again without 8bit. */
    int needs_7bit = o.failure == EDM_FAIL_NEEDS_7BIT;
    if (needs_7bit)
        m->needs_7bit = 1;
    int dropped = needs_7bit || (r->stopping && o.status == EDM_DSTATE_DEFERRED);
    enum edm_dest_result dr = dropped ? EDM_DEST_OTHER : dest_result(dest, rs->ip, &o);
    int paused = edm_dest_result(dest, rs->ipi, dr, edm_time_mono_ms());
    if (paused) {
        const edm_dest_ip *x = &dest->ips[rs->ipi];
        uint64_t now = edm_time_mono_ms();
        edm_log(EDM_LOG_WARN, "relay",
                "domain=%s dest=%s pool=%s ip=%s event=%s seconds=%llu code=%d enhanced=%s",
                st->domain, dest->key, st->pool, ip_text(rs->ip),
                x->blocked ? "ip_blocked" : "backoff",
                (unsigned long long)(x->paused_until > now ? (x->paused_until - now) / 1000 : 0),
                o.code, o.enhanced);
    }
    if (dr == EDM_DEST_BACKOFF && o.status == EDM_DSTATE_DEFERRED) {
        /* This message waits for the end of the pause. */
        int pause = dest->rule->backoff_pause;
        o.next_attempt_at = edm_time_now() + pause;
        char why[300];
        int len = snprintf(why, sizeof why, "source %s paused %ds for %s after: %d ",
                           ip_text(rs->ip), pause, dest->key, o.code);
        if (len > 0 && (size_t)len < sizeof why) {
            edm_outcome_put(why + len, sizeof why - (size_t)len, o.text);
            EDM_OUTCOME_PUT(o.text, why);
        }
    }
    rs->inflight--;
    r->active--;
    edm_free(sn);
    give_back(r, m, dropped ? NULL : &o);
    if (paused)
        relay_drain(r, st); /* other addresses take over, or the queue is deferred */
}

static void unlink_session(edm_relay *r, rsess *rs)
{
    if (rs->prev)
        rs->prev->next = rs->next;
    else
        r->sessions = rs->next;
    if (rs->next)
        rs->next->prev = rs->prev;
    site *st = rs->site;
    if (rs->sprev)
        rs->sprev->snext = rs->snext;
    else
        st->shead = rs->snext;
    if (rs->snext)
        rs->snext->sprev = rs->sprev;
    rsess **held = holders(r, st, rs->dest);
    if (rs->dprev)
        rs->dprev->dnext = rs->dnext;
    else
        *held = rs->dnext;
    if (rs->dnext)
        rs->dnext->dprev = rs->dprev;
    rs->prev = rs->next = rs->sprev = rs->snext = rs->dprev = rs->dnext = NULL;
}

static void link_session(edm_relay *r, rsess *rs)
{
    rs->next = r->sessions;
    if (r->sessions)
        r->sessions->prev = rs;
    r->sessions = rs;
    site *st = rs->site;
    rs->snext = st->shead;
    if (st->shead)
        st->shead->sprev = rs;
    st->shead = rs;
    rsess **held = holders(r, st, rs->dest);
    rs->dnext = *held;
    if (*held)
        (*held)->dprev = rs;
    *held = rs;
}

/* Counts a session's connection against its address, destination and
 * route (delta +1 or -1). */
static void count_connection(edm_relay *r, rsess *rs, int delta)
{
    site *st = rs->site;
    st->sessions += (unsigned)delta;
    rs->ip->connections += (unsigned)delta;
    rs->dest->ips[rs->ipi].connections += (unsigned)delta;
    rs->dest->connections += (unsigned)delta;
    if (st->route)
        r->routes[st->route_idx].connections += (unsigned)delta;
}

void relay_session_move(edm_relay *r, rsess *rs, site *w)
{
    count_connection(r, rs, -1);
    unlink_session(r, rs);
    rs->site = w;
    rs->dest = w->dest;
    link_session(r, rs);
    count_connection(r, rs, +1);
}

static void maybe_stopped(edm_relay *r)
{
    if (r->stopping && r->sessions == NULL && r->stop_cb) {
        void (*cb)(void *) = r->stop_cb;
        r->stop_cb = NULL;
        cb(r->stop_arg);
    }
}

static void session_closed(const edm_outcome *fail, void *arg)
{
    rsess *rs = arg;
    edm_relay *r = rs->r;
    const edm_transport_ops *tp = r->o.transport;
    site *st = rs->site;
    edm_dest *d = rs->dest;
    EDM_ASSERT(rs->inflight == 0);
    count_connection(r, rs, -1);
    unlink_session(r, rs);
    /* fail points into the session: use it before the session is freed. */
    if (st->auth && !r->stopping)
        relay_auth_closed(r, st, fail);
    if (fail && !r->stopping && st->sessions == 0 && st->head) {
        /* The destination could not be used: defer what waits for it (it
         * was not tried, whatever the failure says), so it is retried on
         * the schedule instead of in a tight loop. */
        edm_outcome o = *fail;
        o.attempted = 0;
        classify_outcome(&o);
        o.status = EDM_DSTATE_DEFERRED;
        char q[200];
        edm_log(EDM_LOG_WARN, "relay", "domain=%s event=site_failed delivered=%u err=%s",
                st->domain, tp->count(rs->s), edm_log_quote(q, sizeof q, fail->text));
        relay_flush_queue(r, st, &o);
    }
    tp->free(rs->s);
    edm_free(rs);
    maybe_stopped(r);
    if (r->stopping)
        return;
    relay_drain(r, st);
    if (st->route) {
        route_state *rt = &r->routes[st->route_idx];
        wait_wake(r, &rt->wait_head, &rt->wait_tail);
    }
    wait_wake(r, (site **)&d->wait_head, (site **)&d->wait_tail);
}

static int open_session(edm_relay *r, site *st, size_t ipi)
{
    const edm_config *cfg = r->o.cfg;
    edm_dest *d = st->dest;
    edm_pool_ip *ip = &d->p->ips[ipi];
    smtp_target *targets = edm_xcalloc(st->nhosts, sizeof *targets);
    for (size_t i = 0; i < st->nhosts; i++)
        targets[i] = (smtp_target){.host = st->hosts[i].host, .ip = st->hosts[i].ip};
    rsess *rs = edm_xcalloc(1, sizeof *rs);
    rs->r = r;
    rs->site = st;
    rs->dest = d;
    rs->ipi = ipi;
    rs->ip = ip;
    const struct edm_config_route *rt = st->route;
    smtp_options so = {
        .helo = ip->helo ? ip->helo : cfg->smtp.helo,
        .source_ip = ip->addr,
        .port = rt ? rt->relay_port : cfg->smtp.port,
        .timeouts = {.connect = (uint64_t)cfg->smtp.timeouts.connect * 1000,
                     .greeting = (uint64_t)cfg->smtp.timeouts.greeting * 1000,
                     .mail = (uint64_t)cfg->smtp.timeouts.mail * 1000,
                     .rcpt = (uint64_t)cfg->smtp.timeouts.rcpt * 1000,
                     .data = (uint64_t)cfg->smtp.timeouts.data * 1000,
                     .data_block = (uint64_t)cfg->smtp.timeouts.data_block * 1000,
                     .data_end = (uint64_t)cfg->smtp.timeouts.data_end * 1000},
        .tls = tls_mode(rt ? rt->tls : cfg->smtp.tls),
        .tls_ctx = r->o.tls_ctx,
        .targets = targets,
        .ntargets = st->nhosts,
        /* max_messages_per_connection is counted here (next_msg): a
         * session may carry on to another destination with another rule. */
        .max_messages = 0,
        .idle_ms = IDLE_MS,
        .id = ++r->next_session_id,
    };
    if (rt && rt->auth_username) {
        const char *pw = getenv(rt->auth_password_env);
        snprintf(rs->auth_pass, sizeof rs->auth_pass, "%s", pw ? pw : "");
        so.auth_user = rt->auth_username;
        so.auth_pass = rs->auth_pass;
    }
    static const edm_transport_cbs cbs = {next_msg, msg_done, session_closed};
    const edm_transport_ops *tp = r->o.transport;
    rs->s = tp->open(r->o.transport_ctx, r->o.loop, &so, &cbs, rs);
    edm_free(targets);
    if (rs->s == NULL) {
        edm_free(rs);
        return EDM_ENOMEM;
    }
    link_session(r, rs);
    count_connection(r, rs, +1);
    if (tp->start(rs->s) != 0) {
        /* closed() is not called for a session that never started. */
        count_connection(r, rs, -1);
        unlink_session(r, rs);
        tp->free(rs->s);
        edm_free(rs);
        return EDM_EINVAL;
    }
    return 0;
}

/* ---- DNS ---- */

static void on_resolved(void *arg, int rc, enum edm_failure failure, const char *why,
                        const edm_mx_host *hosts, size_t n)
{
    edm_relay *r = ((void **)arg)[0];
    uint64_t id = (uint64_t)(uintptr_t)((void **)arg)[1];
    edm_free(arg);
    if (r->closed)
        return;
    site *st = relay_site_find_id(r, id);
    if (st == NULL)
        return;
    if (rc != 0 || n == 0) {
        st->dns = SITE_DNS_NONE;
        edm_outcome o;
        relay_outcome(&o, failure != EDM_FAIL_NONE ? failure : EDM_FAIL_NO_ADDRESS, 1,
                      why ? why : "no mail exchanger");
        edm_log(EDM_LOG_WARN, "relay", "domain=%s event=dns_failed permanent=%d err=\"%s\"",
                st->domain, o.status == EDM_DSTATE_BOUNCED, o.text);
        relay_flush_queue(r, st, &o);
        return;
    }
    edm_free(st->hosts);
    st->hosts = edm_xcalloc(n, sizeof *st->hosts);
    memcpy(st->hosts, hosts, n * sizeof *hosts);
    st->nhosts = n;
    st->resolved_ms = edm_time_mono_ms();
    st->dns = SITE_DNS_READY;
    st->dest = relay_dest_for(r, st);
    if (st->dest == NULL) {
        char why2[160];
        snprintf(why2, sizeof why2, "no source IP pool named \"%s\"", st->pool);
        edm_outcome o;
        relay_outcome(&o, EDM_FAIL_NO_POOL, 0, why2);
        relay_flush_queue(r, st, &o);
        return;
    }
    relay_drain(r, st);
}

void relay_resolve(edm_relay *r, site *st)
{
    st->dns = SITE_DNS_PENDING;
    void **arg = edm_xcalloc(2, sizeof *arg);
    arg[0] = r;
    arg[1] = (void *)(uintptr_t)st->id;
    const char *name = st->route ? st->route->relay_host : st->domain;
    if (r->o.resolve(r->o.resolve_ctx, name, on_resolved, arg) != 0) {
        edm_free(arg);
        st->dns = SITE_DNS_NONE;
        edm_outcome o;
        relay_outcome(&o, EDM_FAIL_DNS_TEMP, 1, "cannot start a DNS query");
        relay_flush_queue(r, st, &o);
    }
}

/* ---- drain ---- */

void relay_drain(edm_relay *r, site *st)
{
    if (r->stopping || st->head == NULL)
        return;
    uint64_t now = edm_time_mono_ms();
    if (st->auth && relay_auth_paused(r, st, now))
        return;
    if (st->dns == SITE_DNS_PENDING)
        return;
    if (st->dns == SITE_DNS_NONE || st->dest == NULL || now - st->resolved_ms > DNS_REFRESH_MS) {
        if (st->sessions == 0) {
            relay_resolve(r, st);
            return;
        }
    }
    edm_dest *d = st->dest;
    /* Idle sessions of this site take work first. */
    for (rsess *rs = st->shead, *nx; rs && st->head; rs = nx) {
        nx = rs->snext; /* a kick may end (and free) rs */
        if (r->o.transport->idle(rs->s))
            r->o.transport->kick(rs->s);
    }
    /* More sessions while the queue is deeper than what the open ones
     * will take, as the destination's addresses and the route allow. */
    while (st->head && st->queued > st->sessions * 2) {
        if (st->route) {
            route_state *rt = &r->routes[st->route_idx];
            if (rt->connections >= (unsigned)st->route->max_connections) {
                wait_push(r, &rt->wait_head, &rt->wait_tail, st, &rt->sessions);
                return;
            }
        }
        if (st->auth && !relay_auth_take(st, now))
            return; /* another session is trying the route's credentials */
        size_t ipi = 0;
        uint64_t until = 0;
        enum edm_dest_pick pick = edm_dest_pick(d, now, edm_time_now(), &ipi, &until);
        if (pick == EDM_DEST_PICK_OK && open_session(r, st, ipi) == 0)
            continue;
        if (st->auth)
            relay_auth_untake(st); /* no session opened: it probes nothing */
        switch (pick) {
        case EDM_DEST_PICK_OK: return; /* open_session failed */
        case EDM_DEST_PICK_BUSY:
            wait_push(r, (site **)&d->wait_head, (site **)&d->wait_tail, st, holders(r, st, d));
            return;
        case EDM_DEST_PICK_PAUSED:
            if (st->sessions == 0) {
                char why[300];
                snprintf(why, sizeof why, "every source address of pool %s is paused for %s",
                         st->pool, d->key);
                defer_paused(r, st, until, why);
            }
            return;
        case EDM_DEST_PICK_CAPPED:
            if (st->sessions == 0)
                relay_wake_later(r, st, 60000); /* every address is at its cap */
            return;
        case EDM_DEST_PICK_NONE: {
            char why[200];
            snprintf(why, sizeof why, "pool %s has no source address with a weight above 0",
                     st->pool);
            edm_outcome o;
            relay_outcome(&o, EDM_FAIL_NO_POOL, 0, why);
            relay_flush_queue(r, st, &o);
            return;
        }
        default: EDM_PANIC("dest pick");
        }
    }
}

/* ---- interface ---- */

int edm_relay_new(const edm_relay_opts *o, edm_relay **out)
{
    if (o->transport == NULL || o->resolve == NULL)
        return EDM_EINVAL;
    edm_relay *r = edm_calloc(1, sizeof *r);
    if (r == NULL)
        return EDM_ENOMEM;
    r->o = *o;
    r->routes = edm_xcalloc(o->cfg->nroutes ? o->cfg->nroutes : 1, sizeof *r->routes);
    uv_timer_init(o->loop, &r->timer);
    r->timer.data = r;
    *out = r;
    return 0;
}

void edm_relay_set_ctx(edm_relay *r, void *ctx)
{
    r->o.ctx = ctx;
}

void edm_relay_submit(edm_relay *r, edm_outmsg *m)
{
    if (r->stopping) {
        give_back(r, m, NULL);
        return;
    }
    char dom[256];
    size_t i = 0;
    for (; m->domain[i] && i < sizeof dom - 1; i++)
        dom[i] = (char)tolower((unsigned char)m->domain[i]);
    dom[i] = 0;
    site *st = relay_site_get(r, dom, m->pool);
    m->next = NULL;
    if (m->priority && st->head && !st->head->priority) {
        /* Transactional mail goes ahead of campaign mail (docs/smtp.md). */
        m->next = st->head;
        st->head = m;
    } else if (m->priority && st->head) {
        edm_outmsg *q = st->head;
        while (q->next && q->next->priority)
            q = q->next;
        m->next = q->next;
        q->next = m;
        if (st->tail == q)
            st->tail = m;
    } else if (st->tail) {
        st->tail->next = m;
    } else {
        st->head = m;
    }
    if (m->next == NULL)
        st->tail = m;
    st->queued++;
    r->queued++;
    relay_drain(r, st);
}

void edm_relay_drop_campaign(edm_relay *r, int64_t campaign_id)
{
    for (size_t i = 0; i < r->nby_id; i++) {
        site *st = r->by_id[i];
        edm_outmsg **pp = &st->head, *prev = NULL;
        while (*pp) {
            edm_outmsg *m = *pp;
            if (m->campaign_id == campaign_id) {
                *pp = m->next;
                if (st->tail == m)
                    st->tail = prev;
                m->next = NULL;
                st->queued--;
                r->queued--;
                give_back(r, m, NULL);
            } else {
                prev = m;
                pp = &m->next;
            }
        }
    }
}

void edm_relay_stop(edm_relay *r, void (*cb)(void *arg), void *arg)
{
    r->stopping = 1;
    r->stop_cb = cb;
    r->stop_arg = arg;
    for (size_t i = 0; i < r->nby_id; i++)
        relay_flush_queue(r, r->by_id[i], NULL);
    uv_timer_stop(&r->timer);
    for (rsess *rs = r->sessions, *nx; rs; rs = nx) {
        nx = rs->next;
        r->o.transport->abort(rs->s);
    }
    maybe_stopped(r);
}

static void on_relay_closed(uv_handle_t *h)
{
    edm_relay *r = h->data;
    relay_free_tables(r);
    edm_free(r);
}

void edm_relay_free(edm_relay *r)
{
    if (r == NULL)
        return;
    EDM_ASSERT(r->sessions == NULL);
    r->closed = 1;
    uv_close((uv_handle_t *)&r->timer, on_relay_closed);
}
