/*
 * tests/api/test_serve.c: the API inside the real `edm serve` (config
 * file, engine hooks): api.keys_env names the key variable, pools come
 * from the config (an unknown pool is 422), raw preview gives the whole
 * message, api.max_body_bytes gives 413, the lifecycle and receipts work
 * with the engine running, and SIGTERM stops it cleanly. DNS points at a
 * dead loopback port and campaigns are scheduled in the future: nothing is
 * sent anywhere. Then the lifecycle's timing against a real SMTP server
 * (smtp-sink behind a route): pause, resume and cancel take effect within
 * a second, send_at in the past starts at once, wrong transitions are 409.
 * Then the ids of a deleted campaign, its receipts and events never come
 * back, across a restart too. Last, DELETE of a big campaign hides it at
 * once and purges its rows in the background, across a crash too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/buf.h"
#include "tests/api/apitest.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define req apitest_expect

static void serve_end_to_end(void **state)
{
    (void)state;
    apitest t;
    apitest_start_serve(&t, "EDM_TEST_SERVE_KEYS", "serve-key", 65536,
                        "\"pools\": [{\"name\": \"default\"}, {\"name\": \"bulk\"}]");
    /* the keys come from the variable the config names */
    assert_int_equal(
        apitest_req(&t, "GET", "/v1/templates", NULL, 0, NULL, NULL, "wrong", NULL, NULL), 401);
    json_decref(req(&t, "GET", "/v1/health", NULL, 200));
    json_t *tpl = req(&t, "POST", "/v1/templates",
                      "{\"name\":\"w\",\"subject\":\"Hi {{name}}\",\"text\":\"Hello {{name}}\","
                      "\"html\":\"<p>Hello {{name}}</p>\"}",
                      201);
    int64_t tid = json_integer_value(json_object_get(tpl, "id"));
    json_decref(tpl);
    char body[300], path[128];
    snprintf(body, sizeof body,
             "{\"name\":\"c\",\"template_id\":%lld,\"from\":\"News <news@example.com>\","
             "\"pool\":\"nope\"}",
             (long long)tid);
    apitest_expect_error(&t, "POST", "/v1/campaigns", body, 422, "not_found", "pool");
    snprintf(body, sizeof body,
             "{\"name\":\"c\",\"template_id\":%lld,\"from\":\"News <news@example.com>\","
             "\"pool\":\"bulk\"}",
             (long long)tid);
    json_t *c = req(&t, "POST", "/v1/campaigns", body, 201);
    int64_t cid = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/recipients", (long long)cid);
    char *out = NULL;
    const char *csv = "email,name\nann@x.test,Ann\nbob@y.test,Bob\n";
    assert_int_equal(
        apitest_req(&t, "POST", path, csv, strlen(csv), "text/csv", NULL, NULL, &out, NULL), 200);
    assert_non_null(strstr(out, "\"accepted\":2"));
    free(out);
    /* over api.max_body_bytes */
    edm_buf big = EDM_BUF_INIT;
    edm_buf_append_str(&big, "email\n");
    while (big.len < 70000)
        edm_buf_appendf(&big, "u%zu@x.test\n", big.len);
    assert_int_equal(
        apitest_req(&t, "POST", path, big.data, big.len, "text/csv", NULL, NULL, &out, NULL), 413);
    free(out);
    edm_buf_free(&big);
    /* lifecycle with the engine running: scheduled in the future, paused */
    snprintf(path, sizeof path, "/v1/campaigns/%lld/schedule", (long long)cid);
    c = req(&t, "POST", path, "{\"send_at\":\"2099-06-01T00:00:00Z\"}", 200);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "scheduled");
    json_decref(c);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/pause", (long long)cid);
    json_decref(req(&t, "POST", path, NULL, 200));
    snprintf(path, sizeof path, "/v1/campaigns/%lld/stats", (long long)cid);
    c = req(&t, "GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "paused");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "counts"), "queued")),
                     2);
    json_decref(c);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?domain=y.test", (long long)cid);
    c = req(&t, "GET", path, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(c, "items")), 1);
    json_decref(c);
    json_t *p = req(&t, "GET", "/v1/pools", NULL, 200);
    assert_true(json_is_array(json_object_get(p, "items")));
    json_decref(p);
    /* raw preview: the whole message from the engine */
    snprintf(path, sizeof path, "/v1/templates/%lld/preview", (long long)tid);
    char *hdr = NULL;
    const char *pv = "{\"vars\":{\"name\":\"Ann\"},\"raw\":true,\"from\":\"news@example.com\","
                     "\"to\":\"ann@x.test\"}";
    int st = apitest_req(&t, "POST", path, pv, strlen(pv), NULL, NULL, NULL, &out, &hdr);
    if (st != 200)
        fail_msg("raw preview: %d %s", st, out);
    assert_non_null(strstr(hdr, "message/rfc822"));
    assert_non_null(strstr(out, "Subject: Hi Ann"));
    assert_non_null(strstr(out, "Hello Ann"));
    free(out);
    free(hdr);
    /* raw=true without from or to: a sender and a recipient of the
     * engine's own (it used to read the missing From and crash) */
    hdr = NULL;
    pv = "{\"vars\":{\"name\":\"Ann\"},\"raw\":true}";
    st = apitest_req(&t, "POST", path, pv, strlen(pv), NULL, NULL, NULL, &out, &hdr);
    if (st != 200)
        fail_msg("raw preview without from/to: %d %s", st, out);
    assert_non_null(strstr(out, "From: preview@"));
    assert_non_null(strstr(out, "To: recipient@example.com"));
    free(out);
    free(hdr);
    json_decref(req(&t, "GET", "/v1/health", NULL, 200));
    apitest_stop(&t);
}

/* counts[state] of campaign cid, and its status, through the API. */
static int64_t count_of(apitest *t, int64_t cid, const char *state, char *status, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/stats", (long long)cid);
    json_t *c = req(t, "GET", path, NULL, 200);
    int64_t v = json_integer_value(json_object_get(json_object_get(c, "counts"), state));
    if (status)
        snprintf(status, n, "%s", json_string_value(json_object_get(c, "status")));
    json_decref(c);
    return v;
}

static json_t *act(apitest *t, int64_t cid, const char *action, const char *body, int want)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/%s", (long long)cid, action);
    return req(t, "POST", path, body, want);
}

/* action on campaign cid must answer 409 wrong_state. */
static void wrong(apitest *t, int64_t cid, const char *action)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/%s", (long long)cid, action);
    apitest_expect_error(t, "POST", path, NULL, 409, "wrong_state", NULL);
}

static void assert_status(json_t *c, const char *want)
{
    const char *got = json_string_value(json_object_get(c, "status"));
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("campaign status %s, want %s", got ? got : "(none)", want);
    json_decref(c);
}

/* Postfix's smtp-sink on a free loopback port and `edm serve` routing
 * "*.test" to it, with `rules` (more config after the route, or ""). */
static pid_t start_sink_and_serve(apitest *t, const char *rules)
{
    int sink_port = edm_test_free_port("127.0.0.1");
    char addr[64], extra[512];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sink_port);
    char *argv[] = {"smtp-sink", "-u", "nobody", "-m", "100", addr, "128", NULL};
    pid_t sink = edm_test_spawn(argv, "/dev/null");
    assert_true(sink > 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", sink_port, 10000), 0);
    snprintf(extra, sizeof extra,
             "\"smtp\": {\"tls\": \"none\"}, \"routes\": [{\"match\": \"*.test\", "
             "\"relay\": \"%s\"}]%s",
             addr, rules);
    apitest_start_serve(t, "EDM_TEST_SERVE_KEYS", "serve-key", 0, extra);
    return sink;
}

/* The lifecycle through `edm serve`'s API with a real SMTP server
 * (Postfix's smtp-sink behind a route): send_at in the past starts at
 * once; pause stops sending within a second; resume goes back to running
 * (or to scheduled while send_at is ahead); cancel ends every recipient
 * within a second, each in one terminal state; wrong transitions are 409.
 * The destination takes 20 messages a second, so 200 recipients take ten
 * seconds unless paused. */
static void lifecycle_with_a_real_server(void **state)
{
    (void)state;
    apitest t;
    pid_t sink = start_sink_and_serve(
        &t, ", \"domains\": [{\"match\": \"r.test\", \"max_per_minute\": 1200, \"burst\": 1}]");
    json_t *tpl = req(&t, "POST", "/v1/templates",
                      "{\"name\":\"l\",\"subject\":\"Hi\",\"text\":\"Hello {{n}}\"}", 201);
    long long tid = (long long)json_integer_value(json_object_get(tpl, "id"));
    json_decref(tpl);
    char body[256];
    snprintf(body, sizeof body,
             "{\"name\":\"l\",\"template_id\":%lld,\"from\":\"news@example.com\"}", tid);
    json_t *c = req(&t, "POST", "/v1/campaigns", body, 201);
    int64_t cid = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    edm_buf csv = EDM_BUF_INIT;
    edm_buf_append_str(&csv, "email,n\n");
    for (int i = 0; i < 200; i++)
        edm_buf_appendf(&csv, "u%d@r.test,%d\n", i, i);
    json_decref(apitest_upload(&t, cid, "text/csv", edm_buf_cstr(&csv), 200));
    edm_buf_free(&csv);
    /* wrong transitions from draft */
    wrong(&t, cid, "pause");
    wrong(&t, cid, "resume");

    /* send_at in the past: running at once, and sending */
    assert_status(act(&t, cid, "schedule", "{\"send_at\":\"2020-01-01T00:00:00Z\"}", 200),
                  "running");
    char st[32];
    for (int i = 0; i < 100 && count_of(&t, cid, "delivered", NULL, 0) == 0; i++)
        edm_test_sleep_ms(20);
    assert_true(count_of(&t, cid, "delivered", NULL, 0) > 0);
    wrong(&t, cid, "resume");

    /* pause: within a second nothing more is sent */
    assert_status(act(&t, cid, "pause", NULL, 200), "paused");
    edm_test_sleep_ms(1000);
    int64_t d1 = count_of(&t, cid, "delivered", NULL, 0);
    edm_test_sleep_ms(1000);
    int64_t d2 = count_of(&t, cid, "delivered", st, sizeof st);
    assert_int_equal(d2, d1);
    assert_string_equal(st, "paused");
    assert_true(d1 < 200);
    wrong(&t, cid, "pause");
    wrong(&t, cid, "schedule");

    /* resume: running again, sending again within a second */
    assert_status(act(&t, cid, "resume", NULL, 200), "running");
    edm_test_sleep_ms(1000);
    int64_t d3 = count_of(&t, cid, "delivered", NULL, 0);
    assert_true(d3 > d2);

    /* cancel: within a second every recipient is in a terminal state */
    assert_status(act(&t, cid, "cancel", NULL, 200), "cancelled");
    edm_test_sleep_ms(1000);
    int64_t delivered = count_of(&t, cid, "delivered", NULL, 0);
    int64_t cancelled = count_of(&t, cid, "cancelled", st, sizeof st);
    assert_string_equal(st, "cancelled");
    assert_int_equal(count_of(&t, cid, "queued", NULL, 0) + count_of(&t, cid, "deferred", NULL, 0),
                     0);
    assert_int_equal(delivered + cancelled, 200);
    assert_true(cancelled > 0);
    edm_test_sleep_ms(500);
    assert_int_equal(count_of(&t, cid, "delivered", NULL, 0), delivered);
    wrong(&t, cid, "resume");
    wrong(&t, cid, "cancel");

    /* a paused campaign whose send_at is still ahead resumes to scheduled */
    snprintf(body, sizeof body,
             "{\"name\":\"later\",\"template_id\":%lld,\"from\":\"news@example.com\"}", tid);
    c = req(&t, "POST", "/v1/campaigns", body, 201);
    int64_t later = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    assert_status(act(&t, later, "schedule", "{\"send_at\":\"2099-06-01T00:00:00Z\"}", 200),
                  "scheduled");
    assert_status(act(&t, later, "pause", NULL, 200), "paused");
    assert_status(act(&t, later, "resume", NULL, 200), "scheduled");
    apitest_stop(&t);
    edm_test_stop(sink, 2000);
}

/* Schedules campaign cid to start now and waits (up to 30 s) until it is
 * completed with every one of its n recipients delivered. */
static void send_all(apitest *t, int64_t cid, int64_t n)
{
    assert_status(act(t, cid, "schedule", "{\"send_at\":\"2020-01-01T00:00:00Z\"}", 200),
                  "running");
    char st[32] = "";
    for (int i = 0; i < 1500; i++) {
        if (count_of(t, cid, "delivered", st, sizeof st) == n && strcmp(st, "completed") == 0)
            return;
        edm_test_sleep_ms(20);
    }
    fail_msg("campaign %lld: %lld of %lld delivered, status %s", (long long)cid,
             (long long)count_of(t, cid, "delivered", NULL, 0), (long long)n, st);
}

/* A new draft campaign on template tid with n recipients; its id. */
static int64_t campaign_of(apitest *t, long long tid, const char *name, int n)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"template_id\":%lld,\"from\":\"news@example.com\"}", name, tid);
    json_t *c = req(t, "POST", "/v1/campaigns", body, 201);
    int64_t cid = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    edm_buf csv = EDM_BUF_INIT;
    edm_buf_append_str(&csv, "email\n");
    for (int i = 0; i < n; i++)
        edm_buf_appendf(&csv, "%s%d@r.test\n", name, i);
    json_decref(apitest_upload(t, cid, "text/csv", edm_buf_cstr(&csv), 200));
    edm_buf_free(&csv);
    return cid;
}

/* The receipt ids of campaign cid: their count, the lowest and highest. */
static size_t receipt_ids(apitest *t, int64_t cid, int64_t *lo, int64_t *hi)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?limit=1000", (long long)cid);
    json_t *page = req(t, "GET", path, NULL, 200);
    json_t *items = json_object_get(page, "items");
    *lo = INT64_MAX;
    *hi = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        int64_t id = json_integer_value(json_object_get(json_array_get(items, i), "id"));
        *lo = id < *lo ? id : *lo;
        *hi = id > *hi ? id : *hi;
    }
    size_t n = json_array_size(items);
    json_decref(page);
    return n;
}

/* GET /v1/events?after=after as a polling reader sees it: the items (ids
 * increasing, asserted), at most 1,000; *last is the last id (after when
 * none). */
static json_t *events_after(apitest *t, int64_t after, int64_t *last)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/events?after=%lld&limit=1000", (long long)after);
    json_t *page = req(t, "GET", path, NULL, 200);
    json_t *items = json_incref(json_object_get(page, "items"));
    json_decref(page);
    *last = after;
    for (size_t i = 0; i < json_array_size(items); i++) {
        int64_t id = json_integer_value(json_object_get(json_array_get(items, i), "id"));
        assert_true(id > *last);
        *last = id;
    }
    return items;
}

/* The campaign of the i-th event of items. */
static int64_t event_campaign(json_t *items, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(items, i), "campaign_id"));
}

/* DELETE /v1/campaigns/{id} of the newest campaign (docs/api.md): its
 * campaign, receipt and event ids, which the API had shown, never name
 * anything else later, across a restart too: the next campaign's ids are
 * all past them, and a reader of /v1/events?after= that had passed the
 * deleted events sees every new one. */
static void deleted_ids_never_come_back(void **state)
{
    (void)state;
    apitest t;
    pid_t sink = start_sink_and_serve(&t, "");
    json_t *tpl = req(&t, "POST", "/v1/templates",
                      "{\"name\":\"d\",\"subject\":\"Hi\",\"text\":\"Hello\"}", 201);
    long long tid = (long long)json_integer_value(json_object_get(tpl, "id"));
    json_decref(tpl);

    /* A, then B: B holds the highest campaign, receipt and event ids */
    int64_t a = campaign_of(&t, tid, "a", 3);
    send_all(&t, a, 3);
    int64_t b = campaign_of(&t, tid, "b", 3);
    send_all(&t, b, 3);
    assert_true(b > a);
    int64_t lo, a_hi, b_hi, seen;
    assert_int_equal(receipt_ids(&t, a, &lo, &a_hi), 3);
    assert_int_equal(receipt_ids(&t, b, &lo, &b_hi), 3);
    assert_true(lo > a_hi);
    json_t *ev = events_after(&t, 0, &seen);
    assert_int_equal(json_array_size(ev), 6);
    for (size_t i = 0; i < 6; i++) /* one attempt each, B's last */
        assert_int_equal(event_campaign(ev, i), i < 3 ? a : b);
    json_decref(ev);

    char path[96];
    snprintf(path, sizeof path, "/v1/campaigns/%lld", (long long)b);
    char *out = NULL;
    assert_int_equal(apitest_req(&t, "DELETE", path, NULL, 0, NULL, NULL, NULL, &out, NULL), 204);
    free(out);
    apitest_expect_error(&t, "GET", path, NULL, 404, "not_found", NULL);
    int64_t none;
    ev = events_after(&t, 0, &none);
    assert_int_equal(json_array_size(ev), 3);
    json_decref(ev);
    apitest_restart_serve(&t);

    /* C: every id past everything seen before */
    int64_t c = campaign_of(&t, tid, "c", 3);
    assert_true(c > b);
    int64_t c_lo, c_hi;
    assert_int_equal(receipt_ids(&t, c, &c_lo, &c_hi), 3);
    assert_true(c_lo > b_hi);
    send_all(&t, c, 3);
    int64_t last;
    ev = events_after(&t, seen, &last);
    assert_int_equal(json_array_size(ev), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(event_campaign(ev, i), c);
    json_decref(ev);
    apitest_stop(&t);
    edm_test_stop(sink, 2000);
}

/* ---- DELETE of a big campaign: hidden at once, purged in chunks ---- */

/* The test-only knobs of engine/campaign/purge.c: small chunks far apart,
 * so the purge of a few hundred recipients lasts seconds. */
static void slow_purge(int on)
{
    if (on) {
        setenv("EDM_PURGE_TEST_ROWS", "20", 1);
        setenv("EDM_PURGE_TEST_GAP_MS", "200", 1);
    } else {
        unsetenv("EDM_PURGE_TEST_ROWS");
        unsetenv("EDM_PURGE_TEST_GAP_MS");
    }
}

/* Rows of campaign cid left in the database: the campaign, its receipts,
 * their events and its counters (through a second connection). */
static long long rows_of(apitest *t, int64_t cid)
{
    char sql[512];
    long long c = (long long)cid;
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM campaigns WHERE id = %lld) + "
             "(SELECT count(*) FROM deliveries WHERE campaign_id = %lld) + "
             "(SELECT count(*) FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id "
             "WHERE d.campaign_id = %lld) + "
             "(SELECT count(*) FROM campaign_counts WHERE campaign_id = %lld)",
             c, c, c, c);
    long long n = edm_test_store_value(t->db, sql);
    assert_true(n >= 0);
    return n;
}

/* Waits (up to 60 s) until nothing of campaign cid is left in the database. */
static void wait_purged(apitest *t, int64_t cid)
{
    for (int i = 0; i < 600 && rows_of(t, cid) > 0; i++)
        edm_test_sleep_ms(100);
    assert_int_equal(rows_of(t, cid), 0);
}

/* Campaign cid, deleted, is gone for every read of the API while the rest
 * answers: the campaign, its stats, its receipts (a list, a stream, one
 * receipt's events), the campaign list, the event feed (which still holds
 * campaign keep's n_keep events), a second DELETE, and health. */
static void assert_gone(apitest *t, int64_t cid, int64_t receipt, int64_t keep, size_t n_keep)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/campaigns/%lld", (long long)cid);
    apitest_expect_error(t, "GET", path, NULL, 404, "not_found", NULL);
    apitest_expect_error(t, "DELETE", path, NULL, 404, "not_found", NULL);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/stats", (long long)cid);
    apitest_expect_error(t, "GET", path, NULL, 404, "not_found", NULL);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts", (long long)cid);
    apitest_expect_error(t, "GET", path, NULL, 404, "not_found", NULL);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts.ndjson", (long long)cid);
    apitest_expect_error(t, "GET", path, NULL, 404, "not_found", NULL);
    snprintf(path, sizeof path, "/v1/receipts/%lld/events", (long long)receipt);
    apitest_expect_error(t, "GET", path, NULL, 404, "not_found", NULL);
    json_t *page = req(t, "GET", "/v1/campaigns?limit=1000", NULL, 200);
    json_t *items = json_object_get(page, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        assert_true(json_integer_value(json_object_get(json_array_get(items, i), "id")) != cid);
    json_decref(page);
    int64_t last;
    json_t *ev = events_after(t, 0, &last);
    assert_int_equal(json_array_size(ev), n_keep);
    for (size_t i = 0; i < json_array_size(ev); i++)
        assert_int_equal(event_campaign(ev, i), keep);
    json_decref(ev);
    json_decref(req(t, "GET", "/v1/health", NULL, 200));
}

/* A sent campaign of n recipients beside a small one (keep, 3): their ids
 * and one receipt of the big one. */
static void two_sent(apitest *t, int n, int64_t *keep, int64_t *big, int64_t *receipt)
{
    json_t *tpl = req(t, "POST", "/v1/templates",
                      "{\"name\":\"p\",\"subject\":\"Hi\",\"text\":\"Hello\"}", 201);
    long long tid = (long long)json_integer_value(json_object_get(tpl, "id"));
    json_decref(tpl);
    *keep = campaign_of(t, tid, "k", 3);
    send_all(t, *keep, 3);
    *big = campaign_of(t, tid, "b", n);
    send_all(t, *big, n);
    int64_t hi;
    assert_int_equal(receipt_ids(t, *big, receipt, &hi), (size_t)n);
}

static void delete_campaign(apitest *t, int64_t cid)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/campaigns/%lld", (long long)cid);
    char *out = NULL;
    assert_int_equal(apitest_req(t, "DELETE", path, NULL, 0, NULL, NULL, NULL, &out, NULL), 204);
    free(out);
}

/* DELETE of a completed campaign of 600 recipients (1,200 rows with their
 * events) answers 204 at once; from then on the API shows nothing of it,
 * while on SQLite its rows are still being purged in chunks (the checks
 * ran during the purge: rows were left after them too), and the API and
 * health answer meanwhile. Then nothing of it is left in the database;
 * the other campaign is untouched. On PostgreSQL the rows go at once. */
static void delete_purges_in_the_background(void **state)
{
    (void)state;
    slow_purge(1);
    apitest t;
    pid_t sink = start_sink_and_serve(&t, "");
    int64_t keep, big, receipt;
    two_sent(&t, 600, &keep, &big, &receipt);
    assert_true(rows_of(&t, big) > 1 + 600 + 600); /* and its counters */
    delete_campaign(&t, big);
    int pg = edm_test_store_is_pg();
    if (!pg)
        assert_true(rows_of(&t, big) > 0);
    assert_gone(&t, big, receipt, keep, 3);
    if (!pg)
        assert_true(rows_of(&t, big) > 0);
    wait_purged(&t, big);
    assert_gone(&t, big, receipt, keep, 3);
    int64_t lo, hi;
    assert_int_equal(receipt_ids(&t, keep, &lo, &hi), 3);
    apitest_stop(&t);
    edm_test_stop(sink, 2000);
    slow_purge(0);
}

/* edm serve killed (SIGKILL) in the middle of a purge: after the restart
 * nothing of the campaign is visible, and the purge completes. */
static void purge_resumes_after_a_crash(void **state)
{
    (void)state;
    slow_purge(1);
    apitest t;
    pid_t sink = start_sink_and_serve(&t, "");
    int64_t keep, big, receipt;
    two_sent(&t, 400, &keep, &big, &receipt);
    long long all = rows_of(&t, big);
    delete_campaign(&t, big);
    int pg = edm_test_store_is_pg();
    /* wait until a chunk has gone (not all of them) */
    for (int i = 0; i < 200 && rows_of(&t, big) == all; i++)
        edm_test_sleep_ms(50);
    apitest_kill_restart_serve(&t);
    if (!pg)
        assert_true(rows_of(&t, big) > 0);
    assert_gone(&t, big, receipt, keep, 3);
    wait_purged(&t, big);
    apitest_stop(&t);
    edm_test_stop(sink, 2000);
    slow_purge(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(serve_end_to_end),
        cmocka_unit_test(lifecycle_with_a_real_server),
        cmocka_unit_test(deleted_ids_never_come_back),
        cmocka_unit_test(delete_purges_in_the_background),
        cmocka_unit_test(purge_resumes_after_a_crash),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
