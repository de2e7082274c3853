/*
 * engine/base/idset.c: a set of positive int64 ids (open addressing, linear
 * probing, tombstones), for the pipeline's ids in flight. Rebuilt when
 * half its slots are used or deleted, at four slots per live id: its size
 * follows the live ids, not how many passed through. Allocation failure returns EDM_ENOMEM and
 * leaves the set as it was.
 */
#include "engine/base/idset.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

static int grow(edm_idset *s);

static size_t id_hash(int64_t id, size_t cap)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 17) & (cap - 1);
}

int edm_idset_has(const edm_idset *s, int64_t id)
{
    if (s->cap == 0)
        return 0;
    for (size_t i = id_hash(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i] == id)
            return 1;
        if (s->slots[i] == 0)
            return 0;
    }
}

static int grow(edm_idset *s)
{
    /* Sized from the live ids, not from the old table: tombstones are
     * dropped, and a set that sees millions of ids pass through a small
     * window (the pipeline's ids in flight) stays the window's size. At
     * least four slots per live id, so the next rebuild is a quarter of
     * the table's adds away (amortised O(1)). */
    edm_idset n = {0};
    n.cap = 1024;
    while ((s->live + 1) * 4 > n.cap)
        n.cap *= 2;
    n.slots = edm_calloc(n.cap, sizeof *n.slots);
    if (n.slots == NULL)
        return EDM_ENOMEM;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i] > 0 && edm_idset_add(&n, s->slots[i]) != 0)
            EDM_PANIC("idset: a grown table cannot be full");
    edm_free(s->slots);
    *s = n;
    return 0;
}

int edm_idset_add(edm_idset *s, int64_t id)
{
    EDM_ASSERT(id > 0);
    if (edm_idset_has(s, id))
        return 0;
    if ((s->used + 1) * 2 > s->cap && grow(s) != 0)
        return EDM_ENOMEM;
    /* The first free or deleted slot of the chain (id is not in it). */
    size_t i = id_hash(id, s->cap);
    while (s->slots[i] > 0)
        i = (i + 1) & (s->cap - 1);
    if (s->slots[i] == 0)
        s->used++;
    s->slots[i] = id;
    s->live++;
    return 0;
}

void edm_idset_del(edm_idset *s, int64_t id)
{
    if (s->cap == 0)
        return;
    for (size_t i = id_hash(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i] == id) {
            s->slots[i] = -1;
            s->live--;
            return;
        }
        if (s->slots[i] == 0)
            return;
    }
}

void edm_idset_free(edm_idset *s)
{
    edm_free(s->slots);
    s->slots = NULL;
    s->cap = s->used = s->live = 0;
}
