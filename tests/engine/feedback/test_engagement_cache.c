/*
 * tests/engine/feedback/test_engagement_cache.c: the token cache of the
 * public listener (engine/feedback/engagement_cache.c): an entry is found
 * until its time is over (ENGAGEMENT_CACHE_TTL once delivered,
 * ENGAGEMENT_CACHE_TTL_UNDELIVERED before), never for another delivery; a
 * put empties its slot of what it held; link URLs come back by index, a
 * refused (empty) one and an index past the end as NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/feedback/engagement_cache.h"

#include <string.h>

static void expiry(void **state)
{
    (void)state;
    engagement_cache *c = engagement_cache_new(1024);
    engagement_entry *e = engagement_cache_put(c, 7, 1000, 5000);
    e->campaign_id = 3;
    assert_ptr_equal(engagement_cache_get(c, 7, 5000), e);
    assert_ptr_equal(engagement_cache_get(c, 7, 5000 + ENGAGEMENT_CACHE_TTL - 1), e);
    assert_null(engagement_cache_get(c, 7, 5000 + ENGAGEMENT_CACHE_TTL));
    assert_null(engagement_cache_get(c, 8, 5000));
    /* Not delivered yet: trusted for a moment only. */
    engagement_entry *u = engagement_cache_put(c, 9, 0, 5000);
    assert_ptr_equal(engagement_cache_get(c, 9, 5000), u);
    assert_null(engagement_cache_get(c, 9, 5000 + ENGAGEMENT_CACHE_TTL_UNDELIVERED));
    engagement_cache_free(c);
}

static void replacement(void **state)
{
    (void)state;
    engagement_cache *c = engagement_cache_new(4); /* 4 slots: ids collide */
    for (int64_t id = 1; id <= 64; id++) {
        engagement_entry *e = engagement_cache_put(c, id, 100, 0);
        e->campaign_id = id * 10;
        engagement_entry_set_urls(e, "u\0", 2, 1);
    }
    int found = 0;
    for (int64_t id = 1; id <= 64; id++) {
        engagement_entry *e = engagement_cache_get(c, id, 1);
        if (e) {
            found++;
            assert_int_equal(e->delivery_id, id);
            assert_int_equal(e->campaign_id, id * 10);
        }
    }
    assert_true(found >= 1 && found <= 4);
    /* A put empties the slot: no URLs, no campaign of the one before. */
    engagement_entry *e = engagement_cache_put(c, 64, 100, 0);
    assert_null(e->urls);
    assert_int_equal(e->campaign_id, 0);
    engagement_cache_free(c);
}

static void urls(void **state)
{
    (void)state;
    engagement_cache *c = engagement_cache_new(16);
    engagement_entry *e = engagement_cache_put(c, 5, 100, 0);
    assert_null(engagement_entry_url(e, 0)); /* not rendered yet */
    static const char blob[] = "https://a.example/1\0\0https://b.example/?x=1&y=2";
    engagement_entry_set_urls(e, blob, sizeof blob, 3);
    assert_string_equal(engagement_entry_url(e, 0), "https://a.example/1");
    assert_null(engagement_entry_url(e, 1)); /* refused: control characters */
    assert_string_equal(engagement_entry_url(e, 2), "https://b.example/?x=1&y=2");
    assert_null(engagement_entry_url(e, 3));
    engagement_entry *z = engagement_cache_put(c, 6, 100, 0);
    engagement_entry_set_urls(z, "", 0, 0);
    assert_null(engagement_entry_url(z, 0)); /* no tracked links at all */
    engagement_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expiry),
        cmocka_unit_test(replacement),
        cmocka_unit_test(urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
