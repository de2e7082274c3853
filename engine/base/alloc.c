/*
 * engine/base/alloc.c: the allocator wrappers and their fault-injection
 * countdown (SQLite's test_malloc.c is the model). The countdown is one
 * atomic; when it is negative no allocation fails.
 */
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown = -1;
static atomic_long injected;

void edm_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
    atomic_store(&injected, 0);
}

long edm_alloc_injected_failures(void)
{
    return atomic_load(&injected);
}

static int should_fail(void)
{
    long c = atomic_load(&fail_countdown);
    if (c < 0)
        return 0;
    if (c == 0) {
        atomic_fetch_add(&injected, 1);
        return 1;
    }
    atomic_fetch_sub(&fail_countdown, 1);
    return 0;
}

void *edm_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *edm_calloc(size_t count, size_t n)
{
    return should_fail() ? NULL : calloc(count ? count : 1, n ? n : 1);
}

void *edm_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

char *edm_strndup(const char *s, size_t n)
{
    char *d = edm_malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *edm_strdup(const char *s)
{
    return edm_strndup(s, strlen(s));
}

void edm_free(void *p)
{
    free(p);
}

void *edm_xmalloc(size_t n)
{
    void *p = edm_malloc(n);
    if (p == NULL)
        EDM_PANIC("out of memory allocating %zu bytes", n);
    return p;
}

void *edm_xcalloc(size_t count, size_t n)
{
    void *p = edm_calloc(count, n);
    if (p == NULL)
        EDM_PANIC("out of memory allocating %zu x %zu bytes", count, n);
    return p;
}

void *edm_xrealloc(void *p, size_t n)
{
    void *q = edm_realloc(p, n);
    if (q == NULL)
        EDM_PANIC("out of memory reallocating %zu bytes", n);
    return q;
}

char *edm_xstrdup(const char *s)
{
    char *d = edm_strdup(s);
    if (d == NULL)
        EDM_PANIC("out of memory duplicating a string");
    return d;
}
