/*
 * engine/delivery/pool.c: source IP pools (see pool.h): capacity checks, smooth
 * weighted round robin (as nginx's upstream balancer), counters and warm-up
 * days kept in the store (ip_counters, schema/0003_ip_counters.sql: read
 * at start, written at most once a second while addresses send and when
 * the pools are freed), and the live state shown by GET /v1/pools.
 *
 * The hour and day windows count on the wall clock (unix ms), so that
 * what is saved means the same after a restart or a reboot.
 */
#include "engine/delivery/pool.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS (3600ull * 1000)
#define DAY_MS  (24 * HOUR_MS)
#define SAVE_MS 1000

static uint64_t wall_ms(int64_t now_unix)
{
    return (uint64_t)now_unix * 1000;
}

static const char *store_key(const edm_pool_ip *ip)
{
    return ip->addr ? ip->addr : "*";
}

static void ip_init(edm_pool_ip *ip, const struct edm_config_ip *c, const char *default_helo)
{
    memset(ip, 0, sizeof *ip);
    ip->cfg = c;
    ip->addr = c ? c->addr : NULL;
    ip->helo = c && c->helo ? c->helo : default_helo;
    ip->max_per_hour = c ? c->max_per_hour : 0;
    ip->weight = c ? c->weight : 1; /* 0: in the pool, sends nothing */
    edm_window_init(&ip->minute, 60000);
    edm_window_init(&ip->hour, HOUR_MS);
    edm_window_init(&ip->day, DAY_MS);
}

int edm_pools_init(edm_pools *ps, const edm_config *cfg, edm_store *st)
{
    memset(ps, 0, sizeof *ps);
    ps->st = st;
    ps->pools = edm_calloc(cfg->npools ? cfg->npools : 1, sizeof *ps->pools);
    if (ps->pools == NULL)
        return EDM_ENOMEM;
    ps->npools = cfg->npools;
    for (size_t i = 0; i < cfg->npools; i++) {
        const struct edm_config_pool *cp = &cfg->pools[i];
        edm_pool *p = &ps->pools[i];
        p->name = cp->name;
        p->nips = cp->nips ? cp->nips : 1;
        p->ips = edm_calloc(p->nips, sizeof *p->ips);
        if (p->ips == NULL) {
            edm_pools_free(ps);
            return EDM_ENOMEM;
        }
        for (size_t k = 0; k < p->nips; k++) {
            edm_pool_ip *ip = &p->ips[k];
            ip_init(ip, cp->nips ? &cp->ips[k] : NULL, cfg->smtp.helo);
            char *hour = NULL, *day = NULL;
            if (st &&
                st->ops->ip_counters_get(st, store_key(ip), &ip->first_day, &hour, &day) == 0) {
                edm_window_parse(&ip->hour, hour);
                edm_window_parse(&ip->day, day);
                edm_free(hour);
                edm_free(day);
            }
        }
    }
    return 0;
}

int edm_pools_save(edm_pools *ps, int64_t now_unix)
{
    if (ps->st == NULL)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < ps->npools; i++)
        for (size_t k = 0; ps->pools[i].ips && k < ps->pools[i].nips; k++)
            n += ps->pools[i].ips[k].dirty;
    if (n == 0)
        return 0;
    edm_ip_counters *rows = edm_xcalloc(n, sizeof *rows);
    char(*text)[2][1600] = edm_xcalloc(n, sizeof *text);
    size_t r = 0;
    for (size_t i = 0; i < ps->npools; i++)
        for (size_t k = 0; ps->pools[i].ips && k < ps->pools[i].nips; k++) {
            edm_pool_ip *ip = &ps->pools[i].ips[k];
            if (!ip->dirty)
                continue;
            edm_window_format(&ip->hour, wall_ms(now_unix), text[r][0], sizeof text[r][0]);
            edm_window_format(&ip->day, wall_ms(now_unix), text[r][1], sizeof text[r][1]);
            rows[r] = (edm_ip_counters){store_key(ip), ip->first_day, text[r][0], text[r][1]};
            r++;
        }
    int rc = ps->st->ops->ip_counters_put(ps->st, rows, n);
    if (rc == 0) {
        for (size_t i = 0; i < ps->npools; i++)
            for (size_t k = 0; ps->pools[i].ips && k < ps->pools[i].nips; k++)
                ps->pools[i].ips[k].dirty = 0;
    } else {
        edm_log(EDM_LOG_WARN, "pool", "event=counters_not_saved err=\"%s\"",
                ps->st->ops->errmsg(ps->st));
    }
    ps->saved_ms = wall_ms(now_unix);
    edm_free(rows);
    edm_free(text);
    return rc;
}

void edm_pools_free(edm_pools *ps)
{
    if (ps->pools)
        edm_pools_save(ps, edm_time_now());
    for (size_t i = 0; ps->pools && i < ps->npools; i++)
        edm_free(ps->pools[i].ips);
    edm_free(ps->pools);
    ps->pools = NULL;
    ps->npools = 0;
}

edm_pool *edm_pools_find(edm_pools *ps, const char *name)
{
    if (ps->npools == 0)
        return NULL;
    for (size_t i = 0; i < ps->npools; i++)
        if (strcmp(ps->pools[i].name, name ? name : "default") == 0)
            return &ps->pools[i];
    return name ? NULL : &ps->pools[0];
}

static int64_t unix_day(int64_t now_unix)
{
    return now_unix / 86400;
}

/* 1 on the first day, 0 before any send. */
static int64_t warmup_day(const edm_pool_ip *ip, int64_t now_unix)
{
    return ip->first_day ? unix_day(now_unix) - ip->first_day + 1 : 1;
}

int64_t edm_pool_ip_day_cap(const edm_pool_ip *ip, int64_t now_unix)
{
    if (ip->cfg == NULL || ip->cfg->nwarmup == 0)
        return 0;
    int64_t day = warmup_day(ip, now_unix);
    const struct edm_config_warmup_step *w = ip->cfg->warmup;
    size_t n = ip->cfg->nwarmup;
    if (day < w[0].day)
        return w[0].per_day;
    for (size_t i = 0; i < n; i++) {
        int64_t end = i + 1 < n ? w[i + 1].day : w[i].day + 1;
        if (day >= w[i].day && day < end)
            return w[i].per_day;
    }
    return 0; /* past the last step */
}

int edm_pool_ip_has_capacity(const edm_pool_ip *ip, uint64_t now_ms, int64_t now_unix)
{
    (void)now_ms;
    if (ip->max_per_hour > 0 &&
        edm_window_sum(&ip->hour, wall_ms(now_unix)) >= (uint64_t)ip->max_per_hour)
        return 0;
    int64_t cap = edm_pool_ip_day_cap(ip, now_unix);
    if (cap > 0 && edm_window_sum(&ip->day, wall_ms(now_unix)) >= (uint64_t)cap)
        return 0;
    return 1;
}

edm_pool_ip *edm_pool_choose(edm_pool *p, uint64_t now_ms, int64_t now_unix)
{
    edm_pool_ip *best = NULL;
    int total = 0;
    for (size_t i = 0; i < p->nips; i++) {
        edm_pool_ip *ip = &p->ips[i];
        if (ip->weight <= 0 || !edm_pool_ip_has_capacity(ip, now_ms, now_unix))
            continue;
        ip->current += ip->weight;
        total += ip->weight;
        if (best == NULL || ip->current > best->current)
            best = ip;
    }
    if (best)
        best->current -= total;
    return best;
}

void edm_pool_ip_sent(edm_pools *ps, edm_pool_ip *ip, uint64_t now_ms, int64_t now_unix)
{
    edm_window_add(&ip->minute, now_ms, 1);
    edm_window_add(&ip->hour, wall_ms(now_unix), 1);
    edm_window_add(&ip->day, wall_ms(now_unix), 1);
    ip->sent_total++;
    ip->dirty = 1;
    int first = ip->first_day == 0;
    if (first)
        ip->first_day = unix_day(now_unix);
    /* The first send (the warm-up start) at once, counts once a second. */
    if (ps && ps->st && (first || wall_ms(now_unix) >= ps->saved_ms + SAVE_MS))
        edm_pools_save(ps, now_unix);
}

json_t *edm_pools_json(const edm_pools *ps, uint64_t now_ms, int64_t now_unix)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ps->npools; i++) {
        const edm_pool *p = &ps->pools[i];
        json_t *ips = json_array();
        for (size_t k = 0; k < p->nips; k++) {
            const edm_pool_ip *ip = &p->ips[k];
            uint64_t hour = edm_window_sum(&ip->hour, wall_ms(now_unix));
            int64_t cap = edm_pool_ip_day_cap(ip, now_unix);
            json_array_append_new(
                ips,
                json_pack("{s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:b, s:I, s:o}",
                          "addr", ip->addr, "helo", ip->helo, "sent_last_hour", (json_int_t)hour,
                          "rate_per_minute", (json_int_t)edm_window_sum(&ip->minute, now_ms),
                          "sent_today", (json_int_t)edm_window_sum(&ip->day, wall_ms(now_unix)),
                          "sent_total", (json_int_t)ip->sent_total, "max_per_hour",
                          (json_int_t)ip->max_per_hour, "day_cap", (json_int_t)cap, "connections",
                          (json_int_t)ip->connections, "weight", ip->weight, "has_capacity",
                          edm_pool_ip_has_capacity(ip, now_ms, now_unix), "warmup_day",
                          (json_int_t)warmup_day(ip, now_unix), "warmup_cap",
                          cap > 0 ? json_integer(cap) : json_null()));
        }
        json_array_append_new(arr, json_pack("{s:s, s:o}", "name", p->name, "ips", ips));
    }
    return arr;
}
