/*
 * engine/campaign/pipeline_record.c: writing the pipeline's buffered
 * outcomes to the store (docs/architecture.md, "The path of one
 * recipient", step 8). Two ways:
 *  - on the loop (edm_pipeline_flush, and pl_flush without a record_st):
 *    one store call, the loop waits for it;
 *  - on the thread pool (pl_flush with a record_st, PostgreSQL): the
 *    buffer is handed to one work item writing through the second handle
 *    while the loop goes on sending and buffering; one write at a time.
 * Either way an outcome stays in flight (its id in the in-flight set,
 * counted against max_pending) until the store has taken it; a refused
 * write keeps the outcomes, in order, for the next try and stops claiming
 * until one succeeds. Contract: pl_unrecorded() counts both buffers.
 */
#include "engine/campaign/pipeline_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"

#include <string.h>

size_t pl_unrecorded(const edm_pipeline *p)
{
    return p->nresults + p->nrecording;
}

/* The store took v[0..n): only now may these ids be claimed again. */
static void recorded(edm_pipeline *p, const edm_outcome *v, size_t n)
{
    if (p->record_failing)
        edm_log(EDM_LOG_INFO, "pipeline", "event=record_resumed results=%zu", n);
    p->record_failing = 0;
    for (size_t i = 0; i < n; i++)
        edm_idset_del(&p->in_flight, v[i].id);
}

/* The store refused a write: the outcomes stay buffered, the flush timer
 * tries again, claiming stops until a write succeeds (pl_pump). */
static void refused(edm_pipeline *p, edm_store *st, size_t n)
{
    if (!p->record_failing)
        edm_log(EDM_LOG_ERROR, "pipeline",
                "event=record_failed results=%zu err=\"%s\" action=stop_claiming", n,
                edm_store_errmsg(st));
    p->record_failing = 1;
    if (p->stopping)
        p->stop_failures++;
    pl_arm_flush(p);
}

int edm_pipeline_flush(edm_pipeline *p)
{
    if (p->record_busy)
        return EDM_EBUSY;
    if (p->nresults == 0)
        return 0;
    int rc = p->o.st->ops->record(p->o.st, p->results, p->nresults);
    if (rc != 0) {
        refused(p, p->o.st, p->nresults);
        return rc;
    }
    recorded(p, p->results, p->nresults);
    p->nresults = 0;
    return 0;
}

/* ---- on the thread pool ---- */

static void record_work(uv_work_t *req)
{
    edm_pipeline *p = req->data;
    edm_store *st = p->o.record_st;
    p->record_rc = st->ops->record(st, p->recording, p->nrecording);
}

static void record_after(uv_work_t *req, int status)
{
    edm_pipeline *p = req->data;
    p->record_busy = 0;
    int rc = status != 0 ? EDM_EDB : p->record_rc;
    if (rc == 0) {
        recorded(p, p->recording, p->nrecording);
    } else {
        /* Back in front of what was buffered meanwhile: the store writes
         * two outcomes of one id in the order given. */
        size_t need = p->nrecording + p->nresults;
        if (need > p->capresults) {
            p->results = edm_xrealloc(p->results, need * sizeof *p->results);
            p->capresults = need;
        }
        memmove(p->results + p->nrecording, p->results, p->nresults * sizeof *p->results);
        memcpy(p->results, p->recording, p->nrecording * sizeof *p->results);
        p->nresults = need;
        refused(p, p->o.record_st, need);
    }
    p->nrecording = 0;
    if (p->nresults >= FLUSH_AT && !p->record_failing)
        pl_flush(p);
    else if (p->nresults > 0)
        pl_arm_flush(p);
    pl_pump(p);
    pl_maybe_stopped(p);
}

void pl_flush(edm_pipeline *p)
{
    if (p->o.record_st == NULL) {
        edm_pipeline_flush(p);
        return;
    }
    if (p->record_busy || p->nresults == 0)
        return; /* record_after flushes what came meanwhile */
    /* Swap the buffers: the loop keeps buffering into the other one. */
    edm_outcome *v = p->recording;
    size_t cap = p->caprecording;
    p->recording = p->results;
    p->caprecording = p->capresults;
    p->nrecording = p->nresults;
    p->results = v;
    p->capresults = cap;
    p->nresults = 0;
    p->record_busy = 1;
    p->record_req.data = p;
    if (uv_queue_work(p->o.loop, &p->record_req, record_work, record_after) != 0)
        EDM_PANIC("uv_queue_work failed");
}
