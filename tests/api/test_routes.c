/*
 * tests/api/test_routes.c: every route of the JSON API driven with curl
 * against the real server: success answers and their shapes, 400 with the
 * position of malformed JSON, 422 naming the field, 401 without or with a
 * wrong key, 404 for unknown ids, 409 for wrong states, the campaign
 * lifecycle, receipts filters and cursors, suppressions, idempotent
 * replays, SQL metacharacters and NUL bytes in string fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api_int.h"
#include "engine/base/buf.h"
#include "tests/api/apitest.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static apitest srv;

/* A request that must answer `want`; returns the parsed body. */
#define req(method, path, body, want) apitest_expect(&srv, method, path, body, want)

static int64_t id_of(json_t *v)
{
    assert_true(json_is_integer(json_object_get(v, "id")));
    return json_integer_value(json_object_get(v, "id"));
}

static const char *str(json_t *v, const char *k)
{
    return json_string_value(json_object_get(v, k));
}

static int64_t make_template(void)
{
    json_t *t = req("POST", "/v1/templates",
                    "{\"name\":\"welcome\",\"subject\":\"Hi "
                    "{{name}}\",\"html\":\"<p>{{name}}</p>\","
                    "\"text\":\"Hi {{name}}\"}",
                    201);
    int64_t id = id_of(t);
    json_decref(t);
    return id;
}

static int64_t make_campaign(int64_t tpl)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"name\":\"c\",\"template_id\":%lld,\"from\":\"News "
             "<news@example.com>\"}",
             (long long)tpl);
    json_t *c = req("POST", "/v1/campaigns", body, 201);
    assert_string_equal(str(c, "status"), "draft");
    int64_t id = id_of(c);
    json_decref(c);
    return id;
}

#define upload(cid, ctype, body, want) apitest_upload(&srv, cid, ctype, body, want)

static int setup(void **state)
{
    if (edm_test_store_group_setup(state) != 0)
        return -1;
    apitest_start(&srv, "key-one, key-two", 0, 0, 0);
    return 0;
}

static int teardown(void **state)
{
    apitest_stop(&srv);
    return edm_test_store_group_teardown(state);
}

static void health_needs_no_key(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(apitest_req(&srv, "GET", "/v1/health", NULL, 0, NULL, NULL, "", &out, NULL),
                     200);
    json_t *v = json_loads(out, 0, NULL);
    free(out);
    assert_string_equal(str(v, "status"), "ok");
    assert_non_null(str(v, "version"));
    json_decref(v);
}

/* Every route of the table answers 401 without a key and with a wrong one;
 * both configured keys work. */
static void every_route_needs_a_key(void **state)
{
    (void)state;
    for (size_t i = 0; i < api_nroutes; i++) {
        if (api_routes[i].flags & API_NOAUTH)
            continue;
        char path[128];
        const char *p = api_routes[i].pattern, *brace = strstr(p, "{id}");
        if (brace)
            snprintf(path, sizeof path, "%.*s1%s", (int)(brace - p), p, brace + 4);
        else
            snprintf(path, sizeof path, "%s", p);
        const char *m = http_method_str(api_routes[i].method);
        static const char *const keys[] = {"", "wrong-key", "key-one,", "Bearer key-one"};
        for (size_t k = 0; k < 4; k++) {
            char *out = NULL, *hdr = NULL;
            int st = apitest_req(&srv, m, path, NULL, 0, NULL, NULL, keys[k], &out, &hdr);
            if (st != 401)
                fail_msg("%s %s with key '%s': %d %s", m, path, keys[k], st, out);
            assert_non_null(strstr(out, "\"code\":\"unauthorized\""));
            assert_non_null(strstr(hdr, "WWW-Authenticate: Bearer"));
            free(out);
            free(hdr);
        }
    }
    assert_int_equal(
        apitest_req(&srv, "GET", "/v1/templates", NULL, 0, NULL, NULL, "key-two", NULL, NULL), 200);
    assert_int_equal(
        apitest_req(&srv, "GET", "/v1/templates", NULL, 0, NULL, NULL, "key-one", NULL, NULL), 200);
}

static void unknown_routes_and_methods(void **state)
{
    (void)state;
    apitest_expect_error(&srv, "GET", "/v1/nothing", NULL, 404, "not_found", NULL);
    apitest_expect_error(&srv, "GET", "/v1/templates/", NULL, 404, "not_found", NULL);
    apitest_expect_error(&srv, "PATCH", "/v1/templates", "{}", 405, "method_not_allowed", NULL);
    char *hdr = NULL;
    assert_int_equal(
        apitest_req(&srv, "DELETE", "/v1/pools", NULL, 0, NULL, NULL, NULL, NULL, &hdr), 405);
    assert_non_null(strstr(hdr, "Allow: GET"));
    free(hdr);
}

static void templates_crud(void **state)
{
    (void)state;
    json_t *t = req("POST", "/v1/templates",
                    "{\"name\":\"t1\",\"subject\":\"S\",\"text\":\"T\","
                    "\"partials\":{\"p\":\"x\"}}",
                    201);
    int64_t id = id_of(t);
    assert_string_equal(str(t, "name"), "t1");
    assert_string_equal(str(json_object_get(t, "partials"), "p"), "x");
    assert_non_null(str(t, "created_at"));
    assert_int_equal(strlen(str(t, "created_at")), 20); /* 2026-11-27T13:00:00Z */
    json_decref(t);
    char path[64];
    snprintf(path, sizeof path, "/v1/templates/%lld", (long long)id);
    t = req("GET", path, NULL, 200);
    assert_string_equal(str(t, "text"), "T");
    json_decref(t);
    t = req("PUT", path, "{\"subject\":\"s\",\"name\":\"t1b\",\"html\":\"<b>h</b>\"}", 200);
    assert_string_equal(str(t, "name"), "t1b");
    assert_string_equal(str(t, "html"), "<b>h</b>");
    json_decref(t);
    /* listing with a cursor */
    for (int i = 0; i < 3; i++)
        make_template();
    json_t *page = req("GET", "/v1/templates?limit=2", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 2);
    const char *next = str(page, "next");
    assert_non_null(next);
    size_t seen = 2;
    char p2[96];
    while (next) {
        snprintf(p2, sizeof p2, "/v1/templates?limit=2&after=%s", next);
        json_decref(page);
        page = req("GET", p2, NULL, 200);
        seen += json_array_size(json_object_get(page, "items"));
        next = str(page, "next");
        if (next == NULL)
            assert_true(json_is_null(json_object_get(page, "next")));
    }
    json_decref(page);
    assert_true(seen >= 4);
    char *out = NULL;
    assert_int_equal(apitest_req(&srv, "DELETE", path, NULL, 0, NULL, NULL, NULL, &out, NULL), 204);
    assert_string_equal(out, "");
    free(out);
    apitest_expect_error(&srv, "GET", path, NULL, 404, "not_found", NULL);
    apitest_expect_error(&srv, "DELETE", path, NULL, 404, "not_found", NULL);
    apitest_expect_error(&srv, "PUT", path, "{\"subject\":\"s\",\"name\":\"x\",\"text\":\"y\"}",
                         404, "not_found", NULL);
    apitest_expect_error(&srv, "GET", "/v1/templates/abc", NULL, 404, "not_found", NULL);
    apitest_expect_error(&srv, "GET", "/v1/templates/99999999", NULL, 404, "not_found", NULL);
}

static void template_compile_and_preview(void **state)
{
    (void)state;
    /* a template that does not compile is refused, naming the part */
    apitest_expect_error(&srv, "POST", "/v1/templates",
                         "{\"name\":\"n\",\"subject\":\"Hi {{#x}}\",\"text\":\"t\"}", 422,
                         "template_syntax", "subject");
    apitest_expect_error(&srv, "POST", "/v1/templates",
                         "{\"name\":\"n\",\"subject\":\"s\",\"html\":\"<p>\\n{{/y}}\"}", 422,
                         "template_syntax", "html");
    apitest_expect_error(&srv, "POST", "/v1/templates",
                         "{\"name\":\"n\",\"subject\":\"s\",\"text\":\"{{>f}}\","
                         "\"partials\":{\"f\":\"{{#a}}\"}}",
                         422, "template_syntax", "partials.f");
    apitest_expect_error(&srv, "POST", "/v1/templates", "{\"name\":\"n\",\"text\":\"t\"}", 422,
                         "required", "subject");
    json_t *t = req("POST", "/v1/templates",
                    "{\"name\":\"p\",\"subject\":\"Hello {{name}}\","
                    "\"html\":\"<p>{{name}} {{#each items}}[{{@index}}:{{this}}]{{/each}}</p>\","
                    "\"text\":\"{{default nick \\\"friend\\\"}}: {{name}}\"}",
                    201);
    char path[96];
    snprintf(path, sizeof path, "/v1/templates/%lld/preview", (long long)id_of(t));
    json_decref(t);
    json_t *p = req("POST", path,
                    "{\"vars\":{\"name\":\"<Ann>\\r\\nBcc: x\",\"items\":[\"a\",\"b\"]}}", 200);
    assert_string_equal(str(p, "subject"), "Hello <Ann>Bcc: x"); /* no CR/LF in headers */
    assert_string_equal(str(p, "html"), "<p>&lt;Ann&gt;\r\nBcc: x [0:a][1:b]</p>");
    assert_string_equal(str(p, "text"), "friend: <Ann>\r\nBcc: x");
    json_decref(p);
    /* an empty body renders with no data */
    p = req("POST", path, NULL, 200);
    assert_string_equal(str(p, "subject"), "Hello ");
    json_decref(p);
    apitest_expect_error(&srv, "POST", path, "{\"vars\":{},\"strict\":true}", 422,
                         "missing_variables", "vars");
    apitest_expect_error(&srv, "POST", path, "{\"raw\":\"yes\"}", 422, "invalid_type", "raw");
    apitest_expect_error(&srv, "POST", path, "{\"raw\":true}", 501, "not_implemented", "raw");
    apitest_expect_error(&srv, "POST", path, "{\"vars\":{},\"colour\":1}", 422, "unknown_field",
                         "colour");
    apitest_expect_error(&srv, "POST", "/v1/templates/999999/preview", "{}", 404, "not_found",
                         NULL);
}

static void bodies_malformed_and_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *path, *body;
        int status;
        const char *code, *field;
    } cases[] = {
        {"/v1/templates", "{\"subject\":\"s\",\"name\": \"x\",", 400, "malformed_json", NULL},
        {"/v1/templates", "", 400, "malformed_json", NULL},
        {"/v1/templates", "[1]", 422, "invalid_type", NULL},
        {"/v1/templates", "{\"subject\":\"s\",\"name\":5,\"text\":\"t\"}", 422, "invalid_type",
         "name"},
        {"/v1/templates", "{\"text\":\"t\"}", 422, "required", "name"},
        {"/v1/templates", "{\"subject\":\"s\",\"name\":\"n\"}", 422, "required", "html"},
        {"/v1/templates", "{\"subject\":\"s\",\"name\":\"n\",\"html\":7}", 422, "invalid_type",
         "html"},
        {"/v1/templates", "{\"subject\":\"s\",\"name\":\"n\",\"text\":\"t\",\"partials\":[]}", 422,
         "invalid_type", "partials"},
        {"/v1/templates",
         "{\"subject\":\"s\",\"name\":\"n\",\"text\":\"t\",\"partials\":{\"a\":1}}", 422,
         "invalid_type", "partials.a"},
        {"/v1/templates", "{\"subject\":\"s\",\"name\":\"n\",\"text\":\"t\",\"colour\":1}", 422,
         "unknown_field", "colour"},
        {"/v1/templates", "{\"subject\":\"s\",\"name\":\"n\",\"name\":\"m\",\"text\":\"t\"}", 400,
         "malformed_json", NULL},
        {"/v1/campaigns", "{\"name\":\"c\"}", 422, "required", "from"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"not an address\"}", 422, "invalid_address",
         "from"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"a@x.test\",\"template_id\":\"1\"}", 422,
         "invalid_type", "template_id"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"a@x.test\",\"template_id\":987654}", 422,
         "not_found", "template_id"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"a@x.test\",\"send_at\":\"tomorrow\"}", 422,
         "invalid_time", "send_at"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"a@x.test\",\"reply_to\":\"x@\"}", 422,
         "invalid_address", "reply_to"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"a@x.test\",\"headers\":{\"From\":\"x\"}}",
         422, "reserved", "headers.From"},
        {"/v1/campaigns",
         "{\"name\":\"c\",\"from\":\"a@x.test\",\"headers\":{\"X-A\":"
         "\"a\\r\\nBcc: x\"}}",
         422, "invalid", "headers.X-A"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"a@x.test\",\"tags\":\"t\"}", 422,
         "invalid_type", "tags"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"a@x.test\",\"tags\":[1]}", 422,
         "invalid_type", "tags[0]"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"a@x.test\",\"max_per_hour\":0}", 422,
         "out_of_range", "max_per_hour"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"a@x.test\",\"unsubscribe\":\"http://x\"}",
         422, "invalid", "unsubscribe"},
        {"/v1/campaigns", "{\"name\":\"c\",\"from\":\"a@x.test\",\"status\":\"running\"}", 422,
         "unknown_field", "status"},
        {"/v1/suppressions", "{\"reason\":\"r\"}", 422, "required", "email"},
        {"/v1/suppressions", "{\"email\":\"nope\"}", 422, "invalid", "email"},
        {"/v1/suppressions", "{\"domain\":\"-bad-.com\"}", 422, "invalid", "domain"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        apitest_expect_error(&srv, "POST", cases[i].path, cases[i].body, cases[i].status,
                             cases[i].code, cases[i].field);
    /* the position of a syntax error is in the message */
    int st;
    json_t *v = apitest_json(&srv, "POST", "/v1/templates", "{\n  \"name\": x}", &st);
    assert_int_equal(st, 400);
    const char *msg = str(json_object_get(v, "error"), "message");
    assert_non_null(strstr(msg, "line 2, column"));
    json_decref(v);
    /* query values */
    apitest_expect_error(&srv, "GET", "/v1/templates?limit=0", NULL, 422, "invalid", "limit");
    apitest_expect_error(&srv, "GET", "/v1/templates?limit=1001", NULL, 422, "invalid", "limit");
    apitest_expect_error(&srv, "GET", "/v1/templates?after=x", NULL, 422, "invalid", "after");
    apitest_expect_error(&srv, "GET", "/v1/campaigns?status=bogus", NULL, 422, "invalid", "status");
}

static void campaign_lifecycle(void **state)
{
    (void)state;
    int64_t tpl = make_template();
    int64_t cid = make_campaign(tpl);
    char path[96], act[128];
    snprintf(path, sizeof path, "/v1/campaigns/%lld", (long long)cid);
#define ACT(a, body, want)                                                                         \
    (snprintf(act, sizeof act, "%s/%s", path, a), req("POST", act, body, want))
    json_t *c = ACT("pause", NULL, 409);
    assert_string_equal(str(json_object_get(c, "error"), "code"), "wrong_state");
    json_decref(c);
    c = ACT("schedule", "{\"send_at\":\"2099-01-01T00:00:00Z\"}", 200);
    assert_string_equal(str(c, "status"), "scheduled");
    assert_string_equal(str(c, "send_at"), "2099-01-01T00:00:00Z");
    json_decref(c);
    json_decref(ACT("pause", NULL, 200));
    c = ACT("resume", NULL, 200); /* send_at still ahead: scheduled again */
    assert_string_equal(str(c, "status"), "scheduled");
    json_decref(c);
    /* PATCH allowed while scheduled, not after cancel */
    c = req("PATCH", path, "{\"name\":\"renamed\",\"tags\":[\"a\",\"b\"]}", 200);
    assert_string_equal(str(c, "name"), "renamed");
    assert_int_equal(json_array_size(json_object_get(c, "tags")), 2);
    json_decref(c);
    apitest_expect_error(&srv, "DELETE", path, NULL, 409, "wrong_state", NULL);
    c = ACT("cancel", "{}", 200);
    assert_string_equal(str(c, "status"), "cancelled");
    json_decref(c);
    json_decref(ACT("resume", NULL, 409));
    json_decref(ACT("cancel", NULL, 409));
    json_decref(ACT("schedule", NULL, 409));
    apitest_expect_error(&srv, "PATCH", path, "{\"name\":\"x\"}", 409, "wrong_state", NULL);
    apitest_expect_error(&srv, "POST", act, "{\"x\":1}", 422, "unknown_field", "x");
    char *out = NULL;
    assert_int_equal(apitest_req(&srv, "DELETE", path, NULL, 0, NULL, NULL, NULL, &out, NULL), 204);
    free(out);
    apitest_expect_error(&srv, "GET", path, NULL, 404, "not_found", NULL);

    /* send_at in the past: running at once; no edits, uploads or deletion */
    cid = make_campaign(tpl);
    snprintf(path, sizeof path, "/v1/campaigns/%lld", (long long)cid);
    c = ACT("schedule", "{\"send_at\":\"2001-01-01T00:00:00Z\"}", 200);
    assert_string_equal(str(c, "status"), "running");
    assert_false(json_is_null(json_object_get(c, "started_at")));
    json_decref(c);
    apitest_expect_error(&srv, "PATCH", path, "{\"name\":\"x\"}", 409, "wrong_state", NULL);
    apitest_expect_error(&srv, "DELETE", path, NULL, 409, "wrong_state", NULL);
    json_decref(upload(cid, "text/csv", "email\na@x.test\n", 409));
    c = ACT("pause", NULL, 200);
    assert_string_equal(str(c, "status"), "paused");
    json_decref(c);
    c = ACT("resume", NULL, 200);
    assert_string_equal(str(c, "status"), "running");
    json_decref(c);
    snprintf(act, sizeof act, "%s/stats", path);
    c = req("GET", act, NULL, 200);
    assert_string_equal(str(c, "status"), "running");
    assert_true(json_is_object(json_object_get(c, "counts")));
    assert_true(json_is_object(json_object_get(c, "bounce_categories")));
    assert_true(json_is_number(json_object_get(c, "rate")));
    json_decref(c);
    /* schedule without a body: the campaign's own send_at */
    char later[200];
    snprintf(later, sizeof later,
             "{\"name\":\"later\",\"from\":\"a@x.test\",\"template_id\":%lld,"
             "\"send_at\":\"2098-02-03T04:05:06Z\"}",
             (long long)tpl);
    c = req("POST", "/v1/campaigns", later, 201);
    assert_string_equal(str(c, "status"), "draft");
    snprintf(act, sizeof act, "/v1/campaigns/%lld/schedule", (long long)id_of(c));
    json_decref(c);
    c = req("POST", act, NULL, 200);
    assert_string_equal(str(c, "status"), "scheduled");
    assert_string_equal(str(c, "send_at"), "2098-02-03T04:05:06Z");
    json_decref(c);
    /* a campaign without a template cannot be scheduled */
    c = req("POST", "/v1/campaigns", "{\"name\":\"n\",\"from\":\"a@x.test\"}", 201);
    snprintf(path, sizeof path, "/v1/campaigns/%lld", (long long)id_of(c));
    json_decref(c);
    snprintf(act, sizeof act, "%s/schedule", path);
    apitest_expect_error(&srv, "POST", act, NULL, 422, "required", "template_id");
    apitest_expect_error(&srv, "POST", "/v1/campaigns/424242/pause", NULL, 404, "not_found", NULL);
    apitest_expect_error(&srv, "GET", "/v1/campaigns/424242/stats", NULL, 404, "not_found", NULL);
    /* a template in use by a live campaign cannot be deleted */
    int64_t live = make_campaign(tpl);
    snprintf(act, sizeof act, "/v1/campaigns/%lld/schedule", (long long)live);
    json_decref(req("POST", act, "{\"send_at\":\"2099-01-01T00:00:00Z\"}", 200));
    snprintf(act, sizeof act, "/v1/templates/%lld", (long long)tpl);
    apitest_expect_error(&srv, "DELETE", act, NULL, 409, "in_use", NULL);
    /* list by status */
    c = req("GET", "/v1/campaigns?status=scheduled&limit=1000", NULL, 200);
    size_t i;
    json_t *it;
    int found = 0;
    json_array_foreach(json_object_get(c, "items"), i, it)
    {
        assert_string_equal(str(it, "status"), "scheduled");
        found |= id_of(it) == live;
    }
    assert_true(found);
    json_decref(c);
#undef ACT
}

static void recipients_and_receipts(void **state)
{
    (void)state;
    int64_t cid = make_campaign(make_template());
    json_decref(req("POST", "/v1/suppressions",
                    "{\"domain\":\"blocked.test\",\"reason\":\"complaints\"}", 201));
    json_t *r = upload(cid, "text/csv",
                       "\xEF\xBB\xBF"
                       "email,name,city\r\n"
                       "Ann@X.test,\"Ann, A.\",Oslo\r\n"
                       "bob@y.test,\"Bob\r\nsecond line\",\"Q\"\"uote\"\r\n"
                       "ann@x.test,dup,Oslo\r\n"
                       "not-an-address,x,y\r\n"
                       "eve@blocked.test,E,Z\r\n"
                       "short@x.test\r\n",
                       200);
    assert_int_equal(json_integer_value(json_object_get(r, "accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "duplicates")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "suppressed")), 1);
    json_t *rej = json_object_get(r, "rejected");
    assert_int_equal(json_array_size(rej), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rej, 0), "line")), 6);
    assert_string_equal(str(json_array_get(rej, 0), "email"), "not-an-address");
    assert_string_equal(str(json_array_get(rej, 0), "error"), "invalid address: missing @");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rej, 1), "line")), 8);
    json_decref(r);
    r = upload(cid, "application/x-ndjson",
               "{\"email\":\"c1@z.test\",\"n\":1}\n{\"email\":\"c2@z.test\"}\nnot json\n", 200);
    assert_int_equal(json_integer_value(json_object_get(r, "accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(r, "rejected"), 0), "line")),
                     3);
    json_decref(r);
    r = upload(cid, "application/json", "[{\"email\":\"d1@z.test\"},\"d2@z.test\",\"bob@y.test\"]",
               200);
    assert_int_equal(json_integer_value(json_object_get(r, "accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "duplicates")), 1);
    json_decref(r);
    r = upload(cid, "text/csv", "name\nx\n", 422);
    assert_string_equal(str(json_object_get(r, "error"), "code"), "invalid_upload");
    json_decref(r);
    json_decref(upload(424242, "text/csv", "email\na@b.test\n", 404));

    /* receipts: 7 rows (2 + suppressed 1 + 2 + 2) */
    char path[160];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?limit=3", (long long)cid);
    size_t total = 0;
    int64_t last = 0;
    json_t *page = req("GET", path, NULL, 200);
    for (;;) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(page, "items"), i, it)
        {
            assert_true(id_of(it) > last); /* id order, no repeats */
            last = id_of(it);
            total++;
        }
        const char *next = str(page, "next");
        if (next == NULL)
            break;
        snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?limit=3&after=%s", (long long)cid,
                 next);
        json_decref(page);
        page = req("GET", path, NULL, 200);
    }
    json_decref(page);
    assert_int_equal(total, 7);
    static const struct {
        const char *query;
        size_t n;
    } filters[] = {
        {"status=queued", 6},
        {"status=suppressed", 1},
        {"status=delivered", 0},
        {"domain=z.test", 4},
        {"domain=Z.TEST", 4},
        {"email=ANN%40x.test", 1},
        {"since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z", 7},
        {"since=2100-01-01T00:00:00Z", 0},
    };
    for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++) {
        snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?%s", (long long)cid,
                 filters[f].query);
        page = req("GET", path, NULL, 200);
        if (json_array_size(json_object_get(page, "items")) != filters[f].n)
            fail_msg("%s: %zu items, expected %zu", filters[f].query,
                     json_array_size(json_object_get(page, "items")), filters[f].n);
        json_decref(page);
    }
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?email=ann%%40x.test", (long long)cid);
    page = req("GET", path, NULL, 200);
    json_t *ann = json_array_get(json_object_get(page, "items"), 0);
    assert_string_equal(str(ann, "email"), "ann@x.test");
    assert_string_equal(str(ann, "status"), "queued");
    int64_t rid = id_of(ann);
    json_decref(page);
    static const char *const bad[][2] = {{"status=sending", "status"},
                                         {"domain=bad..d", "domain"},
                                         {"email=x", "email"},
                                         {"since=yesterday", "since"},
                                         {"limit=5000", "limit"}};
    for (size_t b = 0; b < 5; b++) {
        snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?%s", (long long)cid, bad[b][0]);
        apitest_expect_error(&srv, "GET", path, NULL, 422, NULL, bad[b][1]);
    }
    apitest_expect_error(&srv, "GET", "/v1/campaigns/424242/receipts", NULL, 404, "not_found",
                         NULL);
    /* the NDJSON stream: every receipt, one a line */
    char *out = NULL, *hdr = NULL;
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts.ndjson", (long long)cid);
    assert_int_equal(apitest_req(&srv, "GET", path, NULL, 0, NULL, NULL, NULL, &out, &hdr), 200);
    assert_non_null(strstr(hdr, "application/x-ndjson"));
    assert_non_null(strstr(hdr, "Transfer-Encoding: chunked"));
    size_t lines = 0;
    for (char *l = out; *l;) {
        char *nl = strchr(l, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_t *o = json_loads(l, 0, NULL);
        assert_non_null(o);
        assert_int_equal(json_integer_value(json_object_get(o, "campaign_id")), cid);
        json_decref(o);
        lines++;
        l = nl + 1;
    }
    assert_int_equal(lines, 7);
    free(out);
    free(hdr);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts.ndjson?status=suppressed",
             (long long)cid);
    assert_int_equal(apitest_req(&srv, "GET", path, NULL, 0, NULL, NULL, NULL, &out, NULL), 200);
    assert_non_null(strstr(out, "eve@blocked.test"));
    assert_null(strchr(strchr(out, '\n') + 1, '\n'));
    free(out);
    /* events of one receipt */
    snprintf(path, sizeof path, "/v1/receipts/%lld/events", (long long)rid);
    page = req("GET", path, NULL, 200);
    assert_true(json_is_array(json_object_get(page, "items")));
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(page);
    apitest_expect_error(&srv, "GET", "/v1/receipts/9999999/events", NULL, 404, "not_found", NULL);

    /* two campaigns whose rows interleave: each lists only its own */
    int64_t other = make_campaign(make_template());
    json_decref(upload(other, "text/csv", "email\no1@z.test\no2@z.test\n", 200));
    json_decref(upload(cid, "text/csv", "email\nlate@z.test\n", 200));
    json_decref(upload(other, "text/csv", "email\no3@z.test\n", 200));
    static const struct {
        int which;
        size_t n;
    } lists[] = {{0, 8}, {1, 3}};
    for (size_t l = 0; l < 2; l++) {
        int64_t id = lists[l].which ? other : cid;
        size_t seen = 0;
        char after[32] = "0";
        for (;;) {
            snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?limit=2&after=%s",
                     (long long)id, after);
            page = req("GET", path, NULL, 200);
            size_t i;
            json_t *it;
            json_array_foreach(json_object_get(page, "items"), i, it)
            {
                assert_int_equal(json_integer_value(json_object_get(it, "campaign_id")), id);
                seen++;
            }
            const char *next = str(page, "next");
            if (next)
                snprintf(after, sizeof after, "%s", next);
            json_decref(page);
            if (next == NULL)
                break;
        }
        assert_int_equal(seen, lists[l].n);
    }
    /* a campaign without recipients: an empty last page */
    int64_t empty = make_campaign(make_template());
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts", (long long)empty);
    page = req("GET", path, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 0);
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(page);
}

static void suppressions(void **state)
{
    (void)state;
    json_t *s =
        req("POST", "/v1/suppressions", "{\"email\":\"Gone@Example.com\",\"reason\":\"b\"}", 201);
    assert_string_equal(str(s, "value"), "gone@example.com");
    assert_non_null(json_object_get(s, "id"));
    json_decref(s);
    /* adding it again updates it: still one entry */
    json_decref(
        req("POST", "/v1/suppressions", "{\"email\":\"gone@example.com\",\"reason\":\"c\"}", 201));
    s = req("GET", "/v1/suppressions?limit=1000", NULL, 200);
    size_t i, n = 0;
    json_t *it;
    json_array_foreach(json_object_get(s, "items"), i, it)
    {
        if (strcmp(str(it, "value"), "gone@example.com") == 0) {
            n++;
            assert_string_equal(str(it, "reason"), "c");
            assert_string_equal(str(it, "kind"), "email");
        }
    }
    assert_int_equal(n, 1);
    json_decref(s);
    char *out = NULL;
    assert_int_equal(apitest_req(&srv, "DELETE", "/v1/suppressions?email=GONE%40example.com", NULL,
                                 0, NULL, NULL, NULL, &out, NULL),
                     204);
    free(out);
    apitest_expect_error(&srv, "DELETE", "/v1/suppressions?email=gone%40example.com", NULL, 404,
                         "not_found", NULL);
    json_decref(req("POST", "/v1/suppressions", "{\"value\":\"spam.example\"}", 201));
    assert_int_equal(apitest_req(&srv, "DELETE", "/v1/suppressions",
                                 "{\"domain\":\"spam.example\"}", 25, NULL, NULL, NULL, &out, NULL),
                     204);
    free(out);
    apitest_expect_error(&srv, "DELETE", "/v1/suppressions", NULL, 422, "required", "email");
}

static void pools(void **state)
{
    (void)state;
    json_t *p = req("GET", "/v1/pools", NULL, 200);
    assert_true(json_is_array(json_object_get(p, "items")));
    assert_true(json_is_null(json_object_get(p, "next")));
    json_decref(p);
}

static void idempotent_creates(void **state)
{
    (void)state;
    static const char *const creates[][2] = {
        {"/v1/templates", "{\"subject\":\"s\",\"name\":\"idem\",\"text\":\"x\"}"},
        {"/v1/campaigns", "{\"name\":\"idem\",\"from\":\"a@x.test\"}"},
        {"/v1/suppressions", "{\"email\":\"idem@x.test\"}"},
    };
    for (size_t i = 0; i < 3; i++) {
        char *a = NULL, *b = NULL, *ha = NULL, *hb = NULL;
        const char *path = creates[i][0], *body = creates[i][1];
        int sa = apitest_req(&srv, "POST", path, body, strlen(body), NULL,
                             "Idempotency-Key: key-123", NULL, &a, &ha);
        int sb = apitest_req(&srv, "POST", path, body, strlen(body), NULL,
                             "Idempotency-Key: key-123", NULL, &b, &hb);
        assert_int_equal(sa, 201);
        assert_int_equal(sb, 201);
        assert_string_equal(a, b); /* the same object, not a second one */
        assert_null(strstr(ha, "Idempotent-Replayed"));
        assert_non_null(strstr(hb, "Idempotent-Replayed: true"));
        free(b), free(ha), free(hb);
        /* the same key with another body is refused */
        char other[200];
        snprintf(other, sizeof other, "%.*s,\"name\":\"x\"}", (int)strcspn(body, "}"), body);
        if (i == 2)
            snprintf(other, sizeof other, "{\"email\":\"other@x.test\"}");
        char *e = NULL;
        assert_int_equal(apitest_req(&srv, "POST", path, other, strlen(other), NULL,
                                     "Idempotency-Key: key-123", NULL, &e, NULL),
                         422);
        assert_non_null(strstr(e, "idempotency_mismatch"));
        free(e);
        /* another key runs the request again: another object */
        char *c = NULL;
        int sc = apitest_req(&srv, "POST", path, body, strlen(body), NULL,
                             "Idempotency-Key: key-456", NULL, &c, NULL);
        assert_int_equal(sc, 201);
        if (i < 2)
            assert_string_not_equal(a, c);
        free(c);
        free(a);
    }
}

/* SQL metacharacters come back verbatim; NUL bytes are refused naming the
 * field, for every string field of every creating body. */
static void sql_and_nul_in_strings(void **state)
{
    (void)state;
    static const char *const sql = "x'); DROP TABLE campaigns; -- \\\" %_ ;";
    int64_t tpl = make_template();
    static const struct {
        const char *path, *base, *field;
    } fields[] = {
        {"/v1/templates", "{\"subject\":\"s\",\"text\":\"t\",\"name\":%s}", "name"},
        {"/v1/templates", "{\"name\":\"n\",\"subject\":%s,\"text\":\"t\"}", "subject"},
        {"/v1/templates", "{\"subject\":\"s\",\"name\":\"n\",\"html\":%s}", "html"},
        {"/v1/templates", "{\"subject\":\"s\",\"name\":\"n\",\"text\":%s}", "text"},
        {"/v1/templates",
         "{\"subject\":\"s\",\"name\":\"n\",\"text\":\"t\",\"partials\":{\"p\":%s}}", "partials.p"},
        {"/v1/campaigns", "{\"from\":\"a@x.test\",\"name\":%s}", "name"},
        {"/v1/campaigns", "{\"name\":\"n\",\"from\":\"a@x.test\",\"pool\":%s}", "pool"},
        {"/v1/campaigns", "{\"name\":\"n\",\"from\":\"a@x.test\",\"tags\":[%s]}", "tags[0]"},
        {"/v1/campaigns", "{\"name\":\"n\",\"from\":\"a@x.test\",\"headers\":{\"X-T\":%s}}",
         "headers.X-T"},
        {"/v1/suppressions", "{\"email\":\"q@x.test\",\"reason\":%s}", "reason"},
    };
    (void)tpl;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *js = json_string(sql);
        char *q = json_dumps(js, JSON_ENCODE_ANY);
        json_decref(js);
        char body[512];
        snprintf(body, sizeof body, fields[i].base, q);
        free(q);
        int st;
        json_t *v = apitest_json(&srv, "POST", fields[i].path, body, &st);
        if (st != 201)
            fail_msg("%s %s: %d", fields[i].path, body, st);
        /* the value comes back as sent */
        char *dump = json_dumps(v, JSON_COMPACT);
        json_t *jsq = json_string(sql);
        char *esc = json_dumps(jsq, JSON_ENCODE_ANY | JSON_COMPACT);
        json_decref(jsq);
        if (strstr(dump, esc) == NULL)
            fail_msg("%s: %s not in %s", fields[i].field, esc, dump);
        free(esc);
        free(dump);
        if (strcmp(fields[i].path, "/v1/suppressions") == 0) {
            char *out = NULL;
            apitest_req(&srv, "DELETE", "/v1/suppressions?email=q%40x.test", NULL, 0, NULL, NULL,
                        NULL, &out, NULL);
            free(out);
        }
        json_decref(v);
        snprintf(body, sizeof body, fields[i].base, "\"a\\u0000b\"");
        apitest_expect_error(&srv, "POST", fields[i].path, body, 422, "invalid", fields[i].field);
    }
    /* the tables are still there */
    json_decref(req("GET", "/v1/campaigns", NULL, 200));
    json_decref(req("GET", "/v1/templates", NULL, 200));
    /* and in queries and recipient lists */
    int64_t cid = make_campaign(tpl);
    char path[160];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?email=x%%27%%3B%%20DROP",
             (long long)cid);
    apitest_expect_error(&srv, "GET", path, NULL, 422, "invalid", "email");
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?domain=a%%00b.test", (long long)cid);
    apitest_expect_error(&srv, "GET", path, NULL, 422, "invalid", "domain");
    json_t *r = upload(cid, "application/x-ndjson",
                       "{\"email\":\"o'brien@x.test\",\"note\":\"'; DROP TABLE deliveries;--\"}\n"
                       "{\"email\":\"nul\\u0000@x.test\"}\n",
                       200);
    assert_int_equal(json_integer_value(json_object_get(r, "accepted")), 1);
    assert_string_equal(str(json_array_get(json_object_get(r, "rejected"), 0), "error"),
                        "invalid address: NUL byte in address");
    json_decref(r);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts", (long long)cid);
    r = req("GET", path, NULL, 200);
    assert_string_equal(str(json_array_get(json_object_get(r, "items"), 0), "email"),
                        "o'brien@x.test");
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(health_needs_no_key),
        cmocka_unit_test(every_route_needs_a_key),
        cmocka_unit_test(unknown_routes_and_methods),
        cmocka_unit_test(templates_crud),
        cmocka_unit_test(template_compile_and_preview),
        cmocka_unit_test(bodies_malformed_and_invalid),
        cmocka_unit_test(campaign_lifecycle),
        cmocka_unit_test(recipients_and_receipts),
        cmocka_unit_test(suppressions),
        cmocka_unit_test(pools),
        cmocka_unit_test(idempotent_creates),
        cmocka_unit_test(sql_and_nul_in_strings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
