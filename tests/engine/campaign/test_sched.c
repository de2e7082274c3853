/*
 * tests/engine/campaign/test_sched.c: the campaign scheduler
 * (engine/campaign/sched.c) driven by hand with an injected clock
 * (edm_sched_tick_at, no timer, no loop, no sockets) over a real SQLite
 * store in a temporary directory, with fake delivery-side hooks that
 * record what the scheduler tells them. Covers: a scheduled campaign
 * starts at send_at and not before, a send_at in the past starts at once,
 * pause, resume to running and to scheduled, cancel (pending recipients
 * cancelled once, the delivery side told once), completion only when
 * nothing is pending or in flight, and a restart over the same database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/campaign/lifecycle.h"
#include "engine/campaign/sched.h"
#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1900000000 /* the fake clock's start, unix seconds */

struct fx {
    char *dir;
    char path[4200];
    edm_store *st;
    edm_sched *sched;
    /* what the scheduler told the delivery side */
    int64_t running[16];
    size_t nrunning;
    int running_calls;
    int64_t cancelled[16];
    size_t ncancelled;
    size_t in_flight; /* what the delivery side answers */
};

static void hook_running(void *ctx, const int64_t *ids, size_t n)
{
    struct fx *f = ctx;
    assert_true(n <= 16);
    if (n)
        memcpy(f->running, ids, n * sizeof *ids);
    f->nrunning = n;
    f->running_calls++;
}

static size_t hook_in_flight(void *ctx, int64_t id)
{
    struct fx *f = ctx;
    (void)id;
    return f->in_flight;
}

static void hook_cancelled(void *ctx, int64_t id)
{
    struct fx *f = ctx;
    assert_true(f->ncancelled < 16);
    f->cancelled[f->ncancelled++] = id;
}

static void sched_new(struct fx *f)
{
    edm_sched_hooks h = {.ctx = f,
                         .running = hook_running,
                         .in_flight = hook_in_flight,
                         .cancelled = hook_cancelled};
    assert_int_equal(edm_sched_start(NULL, f->st, &h, &f->sched), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = edm_test_tmpdir("sched");
    snprintf(f->path, sizeof f->path, "%s/edm.db", f->dir);
    char err[512];
    if (edm_store_open(f->path, &f->st, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    sched_new(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    edm_sched_stop(f->sched);
    edm_test_store_release(f->st, f->dir);
    free(f);
    return 0;
}

/* A draft campaign with n recipients queued. */
static int64_t make_campaign(struct fx *f, int n)
{
    edm_store *st = f->st;
    int64_t id = edm_test_store_campaign(st, NULL, "x");
    edm_test_store_upload(st, id, "r%d@a.test", 0, n, EDM_ADD_ACCEPTED);
    return id;
}

static enum edm_cstate state_of(struct fx *f, int64_t id)
{
    edm_campaign_row c;
    assert_int_equal(f->st->ops->campaign_get(f->st, id, &c), 0);
    enum edm_cstate s = c.state;
    edm_campaign_row_clear(&c);
    return s;
}

static enum edm_cstate act(struct fx *f, int64_t id, enum edm_lifecycle_action a, int64_t send_at,
                           int64_t now)
{
    enum edm_cstate to;
    assert_int_equal(edm_lifecycle_apply(f->st, id, a, send_at, now, &to, NULL), 0);
    assert_int_equal(state_of(f, id), to);
    return to;
}

static void tick(struct fx *f, int64_t now)
{
    assert_int_equal(edm_sched_tick_at(f->sched, now), 0);
}

static int is_running(const struct fx *f, int64_t id)
{
    for (size_t i = 0; i < f->nrunning; i++)
        if (f->running[i] == id)
            return 1;
    return 0;
}

static int64_t count(struct fx *f, int64_t id, enum edm_dstate s)
{
    int64_t counts[EDM_DSTATE_COUNT];
    assert_int_equal(f->st->ops->campaign_counts(f->st, id, counts), 0);
    return counts[s];
}

static void starts_at_send_at_and_not_before(void **state)
{
    struct fx *f = *state;
    int64_t id = make_campaign(f, 2);
    assert_int_equal(act(f, id, EDM_LIFECYCLE_SCHEDULE, T0 + 60, T0), EDM_CSTATE_SCHEDULED);
    tick(f, T0);
    tick(f, T0 + 59);
    assert_int_equal(state_of(f, id), EDM_CSTATE_SCHEDULED);
    assert_false(is_running(f, id));
    assert_int_equal(f->running_calls, 2);
    tick(f, T0 + 60);
    assert_int_equal(state_of(f, id), EDM_CSTATE_RUNNING);
    assert_true(is_running(f, id));
    /* nothing else changed: still two queued, no completion */
    tick(f, T0 + 61);
    assert_int_equal(state_of(f, id), EDM_CSTATE_RUNNING);
    assert_int_equal(count(f, id, EDM_DSTATE_QUEUED), 2);
    assert_int_equal(f->ncancelled, 0);
}

static void send_at_in_the_past_starts_at_once(void **state)
{
    struct fx *f = *state;
    int64_t id = make_campaign(f, 1);
    assert_int_equal(act(f, id, EDM_LIFECYCLE_SCHEDULE, T0 - 3600, T0), EDM_CSTATE_RUNNING);
    tick(f, T0);
    assert_true(is_running(f, id));
}

static void pause_then_resume_to_running(void **state)
{
    struct fx *f = *state;
    int64_t id = make_campaign(f, 3);
    act(f, id, EDM_LIFECYCLE_SCHEDULE, T0, T0);
    tick(f, T0);
    assert_true(is_running(f, id));
    assert_int_equal(act(f, id, EDM_LIFECYCLE_PAUSE, -1, T0 + 1), EDM_CSTATE_PAUSED);
    tick(f, T0 + 1);
    assert_false(is_running(f, id));
    /* a paused campaign neither completes nor loses its recipients */
    f->in_flight = 0;
    tick(f, T0 + 2);
    assert_int_equal(state_of(f, id), EDM_CSTATE_PAUSED);
    assert_int_equal(count(f, id, EDM_DSTATE_QUEUED), 3);
    assert_int_equal(act(f, id, EDM_LIFECYCLE_RESUME, -1, T0 + 3), EDM_CSTATE_RUNNING);
    tick(f, T0 + 3);
    assert_true(is_running(f, id));
}

static void resume_returns_to_scheduled_while_send_at_is_ahead(void **state)
{
    struct fx *f = *state;
    int64_t id = make_campaign(f, 1);
    act(f, id, EDM_LIFECYCLE_SCHEDULE, T0 + 3600, T0);
    assert_int_equal(act(f, id, EDM_LIFECYCLE_PAUSE, -1, T0 + 10), EDM_CSTATE_PAUSED);
    tick(f, T0 + 3600); /* paused: send_at passing changes nothing */
    assert_int_equal(state_of(f, id), EDM_CSTATE_PAUSED);
    assert_int_equal(act(f, id, EDM_LIFECYCLE_RESUME, -1, T0 + 20), EDM_CSTATE_SCHEDULED);
    tick(f, T0 + 3599);
    assert_false(is_running(f, id));
    assert_int_equal(state_of(f, id), EDM_CSTATE_SCHEDULED);
    tick(f, T0 + 3600);
    assert_true(is_running(f, id));
    assert_int_equal(state_of(f, id), EDM_CSTATE_RUNNING);
}

static void cancel_cancels_pending_once(void **state)
{
    struct fx *f = *state;
    int64_t id = make_campaign(f, 3);
    int64_t other = make_campaign(f, 2);
    act(f, id, EDM_LIFECYCLE_SCHEDULE, T0, T0);
    act(f, other, EDM_LIFECYCLE_SCHEDULE, T0, T0);
    tick(f, T0);
    assert_int_equal(f->nrunning, 2);
    assert_int_equal(act(f, id, EDM_LIFECYCLE_CANCEL, -1, T0 + 1), EDM_CSTATE_CANCELLED);
    tick(f, T0 + 1);
    assert_false(is_running(f, id));
    assert_true(is_running(f, other));
    assert_int_equal(f->ncancelled, 1);
    assert_int_equal(f->cancelled[0], id);
    assert_int_equal(count(f, id, EDM_DSTATE_CANCELLED), 3);
    assert_int_equal(count(f, id, EDM_DSTATE_QUEUED), 0);
    assert_int_equal(count(f, other, EDM_DSTATE_QUEUED), 2);
    /* once per run: later ticks neither tell the delivery side again nor
     * touch the campaign's rows */
    tick(f, T0 + 2);
    tick(f, T0 + 3);
    assert_int_equal(f->ncancelled, 1);
    assert_int_equal(state_of(f, id), EDM_CSTATE_CANCELLED);
    /* a cancelled campaign cannot be resumed or cancelled again */
    enum edm_cstate to, from;
    assert_int_equal(edm_lifecycle_apply(f->st, id, EDM_LIFECYCLE_RESUME, -1, T0 + 4, &to, &from),
                     EDM_ESTATE);
    assert_int_equal(from, EDM_CSTATE_CANCELLED);
    assert_int_equal(edm_lifecycle_apply(f->st, id, EDM_LIFECYCLE_CANCEL, -1, T0 + 4, &to, &from),
                     EDM_ESTATE);
}

static void completes_when_nothing_is_pending_or_in_flight(void **state)
{
    struct fx *f = *state;
    edm_store *st = f->st;
    int64_t id = make_campaign(f, 2);
    act(f, id, EDM_LIFECYCLE_SCHEDULE, T0, T0);
    tick(f, T0);
    int64_t cursor = 0;
    edm_job *jobs;
    size_t n;
    assert_int_equal(st->ops->claim(st, id, T0, 3600, &cursor, 10, &jobs, &n), 0);
    assert_int_equal(n, 2);
    edm_outcome r = {
        .id = jobs[0].id, .status = EDM_DSTATE_DELIVERED, .attempted = 1, .attempted_at = T0};
    assert_int_equal(st->ops->record(st, &r, 1), 0);
    tick(f, T0 + 1); /* one still queued */
    assert_int_equal(state_of(f, id), EDM_CSTATE_RUNNING);
    r.id = jobs[1].id;
    assert_int_equal(st->ops->record(st, &r, 1), 0);
    edm_store_jobs_free(jobs, n);
    f->in_flight = 1; /* the delivery side still has a message out */
    tick(f, T0 + 2);
    assert_int_equal(state_of(f, id), EDM_CSTATE_RUNNING);
    assert_true(is_running(f, id));
    f->in_flight = 0;
    tick(f, T0 + 3);
    assert_int_equal(state_of(f, id), EDM_CSTATE_COMPLETED);
    assert_false(is_running(f, id));
    edm_campaign_row c;
    assert_int_equal(st->ops->campaign_get(st, id, &c), 0);
    assert_true(c.completed_at > 0);
    edm_campaign_row_clear(&c);
    assert_int_equal(count(f, id, EDM_DSTATE_DELIVERED), 2);

    /* a campaign with no recipient at all completes at its first tick */
    int64_t empty = make_campaign(f, 0);
    act(f, empty, EDM_LIFECYCLE_SCHEDULE, T0, T0 + 4);
    tick(f, T0 + 4);
    assert_int_equal(state_of(f, empty), EDM_CSTATE_COMPLETED);
}

/* A new scheduler over the same database (the engine restarted) picks up
 * running campaigns, starts scheduled ones whose time came while it was
 * down, and sweeps a cancelled campaign whose pending recipients were
 * never cancelled (a crash between the state change and the sweep). */
static void restart_picks_up_where_it_was(void **state)
{
    struct fx *f = *state;
    int64_t run = make_campaign(f, 2);
    int64_t later = make_campaign(f, 1);
    int64_t gone = make_campaign(f, 4);
    act(f, run, EDM_LIFECYCLE_SCHEDULE, T0, T0);
    act(f, later, EDM_LIFECYCLE_SCHEDULE, T0 + 600, T0);
    act(f, gone, EDM_LIFECYCLE_SCHEDULE, T0, T0);
    tick(f, T0);
    assert_true(is_running(f, run));
    assert_true(is_running(f, gone));
    /* cancelled, then the process dies before the next tick */
    act(f, gone, EDM_LIFECYCLE_CANCEL, -1, T0 + 1);
    edm_sched_stop(f->sched);
    edm_store_close(f->st);

    char err[512];
    assert_int_equal(edm_store_open(f->path, &f->st, err, sizeof err), 0);
    memset(f->running, 0, sizeof f->running);
    f->nrunning = 0;
    f->ncancelled = 0;
    sched_new(f);
    tick(f, T0 + 900);
    assert_int_equal(f->nrunning, 2);
    assert_true(is_running(f, run));
    assert_true(is_running(f, later));
    assert_false(is_running(f, gone));
    assert_int_equal(f->ncancelled, 1);
    assert_int_equal(f->cancelled[0], gone);
    assert_int_equal(count(f, gone, EDM_DSTATE_CANCELLED), 4);
    assert_int_equal(count(f, run, EDM_DSTATE_QUEUED), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(starts_at_send_at_and_not_before, setup, teardown),
        cmocka_unit_test_setup_teardown(send_at_in_the_past_starts_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(pause_then_resume_to_running, setup, teardown),
        cmocka_unit_test_setup_teardown(resume_returns_to_scheduled_while_send_at_is_ahead, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cancel_cancels_pending_once, setup, teardown),
        cmocka_unit_test_setup_teardown(completes_when_nothing_is_pending_or_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(restart_picks_up_where_it_was, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
