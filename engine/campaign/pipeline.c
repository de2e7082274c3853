/*
 * engine/campaign/pipeline.c: claim -> render/compose/sign (thread pool) -> relay ->
 * outcome -> store (see pipeline.h). This file: creating and stopping the
 * pipeline, and the scheduler's hooks that start and stop campaigns.
 * The stages: pipeline_campaign.c (campaigns loaded from the store),
 * pipeline_claim.c (claiming and rendering), pipeline_outcome.c (outcomes
 * written back in batches, retries and expiry).
 *
 * In flight is not a stored state: a claimed recipient stays queued (or
 * deferred, leased) in the store until its outcome is recorded. The set of
 * ids in flight keeps a restarted cursor from handing one out twice.
 */
#include "engine/campaign/pipeline_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scheduler hooks ---- */

static void hook_running(void *ctx, const int64_t *ids, size_t n)
{
    edm_pipeline *p = ctx;
    for (pl_campaign *c = p->campaigns; c; c = c->next) {
        int still = 0;
        for (size_t i = 0; i < n; i++)
            still |= ids[i] == c->id;
        if (c->running && !still) {
            c->running = 0;
            edm_relay_drop_campaign(p->o.relay, c->id);
            edm_log(EDM_LOG_INFO, "pipeline", "campaign=%lld event=stopped_sending",
                    (long long)c->id);
        } else if (!c->running && still) {
            c->running = 1;
            pl_cursor_back(c, 1); /* from the start: in-flight ids are skipped */
        }
        c->drained = 0; /* every tick: retries come due, a dead node's rows come back */
    }
    for (size_t i = 0; i < n; i++)
        if (pl_campaign_find(p, ids[i]) == NULL)
            pl_campaign_load(p, ids[i]);
    pl_campaigns_prune(p);
    p->txn_wake = 1; /* every tick: send_at and retries of messages come due */
    pl_pump(p);
}

static size_t hook_in_flight(void *ctx, int64_t campaign_id)
{
    edm_pipeline *p = ctx;
    pl_campaign *c = pl_campaign_find(p, campaign_id);
    if (c == NULL)
        return 0;
    /* Buffered results are not in the store yet: count them as in flight
     * (all campaigns' alike; the buffer is written within FLUSH_MS). */
    return c->pending + (size_t)c->claiming + (pl_unrecorded(p) > 0);
}

static void hook_cancelled(void *ctx, int64_t campaign_id)
{
    edm_pipeline *p = ctx;
    pl_campaign *c = pl_campaign_find(p, campaign_id);
    if (c) {
        c->running = 0;
        c->cancelled = 1;
    }
    edm_relay_drop_campaign(p->o.relay, campaign_id);
}

edm_sched_hooks edm_pipeline_sched_hooks(edm_pipeline *p)
{
    return (edm_sched_hooks){.ctx = p,
                             .running = hook_running,
                             .in_flight = hook_in_flight,
                             .cancelled = hook_cancelled};
}

/* ---- life cycle ---- */

int edm_pipeline_new(const edm_pipeline_opts *o, edm_pipeline **out)
{
    edm_pipeline *p = edm_calloc(1, sizeof *p);
    if (p == NULL)
        return EDM_ENOMEM;
    p->o = *o;
    if (p->o.max_pending == 0)
        p->o.max_pending = 4000;
    if (p->o.claim_batch == 0)
        p->o.claim_batch = 500;
    if (p->o.max_pending_bytes == 0)
        p->o.max_pending_bytes = (size_t)64 << 20;
    const char *env =
        o->cfg->unsubscribe.secret_env ? getenv(o->cfg->unsubscribe.secret_env) : NULL;
    if (env && strlen(env) >= 16) {
        p->secret_len = strlen(env) < SECRET_MAX ? strlen(env) : SECRET_MAX;
        memcpy(p->secret, env, p->secret_len);
    } else {
        int rc = o->st->ops->setting_get_or_create(o->st, "secret", p->secret, SECRET_LEN);
        if (rc != 0) {
            edm_free(p);
            return rc;
        }
        p->secret_len = SECRET_LEN;
        if (env)
            edm_log(EDM_LOG_WARN, "pipeline", "event=secret_too_short env=%s min=16",
                    o->cfg->unsubscribe.secret_env);
    }
    edm_window_init(&p->sent_minute, 60000);
    p->txn_wake = 1;
    if (uv_mutex_init(&p->signers_mu) != 0)
        EDM_PANIC("uv_mutex_init failed");
    uv_timer_init(o->loop, &p->flush_timer);
    p->flush_timer.data = p;
    *out = p;
    return 0;
}

void edm_pipeline_quiesce(edm_pipeline *p)
{
    p->stopping = 1;
    /* Batches still waiting for a thread are not rendered: their
     * recipients stay queued in the store (render_after sees ECANCELED). */
    for (pl_batch *b = p->batches; b; b = b->next)
        uv_cancel((uv_req_t *)&b->req);
}

void edm_pipeline_stop(edm_pipeline *p, void (*cb)(void *arg), void *arg)
{
    edm_pipeline_quiesce(p);
    p->stop_cb = cb;
    p->stop_arg = arg;
    pl_arm_flush(p);
}

static void on_timer_closed(uv_handle_t *h)
{
    edm_pipeline *p = h->data;
    while (p->campaigns) {
        pl_campaign *c = p->campaigns;
        p->campaigns = c->next;
        pl_campaign_unref(c);
    }
    edm_idset_free(&p->in_flight);
    edm_idset_free(&p->no_8bit);
    for (size_t i = 0; i < p->nsigners; i++)
        edm_dkim_signer_free(p->signers[i]);
    uv_mutex_destroy(&p->signers_mu);
    edm_free(p->results);
    edm_free(p->recording);
    edm_free(p);
}

void edm_pipeline_free(edm_pipeline *p)
{
    if (p == NULL)
        return;
    edm_pipeline_flush(p);
    p->nresults = 0; /* what could not be written is lost here (inline: nothing to free) */
    uv_close((uv_handle_t *)&p->flush_timer, on_timer_closed);
}

void edm_pipeline_kick(edm_pipeline *p)
{
    if (p) {
        p->txn_wake = 1;
        pl_pump(p);
    }
}

const unsigned char *edm_pipeline_secret(const edm_pipeline *p)
{
    return p->secret;
}

size_t edm_pipeline_secret_len(const edm_pipeline *p)
{
    return p->secret_len;
}

double edm_pipeline_rate_per_minute(const edm_pipeline *p, int64_t campaign_id)
{
    uint64_t now = edm_time_mono_ms();
    if (campaign_id == 0)
        return (double)edm_window_sum(&p->sent_minute, now);
    for (pl_campaign *c = p->campaigns; c; c = c->next)
        if (c->id == campaign_id)
            return (double)edm_window_sum(&c->sent_minute, now);
    return 0;
}
