/*
 * engine/campaign/lifecycle.h: the campaign lifecycle, the one place every
 * campaign transition goes through, from the API routes, `edm send` and
 * the scheduler alike:
 *
 *   draft -> scheduled (send_at ahead) | running (send_at reached)
 *   scheduled -> running (START: send_at has come; the scheduler)
 *   running -> completed (COMPLETE: no delivery left queued or deferred;
 *                         the scheduler, once nothing is in flight)
 *   scheduled | running -> paused;  paused -> running | scheduled (resume)
 *   scheduled | running | paused -> cancelled
 *
 * Each action is applied with the store's compare-and-set, so a race with
 * another actor gives EDM_ESTATE rather than a wrong state. Cancelling only
 * changes the campaign's state: the scheduler (sched.c) then tells the
 * delivery side and cancels the pending deliveries, once, which also
 * covers a crash between the two and a restart.
 */
#ifndef EDM_LIFECYCLE_H
#define EDM_LIFECYCLE_H

#include "engine/store/store.h"

#include <stdint.h>

enum edm_lifecycle_action {
    EDM_LIFECYCLE_SCHEDULE = 0, /* API: schedule {send_at} (also re-schedules) */
    EDM_LIFECYCLE_PAUSE,        /* API */
    EDM_LIFECYCLE_RESUME,       /* API */
    EDM_LIFECYCLE_CANCEL,       /* API (the scheduler then cancels the pending deliveries) */
    EDM_LIFECYCLE_START,        /* scheduler: a scheduled campaign's send_at came */
    EDM_LIFECYCLE_COMPLETE,     /* scheduler: every delivery is terminal */
};
#define EDM_LIFECYCLE_ACTION_COUNT 6

const char *edm_lifecycle_action_name(enum edm_lifecycle_action a);
/* The states an action may start from (EDM_CSTATE_BIT mask). */
unsigned edm_lifecycle_from_mask(enum edm_lifecycle_action a);

/* Applies action a to campaign id at time now (unix seconds). send_at is
 * used by SCHEDULE only (unix seconds). On success returns 0 and sets *to.
 * EDM_ENOTFOUND: no such campaign; EDM_ESTATE: not allowed from the
 * campaign's state (*from, if given, gets that state), or START before
 * send_at, or COMPLETE while a delivery is still queued or deferred; EDM_EDB. */
int edm_lifecycle_apply(edm_store *st, int64_t id, enum edm_lifecycle_action a, int64_t send_at,
                        int64_t now, enum edm_cstate *to, enum edm_cstate *from);

/* What else a state allows (one place, so the API and the CLI agree). */
int edm_lifecycle_can_edit(enum edm_cstate s);           /* PATCH fields */
int edm_lifecycle_can_delete(enum edm_cstate s);         /* DELETE */
int edm_lifecycle_can_add_recipients(enum edm_cstate s); /* uploads */

/* Reads campaign id's state and applies edm_lifecycle_can_add_recipients:
 * 0 if it takes recipients now, EDM_ESTATE if not (*state, if given, gets
 * the state), EDM_ENOTFOUND or EDM_EDB. Before an upload and before each of
 * its batches (engine/ingest/import.h). */
int edm_lifecycle_check_add_recipients(edm_store *st, int64_t id, enum edm_cstate *state);
/* The same as an import's per-batch check (edm_import_opts.check, ctx
 * unused): 0, EDM_ESTATE or a store code. */
int edm_lifecycle_import_check(void *ctx, edm_store *st, int64_t id);

#endif
