/*
 * tests/api/test_unsendable.c: the API refuses at the edge what the engine
 * could not send (issue: every recipient "failed" after a 201), with the
 * validator the composer uses (engine/base/addr.c, header.c): campaigns
 * with a From of two mailboxes, quoted or non-ASCII local parts, address
 * literals, reserved headers (Received, ARC-*, Content-*) get 422 naming
 * the field, on create and on PATCH; uploads list such recipients, and NUL
 * characters in NDJSON variables, as rejected rows with line and reason.
 * What it accepts (quoted display names, IDN domains) is kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/api/apitest.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static apitest srv;

/* A request that must answer `want`; returns the parsed body. */
#define req(method, path, body, want) apitest_expect(&srv, method, path, body, want)

static int64_t create(const char *from)
{
    char body[512];
    json_t *js = json_string(from);
    char *q = json_dumps(js, JSON_ENCODE_ANY);
    snprintf(body, sizeof body, "{\"name\":\"c\",\"from\":%s}", q);
    free(q);
    json_decref(js);
    json_t *c = req("POST", "/v1/campaigns", body, 201);
    int64_t id = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    return id;
}

static void campaigns_refused_with_field(void **state)
{
    (void)state;
    static const struct {
        const char *members, *code, *field;
    } cases[] = {
        {"\"from\":\"a@x.test, b@y.test\"", "invalid_address", "from"},
        {"\"from\":\"A <a@x.test>, B <b@y.test>\"", "invalid_address", "from"},
        {"\"from\":\"\\\"a b\\\"@x.test\"", "invalid_address", "from"},
        {"\"from\":\"News <\\\"a\\\"@x.test>\"", "invalid_address", "from"},
        {"\"from\":\"j\\u00f6rg@x.test\"", "invalid_address", "from"},
        {"\"from\":\"a@[127.0.0.1]\"", "invalid_address", "from"},
        {"\"from\":\"a@x.test\",\"reply_to\":\"r@x.test; s@x.test\"", "invalid_address",
         "reply_to"},
        {"\"from\":\"a@x.test\",\"reply_to\":\"\\\"r r\\\"@x.test\"", "invalid_address",
         "reply_to"},
        {"\"from\":\"a@x.test\",\"headers\":{\"Received\":\"from x\"}", "reserved",
         "headers.Received"},
        {"\"from\":\"a@x.test\",\"headers\":{\"ARC-Seal\":\"i=1\"}", "reserved",
         "headers.ARC-Seal"},
        {"\"from\":\"a@x.test\",\"headers\":{\"Content-Language\":\"en\"}", "reserved",
         "headers.Content-Language"},
        {"\"from\":\"a@x.test\",\"headers\":{\"Feedback-ID\":\"1\"}", "reserved",
         "headers.Feedback-ID"},
        {"\"from\":\"a@x.test\",\"headers\":{\"X-\\u00e9\":\"v\"}", "invalid",
         "headers.X-\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"name\":\"c\",%s}", cases[i].members);
        apitest_expect_error(&srv, "POST", "/v1/campaigns", body, 422, cases[i].code,
                             cases[i].field);
    }
    /* PATCH checks the same */
    int64_t id = create("a@x.test");
    char path[64];
    snprintf(path, sizeof path, "/v1/campaigns/%lld", (long long)id);
    apitest_expect_error(&srv, "PATCH", path, "{\"from\":\"a@x.test, b@y.test\"}", 422,
                         "invalid_address", "from");
    apitest_expect_error(&srv, "PATCH", path, "{\"headers\":{\"Received\":\"x\"}}", 422, "reserved",
                         "headers.Received");
    /* what edm sends is accepted: a quoted display name with a comma, an
     * IDN domain, a display name on Reply-To, a custom header */
    json_t *c = req("PATCH", path,
                    "{\"from\":\"\\\"Doe, John\\\" <J.Doe@b\\u00fccher.test>\","
                    "\"reply_to\":\"Help <help@x.test>\",\"headers\":{\"X-Campaign\":\"c1\"}}",
                    200);
    assert_string_equal(json_string_value(json_object_get(c, "from")),
                        "\"Doe, John\" <J.Doe@b\xc3\xbc"
                        "cher.test>");
    json_decref(c);
}

static void uploads_reject_unsendable_rows(void **state)
{
    (void)state;
    int64_t id = create("a@x.test");
    static const char body[] = "{\"email\":\"ok@x.test\",\"v\":\"a\\\\u0000\"}\n"
                               "{\"email\":\"\\\"q\\\"@x.test\"}\n"
                               "{\"email\":\"j\\u00f6rg@x.test\"}\n"
                               "{\"email\":\"l@[127.0.0.1]\"}\n"
                               "{\"email\":\"n@x.test\",\"name\":\"a\\u0000b\"}\n"
                               "{\"email\":\"idn@b\\u00fccher.test\"}\n";
    json_t *r = apitest_upload(&srv, id, "application/x-ndjson", body, 200);
    assert_int_equal(json_integer_value(json_object_get(r, "accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "rejected_total")), 4);
    static const struct {
        long line;
        const char *email, *error;
    } want[] = {
        {2, "\"q\"@x.test", "invalid address: quoted local parts are not supported"},
        {3, "j\xc3\xb6rg@x.test",
         "invalid address: non-ASCII local parts are not supported (SMTPUTF8)"},
        {4, "l@[127.0.0.1]", "invalid address: address literals are not supported"},
        {5, "n@x.test", "variables must not contain NUL characters"},
    };
    json_t *rej = json_object_get(r, "rejected");
    assert_int_equal(json_array_size(rej), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(rej, i);
        assert_int_equal(json_integer_value(json_object_get(e, "line")), want[i].line);
        assert_string_equal(json_string_value(json_object_get(e, "email")), want[i].email);
        assert_string_equal(json_string_value(json_object_get(e, "error")), want[i].error);
    }
    json_decref(r);
    /* the accepted ones are stored as edm will send them */
    char path[64];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts", (long long)id);
    r = req("GET", path, NULL, 200);
    json_t *items = json_object_get(r, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "email")),
                        "ok@x.test");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "email")),
                        "idn@xn--bcher-kva.test");
    json_decref(r);
}

static int setup(void **state)
{
    (void)state;
    apitest_start(&srv, "key-one", 0, 0, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    apitest_stop(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(campaigns_refused_with_field),
        cmocka_unit_test(uploads_reject_unsendable_rows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
