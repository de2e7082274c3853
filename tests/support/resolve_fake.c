/*
 * tests/support/resolve_fake.c: the table resolver (see resolve_fake.h).
 * Requests wait in a FIFO; one zero-delay uv timer answers all of them on
 * the next turn of the loop.
 */
#include "tests/support/resolve_fake.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct rf_req {
    char *name;
    edm_resolve_cb cb;
    void *arg;
    struct rf_req *next;
} rf_req;

struct resolve_fake {
    uv_timer_t timer;
    const resolve_fake_entry *table;
    size_t n;
    rf_req *head, *tail;
    unsigned lookups;
};

static const resolve_fake_entry *lookup(const resolve_fake *r, const char *name)
{
    const resolve_fake_entry *any = NULL;
    for (size_t i = 0; i < r->n; i++) {
        if (strcasecmp(r->table[i].name, name) == 0)
            return &r->table[i];
        if (strcmp(r->table[i].name, "*") == 0)
            any = &r->table[i];
    }
    return any;
}

static void answer(resolve_fake *r, rf_req *q)
{
    const resolve_fake_entry *e = lookup(r, q->name);
    char why[300];
    if (e == NULL || e->rc == EDM_ENOTFOUND) {
        snprintf(why, sizeof why, "%s: domain does not exist (NXDOMAIN)", q->name);
        q->cb(q->arg, EDM_ENOTFOUND, EDM_FAIL_NXDOMAIN, why, NULL, 0);
    } else if (e->rc != 0) {
        snprintf(why, sizeof why, "%s: SERVFAIL", q->name);
        q->cb(q->arg, EDM_EDNS, EDM_FAIL_DNS_TEMP, why, NULL, 0);
    } else {
        edm_mx_host h;
        snprintf(h.host, sizeof h.host, "%s", e->host);
        snprintf(h.ip, sizeof h.ip, "%s", e->ip);
        q->cb(q->arg, 0, EDM_FAIL_NONE, NULL, &h, 1);
    }
}

static void on_timer(uv_timer_t *t)
{
    resolve_fake *r = (resolve_fake *)t;
    rf_req *q = r->head;
    r->head = r->tail = NULL;
    while (q) {
        rf_req *next = q->next;
        answer(r, q); /* may ask again: that one waits for the next turn */
        edm_free(q->name);
        edm_free(q);
        q = next;
    }
}

resolve_fake *resolve_fake_new(uv_loop_t *loop, const resolve_fake_entry *table, size_t n)
{
    resolve_fake *r = edm_xcalloc(1, sizeof *r);
    uv_timer_init(loop, &r->timer);
    r->table = table;
    r->n = n;
    return r;
}

int resolve_fake_resolve(void *ctx, const char *name, edm_resolve_cb cb, void *arg)
{
    resolve_fake *r = ctx;
    rf_req *q = edm_xcalloc(1, sizeof *q);
    q->name = edm_xstrdup(name);
    q->cb = cb;
    q->arg = arg;
    if (r->tail)
        r->tail->next = q;
    else
        r->head = q;
    r->tail = q;
    r->lookups++;
    uv_timer_start(&r->timer, on_timer, 0, 0);
    return 0;
}

unsigned resolve_fake_lookups(const resolve_fake *r)
{
    return r->lookups;
}

static void on_closed(uv_handle_t *h)
{
    edm_free(h);
}

void resolve_fake_free(resolve_fake *r)
{
    if (r == NULL)
        return;
    while (r->head) {
        rf_req *q = r->head;
        r->head = q->next;
        q->cb(q->arg, EDM_ECANCELED, EDM_FAIL_DNS_TEMP, "resolver stopped", NULL, 0);
        edm_free(q->name);
        edm_free(q);
    }
    uv_close((uv_handle_t *)&r->timer, on_closed);
}
