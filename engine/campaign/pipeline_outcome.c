/*
 * engine/campaign/pipeline_outcome.c: outcomes from the relay turned into results
 * (retry schedule, expiry past retry.max_age, cancellation), buffered and
 * written to the store in batches (FLUSH_AT results or FLUSH_MS).
 */
#include "engine/campaign/pipeline_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- outcomes ---- */

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *str_put(char **at, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*at, s, n);
    const char *r = *at;
    *at += n;
    return r;
}

/* Buffers an outcome; strings are copied. */
void pl_add_result(edm_pipeline *p, const edm_result *r)
{
    if (p->nresults == p->capresults) {
        p->capresults = p->capresults ? p->capresults * 2 : 256;
        p->results = edm_xrealloc(p->results, p->capresults * sizeof *p->results);
    }
    pl_result *pr = &p->results[p->nresults++];
    pr->r = *r;
    size_t need = str_size(r->enhanced_code) + str_size(r->response) +
                  str_size(r->bounce_category) + str_size(r->mx_host) + str_size(r->mx_ip) +
                  str_size(r->source_ip) + str_size(r->tls) + str_size(r->message_id) +
                  str_size(r->remote_queue_id);
    pr->strs = edm_xmalloc(need ? need : 1);
    char *at = pr->strs;
    pr->r.enhanced_code = str_put(&at, r->enhanced_code);
    pr->r.response = str_put(&at, r->response);
    pr->r.bounce_category = str_put(&at, r->bounce_category);
    pr->r.mx_host = str_put(&at, r->mx_host);
    pr->r.mx_ip = str_put(&at, r->mx_ip);
    pr->r.source_ip = str_put(&at, r->source_ip);
    pr->r.tls = str_put(&at, r->tls);
    pr->r.message_id = str_put(&at, r->message_id);
    pr->r.remote_queue_id = str_put(&at, r->remote_queue_id);
    if (p->nresults >= FLUSH_AT)
        edm_pipeline_flush(p);
    else
        pl_arm_flush(p);
}

int edm_pipeline_flush(edm_pipeline *p)
{
    if (p->nresults == 0)
        return 0;
    edm_result *rs = edm_xmalloc(p->nresults * sizeof *rs);
    for (size_t i = 0; i < p->nresults; i++)
        rs[i] = p->results[i].r;
    int rc = p->o.st->ops->record(p->o.st, rs, p->nresults);
    edm_free(rs);
    if (rc != 0) {
        /* Keep them and try again at the next flush: nothing is lost. */
        edm_log(EDM_LOG_ERROR, "pipeline", "event=record_failed results=%zu err=\"%s\"",
                p->nresults, edm_store_errmsg(p->o.st));
        pl_arm_flush(p);
        return rc;
    }
    /* Only now may these ids be claimed again (a restarted cursor). */
    for (size_t i = 0; i < p->nresults; i++) {
        edm_idset_del(&p->in_flight, p->results[i].r.id);
        edm_free(p->results[i].strs);
    }
    p->nresults = 0;
    return 0;
}

/* Runs the stop callback once nothing is rendering or buffered. */
void pl_maybe_stopped(edm_pipeline *p)
{
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
    edm_pipeline_flush(p);
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

/* Turns an outcome into the stored result (retry time, expiry). */
static void outcome_to_result(edm_pipeline *p, int64_t id, int attempts_before, int64_t queued_at,
                              const char *message_id, const edm_outcome *o, edm_result *r)
{
    int64_t now = edm_time_now();
    memset(r, 0, sizeof *r);
    r->id = id;
    r->attempted = o->attempted;
    r->attempted_at = now;
    r->smtp_code = o->code;
    r->enhanced_code = o->enhanced && *o->enhanced ? o->enhanced : NULL;
    r->response = o->text;
    r->bounce_category = o->category && *o->category ? o->category : NULL;
    r->mx_host = o->mx_host && *o->mx_host ? o->mx_host : NULL;
    r->mx_ip = o->mx_ip && *o->mx_ip ? o->mx_ip : NULL;
    r->source_ip = o->source_ip && *o->source_ip ? o->source_ip : NULL;
    r->tls = o->tls && *o->tls ? o->tls : NULL;
    r->message_id = message_id;
    r->remote_queue_id = o->remote_queue_id && *o->remote_queue_id ? o->remote_queue_id : NULL;
    r->duration_ms = o->duration_ms;
    switch (o->kind) {
    case EDM_OUTCOME_DELIVERED:
        r->status = EDM_DSTATE_DELIVERED;
        r->bounce_category = NULL;
        break;
    case EDM_OUTCOME_BOUNCED: r->status = EDM_DSTATE_BOUNCED; break;
    case EDM_OUTCOME_DEFERRED: {
        int64_t expires = queued_at + p->o.cfg->retry.max_age;
        if (now >= expires) {
            r->status = EDM_DSTATE_BOUNCED;
            r->bounce_category = "expired";
            break;
        }
        int attempts = attempts_before + (o->attempted ? 1 : 0);
        int64_t next = now + retry_delay(p->o.cfg, attempts > 0 ? attempts : 1);
        if (o->not_before > next)
            next = o->not_before;
        r->status = EDM_DSTATE_DEFERRED;
        r->next_attempt_at = next < expires ? next : expires;
        break;
    }
    default: EDM_PANIC("outcome %d cannot be recorded", (int)o->kind);
    }
}

/* One claimed recipient has its outcome (buffered for the store, or
 * given back unsent). */
void pl_job_done(edm_pipeline *p, pl_campaign *c)
{
    EDM_ASSERT(c->pending > 0 && p->pending > 0);
    c->pending--;
    p->pending--;
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
    if (o->kind == EDM_OUTCOME_DROPPED) {
        /* Never attempted: it stays queued (or deferred, lease lifted) in the
         * store and the cursor must come back for it. */
        if (m->attempts > 0)
            p->o.st->ops->unclaim(p->o.st, &m->delivery_id, 1, edm_time_now());
        else if (m->delivery_id - 1 < c->cursor)
            c->cursor = m->delivery_id - 1;
        edm_idset_del(&p->in_flight, m->delivery_id);
        /* Its server lacks 8BITMIME: this one and every later message to
         * the domain are composed without 8bit (docs/messages.md). */
        if (m->needs_7bit && edm_idset_add(&p->no_8bit, pl_domain_key(m->domain)) != 0)
            EDM_PANIC("out of memory");
    } else {
        edm_result r;
        outcome_to_result(p, m->delivery_id, m->attempts, m->queued_at, m->message_id, o, &r);
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
