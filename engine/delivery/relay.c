/*
 * engine/delivery/relay.c: per-destination delivery queues (see relay.h).
 *
 * A site is (recipient domain or route, source IP pool). drain(site) is the
 * one place that decides whether to open another session: it runs after
 * every event that may unblock work (a message queued, a session closed, a
 * DNS answer, the wake-up timer) and is safe to call any number of times.
 * A session asks for its next message through next_msg(), which applies
 * the domain's per-minute bucket and the source IP's caps; when it gets
 * none it QUITs, and the wake-up timer brings drain() back when a token
 * is due.
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
 * Outcomes: a session reports facts (engine/store/outcome.h); the relay
 * adds its own (DNS, a paused destination, a missing pool), has
 * engine/delivery/classify.c judge them, and gives each message back with
 * its outcome, or with NULL when it was never attempted (dropped).
 *
 * A route with credentials goes through its AUTH gate (route_auth.h): one
 * session tries AUTH until one has passed, and a refusal pauses the route
 * with every site behind it.
 *
 * Sessions and DNS come through the options' transport and resolver
 * (transport.h, resolve.h); time through engine/base/timeutil.h. Nothing
 * here opens a socket itself.
 */
#include "engine/delivery/relay.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/delivery/classify.h"
#include "engine/delivery/route_auth.h"
#include "engine/delivery/shaper.h"
#include "engine/base/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum site_dns { SITE_DNS_NONE, SITE_DNS_PENDING, SITE_DNS_READY };

/* How long a connection with nothing to send waits for more. */
#define IDLE_MS 5000

typedef struct site {
    uint64_t id;
    char *domain; /* recipient domain (lower case) */
    char *pool;
    const struct edm_config_domain *dcfg;
    const struct edm_config_route *route;
    route_auth *auth; /* the route's AUTH gate; NULL without credentials */
    edm_outmsg *head, *tail;
    size_t queued;
    unsigned sessions;
    enum site_dns dns;
    edm_mx_host *hosts;
    size_t nhosts;
    uint64_t resolved_ms;
    edm_bucket per_minute;
    uint64_t paused_until; /* monotonic ms */
    uint64_t wake_at;      /* monotonic ms the timer should drain it, 0 none */
    struct site *next;
} site;

typedef struct rsess {
    edm_relay *r;
    site *site;
    edm_pool_ip *ip;
    void *s; /* the transport's session */
    unsigned inflight;
    char auth_pass[256];
    struct rsess *next;
} rsess;

/* One message handed to a session. */
typedef struct sent {
    smtp_message sm;
    const char *rcpts[1];
    edm_outmsg *m;
} sent;

struct edm_relay {
    edm_relay_opts o;
    site *sites;
    uint64_t next_site_id;
    rsess *sessions;
    size_t queued, active;
    uv_timer_t timer;
    uint64_t timer_at;
    unsigned next_session_id;
    route_auths auths;
    int stopping;
    void (*stop_cb)(void *);
    void *stop_arg;
    int closed;
};

static void drain(edm_relay *r, site *st);

static enum smtp_tls_mode tls_mode(enum edm_tls_mode m)
{
    switch (m) {
    case EDM_TLS_NONE: return SMTP_TLS_NONE;
    case EDM_TLS_OPPORTUNISTIC: return SMTP_TLS_OPPORTUNISTIC;
    case EDM_TLS_REQUIRED: return SMTP_TLS_REQUIRED;
    default: EDM_PANIC("tls mode %d", (int)m);
    }
}

static site *site_find_id(edm_relay *r, uint64_t id)
{
    for (site *s = r->sites; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static site *site_get(edm_relay *r, const char *domain, const char *pool)
{
    const char *pl = pool ? pool : "default";
    for (site *s = r->sites; s; s = s->next)
        if (strcmp(s->domain, domain) == 0 && strcmp(s->pool, pl) == 0)
            return s;
    site *s = edm_xcalloc(1, sizeof *s);
    s->id = ++r->next_site_id;
    s->domain = edm_xstrdup(domain);
    s->pool = edm_xstrdup(pl);
    s->dcfg = edm_config_domain_for(r->o.cfg, domain);
    s->route = edm_config_route_for(r->o.cfg, domain);
    if (s->route && s->route->auth_username)
        s->auth = route_auth_get(&r->auths, s->route);
    EDM_ASSERT(s->dcfg != NULL);
    edm_bucket_init(&s->per_minute, s->dcfg->max_per_minute, 60000,
                    s->dcfg->max_per_minute > 0 ? s->dcfg->max_per_minute / 10 + 1 : 1,
                    edm_time_mono_ms());
    s->next = r->sites;
    r->sites = s;
    return s;
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

/* Ends every queued message of a site with the same outcome (NULL:
 * dropped). */
static void site_flush_queue(edm_relay *r, site *st, const edm_outcome *o)
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

/* ---- the wake-up timer ---- */

static void on_timer(uv_timer_t *t)
{
    edm_relay *r = t->data;
    r->timer_at = 0;
    uint64_t now = edm_time_mono_ms();
    for (site *s = r->sites; s; s = s->next)
        if (s->wake_at && s->wake_at <= now) {
            s->wake_at = 0;
            drain(r, s);
        }
}

static void wake_later(edm_relay *r, site *st, uint64_t delay_ms)
{
    uint64_t at = edm_time_mono_ms() + (delay_ms ? delay_ms : 1);
    if (st->wake_at == 0 || at < st->wake_at)
        st->wake_at = at;
    if (r->timer_at == 0 || st->wake_at < r->timer_at) {
        r->timer_at = st->wake_at;
        uv_timer_start(&r->timer, on_timer, st->wake_at - edm_time_mono_ms() + 1, 0);
    }
}

/* ---- sessions ---- */

static const smtp_message *next_msg(void *arg)
{
    rsess *rs = arg;
    edm_relay *r = rs->r;
    site *st = rs->site;
    if (r->stopping)
        return NULL;
    uint64_t now = edm_time_mono_ms();
    if (st->paused_until > now)
        return NULL;
    /* Nothing queued right now, or the domain's bucket is empty: keep the
     * connection and wait (the session QUITs after IDLE_MS of nothing);
     * drain() kicks it when there is work. */
    if (st->head == NULL)
        return SMTP_LATER;
    uint64_t wait = edm_bucket_take(&st->per_minute, now);
    if (wait) {
        wake_later(r, st, wait);
        return SMTP_LATER;
    }
    if (!edm_pool_ip_has_capacity(rs->ip, now, edm_time_now()))
        return NULL;
    edm_outmsg *m = st->head;
    st->head = m->next;
    if (st->head == NULL)
        st->tail = NULL;
    m->next = NULL;
    st->queued--;
    r->queued--;
    r->active++;
    rs->inflight++;
    sent *sn = edm_xcalloc(1, sizeof *sn);
    sn->m = m;
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

/* Defers every queued message of a paused site to the end of its pause,
 * without counting an attempt. */
static void defer_paused(edm_relay *r, site *st, const char *why)
{
    uint64_t now = edm_time_mono_ms();
    int64_t left = st->paused_until > now ? (int64_t)((st->paused_until - now + 999) / 1000) : 0;
    edm_outcome q;
    relay_outcome(&q, EDM_FAIL_BACKOFF, 0, why);
    q.next_attempt_at = edm_time_now() + left;
    site_flush_queue(r, st, &q);
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
    site_flush_queue(r, st, &q);
}

/* Every site behind the route of e, soon (from the timer, not from inside
 * a session's callback). */
static void wake_route(edm_relay *r, const route_auth *e)
{
    for (site *s = r->sites; s; s = s->next)
        if (s->auth == e && s->head)
            wake_later(r, s, 1);
}

/* Does this reply match the domain's backoff list? Then the site pauses. */
static int backoff_hit(site *st, const edm_outcome *o)
{
    const struct edm_config_domain *d = st->dcfg;
    if (o->status != EDM_DSTATE_DEFERRED || o->code == 0 ||
        !edm_backoff_matches(d->backoff_on, d->nbackoff_on, o->code, o->enhanced))
        return 0;
    st->paused_until = edm_time_mono_ms() + (uint64_t)d->backoff_pause * 1000;
    edm_log(EDM_LOG_WARN, "relay", "domain=%s pool=%s event=backoff pause=%d code=%d enhanced=%s",
            st->domain, st->pool, d->backoff_pause, o->code, o->enhanced);
    return 1;
}

static void msg_done(const smtp_result *res, void *arg)
{
    rsess *rs = arg;
    edm_relay *r = rs->r;
    sent *sn = res->msg->user;
    edm_outmsg *m = sn->m;
    /* One recipient per message: its outcome is the whole story (a
     * refusal at RCPT, or the end-of-data reply it shares). */
    edm_outcome o = res->msg->nrcpts ? res->rcpts[0] : *res->outcome;
    o.attempted = 1;
    classify_outcome(&o);
    if (rs->site->auth) {
        if (o.step > EDM_STEP_AUTH && route_auth_passed(rs->site->auth))
            wake_route(r, rs->site->auth);
        if (o.step <= EDM_STEP_AUTH && o.category == EDM_CATEGORY_AUTH)
            o.next_attempt_at = edm_time_now() + ROUTE_AUTH_PAUSE_S;
    }
    /* 8bit for a server without 8BITMIME: never sent, given back
     * (dropped) to be composed again without 8bit. */
    int needs_7bit = o.failure == EDM_FAIL_NEEDS_7BIT;
    if (needs_7bit)
        m->needs_7bit = 1;
    int dropped = needs_7bit || (r->stopping && o.status == EDM_DSTATE_DEFERRED);
    int paused = !dropped && backoff_hit(rs->site, &o);
    char why[300] = "";
    if (paused) {
        /* This message too waits for the end of the pause. */
        o.next_attempt_at = edm_time_now() + rs->site->dcfg->backoff_pause;
        int len = snprintf(why, sizeof why, "domain paused %ds after: %d ",
                           rs->site->dcfg->backoff_pause, o.code);
        if (len > 0 && (size_t)len < sizeof why)
            edm_outcome_put(why + len, sizeof why - (size_t)len, o.text);
    }
    rs->inflight--;
    r->active--;
    edm_free(sn);
    give_back(r, m, dropped ? NULL : &o);
    if (paused)
        defer_paused(r, rs->site, why);
}

static void unlink_session(edm_relay *r, rsess *rs)
{
    for (rsess **pp = &r->sessions; *pp; pp = &(*pp)->next)
        if (*pp == rs) {
            *pp = rs->next;
            return;
        }
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
    EDM_ASSERT(rs->inflight == 0);
    st->sessions--;
    rs->ip->connections--;
    unlink_session(r, rs);
    /* fail points into the session: use it before the session is freed. */
    if (st->auth && !r->stopping) {
        edm_outcome a;
        if (fail) {
            a = *fail;
            classify_outcome(&a);
        }
        if (fail && a.category == EDM_CATEGORY_AUTH) {
            edm_log(EDM_LOG_WARN, "relay", "route=%s event=auth_refused pause=%d code=%d",
                    st->route->relay, ROUTE_AUTH_PAUSE_S, a.code);
            route_auth_refused(st->auth, edm_time_mono_ms(), &a);
            for (site *s = r->sites; s; s = s->next)
                if (s->auth == st->auth && s->head)
                    defer_auth_paused(r, s);
        } else if (route_auth_ended(st->auth)) {
            wake_route(r, st->auth);
        }
    }
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
        site_flush_queue(r, st, &o);
    }
    tp->free(rs->s);
    edm_free(rs);
    maybe_stopped(r);
    if (!r->stopping)
        drain(r, st);
}

static int open_session(edm_relay *r, site *st)
{
    const edm_config *cfg = r->o.cfg;
    edm_pool *pool = edm_pools_find(r->o.pools, st->pool);
    if (pool == NULL) {
        char why[160];
        snprintf(why, sizeof why, "no source IP pool named \"%s\"", st->pool);
        edm_outcome o;
        relay_outcome(&o, EDM_FAIL_NO_POOL, 0, why);
        site_flush_queue(r, st, &o);
        return EDM_ENOTFOUND;
    }
    uint64_t now = edm_time_mono_ms();
    edm_pool_ip *ip = edm_pool_choose(pool, now, edm_time_now());
    if (ip == NULL) {
        wake_later(r, st, 60000); /* every address is at its cap */
        return EDM_ESTATE;
    }
    smtp_target *targets = edm_xcalloc(st->nhosts, sizeof *targets);
    for (size_t i = 0; i < st->nhosts; i++)
        targets[i] = (smtp_target){.host = st->hosts[i].host, .ip = st->hosts[i].ip};
    rsess *rs = edm_xcalloc(1, sizeof *rs);
    rs->r = r;
    rs->site = st;
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
        .max_messages = (unsigned)st->dcfg->max_messages_per_connection,
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
    rs->next = r->sessions;
    r->sessions = rs;
    st->sessions++;
    rs->ip->connections++;
    if (tp->start(rs->s) != 0) {
        /* closed() is not called for a session that never started. */
        st->sessions--;
        rs->ip->connections--;
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
    site *st = site_find_id(r, id);
    if (st == NULL || r->closed)
        return;
    if (rc != 0 || n == 0) {
        st->dns = SITE_DNS_NONE;
        edm_outcome o;
        relay_outcome(&o, failure != EDM_FAIL_NONE ? failure : EDM_FAIL_NO_ADDRESS, 1,
                      why ? why : "no mail exchanger");
        edm_log(EDM_LOG_WARN, "relay", "domain=%s event=dns_failed permanent=%d err=\"%s\"",
                st->domain, o.status == EDM_DSTATE_BOUNCED, o.text);
        site_flush_queue(r, st, &o);
        return;
    }
    edm_free(st->hosts);
    st->hosts = edm_xcalloc(n, sizeof *st->hosts);
    memcpy(st->hosts, hosts, n * sizeof *hosts);
    st->nhosts = n;
    st->resolved_ms = edm_time_mono_ms();
    st->dns = SITE_DNS_READY;
    drain(r, st);
}

static void resolve(edm_relay *r, site *st)
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
        site_flush_queue(r, st, &o);
    }
}

/* ---- drain ---- */

#define DNS_REFRESH_MS (60 * 1000)

static void drain(edm_relay *r, site *st)
{
    if (r->stopping || st->head == NULL)
        return;
    uint64_t now = edm_time_mono_ms();
    if (st->paused_until > now) {
        defer_paused(r, st, "domain paused after a backoff reply");
        return;
    }
    if (st->auth && route_auth_paused(st->auth, now)) {
        defer_auth_paused(r, st);
        return;
    }
    if (st->dns == SITE_DNS_PENDING)
        return;
    if (st->dns == SITE_DNS_NONE || now - st->resolved_ms > DNS_REFRESH_MS) {
        if (st->sessions == 0) {
            resolve(r, st);
            return;
        }
    }
    /* Idle sessions of this site take work first. */
    for (rsess *rs = r->sessions, *nx; rs && st->head; rs = nx) {
        nx = rs->next; /* a kick may end (and free) rs */
        if (rs->site == st && r->o.transport->idle(rs->s))
            r->o.transport->kick(rs->s);
    }
    /* One more session per drain while the queue is deeper than what the
     * open sessions will take. */
    unsigned max = st->dcfg->max_connections > 0 ? (unsigned)st->dcfg->max_connections : 1;
    while (st->head && st->sessions < max && st->queued > st->sessions * 2) {
        if (st->auth && !route_auth_take(st->auth, now))
            break; /* another session is trying the route's credentials */
        if (open_session(r, st) != 0) {
            if (st->auth)
                route_auth_ended(st->auth);
            break;
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
    uv_timer_init(o->loop, &r->timer);
    r->timer.data = r;
    *out = r;
    return 0;
}

void edm_relay_set_ctx(edm_relay *r, void *ctx)
{
    r->o.ctx = ctx;
}

static char *lower_dup(const char *s)
{
    char *d = edm_xstrdup(s);
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

void edm_relay_submit(edm_relay *r, edm_outmsg *m)
{
    if (r->stopping) {
        give_back(r, m, NULL);
        return;
    }
    char *dom = lower_dup(m->domain);
    site *st = site_get(r, dom, m->pool);
    edm_free(dom);
    m->next = NULL;
    if (st->tail)
        st->tail->next = m;
    else
        st->head = m;
    st->tail = m;
    st->queued++;
    r->queued++;
    drain(r, st);
}

void edm_relay_drop_campaign(edm_relay *r, int64_t campaign_id)
{
    for (site *st = r->sites; st; st = st->next) {
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
    for (site *st = r->sites; st; st = st->next)
        site_flush_queue(r, st, NULL);
    uv_timer_stop(&r->timer);
    for (rsess *rs = r->sessions; rs; rs = rs->next)
        r->o.transport->abort(rs->s);
    maybe_stopped(r);
}

static void on_relay_closed(uv_handle_t *h)
{
    edm_relay *r = h->data;
    while (r->sites) {
        site *s = r->sites;
        r->sites = s->next;
        EDM_ASSERT(s->head == NULL);
        edm_free(s->domain);
        edm_free(s->pool);
        edm_free(s->hosts);
        edm_free(s);
    }
    route_auth_free(&r->auths);
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

json_t *edm_relay_json(const edm_relay *r)
{
    json_t *sites = json_array(), *paused = json_array();
    uint64_t now = edm_time_mono_ms();
    for (const site *st = r->sites; st; st = st->next) {
        json_int_t left =
            st->paused_until > now ? (json_int_t)((st->paused_until - now) / 1000) : 0;
        json_array_append_new(sites,
                              json_pack("{s:s, s:s, s:I, s:I, s:I}", "domain", st->domain, "pool",
                                        st->pool, "queued", (json_int_t)st->queued, "sessions",
                                        (json_int_t)st->sessions, "paused_seconds", left));
        if (left > 0)
            json_array_append_new(paused, json_pack("{s:s, s:s, s:I}", "domain", st->domain, "pool",
                                                    st->pool, "seconds_left", left));
    }
    return json_pack("{s:o, s:o, s:I, s:I}", "sites", sites, "paused_domains", paused, "queued",
                     (json_int_t)r->queued, "active", (json_int_t)r->active);
}
