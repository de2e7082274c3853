/*
 * engine/base/alloc.h: edm's allocator with a fault-injection hook.
 *
 * edm_malloc/calloc/realloc/strdup return NULL on failure, like libc; tests
 * make them fail with edm_alloc_fail_after(). edm_x* variants treat failure
 * as fatal (out of memory is a broken invariant for callers that cannot
 * recover). Memory from any of them is released with edm_free().
 */
#ifndef EDM_ALLOC_H
#define EDM_ALLOC_H

#include <stddef.h>

void *edm_malloc(size_t n);
void *edm_calloc(size_t count, size_t n);
void *edm_realloc(void *p, size_t n);
char *edm_strdup(const char *s);
char *edm_strndup(const char *s, size_t n);
void edm_free(void *p);

void *edm_xmalloc(size_t n);
void *edm_xcalloc(size_t count, size_t n);
void *edm_xrealloc(void *p, size_t n);
char *edm_xstrdup(const char *s);

/* Fault injection: the n-th allocation from now (0 = the next) and every
 * one after it fail until edm_alloc_fail_after(-1). Thread-safe. */
void edm_alloc_fail_after(long n);
/* Number of allocations that failed by injection since the last reset. */
long edm_alloc_injected_failures(void);

#endif
