/*
 * tests/api/test_serve.c: the API inside the real `edm serve` (config
 * file, engine hooks): api.keys_env names the key variable, pools come
 * from the config (an unknown pool is 422), raw preview gives the whole
 * message, api.max_body_bytes gives 413, the lifecycle and receipts work
 * with the engine running, and SIGTERM stops it cleanly. DNS points at a
 * dead loopback port and campaigns are scheduled in the future: nothing is
 * sent anywhere.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(serve_end_to_end),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
