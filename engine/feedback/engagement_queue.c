/*
 * engine/feedback/engagement_queue.c: the queue of engagement events (see
 * engagement_queue.h). Events are kept as records whose strings (URL, user
 * agent, address) live in one arena buffer by offset; a write builds the
 * store's records over the arena and hands them over in one call. The
 * arena is emptied when its events are written, so a steady flow
 * allocates nothing.
 *
 * With a writer there are two such buffers: `active`, filled by the loop
 * thread alone, and `batch`, owned by the writer thread while `busy`. A
 * flush swaps them under the mutex when the batch is empty; the writer
 * writes the batch, retrying while it fails, and empties it. Nothing else
 * is shared.
 */
#include "engine/feedback/engagement_queue.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define NO_STR SIZE_MAX

typedef struct queued {
    edm_engagement_rec r; /* its string pointers unused */
    size_t url, ua, ip;   /* offsets in the arena, NO_STR for NULL */
} queued;

typedef struct qbuf {
    queued *items;
    size_t n;
    edm_buf arena;
    edm_engagement_rec *recs; /* a write's records, as many as items */
} qbuf;

struct engagement_queue {
    edm_store *st;
    size_t max, max_bytes;
    qbuf active;
    /* the writer */
    edm_store *wst;
    int has_writer;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* batch handed over, emptied, or stopping */
    qbuf batch;          /* the writer's while busy */
    int busy, failing, stopping;
};

static void qbuf_init(qbuf *b, size_t max)
{
    b->items = edm_xcalloc(max, sizeof *b->items);
    b->recs = edm_xcalloc(max, sizeof *b->recs);
    b->n = 0;
    edm_buf_init(&b->arena);
}

static void qbuf_free(qbuf *b)
{
    edm_buf_free(&b->arena);
    edm_free(b->items);
    edm_free(b->recs);
}

static const char *str_at(const qbuf *b, size_t off)
{
    return off == NO_STR ? NULL : b->arena.data + off;
}

/* Writes b's events through st; *done: how many of the first are written
 * (or skipped). b itself is not changed (qbuf_drop does). */
static int qbuf_store(qbuf *b, edm_store *st, size_t *done)
{
    *done = 0;
    if (b->n == 0)
        return 0;
    for (size_t i = 0; i < b->n; i++) {
        b->recs[i] = b->items[i].r;
        b->recs[i].url = str_at(b, b->items[i].url);
        b->recs[i].user_agent = str_at(b, b->items[i].ua);
        b->recs[i].ip = str_at(b, b->items[i].ip);
    }
    return edm_store_engagement_batch(st, b->recs, b->n, done);
}

/* Drops the first done events of b. */
static void qbuf_drop(qbuf *b, size_t done)
{
    if (done > 0) {
        memmove(b->items, b->items + done, (b->n - done) * sizeof *b->items);
        b->n -= done;
    }
    if (b->n == 0)
        edm_buf_reset(&b->arena);
}

static int qbuf_write(qbuf *b, edm_store *st)
{
    size_t done;
    int rc = qbuf_store(b, st, &done);
    qbuf_drop(b, done);
    return rc;
}

engagement_queue *engagement_queue_new(edm_store *st, size_t max, size_t max_bytes)
{
    engagement_queue *q = edm_xcalloc(1, sizeof *q);
    q->st = st;
    q->max = max ? max : 1;
    q->max_bytes = max_bytes;
    qbuf_init(&q->active, q->max);
    return q;
}

/* ---- the writer thread ---- */

static void *writer_main(void *arg)
{
    engagement_queue *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->busy && !q->stopping)
            pthread_cond_wait(&q->cond, &q->mu);
        if (!q->busy)
            break; /* stopping, nothing handed over */
        pthread_mutex_unlock(&q->mu);
        size_t n = q->batch.n, done;
        int rc = qbuf_store(&q->batch, q->wst, &done);
        pthread_mutex_lock(&q->mu);
        qbuf_drop(&q->batch, done); /* under the lock: len reads batch.n */
        if (rc == 0) {
            if (q->failing)
                edm_log(EDM_LOG_INFO, "public", "event=engagement_write_recovered written=%zu", n);
            q->failing = 0;
            q->busy = 0;
            pthread_cond_broadcast(&q->cond);
            continue;
        }
        if (!q->failing)
            edm_log(EDM_LOG_ERROR, "public", "event=engagement_write_failed queued=%zu error=%s",
                    q->batch.n, edm_strerror(rc));
        q->failing = 1;
        pthread_cond_broadcast(&q->cond); /* a waiting flush gives up */
        if (q->stopping)
            break; /* that was the last try; free counts what is left */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += ENGAGEMENT_QUEUE_RETRY_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!q->stopping && pthread_cond_timedwait(&q->cond, &q->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int engagement_queue_start_writer(engagement_queue *q, edm_store *wst)
{
    EDM_ASSERT(!q->has_writer);
    qbuf_init(&q->batch, q->max);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->wst = wst;
    if (pthread_create(&q->thread, NULL, writer_main, q) != 0) {
        pthread_cond_destroy(&q->cond);
        pthread_mutex_destroy(&q->mu);
        qbuf_free(&q->batch);
        q->wst = NULL;
        edm_store_close(wst);
        return EDM_ENOMEM;
    }
    q->has_writer = 1;
    return 0;
}

void engagement_queue_free(engagement_queue *q, size_t *lost)
{
    size_t left = 0;
    if (q == NULL) {
        if (lost)
            *lost = 0;
        return;
    }
    if (q->has_writer) {
        pthread_mutex_lock(&q->mu);
        q->stopping = 1;
        pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->thread, NULL);
        /* The writer is gone: its batch (older) first, then the rest,
         * through its connection, here. */
        if (qbuf_write(&q->batch, q->wst) == 0)
            qbuf_write(&q->active, q->wst);
        left = q->batch.n + q->active.n;
        qbuf_free(&q->batch);
        pthread_cond_destroy(&q->cond);
        pthread_mutex_destroy(&q->mu);
        edm_store_close(q->wst);
    } else {
        qbuf_write(&q->active, q->st);
        left = q->active.n;
    }
    if (lost)
        *lost = left;
    qbuf_free(&q->active);
    edm_free(q);
}

/* ---- the loop thread ---- */

size_t engagement_queue_len(engagement_queue *q)
{
    size_t n = q->active.n;
    if (q->has_writer) {
        pthread_mutex_lock(&q->mu);
        n += q->busy ? q->batch.n : 0;
        pthread_mutex_unlock(&q->mu);
    }
    return n;
}

size_t engagement_queue_waiting(const engagement_queue *q)
{
    return q->active.n;
}

static size_t keep(edm_buf *arena, const char *s)
{
    if (s == NULL)
        return NO_STR;
    size_t off = arena->len;
    if (edm_buf_append(arena, s, strlen(s) + 1) != 0)
        return NO_STR;
    return off;
}

static size_t str_len(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

int engagement_queue_add(engagement_queue *q, const edm_engagement_rec *r)
{
    qbuf *b = &q->active;
    size_t need = str_len(r->url) + str_len(r->user_agent) + str_len(r->ip);
    if (b->n == q->max || b->arena.len + need > q->max_bytes)
        return EDM_EBUSY;
    queued *it = &b->items[b->n];
    it->r = *r;
    it->r.url = it->r.user_agent = it->r.ip = NULL;
    size_t mark = b->arena.len;
    it->url = keep(&b->arena, r->url);
    it->ua = keep(&b->arena, r->user_agent);
    it->ip = keep(&b->arena, r->ip);
    if ((r->url && it->url == NO_STR) || (r->user_agent && it->ua == NO_STR) ||
        (r->ip && it->ip == NO_STR)) {
        b->arena.len = mark;
        return EDM_ENOMEM;
    }
    b->n++;
    return 0;
}

int engagement_queue_flush(engagement_queue *q, int wait)
{
    if (!q->has_writer)
        return qbuf_write(&q->active, q->st);
    if (q->active.n == 0)
        return 0;
    pthread_mutex_lock(&q->mu);
    while (wait && q->busy && !q->failing)
        pthread_cond_wait(&q->cond, &q->mu);
    int rc = 0;
    if (!q->busy) {
        qbuf t = q->batch; /* empty: the writer empties it before idling */
        q->batch = q->active;
        q->active = t;
        q->busy = 1;
        pthread_cond_broadcast(&q->cond);
    } else if (q->failing) {
        rc = EDM_EBUSY;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}
