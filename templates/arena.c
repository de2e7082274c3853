/*
 * templates/arena.c: a bump allocator for compiled programs (tpl_arena_*).
 * Allocations are 16-byte aligned, never move, and are all freed at once
 * by tpl_arena_free. Returns NULL when out of memory.
 */
#include "templates/tpl_int.h"

#include "engine/base/alloc.h"

#include <string.h>

#define CHUNK 4096

struct tpl_chunk {
    struct tpl_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

void *tpl_arena_alloc(tpl_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct tpl_chunk *c = a->head;
    if (c == NULL || c->size - c->used < n) {
        size_t size = n > CHUNK ? n : CHUNK;
        c = edm_malloc(sizeof *c + size);
        if (c == NULL)
            return NULL;
        c->used = 0;
        c->size = size;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *tpl_arena_strndup(tpl_arena *a, const char *s, size_t n)
{
    char *p = tpl_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void tpl_arena_free(tpl_arena *a)
{
    struct tpl_chunk *c = a->head;
    while (c) {
        struct tpl_chunk *next = c->next;
        edm_free(c);
        c = next;
    }
    a->head = NULL;
}
