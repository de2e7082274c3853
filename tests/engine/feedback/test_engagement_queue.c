/*
 * tests/engine/feedback/test_engagement_queue.c: the queue of opens and
 * clicks (engine/feedback/engagement_queue.c, docs/tracking.md "Speed")
 * on a real SQLite store: nothing is written before a flush, a flush
 * writes every event with its counters and skips gone deliveries; the
 * queue refuses beyond its bound; with the writer thread every event is
 * written in the order it was queued, and what is still queued when the
 * queue is freed is written then; a batch that fails (the database locked
 * by another connection) is retried until it is written, and a flush that
 * would wait for a failing writer answers EDM_EBUSY at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/feedback/engagement_queue.h"
#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NDELIV = 50 };

struct fx {
    char *dir;
    char path[4200];
    edm_store *st;
    int64_t ids[NDELIV];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = edm_test_tmpdir("engq");
    snprintf(f->path, sizeof f->path, "%s/edm.db", f->dir);
    char err[512];
    assert_int_equal(edm_store_open(f->path, &f->st, err, sizeof err), 0);
    int64_t cid = edm_test_store_campaign(f->st, "<a href=\"https://x.example/\">x</a>", NULL);
    edm_test_store_upload(f->st, cid, "u%d@d.test", 0, NDELIV, -1);
    long long first = edm_test_store_value(f->path, "SELECT min(id) FROM deliveries");
    for (int i = 0; i < NDELIV; i++)
        f->ids[i] = first + i;
    assert_int_equal(edm_test_store_value(f->path, "SELECT max(id) FROM deliveries"),
                     first + NDELIV - 1);
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

static edm_engagement_rec click(int64_t id, int64_t at)
{
    return (edm_engagement_rec){.delivery_id = id,
                                .type = EDM_EVENT_CLICK,
                                .at = at,
                                .link = 0,
                                .url = "https://x.example/",
                                .machine = 0,
                                .user_agent = "Mozilla/5.0 (X11) Firefox/115.0",
                                .ip = "192.0.2.7"};
}

static long long clicks(struct fx *f)
{
    return edm_test_store_value(f->path, "SELECT count(*) FROM delivery_events WHERE type = 5");
}

static void written_only_when_flushed(void **state)
{
    struct fx *f = *state;
    engagement_queue *q = engagement_queue_new(f->st, 100, 1 << 20);
    for (int i = 0; i < 10; i++) {
        edm_engagement_rec r = click(f->ids[i % 5], 1000 + i);
        assert_int_equal(engagement_queue_add(q, &r), 0);
    }
    edm_engagement_rec gone = click(f->ids[NDELIV - 1] + 1000, 2000);
    assert_int_equal(engagement_queue_add(q, &gone), 0);
    assert_int_equal(engagement_queue_len(q), 11);
    assert_int_equal(clicks(f), 0);
    assert_int_equal(engagement_queue_flush(q, 1), 0);
    assert_int_equal(engagement_queue_len(q), 0);
    assert_int_equal(clicks(f), 10); /* the gone delivery's is skipped */
    assert_int_equal(edm_test_store_value(f->path,
                                          "SELECT total * 1000 + uniq FROM engagement_counts WHERE "
                                          "what = 1 AND link = 0 AND machine = 0"),
                     10 * 1000 + 5);
    assert_int_equal(edm_test_store_value(f->path,
                                          "SELECT count(*) FROM deliveries WHERE clicked_at = 1000 "
                                          "OR clicked_at BETWEEN 1001 AND 1004"),
                     5);
    size_t lost = 99;
    engagement_queue_free(q, &lost);
    assert_int_equal(lost, 0);
}

static void bounded(void **state)
{
    struct fx *f = *state;
    engagement_queue *q = engagement_queue_new(f->st, 4, 1 << 20);
    edm_engagement_rec r = click(f->ids[0], 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(engagement_queue_add(q, &r), 0);
    assert_int_equal(engagement_queue_add(q, &r), EDM_EBUSY);
    assert_int_equal(engagement_queue_flush(q, 1), 0);
    assert_int_equal(engagement_queue_add(q, &r), 0);
    engagement_queue_free(q, NULL); /* writes the last one */
    assert_int_equal(clicks(f), 5);
    /* The strings count too. */
    q = engagement_queue_new(f->st, 100, 130);
    assert_int_equal(engagement_queue_add(q, &r), 0);
    assert_int_equal(engagement_queue_add(q, &r), 0);
    assert_int_equal(engagement_queue_add(q, &r), EDM_EBUSY);
    engagement_queue_free(q, NULL);
    assert_int_equal(clicks(f), 7);
}

static edm_store *second_connection(struct fx *f)
{
    edm_store *w;
    char err[512];
    assert_int_equal(edm_store_open(f->path, &w, err, sizeof err), 0);
    return w;
}

static void writer_keeps_order_and_writes_at_free(void **state)
{
    struct fx *f = *state;
    engagement_queue *q = engagement_queue_new(f->st, 1000, 1 << 20);
    assert_int_equal(engagement_queue_start_writer(q, second_connection(f)), 0);
    enum { N = 5000 };
    for (int i = 0; i < N; i++) {
        edm_engagement_rec r = click(f->ids[i % NDELIV], 10000 + i);
        int rc = engagement_queue_add(q, &r);
        if (rc == EDM_EBUSY) {
            assert_int_equal(engagement_queue_flush(q, 1), 0);
            rc = engagement_queue_add(q, &r);
        }
        assert_int_equal(rc, 0);
        if (i % 700 == 0)
            assert_int_equal(engagement_queue_flush(q, 0), 0);
    }
    assert_true(engagement_queue_len(q) > 0);
    size_t lost = 99;
    engagement_queue_free(q, &lost);
    assert_int_equal(lost, 0);
    assert_int_equal(clicks(f), N);
    /* In the order they were queued: event ids follow their times. */
    assert_int_equal(
        edm_test_store_value(f->path, "SELECT count(*) FROM (SELECT attempted_at, "
                                      "lag(attempted_at) OVER (ORDER BY id) AS prev FROM "
                                      "delivery_events WHERE type = 5) WHERE attempted_at < prev"),
        0);
    assert_int_equal(edm_test_store_value(f->path,
                                          "SELECT total * 1000 + uniq FROM engagement_counts WHERE "
                                          "what = 1 AND link = 0 AND machine = 0"),
                     (long long)N * 1000 + NDELIV);
}

static void writer_retries_a_locked_database(void **state)
{
    struct fx *f = *state;
    engagement_queue *q = engagement_queue_new(f->st, 100, 1 << 20);
    assert_int_equal(engagement_queue_start_writer(q, second_connection(f)), 0);
    sqlite3 *lock;
    assert_int_equal(sqlite3_open(f->path, &lock), SQLITE_OK);
    assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < 20; i++) {
        edm_engagement_rec r = click(f->ids[i], 500 + i);
        assert_int_equal(engagement_queue_add(q, &r), 0);
    }
    assert_int_equal(engagement_queue_flush(q, 0), 0); /* handed over; it fails */
    edm_engagement_rec r = click(f->ids[0], 600);
    assert_int_equal(engagement_queue_add(q, &r), 0);
    /* Waiting for a writer that fails gives up at once. */
    assert_int_equal(engagement_queue_flush(q, 1), EDM_EBUSY);
    assert_int_equal(engagement_queue_len(q), 21);
    edm_test_sleep_ms(150);
    assert_int_equal(engagement_queue_len(q), 21);
    assert_int_equal(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(lock);
    for (int i = 0; i < 250 && engagement_queue_len(q) > 1; i++)
        edm_test_sleep_ms(20);
    assert_int_equal(engagement_queue_len(q), 1); /* the batch is written; one waits */
    assert_int_equal(clicks(f), 20);
    assert_int_equal(engagement_queue_flush(q, 1), 0);
    size_t lost = 99;
    engagement_queue_free(q, &lost);
    assert_int_equal(lost, 0);
    assert_int_equal(clicks(f), 21);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(written_only_when_flushed, setup, teardown),
        cmocka_unit_test_setup_teardown(bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(writer_keeps_order_and_writes_at_free, setup, teardown),
        cmocka_unit_test_setup_teardown(writer_retries_a_locked_database, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
