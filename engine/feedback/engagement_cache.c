/*
 * engine/feedback/engagement_cache.c: the token cache of the public
 * listener (see engagement_cache.h): a power-of-two array of entries,
 * slot = a hash of the delivery id; a put evicts the slot's holder.
 * Memory: the slots plus each entry's URLs.
 */
#include "engine/feedback/engagement_cache.h"
#include "engine/base/alloc.h"

#include <string.h>

struct engagement_cache {
    engagement_entry *slots;
    size_t mask;
};

engagement_cache *engagement_cache_new(size_t slots)
{
    size_t n = 1;
    while (n < slots)
        n <<= 1;
    engagement_cache *c = edm_xcalloc(1, sizeof *c);
    c->slots = edm_xcalloc(n, sizeof *c->slots);
    c->mask = n - 1;
    return c;
}

static void entry_clear(engagement_entry *e)
{
    edm_free(e->offs);
    edm_free(e->urls);
    memset(e, 0, sizeof *e);
}

void engagement_cache_free(engagement_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i <= c->mask; i++)
        entry_clear(&c->slots[i]);
    edm_free(c->slots);
    edm_free(c);
}

static engagement_entry *slot_of(engagement_cache *c, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull; /* Fibonacci hashing */
    return &c->slots[(h >> 32) & c->mask];
}

engagement_entry *engagement_cache_get(engagement_cache *c, int64_t id, int64_t now)
{
    engagement_entry *e = slot_of(c, id);
    return e->delivery_id == id && id != 0 && now < e->expires ? e : NULL;
}

engagement_entry *engagement_cache_put(engagement_cache *c, int64_t id, int64_t delivered_at,
                                       int64_t now)
{
    engagement_entry *e = slot_of(c, id);
    entry_clear(e);
    e->delivery_id = id;
    e->delivered_at = delivered_at;
    e->expires = now + (delivered_at > 0 ? ENGAGEMENT_CACHE_TTL : ENGAGEMENT_CACHE_TTL_UNDELIVERED);
    return e;
}

void engagement_entry_set_urls(engagement_entry *e, const char *blob, size_t len, uint32_t n)
{
    edm_free(e->offs);
    edm_free(e->urls);
    e->urls = edm_xmalloc(len + 1);
    memcpy(e->urls, blob, len);
    e->urls[len] = '\0';
    e->offs = edm_xcalloc(n ? n : 1, sizeof *e->offs);
    e->nlinks = n;
    size_t off = 0;
    for (uint32_t i = 0; i < n && off < len; i++) {
        e->offs[i] = (uint32_t)off;
        off += strlen(e->urls + off) + 1;
    }
}

const char *engagement_entry_url(const engagement_entry *e, uint32_t link)
{
    if (e->urls == NULL || link >= e->nlinks || e->urls[e->offs[link]] == '\0')
        return NULL;
    return e->urls + e->offs[link];
}
