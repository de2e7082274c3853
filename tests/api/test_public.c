/*
 * tests/api/test_public.c: the real `edm serve` with a public listener
 * (api/public.c) and the feedback routes of the API, driven by curl:
 * one-click unsubscribe (RFC 8058) suppresses, the confirmation page does
 * not, forged and bounce tokens answer 404 and change nothing; then the
 * receipt's feedback, its event in /v1/events, the feedback filter, the
 * stats, and the suppression list's CSV export and import.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/message/verp.h"
#include "tests/api/apitest.h"
#include "tests/support/testlib.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static apitest srv;
static int pub_port;

#define req(method, path, body, want) apitest_expect(&srv, method, path, body, want)

/* curl against the public listener: returns the HTTP status, *out the body. */
static int pub(const char *method, const char *path, const char *body, char **out)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "curl -s -o %s/pub.out -w '%%{http_code}' -X %s %s%s%s "
             "http://127.0.0.1:%d%s",
             srv.dir, method, body ? "--data-raw '" : "", body ? body : "", body ? "'" : "",
             pub_port, path);
    char *status = NULL;
    edm_test_run(cmd, &status);
    int code = status ? atoi(status) : 0;
    free(status);
    char p[600];
    snprintf(p, sizeof p, "%s/pub.out", srv.dir);
    if (out)
        *out = edm_test_read_file(p, NULL);
    return code;
}

static void secret_of(unsigned char *s, size_t *n)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(srv.db, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE name = 'secret'", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    *n = (size_t)sqlite3_column_bytes(q, 0);
    assert_true(*n >= 16 && *n <= 64);
    memcpy(s, sqlite3_column_blob(q, 0), *n);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static json_t *get_receipt(int64_t id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/receipts/%lld/events", (long long)id);
    return req("GET", path, NULL, 200);
}

static void one_click_and_feedback_routes(void **state)
{
    (void)state;
    pub_port = edm_test_free_port("127.0.0.1");
    char extra[256];
    snprintf(extra, sizeof extra,
             "\"public\": {\"listen\": \"127.0.0.1:%d\", \"base_url\": "
             "\"https://mail.example.com/\"}",
             pub_port);
    apitest_start_serve(&srv, "EDM_TEST_KEYS", "k1", 0, extra);
    assert_int_equal(edm_test_wait_port("127.0.0.1", pub_port, 5000), 0);

    json_t *t =
        req("POST", "/v1/templates", "{\"name\":\"t\",\"subject\":\"s\",\"text\":\"x\"}", 201);
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"c\",\"template_id\":%lld,\"from\":\"n@example.com\"}",
             (long long)json_integer_value(json_object_get(t, "id")));
    json_decref(t);
    json_t *c = req("POST", "/v1/campaigns", body, 201);
    int64_t cid = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    json_decref(apitest_upload(&srv, cid, "text/csv",
                               "email\nuser0@example.org\nuser1@example.org\n", 200));
    char path[128];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts", (long long)cid);
    json_t *list = req("GET", path, NULL, 200);
    json_t *items = json_object_get(list, "items");
    assert_int_equal(json_array_size(items), 2);
    int64_t id0 = json_integer_value(json_object_get(json_array_get(items, 0), "id"));
    assert_true(json_is_null(json_object_get(json_array_get(items, 0), "feedback")));

    unsigned char secret[64];
    size_t slen;
    secret_of(secret, &slen);
    char tok[EDM_VERP_TOKEN_MAX], btok[EDM_VERP_TOKEN_MAX], forged[EDM_VERP_TOKEN_MAX];
    assert_true(edm_verp_token(tok, EDM_VERP_UNSUB, secret, slen, (uint64_t)id0) > 0);
    assert_true(edm_verp_token(btok, EDM_VERP_BOUNCE, secret, slen, (uint64_t)id0) > 0);
    snprintf(forged, sizeof forged, "%s", tok);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == 'a' ? 'b' : 'a';

    /* GET shows the page and changes nothing; forged tokens answer 404. */
    char upath[96], *out = NULL;
    snprintf(upath, sizeof upath, "/u/%s", tok);
    assert_int_equal(pub("GET", upath, NULL, &out), 200);
    assert_non_null(strstr(out, "<form method=\"post\""));
    free(out);
    const char *bad[] = {forged, btok, "1-aaaaaaaaaaaaaaaa"};
    for (int i = 0; i < 3; i++) {
        char p[96];
        snprintf(p, sizeof p, "/u/%s", bad[i]);
        assert_int_equal(pub("POST", p, "List-Unsubscribe=One-Click", NULL), 404);
        assert_int_equal(pub("GET", p, NULL, NULL), 404);
    }
    assert_int_equal(pub("POST", upath, "nothing", NULL), 400);
    json_t *again = req("GET", path, NULL, 200);
    assert_true(json_equal(list, again));
    json_decref(again);
    json_t *sup = req("GET", "/v1/suppressions", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(sup, "items")), 0);
    json_decref(sup);

    /* One-click POST unsubscribes at once. */
    assert_int_equal(pub("POST", upath, "List-Unsubscribe=One-Click", NULL), 200);
    json_t *after = req("GET", path, NULL, 200);
    json_t *r0 = json_array_get(json_object_get(after, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "feedback")), "unsubscribed");
    assert_true(json_is_string(json_object_get(r0, "feedback_at")));
    assert_true(
        json_equal(json_array_get(json_object_get(after, "items"), 1), json_array_get(items, 1)));
    json_decref(after);
    json_t *ev = get_receipt(id0);
    assert_int_equal(json_array_size(json_object_get(ev, "items")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(ev, "items"), 0), "type")),
        "unsubscribe");
    json_decref(ev);

    /* The events feed, the feedback filter, the stats. */
    json_t *feed = req("GET", "/v1/events?type=unsubscribe", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(feed, "items")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(feed, "items"), 0), "email")),
                        "user0@example.org");
    json_decref(feed);
    apitest_expect_error(&srv, "GET", "/v1/events?type=bounce", NULL, 422, "invalid", "type");
    char fpath[160];
    snprintf(fpath, sizeof fpath, "%s?feedback=unsubscribed", path);
    json_t *fl = req("GET", fpath, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(fl, "items")), 1);
    json_decref(fl);
    snprintf(fpath, sizeof fpath, "%s?feedback=maybe", path);
    apitest_expect_error(&srv, "GET", fpath, NULL, 422, "invalid", "feedback");
    snprintf(fpath, sizeof fpath, "/v1/campaigns/%lld/stats", (long long)cid);
    json_t *stats = req("GET", fpath, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(stats, "unsubscribes")), 1);
    assert_int_equal(json_integer_value(json_object_get(stats, "complaints")), 0);
    json_decref(stats);

    /* Suppressions: CSV import (a bad row reported, the rest added), export. */
    const char *csv = "email,reason\r\nA@Example.org,\"manual, by hand\"\r\nnot an address,x\r\n"
                      "example.net,domain\r\n";
    char *ans = NULL;
    assert_int_equal(apitest_req(&srv, "POST", "/v1/suppressions", csv, strlen(csv), "text/csv",
                                 NULL, NULL, &ans, NULL),
                     200);
    json_t *imp = json_loads(ans, 0, NULL);
    free(ans);
    assert_int_equal(json_integer_value(json_object_get(imp, "accepted")), 2);
    json_t *rej = json_object_get(imp, "rejected");
    assert_int_equal(json_array_size(rej), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rej, 0), "line")), 3);
    json_decref(imp);
    assert_int_equal(
        apitest_req(&srv, "GET", "/v1/suppressions.csv", NULL, 0, NULL, NULL, NULL, &ans, NULL),
        200);
    assert_string_equal(ans, "email,reason\r\nuser0@example.org,unsubscribe\r\n"
                             "a@example.org,\"manual, by hand\"\r\nexample.net,domain\r\n");
    free(ans);

    /* RFC 8058 3.1: the one-click POST SHOULD come as multipart/form-data
     * (curl -F), and may carry other fields beside it; it unsubscribes as
     * the urlencoded form does. A multipart body without the field is 400. */
    int64_t id1 = json_integer_value(json_object_get(json_array_get(items, 1), "id"));
    char tok1[EDM_VERP_TOKEN_MAX], cmd[1024];
    assert_true(edm_verp_token(tok1, EDM_VERP_UNSUB, secret, slen, (uint64_t)id1) > 0);
    const char *forms[][2] = {{"-F List-Unsubscribe=Other", "400"},
                              {"-F a=b -F List-Unsubscribe=One-Click", "200"}};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd,
                 "curl -s -o /dev/null -w '%%{http_code}' %s http://127.0.0.1:%d/u/%s", forms[i][0],
                 pub_port, tok1);
        char *code = NULL;
        edm_test_run(cmd, &code);
        assert_non_null(code);
        assert_string_equal(code, forms[i][1]);
        free(code);
    }
    json_t *multi = req("GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(multi, "items"), 1), "feedback")),
                        "unsubscribed");
    json_decref(multi);
    json_decref(list);
    apitest_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_click_and_feedback_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
