/*
 * engine/delivery/relay_table.c: the relay's tables (see relay.c): sites by
 * (domain, pool) and destinations by (key, pool) in hash tables, sites by
 * id in an array (DNS answers carry the id), the run queue of sites to
 * drain later (a binary heap behind one uv timer), and the live state for
 * GET /v1/pools. Every lookup is O(1) amortised, the run queue O(log n).
 */
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/delivery/relay_int.h"

#include <string.h>

/* ---- hash tables ---- */

static uint64_t hash2(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (; *b; b++)
        h = (h ^ (unsigned char)*b) * 1099511628211ull;
    return h;
}

static site *site_lookup(edm_relay *r, const char *domain, const char *pool)
{
    if (r->sites.nb == 0)
        return NULL;
    for (site *s = r->sites.b[hash2(domain, pool) % r->sites.nb]; s; s = s->hnext)
        if (strcmp(s->domain, domain) == 0 && strcmp(s->pool, pool) == 0)
            return s;
    return NULL;
}

static void site_rehash(edm_relay *r)
{
    size_t nb = r->sites.nb ? r->sites.nb * 2 : 64;
    void **b = edm_xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < r->sites.nb; i++)
        for (site *s = r->sites.b[i], *nx; s; s = nx) {
            nx = s->hnext;
            size_t k = hash2(s->domain, s->pool) % nb;
            s->hnext = b[k];
            b[k] = s;
        }
    edm_free(r->sites.b);
    r->sites.b = b;
    r->sites.nb = nb;
}

static edm_dest *dest_lookup(edm_relay *r, const char *key, const char *pool)
{
    if (r->dests.nb == 0)
        return NULL;
    for (edm_dest *d = r->dests.b[hash2(key, pool) % r->dests.nb]; d; d = d->hnext)
        if (strcmp(d->key, key) == 0 && strcmp(d->pool, pool) == 0)
            return d;
    return NULL;
}

static void dest_rehash(edm_relay *r)
{
    size_t nb = r->dests.nb ? r->dests.nb * 2 : 64;
    void **b = edm_xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < r->dests.nb; i++)
        for (edm_dest *d = r->dests.b[i], *nx; d; d = nx) {
            nx = d->hnext;
            size_t k = hash2(d->key, d->pool) % nb;
            d->hnext = b[k];
            b[k] = d;
        }
    edm_free(r->dests.b);
    r->dests.b = b;
    r->dests.nb = nb;
}

/* The destination of a site whose hosts are known: an "mx:" rule's when a
 * host matches one and the domain has no rule of its own, else the
 * domain's. NULL when the site's pool does not exist. */
edm_dest *relay_dest_for(edm_relay *r, site *st)
{
    const edm_config *cfg = r->o.cfg;
    const struct edm_config_domain *rule = edm_config_domain_for(cfg, st->domain);
    EDM_ASSERT(rule != NULL);
    const char *key = st->domain;
    if (strcmp(rule->match, "*") == 0 && st->route == NULL && st->nhosts > 0) {
        const char *names[16];
        size_t n = st->nhosts < 16 ? st->nhosts : 16;
        for (size_t i = 0; i < n; i++)
            names[i] = st->hosts[i].host;
        const struct edm_config_domain *mx = edm_config_mx_rule_for(cfg, names, n);
        if (mx) {
            rule = mx;
            key = mx->match;
        }
    }
    edm_dest *d = dest_lookup(r, key, st->pool);
    if (d)
        return d;
    edm_pool *p = edm_pools_find(r->o.pools, st->pool);
    if (p == NULL)
        return NULL;
    d = edm_dest_new(key, st->pool, rule, p, edm_time_mono_ms());
    if (r->dests.n + 1 > r->dests.nb * 2)
        dest_rehash(r);
    size_t k = hash2(key, st->pool) % r->dests.nb;
    d->hnext = r->dests.b[k];
    r->dests.b[k] = d;
    r->dests.n++;
    return d;
}

site *relay_site_find_id(edm_relay *r, uint64_t id)
{
    return id >= 1 && id <= r->nby_id ? r->by_id[id - 1] : NULL;
}

site *relay_site_get(edm_relay *r, const char *domain, const char *pool)
{
    const char *pl = pool ? pool : "default";
    site *s = site_lookup(r, domain, pl);
    if (s)
        return s;
    s = edm_xcalloc(1, sizeof *s);
    s->id = r->nby_id + 1;
    s->domain = edm_xstrdup(domain);
    s->pool = edm_xstrdup(pl);
    s->route = edm_config_route_for(r->o.cfg, domain);
    s->route_idx = s->route ? (size_t)(s->route - r->o.cfg->routes) : 0;
    if (s->route) {
        route_state *rt = &r->routes[s->route_idx];
        if (s->route->auth_username)
            s->auth = &rt->auth;
        s->rnext = rt->sites;
        rt->sites = s;
    }
    s->heap_idx = NO_HEAP;
    if (r->nby_id == r->cap_by_id) {
        r->cap_by_id = r->cap_by_id ? r->cap_by_id * 2 : 64;
        r->by_id = edm_xrealloc(r->by_id, r->cap_by_id * sizeof *r->by_id);
    }
    r->by_id[r->nby_id++] = s;
    if (r->sites.n + 1 > r->sites.nb * 2)
        site_rehash(r);
    size_t k = hash2(domain, pl) % r->sites.nb;
    s->hnext = r->sites.b[k];
    r->sites.b[k] = s;
    r->sites.n++;
    return s;
}

/* ---- the run queue: a binary heap of sites by wake_at ---- */

static void heap_set(edm_relay *r, size_t i, site *s)
{
    r->heap[i] = s;
    s->heap_idx = i;
}

static void heap_up(edm_relay *r, size_t i)
{
    site *s = r->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (r->heap[p]->wake_at <= s->wake_at)
            break;
        heap_set(r, i, r->heap[p]);
        i = p;
    }
    heap_set(r, i, s);
}

static void heap_down(edm_relay *r, size_t i)
{
    site *s = r->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= r->nheap)
            break;
        if (c + 1 < r->nheap && r->heap[c + 1]->wake_at < r->heap[c]->wake_at)
            c++;
        if (s->wake_at <= r->heap[c]->wake_at)
            break;
        heap_set(r, i, r->heap[c]);
        i = c;
    }
    heap_set(r, i, s);
}

static site *heap_pop(edm_relay *r)
{
    site *top = r->heap[0];
    top->heap_idx = NO_HEAP;
    if (--r->nheap > 0) {
        heap_set(r, 0, r->heap[r->nheap]);
        heap_down(r, 0);
    }
    return top;
}

static void on_timer(uv_timer_t *t);

/* One uv timer for the whole run queue, due at its earliest site. */
static void arm_timer(edm_relay *r)
{
    if (r->nheap == 0 || r->stopping)
        return;
    uint64_t at = r->heap[0]->wake_at, now = edm_time_mono_ms();
    if (r->timer_at != 0 && r->timer_at <= at)
        return;
    r->timer_at = at;
    uv_timer_start(&r->timer, on_timer, at > now ? at - now + 1 : 1, 0);
}

static void on_timer(uv_timer_t *t)
{
    edm_relay *r = t->data;
    r->timer_at = 0;
    uint64_t now = edm_time_mono_ms();
    while (r->nheap > 0 && r->heap[0]->wake_at <= now) {
        site *s = heap_pop(r);
        s->wake_at = 0;
        relay_drain(r, s);
    }
    arm_timer(r);
}

void relay_wake_later(edm_relay *r, site *st, uint64_t delay_ms)
{
    uint64_t at = edm_time_mono_ms() + (delay_ms ? delay_ms : 1);
    if (st->heap_idx != NO_HEAP) {
        if (at >= st->wake_at)
            return;
        st->wake_at = at;
        heap_up(r, st->heap_idx);
    } else {
        if (r->nheap == r->cap_heap) {
            r->cap_heap = r->cap_heap ? r->cap_heap * 2 : 64;
            r->heap = edm_xrealloc(r->heap, r->cap_heap * sizeof *r->heap);
        }
        st->wake_at = at;
        heap_set(r, r->nheap++, st);
        heap_up(r, st->heap_idx);
    }
    arm_timer(r);
}

void relay_free_tables(edm_relay *r)
{
    for (size_t i = 0; i < r->nby_id; i++) {
        site *s = r->by_id[i];
        EDM_ASSERT(s->head == NULL);
        edm_free(s->domain);
        edm_free(s->pool);
        edm_free(s->hosts);
        edm_free(s);
    }
    for (size_t i = 0; i < r->dests.nb; i++)
        for (edm_dest *d = r->dests.b[i], *nx; d; d = nx) {
            nx = d->hnext;
            edm_dest_free(d);
        }
    edm_free(r->by_id);
    edm_free(r->sites.b);
    edm_free(r->dests.b);
    edm_free(r->heap);
    edm_free(r->routes);
}

json_t *edm_relay_json(const edm_relay *r)
{
    json_t *sites = json_array(), *paused = json_array(), *states = json_array();
    uint64_t now = edm_time_mono_ms();
    int64_t now_unix = edm_time_now();
    for (size_t i = 0; i < r->nby_id; i++) {
        const site *st = r->by_id[i];
        json_array_append_new(
            sites, json_pack("{s:s, s:s, s:s?, s:I, s:I}", "domain", st->domain, "pool", st->pool,
                             "destination", st->dest ? st->dest->key : NULL, "queued",
                             (json_int_t)st->queued, "sessions", (json_int_t)st->sessions));
    }
    for (size_t b = 0; b < r->dests.nb; b++)
        for (const edm_dest *d = r->dests.b[b]; d; d = d->hnext)
            for (size_t k = 0; k < d->nips; k++) {
                json_t *j = edm_dest_ip_json(d, k, now, now_unix);
                if (j == NULL)
                    continue;
                json_t *ip = d->p->ips[k].addr ? json_string(d->p->ips[k].addr) : json_null();
                json_object_set_new(j, "ip", ip);
                if (json_integer_value(json_object_get(j, "seconds_left")) > 0)
                    json_array_append_new(
                        paused, json_pack("{s:s, s:s, s:O, s:O, s:O}", "domain", d->key, "pool",
                                          d->pool, "ip", json_object_get(j, "ip"), "seconds_left",
                                          json_object_get(j, "seconds_left"), "until",
                                          json_object_get(j, "paused_until")));
                json_array_append_new(states, j);
            }
    return json_pack("{s:o, s:o, s:o, s:I, s:I}", "sites", sites, "paused_domains", paused,
                     "ip_states", states, "queued", (json_int_t)r->queued, "active",
                     (json_int_t)r->active);
}
