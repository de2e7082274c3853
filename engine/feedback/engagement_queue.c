/*
 * engine/feedback/engagement_queue.c: the queue of engagement events (see
 * engagement_queue.h). Events are kept as records whose strings (URL, user
 * agent, address) live in one arena buffer by offset; a flush builds the
 * store's records over the arena and hands them over in one call. The
 * arena is emptied when the queue is, so a steady flow allocates nothing.
 */
#include "engine/feedback/engagement_queue.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"

#include <stdint.h>
#include <string.h>

#define NO_STR SIZE_MAX

typedef struct queued {
    edm_engagement_rec r; /* its string pointers unused */
    size_t url, ua, ip;   /* offsets in the arena, NO_STR for NULL */
} queued;

struct engagement_queue {
    edm_store *st;
    size_t max, max_bytes;
    queued *items;
    size_t n;
    edm_buf arena;
    edm_engagement_rec *recs; /* the flush's records, max of them */
};

engagement_queue *engagement_queue_new(edm_store *st, size_t max, size_t max_bytes)
{
    engagement_queue *q = edm_xcalloc(1, sizeof *q);
    q->st = st;
    q->max = max ? max : 1;
    q->max_bytes = max_bytes;
    q->items = edm_xcalloc(q->max, sizeof *q->items);
    q->recs = edm_xcalloc(q->max, sizeof *q->recs);
    edm_buf_init(&q->arena);
    return q;
}

void engagement_queue_free(engagement_queue *q)
{
    if (q == NULL)
        return;
    edm_buf_free(&q->arena);
    edm_free(q->items);
    edm_free(q->recs);
    edm_free(q);
}

size_t engagement_queue_len(const engagement_queue *q)
{
    return q->n;
}

static size_t keep(engagement_queue *q, const char *s)
{
    if (s == NULL)
        return NO_STR;
    size_t off = q->arena.len;
    if (edm_buf_append(&q->arena, s, strlen(s) + 1) != 0)
        return NO_STR;
    return off;
}

static size_t str_len(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

int engagement_queue_add(engagement_queue *q, const edm_engagement_rec *r)
{
    size_t need = str_len(r->url) + str_len(r->user_agent) + str_len(r->ip);
    if (q->n == q->max || q->arena.len + need > q->max_bytes)
        return EDM_EBUSY;
    queued *it = &q->items[q->n];
    it->r = *r;
    it->r.url = it->r.user_agent = it->r.ip = NULL;
    size_t mark = q->arena.len;
    it->url = keep(q, r->url);
    it->ua = keep(q, r->user_agent);
    it->ip = keep(q, r->ip);
    if ((r->url && it->url == NO_STR) || (r->user_agent && it->ua == NO_STR) ||
        (r->ip && it->ip == NO_STR)) {
        q->arena.len = mark;
        return EDM_ENOMEM;
    }
    q->n++;
    return 0;
}

static const char *str_at(const engagement_queue *q, size_t off)
{
    return off == NO_STR ? NULL : q->arena.data + off;
}

int engagement_queue_flush(engagement_queue *q)
{
    if (q->n == 0)
        return 0;
    for (size_t i = 0; i < q->n; i++) {
        q->recs[i] = q->items[i].r;
        q->recs[i].url = str_at(q, q->items[i].url);
        q->recs[i].user_agent = str_at(q, q->items[i].ua);
        q->recs[i].ip = str_at(q, q->items[i].ip);
    }
    size_t done = 0;
    int rc = edm_store_engagement_batch(q->st, q->recs, q->n, &done);
    if (done > 0) {
        memmove(q->items, q->items + done, (q->n - done) * sizeof *q->items);
        q->n -= done;
    }
    if (q->n == 0)
        edm_buf_reset(&q->arena);
    return rc;
}
