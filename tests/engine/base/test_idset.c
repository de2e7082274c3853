/*
 * tests/engine/base/test_idset.c: the id set against a plain reference array
 * under random adds and deletes (re-adding deleted ids, growth, chains
 * through tombstones), and allocation failure leaving it intact.
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
        cmocka_unit_test(allocation_failure_keeps_the_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
