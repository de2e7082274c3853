/*
 * tests/engine/store/test_feed.c: the events feed (GET /v1/events?after=,
 * the store's event_list) and the webhook outbox never pass an event that
 * commits late (docs/api.md, docs/postgresql.md "Events feed";
 * engine/store/pg/store_pg_feed.c), on both backends
 * (tests/support/store_backend.h; store_test_feed_pg):
 * - without concurrent writers every event is in the feed at once, pages
 *   chained by next, none twice, none missing;
 * - on PostgreSQL, with two connections: an event inserted by a
 *   transaction still open (T1) holds back one that another (T2)
 *   inserted after it and committed: the feed shows neither T2's event nor
 *   a next past T1's; once T1 commits, reading on from the cursor gives
 *   both, in id order. Twice: T1 with the older transaction id, and T2
 *   with the older one (it began first but took its event id last: a
 *   filter "inserted by a transaction older than every running one"
 *   alone lets T2's event through);
 * - on PostgreSQL, the same for a webhook's outbox: a batch never holds
 *   T2's row while T1's lower one may still commit, so acknowledging the
 *   batch cannot delete T1's row unsent.
 * - on PostgreSQL, the lists read with after= (suppressions, campaigns):
 *   a row inserted by a transaction still open holds back one that the
 *   store added and committed after it; once it commits, both, in id
 *   order; and a transaction left open elsewhere (a receipt locked) does
 *   not hold back a row added after it began.
 * The writers' SQL is the store's own: lock the receipt (FOR UPDATE, as
 * feedback and tracking do; record updates it), then insert its event;
 * a list's row takes its id under the list's advisory lock (PG_LIST_ID).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/timeutil.h"
#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    return edm_test_store_fx_new(state, "feed", 1);
}

static int teardown(void **state)
{
    return edm_test_store_fx_free(state);
}

/* A campaign of n recipients, claimed; their receipt ids in ids[]. */
static void receipts(edm_store *st, int n, int64_t *ids)
{
    int64_t cid = edm_test_store_campaign(st, "<p>x</p>", NULL);
    edm_test_store_upload(st, cid, "u%d@d.test", 0, n, EDM_ADD_ACCEPTED);
    edm_job *jobs;
    size_t got;
    int64_t cursor = 0;
    assert_int_equal(st->ops->claim(st, cid, edm_time_now(), 3600, &cursor, 100, &jobs, &got), 0);
    assert_int_equal(got, (size_t)n);
    for (int i = 0; i < n; i++)
        ids[i] = jobs[i].id;
    edm_store_jobs_free(jobs, got);
}

/* One delivered attempt for each receipt, through the store. */
static void record_delivered(edm_store *st, const int64_t *ids, int n)
{
    edm_outcome res[8];
    assert_true(n <= 8);
    memset(res, 0, sizeof res);
    for (int i = 0; i < n; i++) {
        res[i].id = ids[i];
        res[i].status = EDM_DSTATE_DELIVERED;
        res[i].attempted = 1;
        res[i].attempted_at = edm_time_now();
        res[i].code = 250;
        snprintf(res[i].text, sizeof res[i].text, "250 ok");
    }
    assert_int_equal(st->ops->record(st, res, (size_t)n), 0);
}

/* A feed page: its items' event ids into ids (up to cap), their number,
 * and next (0 for null). */
static size_t feed(edm_store *st, int64_t after, int limit, int64_t *ids, size_t cap, int64_t *next,
                   int64_t *receipt_ids)
{
    edm_page page = {0};
    assert_int_equal(st->ops->event_list(st, -1, after, limit, &page), 0);
    size_t n = json_array_size(page.items);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(page.items, i);
        ids[i] = json_integer_value(json_object_get(e, "id"));
        if (receipt_ids)
            receipt_ids[i] = json_integer_value(json_object_get(e, "receipt_id"));
        if (i > 0)
            assert_true(ids[i] > ids[i - 1]);
    }
    *next = page.next;
    json_decref(page.items);
    return n;
}

static void everything_at_once(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t r[5], ev[16], next;
    receipts(st, 5, r);
    record_delivered(st, r, 3);
    record_delivered(st, r + 3, 2);
    /* one page: all five, the end of the feed */
    assert_int_equal(feed(st, 0, 100, ev, 16, &next, NULL), 5);
    assert_int_equal(next, 0);
    int64_t all[5];
    memcpy(all, ev, sizeof all);
    /* pages of two, chained by next: the same five, then the end */
    size_t seen = 0;
    int64_t after = 0;
    for (int pages = 0; pages < 3; pages++) {
        size_t n = feed(st, after, 2, ev, 16, &next, NULL);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(ev[i], all[seen + i]);
        seen += n;
        if (next == 0)
            break;
        assert_int_equal(next, ev[n - 1]);
        after = next;
    }
    assert_int_equal(seen, 5);
    assert_int_equal(next, 0);
    /* polling from the last id seen: nothing new, nothing again */
    assert_int_equal(feed(st, all[4], 100, ev, 16, &next, NULL), 0);
    assert_int_equal(next, 0);
}

/* ---- PostgreSQL: two writers on their own connections ---- */

static PGconn *conn(const char *uri)
{
    PGconn *c = PQconnectdb(uri);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    return c;
}

static void sql(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql(PGconn *c, const char *fmt, ...)
{
    char q[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(c, q);
    ExecStatusType t = PQresultStatus(r);
    if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK)
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    PQclear(r);
}

/* The writer's side as the store does it: the receipt locked, then its
 * event (a delivered attempt). */
static void lock_receipt(PGconn *c, int64_t receipt)
{
    sql(c, "SELECT id FROM deliveries WHERE id = %lld FOR UPDATE", (long long)receipt);
}

static void insert_event(PGconn *c, int64_t receipt)
{
    sql(c,
        "INSERT INTO delivery_events(delivery_id, attempted_at, status, smtp_code, response) "
        "VALUES (%lld, %lld, 2, 250, '250 ok')",
        (long long)receipt, (long long)edm_time_now());
}

/* The feed while T1 (on a, holding a lower event id) is open and T2's
 * event is committed: only what was there before (e0), and no next past
 * it, whatever the page size; once T1 commits, both from the cursor. */
static void check_held_back(edm_store *st, PGconn *a, int64_t e0, int64_t r1, int64_t r2)
{
    int64_t ev[16], rc[16], next;
    assert_int_equal(feed(st, 0, 100, ev, 16, &next, NULL), 1);
    assert_int_equal(ev[0], e0);
    assert_int_equal(next, 0);
    assert_int_equal(feed(st, 0, 1, ev, 16, &next, NULL), 1);
    assert_int_equal(next, 0); /* the row after e0 is held back */
    assert_int_equal(feed(st, e0, 100, ev, 16, &next, NULL), 0);
    assert_int_equal(next, 0);

    sql(a, "COMMIT");
    assert_int_equal(feed(st, e0, 100, ev, 16, &next, rc), 2);
    assert_int_equal(next, 0);
    assert_int_equal(rc[0], r1); /* T1's event took the lower id */
    assert_int_equal(rc[1], r2);
}

/* Three receipts, the first delivered: its event, alone in the feed. */
static int64_t first_event(edm_store *st, int64_t r[3])
{
    int64_t ev[4], next;
    receipts(st, 3, r);
    record_delivered(st, r, 1);
    assert_int_equal(feed(st, 0, 100, ev, 4, &next, NULL), 1);
    return ev[0];
}

/* T1 begins and takes its event id first, T2 after it and commits first. */
static void late_commit_held_back(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t r[3];
    int64_t e0 = first_event(st, r);

    PGconn *a = conn(f->path), *b = conn(f->path);
    sql(a, "BEGIN");
    lock_receipt(a, r[1]);
    insert_event(a, r[1]);
    sql(b, "BEGIN");
    lock_receipt(b, r[2]);
    insert_event(b, r[2]);
    sql(b, "COMMIT");
    check_held_back(st, a, e0, r[1], r[2]);
    PQfinish(a);
    PQfinish(b);
}

/* T2 begins first (its transaction id is the older one) but takes its
 * event id after T1: "inserted by a transaction older than every running
 * one" alone would let T2's event through while T1's lower id is open. */
static void late_commit_older_xid_held_back(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t r[3];
    int64_t e0 = first_event(st, r);

    PGconn *a = conn(f->path), *b = conn(f->path);
    sql(b, "BEGIN");
    lock_receipt(b, r[2]); /* T2's transaction id is assigned here */
    sql(a, "BEGIN");
    lock_receipt(a, r[1]);
    insert_event(a, r[1]);
    insert_event(b, r[2]);
    sql(b, "COMMIT");
    check_held_back(st, a, e0, r[1], r[2]);
    PQfinish(a);
    PQfinish(b);
}

/* The receipt ids of a batch of webhook wid (none: 0), acknowledged. */
static size_t batch_acked(edm_store *st, int64_t wid, int64_t *rids, size_t cap)
{
    char *body = NULL;
    size_t count = 0;
    int64_t last = 0, first = 0;
    int attempts = 0;
    assert_int_equal(st->ops->outbox_batch(st, wid, edm_time_now(), 100, &last, &first, &attempts,
                                           &body, &count),
                     0);
    if (count == 0)
        return 0;
    json_t *arr = json_loads(body, 0, NULL);
    free(body);
    assert_int_equal(json_array_size(arr), count);
    assert_true(count <= cap);
    for (size_t i = 0; i < count; i++)
        rids[i] = json_integer_value(json_object_get(json_array_get(arr, i), "receipt_id"));
    json_decref(arr);
    assert_int_equal(st->ops->outbox_ack(st, wid, last), 0);
    return count;
}

/* A batch read while T1's outbox row may still commit does not hold T2's
 * row (acknowledged, it would delete ids up to T2's, T1's with them once
 * committed, unsent): every event is posted, in id order. */
static void outbox_late_commit_not_lost(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t r[2], sent[8];
    receipts(st, 2, r);
    int64_t wid = edm_test_store_webhook(st, EDM_WEBHOOK_DELIVERED);

    PGconn *a = conn(f->path), *b = conn(f->path);
    sql(a, "BEGIN");
    lock_receipt(a, r[0]);
    insert_event(a, r[0]);
    sql(b, "BEGIN");
    lock_receipt(b, r[1]);
    insert_event(b, r[1]);
    sql(b, "COMMIT");
    size_t n = batch_acked(st, wid, sent, 8); /* none: T2's row waits for T1's */
    sql(a, "COMMIT");
    n += batch_acked(st, wid, sent + n, 8 - n);
    n += batch_acked(st, wid, sent + n, 8 - n);
    assert_int_equal(n, 2);
    assert_int_equal(sent[0], r[0]);
    assert_int_equal(sent[1], r[1]);
    PQfinish(a);
    PQfinish(b);
}

/* The ids of a list's page (suppressions or campaigns), their number,
 * and next (0 for null). */
static size_t list_ids(edm_store *st, int campaigns, int64_t after, int64_t *ids, size_t cap,
                       int64_t *next)
{
    size_t n;
    if (campaigns) {
        edm_campaign_page page;
        assert_int_equal(st->ops->campaign_list(st, -1, after, 100, &page), 0);
        n = page.n;
        assert_true(n <= cap);
        for (size_t i = 0; i < n; i++)
            ids[i] = page.items[i].id;
        *next = page.next;
        edm_campaign_page_free(&page);
    } else {
        edm_page page = {0};
        assert_int_equal(st->ops->suppression_list(st, after, 100, &page), 0);
        n = json_array_size(page.items);
        assert_true(n <= cap);
        for (size_t i = 0; i < n; i++)
            ids[i] = json_integer_value(json_object_get(json_array_get(page.items, i), "id"));
        *next = page.next;
        json_decref(page.items);
    }
    for (size_t i = 1; i < n; i++)
        assert_true(ids[i] > ids[i - 1]);
    return n;
}

/* A row the store adds to the list and commits (a campaign, or the
 * suppression of email): its id. */
static int64_t store_adds(edm_store *st, int campaigns, const char *email)
{
    if (campaigns)
        return edm_test_store_campaign(st, "<p>x</p>", NULL);
    json_t *o;
    assert_int_equal(st->ops->suppression_add(st, email, "manual", &o), 0);
    int64_t id = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    return id;
}

/* A list's row from T1 (open, on a, the lower id) and one the store adds
 * and commits after it: the list shows neither until T1 commits. */
static void list_late_commit_held_back(struct edm_test_store_fx *f, int campaigns)
{
    edm_store *st = f->st;
    int64_t ids[8], next, first = store_adds(st, campaigns, "first@x.test");
    assert_int_equal(list_ids(st, campaigns, 0, ids, 8, &next), 1);
    assert_int_equal(ids[0], first);

    PGconn *a = conn(f->path);
    sql(a, "BEGIN");
    if (campaigns)
        sql(a,
            "INSERT INTO campaigns(id, name, from_addr, created_at, updated_at) VALUES ((SELECT "
            "nextval('campaigns_id_seq') FROM (SELECT 1 FROM "
            "pg_advisory_xact_lock_shared(1701080322)) x), 't1', 'a@x.test', "
            "%lld, %lld)",
            (long long)edm_time_now(), (long long)edm_time_now());
    else
        sql(a, "INSERT INTO suppressions(id, value, kind, reason, created_at) VALUES ((SELECT "
               "nextval('suppressions_id_seq') FROM (SELECT 1 FROM "
               "pg_advisory_xact_lock_shared(1701080324)) x), 't1@x.test', "
               "'email', 'manual', 1)");
    int64_t mine = store_adds(st, campaigns, "t2@x.test");
    /* T2's row is committed, T1's lower one may still be: neither */
    assert_int_equal(list_ids(st, campaigns, 0, ids, 8, &next), 1);
    assert_int_equal(ids[0], first);
    assert_int_equal(next, 0);
    assert_int_equal(list_ids(st, campaigns, first, ids, 8, &next), 0);

    sql(a, "COMMIT");
    assert_int_equal(list_ids(st, campaigns, first, ids, 8, &next), 2);
    assert_true(ids[0] < mine); /* T1's row took the lower id */
    assert_int_equal(ids[1], mine);
    assert_int_equal(next, 0);
    PQfinish(a);
}

/* An unrelated transaction left open (it holds a transaction id older
 * than the new row's) does not hold the list back: the row shows at once. */
static void list_not_held_by_other_transactions(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t r[1], ids[8], next;
    receipts(st, 1, r);
    PGconn *a = conn(f->path);
    sql(a, "BEGIN");
    lock_receipt(a, r[0]);
    sql(a, "SELECT txid_current()");
    int64_t sid = store_adds(st, 0, "now@x.test"), cid = store_adds(st, 1, NULL);
    assert_int_equal(list_ids(st, 0, 0, ids, 8, &next), 1);
    assert_int_equal(ids[0], sid);
    assert_int_equal(list_ids(st, 1, 0, ids, 8, &next), 2); /* receipts()'s campaign too */
    assert_int_equal(ids[1], cid);
    sql(a, "ROLLBACK");
    PQfinish(a);
}

static void suppressions_late_commit_held_back(void **state)
{
    list_late_commit_held_back(*state, 0);
}

static void campaigns_late_commit_held_back(void **state)
{
    list_late_commit_held_back(*state, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(everything_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(late_commit_held_back, setup, teardown),
        cmocka_unit_test_setup_teardown(late_commit_older_xid_held_back, setup, teardown),
        cmocka_unit_test_setup_teardown(outbox_late_commit_not_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(suppressions_late_commit_held_back, setup, teardown),
        cmocka_unit_test_setup_teardown(campaigns_late_commit_held_back, setup, teardown),
        cmocka_unit_test_setup_teardown(list_not_held_by_other_transactions, setup, teardown),
    };
    /* SQLite has one writer at a time (BEGIN IMMEDIATE, ids given out
     * inside it): the concurrent cases are PostgreSQL's, listed only when
     * running there. */
    size_t n = edm_test_store_is_pg() ? sizeof tests / sizeof tests[0] : 1;
    return _cmocka_run_group_tests("store_test_feed", tests, n, edm_test_store_group_setup,
                                   edm_test_store_group_teardown);
}
