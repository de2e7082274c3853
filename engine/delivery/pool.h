/*
 * engine/delivery/pool.h: source IP pools. Live state of each configured source
 * address (sent in the last hour and day, open connections, warm-up day),
 * and the choice of a source address for a new connection: smooth weighted
 * round robin among the pool's addresses that still have capacity under
 * their max_per_hour and their warm-up day's cap.
 *
 * A pool with no addresses means "let the OS choose": edm_pool_choose
 * returns the pool's one implicit entry with addr NULL and no caps.
 *
 * Warm-up days count from the first day (UTC) the address sent; that day
 * and the hour and day counters are kept in the store (ip_counters) so a
 * restart changes nothing: read at edm_pools_init, written at the first
 * send, at most once a second after, by the engine's once-a-second
 * heartbeat when counts are left unsaved, and by edm_pools_free. A crash
 * loses at most the last second's counts.
 */
#ifndef EDM_POOL_H
#define EDM_POOL_H

#include "engine/config/config.h"
#include "engine/delivery/shaper.h"
#include "engine/store/store.h"

#include <jansson.h>
#include <stdint.h>

typedef struct edm_pool_ip {
    const char *addr; /* NULL: the OS chooses */
    const char *helo;
    int64_t max_per_hour; /* 0: no cap */
    int weight;
    const struct edm_config_ip *cfg; /* NULL for the implicit entry */
    edm_window minute, hour, day;
    int64_t first_day; /* unix day of the first send; 0 = never sent */
    int current;       /* smooth weighted round robin */
    int dirty;         /* counts not saved yet */
    unsigned connections;
    uint64_t sent_total;
} edm_pool_ip;

typedef struct edm_pool {
    const char *name;
    edm_pool_ip *ips;
    size_t nips;
} edm_pool;

typedef struct edm_pools {
    edm_pool *pools;
    size_t npools;
    edm_store *st;     /* for the counters and warm-up start days; may be NULL in tests */
    uint64_t saved_ms; /* wall clock of the last save */
} edm_pools;

/* Builds the live state from the config (which must outlive it). */
int edm_pools_init(edm_pools *ps, const edm_config *cfg, edm_store *st);
/* Saves the counters of the addresses that sent since the last save;
 * also done by edm_pools_free. 0 or the store's EDM_E* code (logged). */
int edm_pools_save(edm_pools *ps, int64_t now_unix);
void edm_pools_free(edm_pools *ps);
/* The pool called name (NULL: "default", else the first). */
edm_pool *edm_pools_find(edm_pools *ps, const char *name);

/* The warm-up daily cap for an address today (0 = none). */
int64_t edm_pool_ip_day_cap(const edm_pool_ip *ip, int64_t now_unix);
/* Can the address send one more message now? */
int edm_pool_ip_has_capacity(const edm_pool_ip *ip, uint64_t now_ms, int64_t now_unix);
/* Picks an address with capacity (NULL if none has any now). */
edm_pool_ip *edm_pool_choose(edm_pool *p, uint64_t now_ms, int64_t now_unix);
/* Counts one message sent from ip (starts its warm-up on the first). */
void edm_pool_ip_sent(edm_pools *ps, edm_pool_ip *ip, uint64_t now_ms, int64_t now_unix);

/* GET /v1/pools: [{name, ips:[{addr, helo, sent_last_hour, sent_today,
 * sent_total, max_per_hour, day_cap (0: none), warmup_day (1 on the first
 * sending day, and before it), warmup_cap (today's warm-up cap, null:
 * none), rate_per_minute, connections, weight, has_capacity}]}]. */
json_t *edm_pools_json(const edm_pools *ps, uint64_t now_ms, int64_t now_unix);

#endif
