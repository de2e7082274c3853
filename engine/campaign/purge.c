/*
 * engine/campaign/purge.c: the background purge of deleted campaigns (see
 * purge.h). One uv_timer inside the edm_purge object: each firing runs one
 * store transaction of at most EDM_PURGE_ROWS receipts (with their events)
 * and re-arms EDM_PURGE_GAP_MS later while the store reports rows removed;
 * at 0 (nothing marked) the timer stays stopped until the next kick. An
 * error is logged and the next heartbeat's kick tries again.
 *
 * Test-only override, not configuration: the environment variables
 * EDM_PURGE_TEST_ROWS and EDM_PURGE_TEST_GAP_MS replace the two constants
 * when set (tests/api/test_serve.c makes a purge last seconds with them, to
 * look at the API and crash the engine in the middle of one).
 */
#include "engine/campaign/purge.h"
#include "engine/base/alloc.h"
#include "engine/base/log.h"

#include <stdlib.h>

struct edm_purge {
    uv_timer_t timer;
    edm_store *st;
    int rows;         /* receipts per transaction */
    uint64_t gap_ms;  /* between two transactions */
    int running;      /* the timer is armed */
    int64_t done;     /* rows removed in this run */
    uint64_t longest; /* the longest transaction of this run, ns */
};

/* A positive integer from the environment, else def. */
static long test_knob(const char *name, long def)
{
    const char *v = getenv(name);
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    return v && *v && *end == '\0' && n > 0 ? n : def;
}

static void on_timer(uv_timer_t *t)
{
    edm_purge *p = t->data;
    uint64_t t0 = uv_hrtime();
    int n = p->st->ops->campaign_purge(p->st, p->rows);
    uint64_t ns = uv_hrtime() - t0;
    if (n > 0) {
        p->done += n;
        p->longest = ns > p->longest ? ns : p->longest;
        EDM_DEBUG("purge", "event=purge_chunk rows=%d ms=%.2f", n, (double)ns / 1e6);
        uv_timer_start(&p->timer, on_timer, p->gap_ms, 0);
        return;
    }
    p->running = 0;
    if (n < 0)
        edm_log(EDM_LOG_WARN, "purge", "event=purge_failed err=\"%s\"", edm_store_errmsg(p->st));
    else if (p->done > 0)
        edm_log(EDM_LOG_INFO, "purge", "event=purged rows=%lld longest_ms=%.2f", (long long)p->done,
                (double)p->longest / 1e6);
    p->done = 0;
    p->longest = 0;
}

edm_purge *edm_purge_new(uv_loop_t *loop, edm_store *st)
{
    if (st->ops->campaign_purge == NULL)
        return NULL;
    edm_purge *p = edm_xcalloc(1, sizeof *p);
    p->st = st;
    p->rows = (int)test_knob("EDM_PURGE_TEST_ROWS", EDM_PURGE_ROWS);
    p->gap_ms = (uint64_t)test_knob("EDM_PURGE_TEST_GAP_MS", EDM_PURGE_GAP_MS);
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    return p;
}

void edm_purge_kick(edm_purge *p)
{
    if (p == NULL || p->running)
        return;
    p->running = 1;
    uv_timer_start(&p->timer, on_timer, 0, 0);
}

static void on_closed(uv_handle_t *h)
{
    edm_free(h->data);
}

void edm_purge_free(edm_purge *p)
{
    if (p == NULL)
        return;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_closed);
}
