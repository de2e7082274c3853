/*
 * tests/engine/store/test_counts.c: the per-campaign counters of
 * schema/0002_campaign_counts.sql. After every kind of write (upload with
 * duplicates and suppressions, outcomes delivered, deferred and bounced,
 * a deferral turned bounced, a bounce re-categorised, cancel, a campaign
 * deleted, batches of results of two campaigns, with and without a
 * webhook) they equal a GROUP BY over the rows; stats count only bounced
 * recipients per category; a version-1 database gets them backfilled.
 * Run on SQLite and on PostgreSQL (tests/support/store_backend.h;
 * schema/pg/0002_campaign_counts.sql there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/store/schema.h"
#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    return edm_test_store_fx_new(state, "counts", 0);
}

static int teardown(void **state)
{
    return edm_test_store_fx_free(state);
}

static void open_store(struct edm_test_store_fx *f)
{
    char err[512];
    assert_int_equal(edm_store_open(f->path, &f->st, err, sizeof err), 0);
}

/* The counters of every campaign equal a GROUP BY over the rows (read
 * through a second connection: what is committed). */
static void assert_counters_exact(const char *path)
{
    static const char *const checks[] = {
        "SELECT count(*) FROM ("
        "SELECT campaign_id, status, category, n FROM campaign_counts WHERE n != 0 "
        "EXCEPT SELECT campaign_id, status, CASE WHEN status = 3 THEN "
        "coalesce(bounce_category, '') ELSE '' END, count(*) FROM deliveries GROUP BY 1, 2, 3) a",
        "SELECT count(*) FROM ("
        "SELECT campaign_id, status, CASE WHEN status = 3 THEN coalesce(bounce_category, '') "
        "ELSE '' END, count(*) FROM deliveries GROUP BY 1, 2, 3 "
        "EXCEPT SELECT campaign_id, status, category, n FROM campaign_counts WHERE n != 0) b",
        "SELECT count(*) FROM campaign_counts WHERE n < 0",
    };
    for (int i = 0; i < 3; i++)
        assert_int_equal(edm_test_store_value(path, checks[i]), 0);
}

static edm_outcome outcome(int64_t id, enum edm_dstate s, enum edm_category cat, int64_t now)
{
    edm_outcome o;
    memset(&o, 0, sizeof o);
    o.id = id;
    o.status = s;
    o.attempted = 1;
    o.attempted_at = now;
    o.category = cat;
    o.code = s == EDM_DSTATE_DELIVERED ? 250 : s == EDM_DSTATE_DEFERRED ? 451 : 550;
    if (s == EDM_DSTATE_DEFERRED)
        o.next_attempt_at = now + 60;
    return o;
}

static int64_t stat_int(json_t *stats, const char *obj, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(stats, obj), key));
}

static void counters_follow_every_write(void **state)
{
    struct edm_test_store_fx *f = *state;
    open_store(f);
    edm_store *st = f->st;
    int64_t cid = edm_test_store_campaign(st, NULL, "x"),
            other = edm_test_store_campaign(st, NULL, "x");
    edm_test_store_upload(st, cid, "u%d@d%d.test", 0, 30, -1);
    edm_test_store_upload(st, cid, "u%d@d%d.test", 25, 10, -1); /* 5 duplicates */
    edm_test_store_upload(st, other, "u%d@d%d.test", 0, 7, -1);
    json_t *sv = NULL;
    assert_int_equal(st->ops->suppression_add(st, "u100@d1.test", "test", &sv), 0);
    json_decref(sv);
    edm_test_store_upload(st, cid, "u%d@d%d.test", 100, 2, -1); /* one suppressed */
    assert_counters_exact(f->path);

    int64_t now = edm_time_now(), cursor = 0;
    edm_job *jobs;
    size_t n;
    assert_int_equal(st->ops->claim(st, cid, now, 3600, &cursor, 10, &jobs, &n), 0);
    assert_int_equal(n, 10);
    edm_outcome res[10];
    for (size_t i = 0; i < 4; i++)
        res[i] = outcome(jobs[i].id, EDM_DSTATE_DELIVERED, EDM_CATEGORY_NONE, now);
    for (size_t i = 4; i < 7; i++)
        res[i] = outcome(jobs[i].id, EDM_DSTATE_DEFERRED, EDM_CATEGORY_RATE_LIMITED, now);
    res[7] = outcome(jobs[7].id, EDM_DSTATE_BOUNCED, EDM_CATEGORY_BAD_MAILBOX, now);
    res[8] = outcome(jobs[8].id, EDM_DSTATE_BOUNCED, EDM_CATEGORY_BAD_MAILBOX, now);
    res[9] = outcome(jobs[9].id, EDM_DSTATE_BOUNCED, EDM_CATEGORY_POLICY, now);
    assert_int_equal(st->ops->record(st, res, 10), 0);
    assert_counters_exact(f->path);

    /* The stats: deferrals are not bounce categories. */
    json_t *stats = NULL;
    assert_int_equal(st->ops->campaign_stats(st, cid, &stats), 0);
    assert_int_equal(json_integer_value(json_object_get(stats, "total")), 37);
    assert_int_equal(stat_int(stats, "counts", "queued"), 26);
    assert_int_equal(stat_int(stats, "counts", "deferred"), 3);
    assert_int_equal(stat_int(stats, "counts", "delivered"), 4);
    assert_int_equal(stat_int(stats, "counts", "bounced"), 3);
    assert_int_equal(stat_int(stats, "counts", "suppressed"), 1);
    assert_int_equal(json_integer_value(json_object_get(stats, "done")), 8);
    assert_int_equal(stat_int(stats, "bounce_categories", "bad_mailbox"), 2);
    assert_int_equal(stat_int(stats, "bounce_categories", "policy"), 1);
    assert_null(json_object_get(json_object_get(stats, "bounce_categories"), "rate_limited"));
    assert_int_equal(json_object_size(json_object_get(stats, "bounce_categories")), 2);
    json_decref(stats);

    /* A deferral expires (bounced, expired); a bounce changes category. */
    res[0] = outcome(jobs[4].id, EDM_DSTATE_BOUNCED, EDM_CATEGORY_EXPIRED, now);
    res[1] = outcome(jobs[9].id, EDM_DSTATE_BOUNCED, EDM_CATEGORY_SPAM_BLOCK, now);
    assert_int_equal(st->ops->record(st, res, 2), 0);
    assert_counters_exact(f->path);
    assert_int_equal(st->ops->campaign_stats(st, cid, &stats), 0);
    assert_int_equal(stat_int(stats, "bounce_categories", "expired"), 1);
    assert_int_equal(stat_int(stats, "bounce_categories", "spam_block"), 1);
    assert_null(json_object_get(json_object_get(stats, "bounce_categories"), "policy"));
    json_decref(stats);

    int64_t c[EDM_DSTATE_COUNT];
    assert_int_equal(st->ops->campaign_counts(st, other, c), 0);
    assert_int_equal(c[EDM_DSTATE_QUEUED], 7);
    assert_int_equal(st->ops->campaign_has_pending(st, cid), 1);
    assert_int_equal(st->ops->cancel_pending(st, cid), 28);
    assert_int_equal(st->ops->campaign_has_pending(st, cid), 0);
    assert_int_equal(st->ops->campaign_has_pending(st, other), 1);
    assert_int_equal(st->ops->campaign_counts(st, cid, c), 0);
    assert_int_equal(c[EDM_DSTATE_CANCELLED], 28);
    assert_int_equal(c[EDM_DSTATE_QUEUED] + c[EDM_DSTATE_DEFERRED], 0);
    assert_counters_exact(f->path);

    assert_int_equal(st->ops->campaign_delete(st, other), 0);
    assert_counters_exact(f->path); /* hidden, its rows still there */
    assert_int_equal(edm_test_store_purge(st), 0);
    assert_counters_exact(f->path);
    assert_int_equal(st->ops->campaign_counts(st, other, c), 0);
    for (int i = 0; i < EDM_DSTATE_COUNT; i++)
        assert_int_equal(c[i], 0);
    edm_store_jobs_free(jobs, n);
}

/* Recording keeps the counters exact in every shape of batch (SQLite
 * counts them without the row trigger, store_sqlite_record.c): two
 * campaigns in one batch, a state that does not change, a cancelled row
 * recorded late, an id that no longer exists; and with a webhook, when
 * the triggers run, the outbox gets its rows too. After each batch the
 * triggers work again for the other writers (cancel, delete). */
static void record_batches_keep_counters_exact(void **state)
{
    struct edm_test_store_fx *f = *state;
    open_store(f);
    edm_store *st = f->st;
    int64_t a = edm_test_store_campaign(st, NULL, "x"), b = edm_test_store_campaign(st, NULL, "x");
    edm_test_store_upload(st, a, "a%d@d%d.test", 0, 6, -1);
    edm_test_store_upload(st, b, "b%d@d%d.test", 0, 6, -1);
    int64_t now = edm_time_now(), ca = 0, cb = 0;
    edm_job *ja, *jb;
    size_t na, nb;
    assert_int_equal(st->ops->claim(st, a, now, 3600, &ca, 6, &ja, &na), 0);
    assert_int_equal(st->ops->claim(st, b, now, 3600, &cb, 6, &jb, &nb), 0);
    assert_int_equal(na, 6);
    assert_int_equal(nb, 6);

    edm_outcome res[8];
    res[0] = outcome(ja[0].id, EDM_DSTATE_DELIVERED, EDM_CATEGORY_NONE, now);
    res[1] = outcome(jb[0].id, EDM_DSTATE_DELIVERED, EDM_CATEGORY_NONE, now);
    res[2] = outcome(ja[1].id, EDM_DSTATE_DEFERRED, EDM_CATEGORY_NETWORK, now);
    res[3] = outcome(jb[1].id, EDM_DSTATE_BOUNCED, EDM_CATEGORY_BAD_MAILBOX, now);
    res[4] = outcome(jb[2].id, EDM_DSTATE_BOUNCED, EDM_CATEGORY_BAD_MAILBOX, now);
    res[5] = outcome(ja[2].id, EDM_DSTATE_BOUNCED, EDM_CATEGORY_POLICY, now);
    res[6] = outcome(ja[3].id, EDM_DSTATE_FAILED, EDM_CATEGORY_NONE, now);
    res[7] = outcome(ja[5].id + 100000, EDM_DSTATE_DELIVERED, EDM_CATEGORY_NONE, now);
    res[7].attempted = 0; /* no row: nothing to update, no event */
    assert_int_equal(st->ops->record(st, res, 8), 0);
    assert_counters_exact(f->path);
    int64_t c[EDM_DSTATE_COUNT];
    assert_int_equal(st->ops->campaign_counts(st, a, c), 0);
    assert_int_equal(c[EDM_DSTATE_QUEUED], 2);
    assert_int_equal(c[EDM_DSTATE_DELIVERED], 1);
    assert_int_equal(c[EDM_DSTATE_DEFERRED], 1);
    assert_int_equal(c[EDM_DSTATE_BOUNCED], 1);
    assert_int_equal(c[EDM_DSTATE_FAILED], 1);
    assert_int_equal(st->ops->campaign_counts(st, b, c), 0);
    assert_int_equal(c[EDM_DSTATE_DELIVERED], 1);
    assert_int_equal(c[EDM_DSTATE_BOUNCED], 2);

    /* Deferred again (no change), then the campaign is cancelled while a
     * row is in flight and its result comes in after. */
    res[0] = outcome(ja[1].id, EDM_DSTATE_DEFERRED, EDM_CATEGORY_NETWORK, now);
    assert_int_equal(st->ops->record(st, res, 1), 0);
    assert_counters_exact(f->path);
    assert_int_equal(st->ops->cancel_pending(st, a), 3);
    assert_counters_exact(f->path);
    res[0] = outcome(ja[4].id, EDM_DSTATE_DELIVERED, EDM_CATEGORY_NONE, now);
    assert_int_equal(st->ops->record(st, res, 1), 0);
    assert_counters_exact(f->path);

    /* With a webhook: the outbox rows come from the triggers. */
    edm_test_store_webhook(st, EDM_WEBHOOK_DELIVERED | EDM_WEBHOOK_BOUNCED);
    long long before = edm_test_store_value(f->path, "SELECT count(*) FROM webhook_outbox");
    res[0] = outcome(jb[3].id, EDM_DSTATE_DELIVERED, EDM_CATEGORY_NONE, now);
    res[1] = outcome(jb[4].id, EDM_DSTATE_BOUNCED, EDM_CATEGORY_SPAM_BLOCK, now);
    assert_int_equal(st->ops->record(st, res, 2), 0);
    assert_counters_exact(f->path);
    assert_int_equal(edm_test_store_value(f->path, "SELECT count(*) FROM webhook_outbox"),
                     before + 2);
    assert_int_equal(st->ops->campaign_delete(st, b), 0);
    assert_int_equal(edm_test_store_purge(st), 0);
    assert_counters_exact(f->path);
    edm_store_jobs_free(ja, na);
    edm_store_jobs_free(jb, nb);
}

/* A database made by version 1 (before the counters) with rows in every
 * state: opening it migrates and backfills; the stats agree. */
static void migration_backfills_counters(void **state)
{
    struct edm_test_store_fx *f = *state;
    const struct edm_migration *m1 =
        edm_test_store_is_pg() ? &edm_pg_migrations[0] : &edm_migrations[0];
    assert_int_equal(m1->version, 1);
    const char *setup_sql =
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at INTEGER NOT NULL); INSERT INTO schema_version VALUES (1, '0001_init', 0);"
        "INSERT INTO templates VALUES (1, 't', 's', NULL, 'x', '{}', 0, 0);"
        "INSERT INTO campaigns(id, name, template_id, from_addr, status, created_at, updated_at) "
        "VALUES (1, 'c', 1, 'a@example.com', 4, 0, 0);"
        "INSERT INTO deliveries(campaign_id, email, domain, status, bounce_category, queued_at) "
        "VALUES (1, 'a@x.test', 'x.test', 2, NULL, 0), (1, 'b@x.test', 'x.test', 3, 'policy', 0),"
        "(1, 'c@x.test', 'x.test', 3, 'policy', 0), (1, 'd@x.test', 'x.test', 1, 'dns', 0),"
        "(1, 'e@x.test', 'x.test', 0, NULL, 0), (1, 'f@x.test', 'x.test', 3, NULL, 0);";
    assert_int_equal(edm_test_store_exec(f->path, m1->sql), 0);
    assert_int_equal(edm_test_store_exec(f->path, setup_sql), 0);

    open_store(f);
    assert_counters_exact(f->path);
    json_t *stats = NULL;
    assert_int_equal(f->st->ops->campaign_stats(f->st, 1, &stats), 0);
    assert_int_equal(json_integer_value(json_object_get(stats, "total")), 6);
    assert_int_equal(stat_int(stats, "counts", "bounced"), 3);
    assert_int_equal(stat_int(stats, "counts", "deferred"), 1);
    assert_int_equal(stat_int(stats, "bounce_categories", "policy"), 2);
    assert_int_equal(json_object_size(json_object_get(stats, "bounce_categories")), 1);
    json_decref(stats);
    assert_int_equal(f->st->ops->campaign_has_pending(f->st, 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(counters_follow_every_write, setup, teardown),
        cmocka_unit_test_setup_teardown(record_batches_keep_counters_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(migration_backfills_counters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
