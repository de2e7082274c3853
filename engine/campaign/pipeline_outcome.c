/*
 * engine/campaign/pipeline_outcome.c: outcomes from the relay completed for
 * the store (delivery id, times, message id, retry schedule, expiry past
 * retry.max_age through engine/delivery/classify.c, cancellation),
 * buffered as they are and written to the store in batches (FLUSH_AT
 * outcomes or FLUSH_MS; the writing: pipeline_record.c). Buffered outcomes own their strings
 * (inline), so buffering allocates only when the buffer grows.
 */
#include "engine/campaign/pipeline_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/delivery/classify.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- outcomes ---- */

void pl_add_result(edm_pipeline *p, const edm_outcome *r)
{
    if (p->nresults == p->capresults) {
        p->capresults = p->capresults ? p->capresults * 2 : 256;
        p->results = edm_xrealloc(p->results, p->capresults * sizeof *p->results);
    }
    p->results[p->nresults++] = *r;
    if (p->nresults >= FLUSH_AT && !p->record_failing) /* failing: the timer retries */
        pl_flush(p);
    else
        pl_arm_flush(p);
}

/* Runs the stop callback once nothing is rendering or buffered, or once
 * the store refused STOP_TRIES writes since the stop: shutdown does not
 * wait for a full disk. Outcomes left unwritten are lost with the process;
 * their recipients are still queued (or deferred) in the store and are
 * sent again after a restart, at most max_pending of them. */
void pl_maybe_stopped(edm_pipeline *p)
{
    if (p->record_busy || p->claims > 0)
        return; /* their completions come back here */
    if (p->stopping && p->nresults > 0 && p->stop_failures >= STOP_TRIES && p->rendering == 0) {
        edm_log(EDM_LOG_ERROR, "pipeline",
                "event=stopped_unrecorded results=%zu reason=\"the store refuses writes\"",
                p->nresults);
        p->nresults = 0;
    }
    if (p->stopping && p->rendering == 0 && p->nresults == 0 && p->stop_cb) {
        void (*cb)(void *) = p->stop_cb;
        p->stop_cb = NULL;
        cb(p->stop_arg);
    }
}

static void on_flush_timer(uv_timer_t *t)
{
    edm_pipeline *p = t->data;
    p->timer_armed = 0;
    pl_flush(p);
    pl_pump(p);
    pl_maybe_stopped(p);
}

void pl_arm_flush(edm_pipeline *p)
{
    if (!p->timer_armed) {
        p->timer_armed = 1;
        uv_timer_start(&p->flush_timer, on_flush_timer, FLUSH_MS, 0);
    }
}

static int64_t retry_delay(const edm_config *cfg, int attempts)
{
    const struct edm_config_retry *r = &cfg->retry;
    if (r->nschedule == 0)
        return 300;
    size_t i = attempts > 0 ? (size_t)(attempts - 1) : 0;
    return r->schedule[i < r->nschedule ? i : r->nschedule - 1];
}

/* Completes a classified outcome of m for the store: ids and times, the
 * retry time of a deferral (not before the relay's lower bound, never past
 * expiry), or its expiry. */
static void complete(edm_pipeline *p, const edm_outmsg *m, edm_outcome *r)
{
    int64_t now = edm_time_now();
    r->id = m->delivery_id;
    r->attempted_at = now;
    EDM_OUTCOME_PUT(r->message_id, m->message_id);
    int64_t not_before = r->next_attempt_at;
    r->next_attempt_at = 0;
    switch (r->status) {
    case EDM_DSTATE_DELIVERED: r->category = EDM_CATEGORY_NONE; break;
    case EDM_DSTATE_BOUNCED: break;
    case EDM_DSTATE_DEFERRED: {
        int64_t expires = m->queued_at + p->o.cfg->retry.max_age;
        if (now >= expires) {
            classify_expire(r);
            break;
        }
        int attempts = m->attempts + (r->attempted ? 1 : 0);
        int64_t next = now + retry_delay(p->o.cfg, attempts > 0 ? attempts : 1);
        if (not_before > next)
            next = not_before;
        r->next_attempt_at = next < expires ? next : expires;
        break;
    }
    default: EDM_PANIC("outcome status %d cannot be recorded", (int)r->status);
    }
}

/* One claimed recipient has its outcome (buffered for the store, or
 * given back unsent). */
void pl_job_done(edm_pipeline *p, pl_campaign *c)
{
    EDM_ASSERT(c->pending > 0 && p->pending > 0);
    c->pending--;
    p->pending--;
    EDM_ASSERT(p->pending_bytes >= c->job_bytes);
    p->pending_bytes -= c->job_bytes;
}

static void free_outmsg(edm_outmsg *m)
{
    edm_free(m->rcpt);
    edm_free(m->domain);
    edm_free(m->sender);
    edm_free(m->message_id);
    edm_buf_free(&m->data);
    edm_free(m);
}

void edm_pipeline_on_outcome(void *ctx, edm_outmsg *m, const edm_outcome *o)
{
    edm_pipeline *p = ctx;
    pl_campaign *c = pl_campaign_find(p, m->campaign_id);
    EDM_ASSERT(c != NULL);
    if (o == NULL) {
        /* Dropped, never attempted: it stays queued (or deferred, lease
         * lifted) in the store and the cursor must come back for it. */
        if (m->attempts > 0 || c->is_message)
            p->o.st->ops->unclaim(p->o.st, &m->delivery_id, 1, edm_time_now());
        else
            pl_cursor_back(c, m->delivery_id);
        edm_idset_del(&p->in_flight, m->delivery_id);
        /* Its server lacks 8BITMIME: this one and every later message to
         * the domain are composed without 8bit (docs/messages.md). */
        if (m->needs_7bit && edm_idset_add(&p->no_8bit, pl_domain_key(m->domain)) != 0)
            EDM_PANIC("out of memory");
    } else {
        edm_outcome r = *o;
        complete(p, m, &r);
        if (c->cancelled && r.status == EDM_DSTATE_DEFERRED) {
            r.status = EDM_DSTATE_CANCELLED;
            r.next_attempt_at = 0;
        }
        if (o->attempted) {
            uint64_t now = edm_time_mono_ms();
            edm_window_add(&c->sent_minute, now, 1);
            edm_window_add(&p->sent_minute, now, 1);
        }
        pl_add_result(p, &r);
    }
    pl_job_done(p, c);
    free_outmsg(m);
    pl_pump(p);
}
