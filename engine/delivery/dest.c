/*
 * engine/delivery/dest.c: a destination's per-source-IP limits and
 * adaptive backoff (see dest.h): connection caps, evenly spaced token
 * buckets, smooth weighted round robin per destination, pauses and blocks.
 * The split of messages by weight is exact while every address sends; one
 * that is slow at the receiver holds the others at most EDM_DEST_HOLD_MS.
 */
#include "engine/delivery/dest.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"

#include <math.h>
#include <string.h>

/* After a pause an address resumes at this share of its rate and climbs
 * by LEVEL_STEP per delivered message. */
#define LEVEL_AFTER_PAUSE 0.25
#define LEVEL_STEP        0.05

static double per_minute_burst(int rate)
{
    return rate / 60 > 0 ? rate / 60 : 1;
}

static void ip_buckets(edm_dest *d, edm_dest_ip *x, uint64_t now)
{
    const struct edm_config_domain *r = d->rule;
    edm_bucket_init(&x->minute, r->max_per_minute * x->level, 60000, edm_config_domain_burst(r),
                    now);
    /* The hour's bucket keeps to the rule's burst too; by default one
     * second's worth of max_per_hour, at least 1. */
    edm_bucket_init(&x->hour, r->max_per_hour, 3600000,
                    r->burst > 0 ? r->burst : per_minute_burst(r->max_per_hour / 60), now);
}

edm_dest *edm_dest_new(const char *key, const char *pool, const struct edm_config_domain *rule,
                       edm_pool *p, uint64_t now)
{
    edm_dest *d = edm_xcalloc(1, sizeof *d);
    d->key = edm_xstrdup(key);
    d->pool = edm_xstrdup(pool);
    d->rule = rule;
    d->p = p;
    d->nips = p ? p->nips : 0;
    d->ips = edm_xcalloc(d->nips ? d->nips : 1, sizeof *d->ips);
    for (size_t i = 0; i < d->nips; i++) {
        d->ips[i].level = 1;
        ip_buckets(d, &d->ips[i], now);
    }
    edm_bucket_init(&d->total_minute, rule->total_max_per_minute, 60000,
                    per_minute_burst(rule->total_max_per_minute), now);
    return d;
}

void edm_dest_free(edm_dest *d)
{
    if (d == NULL)
        return;
    edm_free(d->key);
    edm_free(d->pool);
    edm_free(d->ips);
    edm_free(d);
}

int edm_dest_paused(const edm_dest *d, size_t ip, uint64_t now)
{
    return d->ips[ip].paused_until > now;
}

/* Connections address x may hold: the rule's, or fewer while it climbs
 * back after a pause and the rule has no rate to reduce. */
static unsigned conn_cap(const edm_dest *d, const edm_dest_ip *x)
{
    unsigned cap = (unsigned)d->rule->max_connections;
    if (x->level < 1 && d->rule->max_per_minute == 0) {
        unsigned reduced = (unsigned)(cap * x->level);
        cap = reduced > 0 ? reduced : 1;
    }
    return cap;
}

int edm_dest_admits(const edm_dest *d, size_t ip, uint64_t now)
{
    const edm_dest_ip *x = &d->ips[ip];
    if (d->p->ips[ip].weight <= 0 || x->paused_until > now)
        return 0;
    if (d->rule->total_max_connections > 0 &&
        d->connections >= (unsigned)d->rule->total_max_connections)
        return 0;
    return x->connections < conn_cap(d, x);
}

enum edm_dest_pick edm_dest_pick(edm_dest *d, uint64_t now, int64_t now_unix, size_t *ip,
                                 uint64_t *until)
{
    int any_weight = 0, any_capacity = 0, any_paused = 0;
    uint64_t first_end = 0;
    int64_t total = 0;
    edm_dest_ip *best = NULL;
    size_t best_i = 0;
    int busy_total = d->rule->total_max_connections > 0 &&
                     d->connections >= (unsigned)d->rule->total_max_connections;
    for (size_t i = 0; i < d->nips; i++) {
        edm_pool_ip *pi = &d->p->ips[i];
        edm_dest_ip *x = &d->ips[i];
        if (pi->weight <= 0)
            continue;
        any_weight = 1;
        if (!edm_pool_ip_has_capacity(pi, now, now_unix))
            continue;
        any_capacity = 1;
        if (x->paused_until > now) {
            if (!any_paused || x->paused_until < first_end)
                first_end = x->paused_until;
            any_paused = 1;
            continue;
        }
        total += pi->weight;
        if (busy_total || x->connections >= conn_cap(d, x))
            continue;
        if (best == NULL || x->credit + pi->weight > best->credit + d->p->ips[best_i].weight) {
            best = x;
            best_i = i;
        }
    }
    if (!any_weight)
        return EDM_DEST_PICK_NONE;
    if (!any_capacity)
        return EDM_DEST_PICK_CAPPED;
    if (total == 0) {
        *until = first_end;
        return EDM_DEST_PICK_PAUSED;
    }
    if (best == NULL)
        return EDM_DEST_PICK_BUSY;
    /* An address ahead of its weight's share of the messages
     * (edm_dest_turn) opens no new connection while the destination has
     * others open: one that is not ahead does, else the site waits (and
     * is drained again when another address has sent). */
    if (d->connections > 0 && best->share + total <= 0) {
        best = NULL;
        for (size_t i = 0; i < d->nips; i++) {
            edm_pool_ip *pi = &d->p->ips[i];
            edm_dest_ip *x = &d->ips[i];
            if (pi->weight <= 0 || x->paused_until > now ||
                !edm_pool_ip_has_capacity(pi, now, now_unix) || x->connections >= conn_cap(d, x) ||
                x->share + total <= 0)
                continue;
            if (best == NULL || x->credit + pi->weight > best->credit + d->p->ips[best_i].weight) {
                best = x;
                best_i = i;
            }
        }
        if (best == NULL) {
            d->held = 1;
            return EDM_DEST_PICK_BUSY;
        }
    }
    /* Credit for every eligible address (busy ones too, so that they catch
     * up when a connection frees), bounded so that a long-busy address
     * does not take every connection afterwards. */
    for (size_t i = 0; i < d->nips; i++) {
        edm_pool_ip *pi = &d->p->ips[i];
        edm_dest_ip *x = &d->ips[i];
        if (pi->weight <= 0 || x->paused_until > now ||
            !edm_pool_ip_has_capacity(pi, now, now_unix))
            continue;
        x->credit += pi->weight;
        if (x->credit > 4 * total)
            x->credit = 4 * total;
    }
    best->credit -= total;
    *ip = best_i;
    return EDM_DEST_PICK_OK;
}

/* Does address k take part in the split by weight now? */
static int in_turn(const edm_dest *d, size_t k, size_t ip, uint64_t now)
{
    return d->p->ips[k].weight > 0 && d->ips[k].paused_until <= now &&
           (k == ip || d->ips[k].competing);
}

int edm_dest_turn(edm_dest *d, size_t ip, uint64_t now)
{
    int64_t total = 0;
    int others = 0;
    for (size_t k = 0; k < d->nips; k++)
        if (in_turn(d, k, ip, now)) {
            total += d->p->ips[k].weight;
            others |= k != ip;
        }
    if (!others || d->ips[ip].share + total > 0)
        return 1;
    d->held = 1;
    return 0;
}

/* Smooth weighted round robin over messages: every address in the split
 * earns its weight, the sender pays the total. Bounded both ways, so
 * that an address that was slow or alone does not owe or claim a run. */
static void charge_turn(edm_dest *d, size_t ip, uint64_t now)
{
    int64_t total = 0;
    for (size_t k = 0; k < d->nips; k++)
        if (in_turn(d, k, ip, now))
            total += d->p->ips[k].weight;
    for (size_t k = 0; k < d->nips; k++) {
        if (!in_turn(d, k, ip, now))
            continue;
        edm_dest_ip *x = &d->ips[k];
        x->share += d->p->ips[k].weight - (k == ip ? total : 0);
        if (x->share > 4 * total)
            x->share = 4 * total;
        if (x->share < -4 * total)
            x->share = -4 * total;
    }
}

uint64_t edm_dest_holds_until(const edm_dest *d, size_t ip)
{
    return d->ips[ip].last_take + EDM_DEST_HOLD_MS;
}

uint64_t edm_dest_take(edm_dest *d, size_t ip, uint64_t now)
{
    edm_dest_ip *x = &d->ips[ip];
    if (x->paused_until > now)
        return UINT64_MAX;
    uint64_t w = edm_bucket_wait(&x->minute, now);
    uint64_t w2 = edm_bucket_wait(&x->hour, now);
    uint64_t w3 = edm_bucket_wait(&d->total_minute, now);
    if (w2 > w)
        w = w2;
    if (w3 > w)
        w = w3;
    if (w)
        return w;
    edm_bucket_take(&x->minute, now);
    edm_bucket_take(&x->hour, now);
    edm_bucket_take(&d->total_minute, now);
    charge_turn(d, ip, now);
    x->sent++;
    x->last_take = now;
    return 0;
}

static void set_level(edm_dest *d, edm_dest_ip *x, double level, uint64_t now)
{
    x->level = level;
    edm_bucket_set_rate(&x->minute, d->rule->max_per_minute * level, 60000, now);
    edm_bucket_set_rate(&x->hour, d->rule->max_per_hour * level, 3600000, now);
}

int edm_dest_result(edm_dest *d, size_t ip, enum edm_dest_result res, uint64_t now)
{
    edm_dest_ip *x = &d->ips[ip];
    switch (res) {
    case EDM_DEST_DELIVERED:
        x->block_run = 0;
        if (x->level < 1)
            set_level(d, x, fmin(1, x->level + LEVEL_STEP), now);
        return 0;
    case EDM_DEST_BACKOFF:
        x->block_run = 0;
        x->paused_until = now + (uint64_t)d->rule->backoff_pause * 1000;
        x->blocked = 0;
        set_level(d, x, LEVEL_AFTER_PAUSE, now);
        return 1;
    case EDM_DEST_BLOCK_5XX:
        if (++x->block_run < EDM_DEST_BLOCK_RUN)
            return 0;
        x->block_run = 0;
        uint64_t secs = (uint64_t)d->rule->backoff_pause * EDM_DEST_BLOCK_PAUSES;
        if (secs < 3600)
            secs = 3600;
        x->paused_until = now + secs * 1000;
        x->blocked = 1;
        set_level(d, x, LEVEL_AFTER_PAUSE, now);
        return 1;
    case EDM_DEST_OTHER: x->block_run = 0; return 0;
    default: EDM_PANIC("dest result %d", (int)res);
    }
}

double edm_dest_rate(const edm_dest *d, size_t ip)
{
    return d->rule->max_per_minute * d->ips[ip].level;
}

json_t *edm_dest_ip_json(const edm_dest *d, size_t ip, uint64_t now, int64_t now_unix)
{
    const edm_dest_ip *x = &d->ips[ip];
    int paused = x->paused_until > now;
    if (!paused && x->level >= 1)
        return NULL;
    json_t *until = json_null();
    if (paused) {
        char ts[32];
        edm_time_rfc3339(now_unix + (int64_t)((x->paused_until - now + 999) / 1000), ts, sizeof ts);
        until = json_string(ts);
    }
    return json_pack("{s:s, s:s, s:o, s:I, s:b, s:f, s:f, s:I}", "destination", d->key, "pool",
                     d->pool, "paused_until", until, "seconds_left",
                     (json_int_t)(paused ? (x->paused_until - now + 999) / 1000 : 0), "blocked",
                     paused && x->blocked, "rate_per_minute", edm_dest_rate(d, ip), "level",
                     x->level, "connections", (json_int_t)x->connections);
}
