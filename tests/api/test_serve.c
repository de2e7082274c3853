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
    /* raw=true without from or to: 422 naming the field, and the server
     * goes on (it used to read the missing From and crash) */
    apitest_expect_error(&t, "POST", path, "{\"vars\":{\"name\":\"Ann\"},\"raw\":true}", 422,
                         "required", "from");
    apitest_expect_error(&t, "POST", path,
                         "{\"vars\":{},\"raw\":true,\"from\":\"news@example.com\"}", 422,
                         "required", "to");
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
    int sink_port = edm_test_free_port("127.0.0.1");
    char addr[64], extra[512];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sink_port);
    char *argv[] = {"smtp-sink", "-u", "nobody", "-m", "100", addr, "128", NULL};
    pid_t sink = edm_test_spawn(argv, "/dev/null");
    assert_true(sink > 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", sink_port, 10000), 0);
    snprintf(extra, sizeof extra,
             "\"smtp\": {\"tls\": \"none\"}, \"routes\": [{\"match\": \"*.test\", "
             "\"relay\": \"%s\"}], \"domains\": [{\"match\": \"r.test\", "
             "\"max_per_minute\": 1200, \"burst\": 1}]",
             addr);
    apitest t;
    apitest_start_serve(&t, "EDM_TEST_SERVE_KEYS", "serve-key", 0, extra);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(serve_end_to_end),
        cmocka_unit_test(lifecycle_with_a_real_server),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
