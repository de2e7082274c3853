/*
 * engine/campaign/sched.c: the campaign scheduler (see sched.h). One uv_timer inside
 * the edm_sched object (none when started without a loop: tests tick it by
 * hand with edm_sched_tick_at); each tick, at time `now`:
 *   1. scheduled campaigns whose send_at has come -> running (lifecycle START);
 *   2. a cancelled campaign (once per run) -> the delivery side drops its
 *      queued work, then its queued/deferred recipients are cancelled
 *      (each ends in exactly one terminal state). This is the only place
 *      that cancels pending deliveries: an API cancel only changes the
 *      state and wakes the scheduler, and a restart sweeps again;
 *   3. running campaigns with nothing in flight -> completed (lifecycle
 *      COMPLETE, which checks that no recipient is queued or deferred);
 *   4. the delivery side is told the set of running campaigns.
 * Every transition goes through engine/campaign/lifecycle.c, a
 * compare-and-set in the store, so an API request racing a tick (pause at
 * the moment a campaign starts) is never lost.
 */
#include "engine/campaign/sched.h"
#include "engine/campaign/lifecycle.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <stddef.h>

struct edm_sched {
    uv_timer_t timer;
    edm_store *st;
    int has_timer; /* started on a loop */
    edm_sched_hooks hooks;
    int64_t *swept; /* cancelled campaigns already swept since start */
    size_t nswept, capswept;
};

static int was_swept(const edm_sched *s, int64_t id)
{
    for (size_t i = 0; i < s->nswept; i++)
        if (s->swept[i] == id)
            return 1;
    return 0;
}

static void start_due(edm_sched *s, int64_t now)
{
    int64_t *ids;
    size_t n;
    if (s->st->ops->campaign_ids(s->st, EDM_CSTATE_SCHEDULED, now, &ids, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        enum edm_cstate to;
        if (edm_lifecycle_apply(s->st, ids[i], EDM_LIFECYCLE_START, -1, now, &to, NULL) == 0)
            edm_log(EDM_LOG_INFO, "sched", "campaign=%lld event=started", (long long)ids[i]);
    }
    edm_free(ids);
}

static void complete_finished(edm_sched *s, const int64_t *ids, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        if (s->hooks.in_flight && s->hooks.in_flight(s->hooks.ctx, ids[i]) > 0)
            continue;
        enum edm_cstate to;
        /* EDM_ESTATE while a recipient is still queued or deferred */
        if (edm_lifecycle_apply(s->st, ids[i], EDM_LIFECYCLE_COMPLETE, -1, now, &to, NULL) == 0) {
            int64_t counts[EDM_DSTATE_COUNT] = {0}, total = 0;
            s->st->ops->campaign_counts(s->st, ids[i], counts);
            for (int k = 0; k < EDM_DSTATE_COUNT; k++)
                total += counts[k];
            edm_log(EDM_LOG_INFO, "sched",
                    "campaign=%lld event=completed recipients=%lld delivered=%lld "
                    "bounced=%lld failed=%lld suppressed=%lld cancelled=%lld",
                    (long long)ids[i], (long long)total, (long long)counts[EDM_DSTATE_DELIVERED],
                    (long long)counts[EDM_DSTATE_BOUNCED], (long long)counts[EDM_DSTATE_FAILED],
                    (long long)counts[EDM_DSTATE_SUPPRESSED],
                    (long long)counts[EDM_DSTATE_CANCELLED]);
        }
    }
}

/* Each cancelled campaign is swept once per run of the engine: its queued
 * and deferred recipients become cancelled, and the delivery side is told
 * so that messages still in flight that come back deferred are recorded
 * as cancelled too. */
static void sweep_cancelled(edm_sched *s)
{
    int64_t *ids;
    size_t n;
    if (s->st->ops->campaign_ids(s->st, EDM_CSTATE_CANCELLED, -1, &ids, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (was_swept(s, ids[i]))
            continue;
        if (s->hooks.cancelled)
            s->hooks.cancelled(s->hooks.ctx, ids[i]);
        int changed = s->st->ops->cancel_pending(s->st, ids[i]);
        if (changed < 0)
            continue; /* try again next tick */
        if (s->nswept == s->capswept) {
            s->capswept = s->capswept ? s->capswept * 2 : 16;
            s->swept = edm_xrealloc(s->swept, s->capswept * sizeof *s->swept);
        }
        s->swept[s->nswept++] = ids[i];
        if (changed > 0)
            edm_log(EDM_LOG_INFO, "sched", "campaign=%lld event=cancelled recipients=%d",
                    (long long)ids[i], changed);
    }
    edm_free(ids);
}

int edm_sched_tick(edm_sched *s)
{
    return edm_sched_tick_at(s, edm_time_now());
}

int edm_sched_tick_at(edm_sched *s, int64_t now)
{
    start_due(s, now);
    sweep_cancelled(s);
    int64_t *ids;
    size_t n;
    int rc = s->st->ops->campaign_ids(s->st, EDM_CSTATE_RUNNING, -1, &ids, &n);
    if (rc != 0)
        return rc;
    complete_finished(s, ids, n, now);
    edm_free(ids);
    /* The running set after completions. */
    if ((rc = s->st->ops->campaign_ids(s->st, EDM_CSTATE_RUNNING, -1, &ids, &n)) != 0)
        return rc;
    if (s->hooks.running)
        s->hooks.running(s->hooks.ctx, ids, n);
    edm_free(ids);
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    edm_sched *s = (edm_sched *)((char *)t - offsetof(edm_sched, timer));
    edm_sched_tick(s);
}

int edm_sched_start(uv_loop_t *loop, edm_store *st, const edm_sched_hooks *hooks, edm_sched **out)
{
    edm_sched *s = edm_calloc(1, sizeof *s);
    if (s == NULL)
        return EDM_ENOMEM;
    s->st = st;
    if (hooks)
        s->hooks = *hooks;
    if (loop) {
        s->has_timer = 1;
        uv_timer_init(loop, &s->timer);
        uv_timer_start(&s->timer, on_tick, 0, EDM_SCHED_TICK_MS);
    }
    *out = s;
    return 0;
}

static void sched_free(edm_sched *s)
{
    edm_free(s->swept);
    edm_free(s);
}

static void on_closed(uv_handle_t *h)
{
    sched_free((edm_sched *)((char *)h - offsetof(edm_sched, timer)));
}

void edm_sched_stop(edm_sched *s)
{
    if (s == NULL)
        return;
    if (!s->has_timer) {
        sched_free(s);
        return;
    }
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_closed);
}
