/*
 * engine/feedback/engagement_cache.h: what a tracking token resolved to,
 * kept for the next request of the same recipient (docs/tracking.md,
 * "Speed"): a bounded, direct-mapped table keyed by delivery id holding
 * the delivery's campaign, track flags, delivered_at and, once a click
 * needed them, the URLs of all of its tracked links as they were rendered
 * for that recipient. An entry is trusted for a short time only
 * (ENGAGEMENT_CACHE_TTL seconds; a delivery not yet delivered for
 * ENGAGEMENT_CACHE_TTL_UNDELIVERED), then looked up and rendered again.
 * A new entry replaces whatever held its slot. Loop thread only.
 */
#ifndef EDM_ENGAGEMENT_CACHE_H
#define EDM_ENGAGEMENT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define ENGAGEMENT_CACHE_TTL             60
#define ENGAGEMENT_CACHE_TTL_UNDELIVERED 1

typedef struct engagement_entry {
    int64_t delivery_id; /* 0: an empty slot */
    int64_t campaign_id;
    int64_t delivered_at;
    int64_t expires; /* unix seconds: looked up again from then on */
    unsigned track;  /* EDM_TRACK_* */
    uint32_t nlinks; /* with urls: how many tracked links */
    uint32_t *offs;  /* link i's URL at urls + offs[i] */
    char *urls;      /* NUL-separated; NULL: not rendered yet */
} engagement_entry;

typedef struct engagement_cache engagement_cache;

/* slots: rounded up to a power of two. */
engagement_cache *engagement_cache_new(size_t slots);
void engagement_cache_free(engagement_cache *c);
/* The live entry of delivery id at time now, or NULL. */
engagement_entry *engagement_cache_get(engagement_cache *c, int64_t id, int64_t now);
/* The slot for delivery id, emptied of what it held, with its
 * expiry set from delivered_at and now; the caller fills the rest. */
engagement_entry *engagement_cache_put(engagement_cache *c, int64_t id, int64_t delivered_at,
                                       int64_t now);
/* Gives e the URLs blob[0..len) (n NUL-terminated strings, copied). */
void engagement_entry_set_urls(engagement_entry *e, const char *blob, size_t len, uint32_t n);
/* The URL of tracked link `link`, or NULL when there is none or it was
 * refused (control characters). Only for an entry with urls. */
const char *engagement_entry_url(const engagement_entry *e, uint32_t link);

#endif
