/*
 * tests/engine/campaign/test_lifecycle.c: the lifecycle rules of
 * engine/campaign/lifecycle.c as a table: every action from every state
 * (allowed -> the expected state, else EDM_ESTATE with the state found),
 * START only once send_at has come, COMPLETE only with nothing queued or
 * deferred, unknown campaigns, over a real SQLite store in a temp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/campaign/lifecycle.h"
#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0   1900000000
#define NONE (-1)

struct fx {
    char *dir;
    edm_store *st;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = edm_test_tmpdir("lifecycle");
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/edm.db", f->dir);
    if (edm_store_open(path, &f->st, err, sizeof err) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    edm_test_store_release(f->st, f->dir);
    free(f);
    return 0;
}

/* A campaign put straight into state s (send_at: T0 + 100) with one
 * recipient queued when pending. */
static int64_t campaign_in(edm_store *st, enum edm_cstate s, int pending)
{
    json_t *cf = json_pack("{s:s, s:s}", "name", "c", "from", "a@example.com");
    edm_campaign_row c;
    assert_int_equal(st->ops->campaign_create(st, cf, &c), 0);
    json_decref(cf);
    int64_t id = c.id;
    edm_campaign_row_clear(&c);
    if (s != EDM_CSTATE_DRAFT)
        assert_int_equal(
            st->ops->campaign_transition(st, id, EDM_CSTATE_BIT(EDM_CSTATE_DRAFT), s, T0 + 100), 0);
    if (pending) {
        edm_test_store_upload(st, id, "x@a.test", 0, 1, -1);
    }
    return id;
}

/* expected[action][state]: the new state, or NONE for EDM_ESTATE. At
 * now = T0 + 200 (send_at passed); SCHEDULE asks for T0 + 300 (ahead). */
static const int expected[EDM_LIFECYCLE_ACTION_COUNT][EDM_CSTATE_COUNT] = {
    /*                       draft      scheduled  running  paused   completed cancelled */
    [EDM_LIFECYCLE_SCHEDULE] = {EDM_CSTATE_SCHEDULED, EDM_CSTATE_SCHEDULED, NONE, NONE, NONE, NONE},
    [EDM_LIFECYCLE_PAUSE] = {NONE, EDM_CSTATE_PAUSED, EDM_CSTATE_PAUSED, NONE, NONE, NONE},
    [EDM_LIFECYCLE_RESUME] = {NONE, NONE, NONE, EDM_CSTATE_RUNNING, NONE, NONE},
    [EDM_LIFECYCLE_CANCEL] = {NONE, EDM_CSTATE_CANCELLED, EDM_CSTATE_CANCELLED,
                              EDM_CSTATE_CANCELLED, NONE, NONE},
    [EDM_LIFECYCLE_START] = {NONE, EDM_CSTATE_RUNNING, NONE, NONE, NONE, NONE},
    [EDM_LIFECYCLE_COMPLETE] = {NONE, NONE, EDM_CSTATE_COMPLETED, NONE, NONE, NONE},
};

static void every_action_from_every_state(void **state)
{
    struct fx *f = *state;
    for (int a = 0; a < EDM_LIFECYCLE_ACTION_COUNT; a++)
        for (int s = 0; s < EDM_CSTATE_COUNT; s++) {
            int64_t id = campaign_in(f->st, (enum edm_cstate)s, 0);
            enum edm_cstate to = EDM_CSTATE_DRAFT, from = EDM_CSTATE_DRAFT;
            int rc = edm_lifecycle_apply(f->st, id, (enum edm_lifecycle_action)a, T0 + 300,
                                         T0 + 200, &to, &from);
            int allowed = (edm_lifecycle_from_mask(a) & EDM_CSTATE_BIT(s)) != 0;
            if (expected[a][s] == NONE) {
                if (rc != EDM_ESTATE)
                    fail_msg("%s from %s: %d, want EDM_ESTATE", edm_lifecycle_action_name(a),
                             edm_cstate_name(s), rc);
                assert_false(allowed);
            } else {
                if (rc != 0 || (int)to != expected[a][s])
                    fail_msg("%s from %s: rc %d to %s, want %s", edm_lifecycle_action_name(a),
                             edm_cstate_name(s), rc, edm_cstate_name(to),
                             edm_cstate_name(expected[a][s]));
                assert_true(allowed);
            }
            assert_int_equal(from, s);
            edm_campaign_row c;
            assert_int_equal(f->st->ops->campaign_get(f->st, id, &c), 0);
            assert_int_equal(c.state, expected[a][s] == NONE ? s : expected[a][s]);
            edm_campaign_row_clear(&c);
        }
}

static void time_and_pending_rules(void **state)
{
    struct fx *f = *state;
    edm_store *st = f->st;
    enum edm_cstate to;
    /* START waits for send_at */
    int64_t id = campaign_in(st, EDM_CSTATE_SCHEDULED, 0);
    assert_int_equal(edm_lifecycle_apply(st, id, EDM_LIFECYCLE_START, -1, T0 + 99, &to, NULL),
                     EDM_ESTATE);
    assert_int_equal(edm_lifecycle_apply(st, id, EDM_LIFECYCLE_START, -1, T0 + 100, &to, NULL), 0);
    assert_int_equal(to, EDM_CSTATE_RUNNING);
    /* COMPLETE waits for the last pending recipient */
    id = campaign_in(st, EDM_CSTATE_RUNNING, 1);
    assert_int_equal(edm_lifecycle_apply(st, id, EDM_LIFECYCLE_COMPLETE, -1, T0, &to, NULL),
                     EDM_ESTATE);
    /* schedule with send_at in the past starts at once; resume before
     * send_at goes back to scheduled */
    id = campaign_in(st, EDM_CSTATE_DRAFT, 0);
    assert_int_equal(edm_lifecycle_apply(st, id, EDM_LIFECYCLE_SCHEDULE, T0 - 1, T0, &to, NULL), 0);
    assert_int_equal(to, EDM_CSTATE_RUNNING);
    id = campaign_in(st, EDM_CSTATE_PAUSED, 0);
    assert_int_equal(edm_lifecycle_apply(st, id, EDM_LIFECYCLE_RESUME, -1, T0 + 99, &to, NULL), 0);
    assert_int_equal(to, EDM_CSTATE_SCHEDULED);
    /* cancel changes the state only: the scheduler sweeps the recipients */
    id = campaign_in(st, EDM_CSTATE_RUNNING, 1);
    assert_int_equal(edm_lifecycle_apply(st, id, EDM_LIFECYCLE_CANCEL, -1, T0, &to, NULL), 0);
    assert_int_equal(st->ops->campaign_has_pending(st, id), 1);
    /* unknown campaign */
    assert_int_equal(edm_lifecycle_apply(st, 424242, EDM_LIFECYCLE_PAUSE, -1, T0, &to, NULL),
                     EDM_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_action_from_every_state, setup, teardown),
        cmocka_unit_test_setup_teardown(time_and_pending_rules, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
