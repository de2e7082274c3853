/*
 * tests/engine/delivery/test_shaping.c: token buckets, sliding windows, backoff
 * matching (shaper.c) and source IP choice under caps, weights and warm-up
 * (pool.c), all on a simulated clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/config/config.h"
#include "engine/delivery/dest.h"
#include "engine/delivery/pool.h"
#include "engine/delivery/shaper.h"
#include "engine/store/store.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>

#include <string.h>

static void bucket_rates(void **state)
{
    (void)state;
    edm_bucket b;
    edm_bucket_init(&b, 600, 60000, 5, 1000); /* 600/min, burst 5 */
    for (int i = 0; i < 5; i++)
        assert_int_equal(edm_bucket_take(&b, 1000), 0);
    assert_int_equal(edm_bucket_take(&b, 1000), 100); /* one token per 100 ms */
    assert_int_equal(edm_bucket_take(&b, 1050), 50);
    assert_int_equal(edm_bucket_take(&b, 1100), 0);
    assert_int_equal(edm_bucket_wait(&b, 1100), 100);
    assert_int_equal(edm_bucket_take(&b, 100000), 0); /* refilled, capped at burst */
    for (int i = 0; i < 4; i++)
        assert_int_equal(edm_bucket_take(&b, 100000), 0);
    assert_true(edm_bucket_take(&b, 100000) > 0);

    edm_bucket u;
    edm_bucket_init(&u, 0, 60000, 1, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(edm_bucket_take(&u, 0), 0);
    assert_true(edm_bucket_unlimited(&u));
}

static void window_slides(void **state)
{
    (void)state;
    edm_window w;
    edm_window_init(&w, 3600000);
    edm_window_add(&w, 0, 10);
    edm_window_add(&w, 30 * 60000, 5);
    assert_int_equal(edm_window_sum(&w, 30 * 60000), 15);
    assert_int_equal(edm_window_sum(&w, 60 * 60000 + 1), 5); /* first minute left the hour */
    assert_int_equal(edm_window_sum(&w, 91 * 60000), 0);
    edm_window_add(&w, 60 * 60000, 1); /* reuses the slot of minute 0 */
    assert_int_equal(edm_window_sum(&w, 60 * 60000), 6);
}

static void backoff_prefixes(void **state)
{
    (void)state;
    char *on[] = {"421", "4.7."};
    static const struct {
        int code;
        const char *enh;
        int want;
    } cases[] = {
        {421, "", 1},      {421, "4.3.2", 1}, {451, "4.7.1", 1}, {451, "4.3.0", 0},
        {550, "5.7.1", 0}, {250, "2.0.0", 0}, {0, NULL, 0},      {450, "4.7.", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(edm_backoff_matches(on, 2, cases[i].code, cases[i].enh), cases[i].want);
}

static const char pools_json[] =
    "{\"pools\": [{\"name\": \"default\", \"ips\": ["
    "{\"addr\": \"127.0.0.2\", \"weight\": 3, \"max_per_hour\": 100},"
    "{\"addr\": \"127.0.0.3\", \"weight\": 1, \"warmup\": [[1, 10], [2, 20]]}]},"
    "{\"name\": \"os\", \"ips\": []}]}";

static void pool_weights_caps_and_warmup(void **state)
{
    (void)state;
    edm_config cfg;
    edm_config_errors errs;
    assert_int_equal(edm_config_load_string(pools_json, strlen(pools_json), "t", NULL, &cfg, &errs),
                     0);
    edm_pools ps;
    assert_int_equal(edm_pools_init(&ps, &cfg, NULL), 0);
    edm_pool *p = edm_pools_find(&ps, NULL);
    assert_non_null(p);
    assert_string_equal(p->name, "default");
    assert_null(edm_pools_find(&ps, "nope"));

    int64_t day0 = 20000 * 86400LL;
    uint64_t t = 1000;
    int count2 = 0, count3 = 0;
    /* 3:1 weights while both have capacity; .3 stops at its day-1 cap of 10. */
    for (int i = 0; i < 40; i++) {
        edm_pool_ip *ip = edm_pool_choose(p, t, day0);
        assert_non_null(ip);
        if (strcmp(ip->addr, "127.0.0.2") == 0)
            count2++;
        else
            count3++;
        edm_pool_ip_sent(&ps, ip, t, day0);
    }
    assert_int_equal(count2, 30);
    assert_int_equal(count3, 10);
    assert_int_equal(edm_pool_ip_day_cap(&p->ips[1], day0), 10);
    for (int i = 0; i < 20; i++) {
        edm_pool_ip *ip = edm_pool_choose(p, t, day0);
        assert_string_equal(ip->addr, "127.0.0.2"); /* .3 is at its cap */
        edm_pool_ip_sent(&ps, ip, t, day0);
    }
    /* Day 2: cap 20; day 3: past the schedule, no cap. */
    assert_int_equal(edm_pool_ip_day_cap(&p->ips[1], day0 + 86400), 20);
    assert_int_equal(edm_pool_ip_day_cap(&p->ips[1], day0 + 2 * 86400), 0);
    /* .2's hourly cap of 100: 50 sent so far. */
    for (int i = 0; i < 50; i++)
        edm_pool_ip_sent(&ps, &p->ips[0], t, day0);
    assert_false(edm_pool_ip_has_capacity(&p->ips[0], t, day0));
    assert_null(edm_pool_choose(p, t, day0));
    /* An hour later both have capacity again (the day window still counts .3's 10). */
    uint64_t later = t + 3600ull * 1000 + 60000;
    assert_true(edm_pool_ip_has_capacity(&p->ips[0], later, day0 + 3660));
    assert_false(edm_pool_ip_has_capacity(&p->ips[1], later, day0 + 3660));
    assert_true(edm_pool_ip_has_capacity(&p->ips[1], later, day0 + 86400));

    edm_pool *os = edm_pools_find(&ps, "os");
    assert_non_null(os);
    assert_int_equal(os->nips, 1);
    edm_pool_ip *any = edm_pool_choose(os, t, day0);
    assert_non_null(any);
    assert_null(any->addr);

    json_t *j = edm_pools_json(&ps, t, day0);
    assert_int_equal(json_array_size(j), 2);
    json_t *ip0 = json_array_get(json_object_get(json_array_get(j, 0), "ips"), 0);
    assert_int_equal(json_integer_value(json_object_get(ip0, "sent_last_hour")), 100);
    assert_false(json_is_true(json_object_get(ip0, "has_capacity")));
    json_decref(j);
    edm_pools_free(&ps);
    edm_config_free(&cfg);
}

/* A restart changes nothing: the counters (sent in the last hour and day)
 * and the warm-up day come back from the store (ip_counters), so an
 * address at its warm-up or hourly cap stays there. */
static void counters_survive_a_restart(void **state)
{
    (void)state;
    char *dir = edm_test_tmpdir("counters");
    char db[4200];
    snprintf(db, sizeof db, "%s/c.db", dir);
    static const char json[] = "{\"pools\": [{\"name\": \"default\", \"ips\": ["
                               "{\"addr\": \"127.0.0.2\", \"max_per_hour\": 5},"
                               "{\"addr\": \"127.0.0.3\", \"warmup\": [[1, 3], [2, 6]]}]}]}";
    edm_config cfg;
    edm_config_errors errs;
    assert_int_equal(edm_config_load_string(json, strlen(json), "t", NULL, &cfg, &errs), 0);
    int64_t day0 = 20000 * 86400LL + 7200; /* 02:00 on a day */
    for (int run = 0; run < 2; run++) {
        edm_store *st;
        char err[256];
        assert_int_equal(edm_store_sqlite_open(db, &st, err, sizeof err), 0);
        edm_pools ps;
        assert_int_equal(edm_pools_init(&ps, &cfg, st), 0);
        edm_pool *p = edm_pools_find(&ps, NULL);
        if (run == 0) {
            for (int i = 0; i < 5; i++)
                edm_pool_ip_sent(&ps, &p->ips[0], 1000, day0 + i);
            for (int i = 0; i < 3; i++)
                edm_pool_ip_sent(&ps, &p->ips[1], 1000, day0 + i);
        }
        /* After the restart (run 1) as before it: both at their caps. */
        assert_false(edm_pool_ip_has_capacity(&p->ips[0], 5, day0 + 10));
        assert_false(edm_pool_ip_has_capacity(&p->ips[1], 5, day0 + 10));
        assert_null(edm_pool_choose(p, 5, day0 + 10));
        json_t *j = edm_pools_json(&ps, 5, day0 + 10);
        json_t *ips = json_object_get(json_array_get(j, 0), "ips");
        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(ips, 0), "sent_last_hour")), 5);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(ips, 1), "sent_today")),
                         3);
        json_decref(j);
        /* An hour later .2 may send again; the next day .3 is on day 2 of
         * its warm-up (cap 6), not day 1 again. */
        assert_true(edm_pool_ip_has_capacity(&p->ips[0], 5, day0 + 3700));
        assert_int_equal(edm_pool_ip_day_cap(&p->ips[1], day0 + 86400), 6);
        edm_pools_free(&ps);
        edm_store_close(st);
    }
    edm_config_free(&cfg);
    edm_test_rmtree(dir);
    free(dir);
}

/* After a backoff pause an address resumes at a reduced rate also under
 * a rule that caps only max_per_hour: 36000 an hour is one message every
 * 100 ms, a quarter of it one every 400 ms; deliveries climb it back. */
static void backoff_reduces_an_hourly_rate(void **state)
{
    (void)state;
    static const char json[] = "{\"pools\": [{\"name\": \"default\", \"ips\": ["
                               "{\"addr\": \"127.0.0.2\"}]}], \"domains\": [{\"match\": \"*\","
                               " \"max_per_hour\": 36000, \"burst\": 1,"
                               " \"backoff\": {\"on\": [\"421\"], \"pause\": 10}}]}";
    edm_config cfg;
    edm_config_errors errs;
    assert_int_equal(edm_config_load_string(json, strlen(json), "t", NULL, &cfg, &errs), 0);
    edm_pools ps;
    assert_int_equal(edm_pools_init(&ps, &cfg, NULL), 0);
    edm_dest *d = edm_dest_new("a.test", "default", edm_config_domain_for(&cfg, "a.test"),
                               edm_pools_find(&ps, NULL), 1000);
    assert_int_equal(edm_dest_take(d, 0, 1000), 0);
    assert_int_equal(edm_dest_take(d, 0, 1100), 0); /* full rate: one every 100 ms */
    assert_int_equal(edm_dest_result(d, 0, EDM_DEST_BACKOFF, 1100), 1);
    assert_int_equal(edm_dest_take(d, 0, 5000), UINT64_MAX); /* paused */
    uint64_t t = 1100 + 10000;
    assert_int_equal(edm_dest_take(d, 0, t), 0);
    assert_true(edm_dest_take(d, 0, t + 100) > 0); /* a quarter: not yet */
    assert_int_equal(edm_dest_take(d, 0, t + 400), 0);
    for (int i = 0; i < 20; i++)
        edm_dest_result(d, 0, EDM_DEST_DELIVERED, t + 400);
    assert_int_equal(edm_dest_take(d, 0, t + 500), 0); /* back to the full rate */
    edm_dest_free(d);
    edm_pools_free(&ps);
    edm_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_rates),
        cmocka_unit_test(window_slides),
        cmocka_unit_test(backoff_prefixes),
        cmocka_unit_test(pool_weights_caps_and_warmup),
        cmocka_unit_test(counters_survive_a_restart),
        cmocka_unit_test(backoff_reduces_an_hourly_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
