/*
 * engine/store/outcome.c: the names the store writes for an outcome's
 * category (see outcome.h), failure names for logs, and the bounded copy
 * into an outcome's inline strings.
 */
#include "engine/store/outcome.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdlib.h>
#include <string.h>

static const char *const category_names[EDM_CATEGORY_COUNT] = {
    "",    "bad_mailbox", "bad_domain", "mailbox_full", "policy",   "spam_block", "rate_limited",
    "dns", "network",     "tls",        "auth",         "protocol", "expired",    "other"};

static const char *const failure_names[] = {
    "reply",    "network",  "timeout", "tls",        "protocol", "auth",    "local",
    "dns_temp", "nxdomain", "null_mx", "no_address", "backoff",  "no_pool", "needs_7bit"};

const char *edm_category_name(enum edm_category c)
{
    EDM_ASSERT((unsigned)c < EDM_CATEGORY_COUNT);
    return category_names[c];
}

int edm_category_hard(enum edm_category c)
{
    return c == EDM_CATEGORY_BAD_MAILBOX || c == EDM_CATEGORY_BAD_DOMAIN;
}

const char *edm_failure_name(enum edm_failure f)
{
    EDM_ASSERT((unsigned)f < sizeof failure_names / sizeof failure_names[0]);
    return failure_names[f];
}

void edm_outcome_put(char *dst, size_t size, const char *src)
{
    EDM_ASSERT(size > 0);
    size_t n = src ? strlen(src) : 0;
    if (n >= size) {
        n = size - 1;
        /* Do not end inside a UTF-8 sequence: back off continuation bytes
         * and the lead byte they follow. */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static int cmp_id(const void *a, const void *b)
{
    const edm_outcome *x = *(const edm_outcome *const *)a, *y = *(const edm_outcome *const *)b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x < y ? -1 : x > y; /* the order given */
}

const edm_outcome **edm_outcomes_by_id(const edm_outcome *results, size_t n)
{
    const edm_outcome **order = edm_malloc((n ? n : 1) * sizeof *order);
    if (order == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        order[i] = &results[i];
    qsort(order, n, sizeof *order, cmp_id);
    return order;
}
