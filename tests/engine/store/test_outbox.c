/*
 * tests/engine/store/test_outbox.c: the webhook outbox and the sources
 * campaigns are sent with, at the store (docs/tracking.md; schema/0006,
 * 0009 and schema/pg/0009_tracking_sources.sql), on both backends
 * (tests/support/store_backend.h; store_test_outbox_pg):
 * - every kind of outcome reaches a subscribed webhook's outbox through
 *   the store's own writes, with its webhook event name: delivered,
 *   deferred, bounced and failed outcomes, a recipient suppressed at
 *   upload, a DSN turning a delivery bounced, a complaint, an
 *   unsubscribe, an open and a click; in order per receipt; a webhook gets
 *   only what it subscribed to; a failed or suppressed recipient (no
 *   event row) comes with its status and, failed, the reason; ack and retry;
 * - an event's `id` (what a receiver de-duplicates by) is never given to
 *   another event, not even after the outbox was emptied;
 * - the template a campaign started with is what track_source answers
 *   after the template is edited;
 * - on PostgreSQL, two store handles (two nodes) never get a batch of the
 *   same webhook at once, and a dead holder's lease expires.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/store/feedback.h"
#include "engine/store/store.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    return edm_test_store_fx_new(state, "outbox", 1);
}

static int teardown(void **state)
{
    return edm_test_store_fx_free(state);
}

/* The campaign's recipients claimed, in id order (n of them). */
static void claim_all(edm_store *st, int64_t cid, int64_t now, edm_job **jobs, size_t *n)
{
    int64_t cursor = 0;
    assert_int_equal(st->ops->claim(st, cid, now, 3600, &cursor, 100, jobs, n), 0);
}

static edm_outcome outcome(int64_t id, enum edm_dstate s, int attempted, int64_t now)
{
    edm_outcome o;
    memset(&o, 0, sizeof o);
    o.id = id;
    o.status = s;
    o.attempted = attempted;
    o.attempted_at = now;
    o.code = s == EDM_DSTATE_DELIVERED ? 250 : s == EDM_DSTATE_DEFERRED ? 451 : 550;
    o.category = s == EDM_DSTATE_BOUNCED ? EDM_CATEGORY_BAD_MAILBOX : EDM_CATEGORY_NONE;
    if (s == EDM_DSTATE_DEFERRED)
        o.next_attempt_at = now + 60;
    snprintf(o.text, sizeof o.text, "%d test", o.code);
    return o;
}

static void feedback(edm_store *st, int64_t id, enum edm_event_type type, int64_t now)
{
    edm_feedback_rec r;
    memset(&r, 0, sizeof r);
    r.delivery_id = id;
    r.type = type;
    r.at = now;
    if (type == EDM_EVENT_DSN) {
        r.bounce = 1;
        r.event_status = EDM_DSTATE_BOUNCED;
        r.code = 550;
        snprintf(r.enhanced, sizeof r.enhanced, "5.1.1");
        snprintf(r.text, sizeof r.text, "user unknown");
        r.category = EDM_CATEGORY_BAD_MAILBOX;
        r.suppress = "bounce";
    } else {
        r.suppress = type == EDM_EVENT_COMPLAINT ? "complaint" : "unsubscribe";
    }
    edm_feedback_done done;
    memset(&done, 0, sizeof done);
    assert_int_equal(st->ops->feedback_apply(st, &r, &done), 0);
    assert_true(done.event);
}

/* A batch of the webhook at now, parsed; NULL when none is given. */
static json_t *batch(edm_store *st, int64_t wid, int64_t now, size_t limit, int64_t *last_id,
                     int *attempts)
{
    char *body = NULL;
    size_t count = 0;
    int64_t first = 0;
    *last_id = 0;
    *attempts = -1;
    assert_int_equal(
        st->ops->outbox_batch(st, wid, now, limit, last_id, &first, attempts, &body, &count), 0);
    if (count == 0) {
        assert_null(body);
        return NULL;
    }
    json_error_t jerr;
    json_t *a = json_loads(body, 0, &jerr);
    free(body);
    assert_true(json_is_array(a));
    assert_int_equal(json_array_size(a), count);
    return a;
}

/* "email:event email:event ..." of a batch, in its order. */
static void describe(json_t *a, char *out, size_t len)
{
    size_t i, n = 0;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(a, i, e)
    {
        n += (size_t)snprintf(out + n, len - n, "%s%s:%s", i ? " " : "",
                              json_string_value(json_object_get(e, "email")),
                              json_string_value(json_object_get(e, "event")));
        assert_true(n < len);
    }
}

/* The events of one recipient in the batch's order, "a,b,c". */
static void of(json_t *a, const char *email, char *out, size_t len)
{
    size_t i, n = 0;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(a, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "email")), email) != 0)
            continue;
        n += (size_t)snprintf(out + n, len - n, "%s%s", n ? "," : "",
                              json_string_value(json_object_get(e, "event")));
    }
}

static void every_outcome_reaches_the_outbox(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t now = edm_time_now();
    int64_t cid = edm_test_store_campaign(st, "<a href=\"https://x.example/\">x</a>", "x");
    int64_t all = edm_test_store_webhook(st, 511),
            clicks = edm_test_store_webhook(st, EDM_WEBHOOK_CLICK);
    json_t *sv = NULL;
    assert_int_equal(st->ops->suppression_add(st, "s@x.test", "test", &sv), 0);
    json_decref(sv);
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    const char *emails[] = {"a@d.test", "b@d.test", "c@d.test", "d@d.test",
                            "e@d.test", "f@d.test", "s@x.test"};
    for (int i = 0; i < 7; i++) {
        edm_recipient r = {
            .email = emails[i], .domain = strchr(emails[i], '@') + 1, .vars_json = NULL};
        enum edm_add_outcome o;
        assert_int_equal(st->ops->upload_add(up, &r, 1, &o), 0);
        assert_int_equal(o, i == 6 ? EDM_ADD_SUPPRESSED : EDM_ADD_ACCEPTED);
    }
    assert_int_equal(st->ops->upload_end(up, 1), 0);

    edm_job *jobs;
    size_t n;
    claim_all(st, cid, now, &jobs, &n);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(jobs[i].email, emails[i]);
    edm_outcome res[6] = {
        outcome(jobs[0].id, EDM_DSTATE_DELIVERED, 1, now),
        outcome(jobs[1].id, EDM_DSTATE_DEFERRED, 1, now),
        outcome(jobs[2].id, EDM_DSTATE_BOUNCED, 1, now),
        outcome(jobs[3].id, EDM_DSTATE_FAILED, 0, now), /* rendering failed: never sent */
        outcome(jobs[4].id, EDM_DSTATE_DELIVERED, 1, now),
        outcome(jobs[5].id, EDM_DSTATE_DELIVERED, 1, now),
    };
    assert_int_equal(st->ops->record(st, res, 6), 0);
    int64_t a = jobs[0].id;
    feedback(st, jobs[4].id, EDM_EVENT_DSN, now + 1);
    feedback(st, jobs[5].id, EDM_EVENT_COMPLAINT, now + 1);
    feedback(st, a, EDM_EVENT_UNSUBSCRIBE, now + 2);
    edm_store_jobs_free(jobs, n);
    edm_engagement_rec open = {.delivery_id = a, .type = EDM_EVENT_OPEN, .at = now + 3, .link = -1};
    assert_int_equal(st->ops->engagement_record(st, &open, NULL), 0);
    edm_engagement_rec click = {.delivery_id = a,
                                .type = EDM_EVENT_CLICK,
                                .at = now + 4,
                                .link = 0,
                                .url = "https://x.example/",
                                .user_agent = "Thunderbird",
                                .ip = "192.0.2.1"};
    assert_int_equal(st->ops->engagement_record(st, &click, NULL), 0);

    int64_t last;
    int attempts;
    json_t *b = batch(st, all, now + 10, 100, &last, &attempts);
    assert_non_null(b);
    char d[1024], one[256];
    describe(b, d, sizeof d);
    assert_int_equal(json_array_size(b), 12);
    assert_int_equal(attempts, 0);
    /* Per receipt, in the order they happened. */
    of(b, "a@d.test", one, sizeof one);
    assert_string_equal(one, "delivered,unsubscribed,open,click");
    of(b, "b@d.test", one, sizeof one);
    assert_string_equal(one, "deferred");
    of(b, "c@d.test", one, sizeof one);
    assert_string_equal(one, "bounced");
    of(b, "d@d.test", one, sizeof one);
    assert_string_equal(one, "failed");
    of(b, "e@d.test", one, sizeof one);
    assert_string_equal(one, "delivered,bounced");
    of(b, "f@d.test", one, sizeof one);
    assert_string_equal(one, "delivered,complained");
    of(b, "s@x.test", one, sizeof one);
    assert_string_equal(one, "suppressed");
    /* The fields of the event ride along. */
    size_t i;
    json_t *e;
    int seen = 0;
    json_array_foreach(b, i, e)
    {
        assert_int_equal(json_integer_value(json_object_get(e, "campaign_id")), cid);
        assert_true(json_integer_value(json_object_get(e, "receipt_id")) > 0);
        assert_true(json_is_string(json_object_get(e, "at")));
        const char *ev = json_string_value(json_object_get(e, "event"));
        if (strcmp(ev, "click") == 0) {
            assert_string_equal(json_string_value(json_object_get(e, "url")), "https://x.example/");
            assert_true(json_is_false(json_object_get(e, "machine")));
            seen++;
        } else if (strcmp(ev, "bounced") == 0 &&
                   strcmp(json_string_value(json_object_get(e, "email")), "e@d.test") == 0) {
            assert_string_equal(json_string_value(json_object_get(e, "type")), "dsn");
            assert_string_equal(json_string_value(json_object_get(e, "enhanced_code")), "5.1.1");
            seen++;
        } else if (strcmp(ev, "complained") == 0) {
            assert_string_equal(json_string_value(json_object_get(e, "type")), "complaint");
            seen++;
        } else if (strcmp(ev, "failed") == 0) {
            /* no event row: the receipt's state and why it failed */
            assert_string_equal(json_string_value(json_object_get(e, "status")), "failed");
            assert_string_equal(json_string_value(json_object_get(e, "response")), "550 test");
            seen++;
        } else if (strcmp(ev, "suppressed") == 0) {
            assert_string_equal(json_string_value(json_object_get(e, "status")), "suppressed");
            seen++;
        }
    }
    assert_int_equal(seen, 5);
    json_decref(b);

    /* The click-only webhook got the click only. */
    int64_t clast;
    b = batch(st, clicks, now + 10, 100, &clast, &attempts);
    assert_non_null(b);
    describe(b, d, sizeof d);
    assert_string_equal(d, "a@d.test:click");
    json_decref(b);
    /* A failed POST: retried later, its attempts counted. */
    assert_int_equal(st->ops->outbox_retry(st, clicks, clast, now + 100), 0);
    assert_null(batch(st, clicks, now + 99, 100, &clast, &attempts));
    b = batch(st, clicks, now + 100, 100, &clast, &attempts);
    assert_non_null(b);
    assert_int_equal(attempts, 1);
    json_decref(b);
    assert_int_equal(st->ops->outbox_ack(st, clicks, clast), 0);
    assert_null(batch(st, clicks, now + 200, 100, &clast, &attempts));

    /* Acknowledged in two batches: oldest first, nothing twice. */
    b = batch(st, all, now + 10, 4, &last, &attempts);
    assert_int_equal(json_array_size(b), 4);
    json_decref(b);
    assert_int_equal(st->ops->outbox_ack(st, all, last), 0);
    b = batch(st, all, now + 10, 100, &last, &attempts);
    assert_int_equal(json_array_size(b), 8);
    json_decref(b);
    assert_int_equal(st->ops->outbox_ack(st, all, last), 0);
    assert_null(batch(st, all, now + 10, 100, &last, &attempts));
}

static void sources_taken_when_sending_starts(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t tid = edm_test_store_template(st, "<a href=\"https://first.example/{{x}}\">x</a>", "x");
    int64_t cid = edm_test_store_campaign_on(st, tid);
    edm_template_row src;
    /* A draft has no source of its own yet: the template as it is. */
    assert_int_equal(st->ops->track_source(st, cid, &src), 0);
    assert_string_equal(src.html, "<a href=\"https://first.example/{{x}}\">x</a>");
    edm_template_row_clear(&src);
    assert_int_equal(st->ops->campaign_transition(st, cid, EDM_CSTATE_BIT(EDM_CSTATE_DRAFT),
                                                  EDM_CSTATE_RUNNING, -1),
                     0);
    json_t *tf =
        json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "name", "t", "subject", "Edited", "text", "y",
                  "html", "<a href=\"https://second.example/\">y</a>", "partials", "p", "q");
    edm_template_row t;
    assert_int_equal(st->ops->template_update(st, tid, tf, &t), 0);
    json_decref(tf);
    edm_template_row_clear(&t);
    assert_int_equal(st->ops->track_source(st, cid, &src), 0);
    assert_string_equal(src.html, "<a href=\"https://first.example/{{x}}\">x</a>");
    assert_string_equal(src.subject, "Hi");
    assert_string_equal(src.text, "x");
    assert_int_equal(src.npartials, 0);
    edm_template_row_clear(&src);
    /* Pause and resume keep the source taken at the start. */
    assert_int_equal(st->ops->campaign_transition(st, cid, EDM_CSTATE_BIT(EDM_CSTATE_RUNNING),
                                                  EDM_CSTATE_PAUSED, -1),
                     0);
    assert_int_equal(st->ops->campaign_transition(st, cid, EDM_CSTATE_BIT(EDM_CSTATE_PAUSED),
                                                  EDM_CSTATE_RUNNING, -1),
                     0);
    assert_int_equal(st->ops->track_source(st, cid, &src), 0);
    assert_string_equal(src.html, "<a href=\"https://first.example/{{x}}\">x</a>");
    edm_template_row_clear(&src);
    /* A click's look-up names a source that never changes. */
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    edm_recipient r = {.email = "a@d.test", .domain = "d.test", .vars_json = "{\"x\":\"1\"}"};
    enum edm_add_outcome o;
    assert_int_equal(st->ops->upload_add(up, &r, 1, &o), 0);
    assert_int_equal(st->ops->upload_end(up, 1), 0);
    edm_job *jobs;
    size_t n;
    claim_all(st, cid, edm_time_now(), &jobs, &n);
    assert_int_equal(n, 1);
    edm_track_target tt;
    assert_int_equal(st->ops->track_lookup(st, jobs[0].id, &tt), 0);
    assert_int_equal(tt.source_version, -1);
    assert_int_equal(tt.campaign_id, cid);
    edm_vars_clear(&tt.vars);
    edm_free(tt.unsubscribe);
    edm_store_jobs_free(jobs, n);
}

/* A receiver de-duplicates by `id` (docs/tracking.md): once a batch is
 * acknowledged and the outbox is empty, the next event must not get an id
 * that was delivered before (SQLite reuses the largest rowid of an emptied
 * table unless the key is AUTOINCREMENT, schema/0014). */
static void outbox_ids_never_reused(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t now = edm_time_now();
    int64_t wid = edm_test_store_webhook(st, EDM_WEBHOOK_SUPPRESSED);
    int64_t cid = edm_test_store_campaign(st, "<p>x</p>", "x");
    int64_t seen = 0;
    for (int i = 0; i < 3; i++) {
        char email[32];
        snprintf(email, sizeof email, "r%d@d.test", i);
        json_t *sv = NULL;
        assert_int_equal(st->ops->suppression_add(st, email, "test", &sv), 0);
        json_decref(sv);
        edm_test_store_upload(st, cid, email, 0, 1, EDM_ADD_SUPPRESSED);
        int64_t last;
        int att;
        json_t *b = batch(st, wid, now, 100, &last, &att);
        assert_int_equal(json_array_size(b), 1);
        int64_t id = json_integer_value(json_object_get(json_array_get(b, 0), "id"));
        assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "email")),
                            email);
        json_decref(b);
        assert_true(id > seen);
        seen = id;
        assert_int_equal(st->ops->outbox_ack(st, wid, last), 0);
        assert_null(batch(st, wid, now, 100, &last, &att));
    }
}

/* PostgreSQL only: several nodes share one database there (one SQLite
 * database has one engine, engine/engine.c's file lock). */
static void one_node_posts_a_webhook_at_a_time(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *a = f->st, *b;
    char err[512];
    assert_int_equal(edm_store_open(f->path, &b, err, sizeof err), 0);
    int64_t now = edm_time_now();
    int64_t wid = edm_test_store_webhook(a, EDM_WEBHOOK_SUPPRESSED);
    int64_t cid = edm_test_store_campaign(a, "<p>x</p>", "x");
    for (int i = 0; i < 6; i++) {
        char email[32];
        snprintf(email, sizeof email, "u%d@d.test", i);
        json_t *sv = NULL;
        assert_int_equal(a->ops->suppression_add(a, email, "test", &sv), 0);
        json_decref(sv);
    }
    edm_test_store_upload(a, cid, "u%d@d.test", 0, 6, EDM_ADD_SUPPRESSED);

    int64_t la, lb;
    int att;
    json_t *ba = batch(a, wid, now, 2, &la, &att);
    assert_int_equal(json_array_size(ba), 2);
    json_decref(ba);
    /* a holds the webhook: b gets nothing, even when due. */
    assert_null(batch(b, wid, now, 100, &lb, &att));
    assert_int_equal(a->ops->outbox_ack(a, wid, la), 0);
    json_t *bb = batch(b, wid, now, 2, &lb, &att);
    assert_int_equal(json_array_size(bb), 2);
    assert_true(json_integer_value(json_object_get(json_array_get(bb, 0), "id")) > la);
    json_decref(bb);
    assert_null(batch(a, wid, now, 100, &la, &att));
    assert_int_equal(b->ops->outbox_retry(b, wid, lb, now + 5), 0);
    /* given back: a takes the same rows once they are due */
    assert_null(batch(a, wid, now, 100, &la, &att));
    ba = batch(a, wid, now + 5, 100, &la, &att);
    assert_int_equal(json_array_size(ba), 4);
    json_decref(ba);
    /* a dies holding it: b waits out the lease (60 s), then takes over */
    edm_store_close(a);
    f->st = NULL;
    assert_null(batch(b, wid, now + 30, 100, &lb, &att));
    bb = batch(b, wid, now + 120, 100, &lb, &att);
    assert_int_equal(json_array_size(bb), 4);
    json_decref(bb);
    assert_int_equal(b->ops->outbox_ack(b, wid, lb), 0);
    assert_null(batch(b, wid, now + 120, 100, &lb, &att));
    f->st = b;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_outcome_reaches_the_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(sources_taken_when_sending_starts, setup, teardown),
        cmocka_unit_test_setup_teardown(outbox_ids_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(one_node_posts_a_webhook_at_a_time, setup, teardown),
    };
    /* The last test is PostgreSQL's: listed only when running there. */
    size_t n = sizeof tests / sizeof tests[0] - (edm_test_store_is_pg() ? 0 : 1);
    return _cmocka_run_group_tests("store_test_outbox", tests, n, edm_test_store_group_setup,
                                   edm_test_store_group_teardown);
}
