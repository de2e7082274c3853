/*
 * engine/campaign/sched.h: the campaign scheduler. Drives the time-driven
 * transitions through engine/campaign/lifecycle.c (scheduled -> running
 * when send_at comes, running -> completed when every recipient is
 * terminal and nothing is in flight), cancels the pending recipients of
 * cancelled campaigns, and tells the delivery side which campaigns are
 * running, so that pause, resume and cancel made through the API (state
 * changes in the store) take effect within one tick.
 *
 * The store is the source of truth: each tick (EDM_SCHED_TICK_MS) reads the
 * campaigns' states. A tick never blocks for long: it does a few indexed
 * queries and compare-and-set updates.
 */
#ifndef EDM_SCHED_H
#define EDM_SCHED_H

#include "engine/store/store.h"

#include <stdint.h>
#include <uv.h>

#define EDM_SCHED_TICK_MS 250

typedef struct edm_sched edm_sched;

/* What the scheduler asks of the delivery side. All optional. */
typedef struct edm_sched_hooks {
    void *ctx;
    /* The set of running campaigns after a tick (ids ascending). The delivery
     * side claims work for these and stops claiming for any other. */
    void (*running)(void *ctx, const int64_t *ids, size_t n);
    /* Messages of campaign id still in flight (claimed, outcome not yet
     * recorded); a campaign completes only when this is 0. */
    size_t (*in_flight)(void *ctx, int64_t campaign_id);
    /* The campaign was cancelled: drop its queued work (in-flight messages
     * finish and are recorded). */
    void (*cancelled)(void *ctx, int64_t campaign_id);
} edm_sched_hooks;

/* Starts ticking on loop every EDM_SCHED_TICK_MS. With loop NULL there is
 * no timer: the caller ticks (tests, with a clock of their own). The store
 * must outlive the scheduler. */
int edm_sched_start(uv_loop_t *loop, edm_store *st, const edm_sched_hooks *hooks, edm_sched **out);
/* Runs one tick now (also called by the timer). Returns 0 or EDM_E*. */
int edm_sched_tick(edm_sched *s);
/* Runs one tick as if the time were now (unix seconds). */
int edm_sched_tick_at(edm_sched *s, int64_t now);
/* Stops the timer and frees the scheduler once its handle is closed (at
 * once when it has no timer). */
void edm_sched_stop(edm_sched *s);

#endif
