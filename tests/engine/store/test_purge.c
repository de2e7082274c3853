/*
 * tests/engine/store/test_purge.c: campaign_delete and campaign_purge
 * (store.h, schema/0017_campaign_purge.sql), on SQLite and PostgreSQL.
 * Once deleted, a campaign is gone for every read of the interface (get,
 * list, the scheduler's ids, a second delete, its receipts, the event
 * feed) while its rows may still be there; on SQLite the purge then takes
 * them in chunks of the size asked, the campaign row last, and a reopened
 * store resumes it. The other campaign is untouched and every counter
 * stays exact. Its events waiting in a webhook's outbox are not posted
 * once it is deleted, and leave the outbox with its rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    return edm_test_store_fx_new(state, "purge", 1);
}

static int teardown(void **state)
{
    return edm_test_store_fx_free(state);
}

/* Sends every recipient of campaign cid (n of them): one attempt event
 * each; returns the first receipt id. */
static int64_t send_all(edm_store *st, int64_t cid, size_t n)
{
    int64_t cursor = 0;
    edm_job *jobs;
    size_t got;
    assert_int_equal(st->ops->claim(st, cid, 1000, 60, &cursor, n, &jobs, &got), 0);
    assert_int_equal(got, n);
    edm_outcome o[32];
    assert_true(n <= 32);
    memset(o, 0, sizeof o);
    for (size_t i = 0; i < n; i++) {
        o[i].id = jobs[i].id;
        o[i].attempted = 1;
        o[i].attempted_at = 2000;
        o[i].status = EDM_DSTATE_DELIVERED;
        o[i].code = 250;
    }
    assert_int_equal(st->ops->record(st, o, n), 0);
    int64_t first = jobs[0].id;
    edm_store_jobs_free(jobs, got);
    return first;
}

/* A campaign on template tid with n recipients (fmt as
 * edm_test_store_upload's), all sent; its id, *first its first receipt. */
static int64_t sent_campaign(edm_store *st, int64_t tid, const char *fmt, int n, int64_t *first)
{
    int64_t cid = edm_test_store_campaign_on(st, tid);
    edm_test_store_upload(st, cid, fmt, 0, n, EDM_ADD_ACCEPTED);
    int64_t r = send_all(st, cid, (size_t)n);
    if (first)
        *first = r;
    return cid;
}

/* Rows of campaign cid in the database: receipts, their events, counters
 * and the campaign itself. */
static long long rows_of(const char *path, int64_t cid)
{
    char sql[512];
    long long c = (long long)cid;
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM campaigns WHERE id = %lld) + "
             "(SELECT count(*) FROM deliveries WHERE campaign_id = %lld) + "
             "(SELECT count(*) FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id "
             "WHERE d.campaign_id = %lld) + "
             "(SELECT count(*) FROM campaign_counts WHERE campaign_id = %lld AND n != 0)",
             c, c, c, c);
    return edm_test_store_value(path, sql);
}

/* Campaign cid is gone for every read; keep's 5 events are the feed. */
static void assert_gone(edm_store *st, int64_t cid, int64_t receipt, int64_t keep)
{
    assert_int_equal(st->ops->campaign_get(st, cid, NULL), EDM_ENOTFOUND);
    assert_int_equal(st->ops->campaign_delete(st, cid), EDM_ENOTFOUND);
    json_t *r = NULL;
    assert_int_equal(st->ops->receipt_get(st, receipt, &r), EDM_ENOTFOUND);
    edm_campaign_page cp;
    assert_int_equal(st->ops->campaign_list(st, -1, 0, 100, &cp), 0);
    assert_int_equal(cp.n, 1);
    assert_int_equal(cp.items[0].id, keep);
    edm_campaign_page_free(&cp);
    int64_t *ids;
    size_t n;
    assert_int_equal(st->ops->campaign_ids(st, EDM_CSTATE_DRAFT, -1, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], keep);
    free(ids);
    edm_receipt_filter f = {.limit = 100};
    edm_page page = {0};
    int rc = st->ops->receipt_list(st, cid, &f, &page);
    assert_true(rc == EDM_ENOTFOUND || (rc == 0 && json_array_size(page.items) == 0));
    json_decref(page.items);
    assert_int_equal(st->ops->event_list(st, -1, 0, 100, &page), 0);
    assert_int_equal(json_array_size(page.items), 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(page.items, i), "campaign_id")),
            keep);
    json_decref(page.items);
}

static void deleted_campaign_is_hidden_then_purged_in_chunks(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t tid = edm_test_store_template(st, NULL, "x");
    int64_t receipt, keep = sent_campaign(st, tid, "k%d@d.test", 5, NULL);
    int64_t big = sent_campaign(st, tid, "b%d@d.test", 25, &receipt);
    long long all = rows_of(f->path, big);
    assert_int_equal(all, 1 + 25 + 25 + 1);

    assert_int_equal(st->ops->campaign_delete(st, big), 0);
    assert_gone(st, big, receipt, keep);
    if (edm_test_store_is_pg()) {
        assert_null(st->ops->campaign_purge);
        assert_int_equal(rows_of(f->path, big), 0);
    } else {
        /* nothing went yet; then 10 receipts (with their events) at a
         * time, the campaign row with the last 5, then nothing to do */
        assert_int_equal(rows_of(f->path, big), all);
        assert_int_equal(st->ops->campaign_purge(st, 10), 10);
        assert_gone(st, big, receipt, keep);
        assert_int_equal(rows_of(f->path, big), all - 20);
        assert_int_equal(st->ops->campaign_purge(st, 10), 10);
        assert_int_equal(st->ops->campaign_purge(st, 10), 5 + 1);
        assert_int_equal(rows_of(f->path, big), 0);
        assert_int_equal(st->ops->campaign_purge(st, 10), 0);
    }
    assert_gone(st, big, receipt, keep);
    assert_int_equal(rows_of(f->path, keep), 1 + 5 + 5 + 1);
}

/* A store closed in the middle of a purge (a stop, a crash: the mark is
 * committed with the delete) purges the rest once opened again. */
static void purge_resumes_after_reopen(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t tid = edm_test_store_template(st, NULL, "x");
    int64_t receipt, keep = sent_campaign(st, tid, "k%d@d.test", 5, NULL);
    int64_t big = sent_campaign(st, tid, "b%d@d.test", 25, &receipt);
    assert_int_equal(st->ops->campaign_delete(st, big), 0);
    if (st->ops->campaign_purge)
        assert_int_equal(st->ops->campaign_purge(st, 10), 10);
    edm_store_close(st);
    char err[512];
    assert_int_equal(edm_store_open(f->path, &f->st, err, sizeof err), 0);
    st = f->st;
    assert_gone(st, big, receipt, keep);
    if (!edm_test_store_is_pg())
        assert_true(rows_of(f->path, big) > 0);
    assert_int_equal(edm_test_store_purge(st), 0);
    assert_int_equal(rows_of(f->path, big), 0);
    assert_gone(st, big, receipt, keep);
}

/* Events in a webhook's outbox (email:campaign, in order) of one batch;
 * "" when none is due. *last_id: the batch's last id. */
static void outbox_of(edm_store *st, int64_t wid, char *out, size_t len, int64_t *last_id)
{
    char *body = NULL;
    size_t count = 0;
    int64_t first = 0;
    int attempts = 0;
    *last_id = 0;
    assert_int_equal(
        st->ops->outbox_batch(st, wid, 3000, 100, last_id, &first, &attempts, &body, &count), 0);
    out[0] = 0;
    json_t *a = count ? json_loads(body, 0, NULL) : json_array();
    free(body);
    assert_int_equal(json_array_size(a), count);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        const char *email = json_string_value(json_object_get(e, "email"));
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s:%lld", i ? " " : "", email ? email : "(null)",
                 (long long)json_integer_value(json_object_get(e, "campaign_id")));
    }
    json_decref(a);
}

/* A deleted campaign's events were still posted to webhooks: on SQLite
 * with its receipts' email and campaign while the purge ran, then with
 * neither; on PostgreSQL with neither at once. Now the batch holds only
 * the other campaign's, and the outbox keeps nothing of the deleted one. */
static void deleted_campaign_events_are_not_posted(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t wid = edm_test_store_webhook(st, EDM_WEBHOOK_DELIVERED);
    int64_t tid = edm_test_store_template(st, NULL, "x");
    /* the deleted campaign's events first in the outbox, the kept one's after */
    int64_t big = sent_campaign(st, tid, "b%d@d.test", 25, NULL);
    int64_t keep = sent_campaign(st, tid, "k%d@d.test", 2, NULL);
    char sql[256], got[2048], want[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM webhook_outbox WHERE webhook_id = %lld",
             (long long)wid);
    assert_int_equal(edm_test_store_value(f->path, sql), 25 + 2);

    assert_int_equal(st->ops->campaign_delete(st, big), 0);
    /* the receipts view (for people at the prompt) hides it too */
    char view[128];
    snprintf(view, sizeof view, "SELECT count(*) FROM receipts WHERE campaign_id IN (%lld, %lld)",
             (long long)big, (long long)keep);
    assert_int_equal(edm_test_store_value(f->path, view), 2);
    snprintf(want, sizeof want, "k0@d.test:%lld k1@d.test:%lld", (long long)keep, (long long)keep);
    int64_t last = 0;
    outbox_of(st, wid, got, sizeof got, &last);
    assert_string_equal(got, want);
    if (st->ops->campaign_purge) {
        /* 10 receipts purged take their 10 posts; the batch is the same */
        assert_int_equal(st->ops->campaign_purge(st, 10), 10);
        assert_int_equal(edm_test_store_value(f->path, sql), 15 + 2);
        outbox_of(st, wid, got, sizeof got, &last);
        assert_string_equal(got, want);
    }
    assert_int_equal(edm_test_store_purge(st), 0);
    assert_int_equal(edm_test_store_value(f->path, sql), 2);
    outbox_of(st, wid, got, sizeof got, &last);
    assert_string_equal(got, want);
    assert_int_equal(st->ops->outbox_ack(st, wid, last), 0);
    assert_int_equal(edm_test_store_value(f->path, sql), 0);
    outbox_of(st, wid, got, sizeof got, &last);
    assert_string_equal(got, "");
}

/* Posts of campaigns deleted before migration 19 (their receipts gone,
 * posted with neither email nor campaign) are deleted by it, once; the
 * others stay. */
static void migration_19_drops_posts_without_receipts(void **state)
{
    struct edm_test_store_fx *f = *state;
    int64_t wid = edm_test_store_webhook(f->st, EDM_WEBHOOK_DELIVERED);
    int64_t tid = edm_test_store_template(f->st, NULL, "x");
    sent_campaign(f->st, tid, "k%d@d.test", 2, NULL);
    edm_store_close(f->st);
    f->st = NULL;
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO webhook_outbox(webhook_id, delivery_id, event, at) "
             "VALUES (%lld, 987654, 'delivered', 1); "
             "DELETE FROM schema_version WHERE version >= 19",
             (long long)wid);
    assert_int_equal(edm_test_store_exec(f->path, sql), 0);
    const char *count = "SELECT count(*) FROM webhook_outbox";
    assert_int_equal(edm_test_store_value(f->path, count), 3);
    char err[512];
    assert_int_equal(edm_store_open(f->path, &f->st, err, sizeof err), 0);
    assert_int_equal(edm_test_store_value(f->path, count), 2);
    assert_int_equal(edm_test_store_value(f->path, "SELECT count(*) FROM webhook_outbox "
                                                   "WHERE delivery_id = 987654"),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(deleted_campaign_is_hidden_then_purged_in_chunks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(purge_resumes_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_campaign_events_are_not_posted, setup, teardown),
        cmocka_unit_test_setup_teardown(migration_19_drops_posts_without_receipts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
