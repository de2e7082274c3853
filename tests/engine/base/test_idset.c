/*
 * tests/engine/base/test_idset.c: the id set against a plain reference array
 * under random adds and deletes (re-adding deleted ids, growth, chains
 * through tombstones), a window of ids sliding over millions keeping the
 * table the window's size, and allocation failure leaving it intact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/idset.h"

#include <stdlib.h>
#include <string.h>

#define RANGE 5000

static void matches_a_reference(void **state)
{
    (void)state;
    edm_idset s = {0};
    static unsigned char ref[RANGE + 1];
    memset(ref, 0, sizeof ref);
    srand(7);
    size_t live = 0;
    for (int step = 0; step < 200000; step++) {
        int64_t id = 1 + rand() % RANGE;
        if (rand() % 3) {
            assert_int_equal(edm_idset_add(&s, id), 0);
            live += !ref[id];
            ref[id] = 1;
        } else {
            edm_idset_del(&s, id);
            live -= ref[id];
            ref[id] = 0;
        }
        assert_int_equal(s.live, live);
        if (step % 997 == 0)
            for (int64_t k = 1; k <= RANGE; k++)
                assert_int_equal(edm_idset_has(&s, k), ref[k]);
    }
    edm_idset_free(&s);
}

/* The pipeline's use: ids 1..N pass through a window of W in flight. The
 * table follows the window, not N (it doubled on every rebuild before, to
 * 16M slots, 128 MB, for a 10M-recipient campaign). */
static void a_sliding_window_stays_small(void **state)
{
    (void)state;
    edm_idset s = {0};
    const int64_t window = 1000, total = 3000000;
    size_t max_cap = 0;
    for (int64_t id = 1; id <= total; id++) {
        assert_int_equal(edm_idset_add(&s, id), 0);
        if (id > window) {
            edm_idset_del(&s, id - window);
            assert_false(edm_idset_has(&s, id - window));
        }
        if (s.cap > max_cap)
            max_cap = s.cap;
    }
    assert_int_equal(s.live, (size_t)window);
    for (int64_t id = total - window + 1; id <= total; id++)
        assert_true(edm_idset_has(&s, id));
    assert_true(max_cap <= 8 * (size_t)window);
    edm_idset_free(&s);
}

static void allocation_failure_keeps_the_set(void **state)
{
    (void)state;
    edm_idset s = {0};
    for (int64_t id = 1; id <= 511; id++)
        assert_int_equal(edm_idset_add(&s, id), 0);
    edm_alloc_fail_after(0);
    int rc = 0;
    for (int64_t id = 512; id <= 600 && rc == 0; id++)
        rc = edm_idset_add(&s, id);
    edm_alloc_fail_after(-1);
    assert_int_equal(rc, EDM_ENOMEM);
    for (int64_t id = 1; id <= 511; id++)
        assert_true(edm_idset_has(&s, id));
    assert_int_equal(edm_idset_add(&s, 700), 0);
    assert_true(edm_idset_has(&s, 700));
    edm_idset_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_a_reference),
        cmocka_unit_test(a_sliding_window_stays_small),
        cmocka_unit_test(allocation_failure_keeps_the_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
