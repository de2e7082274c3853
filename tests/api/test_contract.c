/*
 * tests/api/test_contract.c: the JSON API of the real `edm serve` held to
 * the letter of its contract (docs/api.md, the "JSON API (v1)" section of
 * the product's description) where the other API tests do not already:
 * raw previews without from/to, replacement by PUT, null for optional
 * fields, the live pool state, and paging on every list. DNS points at a
 * dead loopback port: nothing is sent anywhere (the one message a test
 * sends is deferred every second, retry.schedule [1]).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/api/apitest.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static apitest srv;
static char *keydir;

#define req(method, path, body, want) apitest_expect(&srv, method, path, body, want)
#define expect_error(method, path, body, status, code, field)                                      \
    apitest_expect_error(&srv, method, path, body, status, code, field)

static int64_t id_of(json_t *v)
{
    assert_true(json_is_integer(json_object_get(v, "id")));
    return json_integer_value(json_object_get(v, "id"));
}

static int64_t make_template(void)
{
    json_t *t = req("POST", "/v1/templates",
                    "{\"name\":\"w\",\"subject\":\"Hi {{name}}\",\"html\":\"<p>Hello "
                    "{{name}}</p>\",\"text\":\"Hello {{name}}\"}",
                    201);
    int64_t id = id_of(t);
    json_decref(t);
    return id;
}

static int setup(void **state)
{
    if (edm_test_store_group_setup(state) != 0)
        return -1;
    /* an ed25519 DKIM key for example.com (fast to make) */
    keydir = edm_test_tmpdir("apikey");
    char cmd[700], extra[1400];
    snprintf(cmd, sizeof cmd, "openssl genpkey -algorithm ED25519 -out %s/ed.pem", keydir);
    assert_int_equal(edm_test_run(cmd, NULL), 0);
    snprintf(extra, sizeof extra,
             "\"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s1\", \"key\": "
             "\"%s/ed.pem\", \"algorithm\": \"ed25519-sha256\"}], "
             "\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\", "
             "\"warmup\": [[1, 1000], [2, 5000]]}, {\"addr\": \"127.0.0.3\"}]}], "
             "\"retry\": {\"schedule\": [1], \"max_age\": 3600}",
             keydir);
    apitest_start_serve(&srv, "EDM_TEST_CONTRACT_KEYS", "ck", 0, extra);
    return 0;
}

static int teardown(void **state)
{
    apitest_stop(&srv);
    edm_test_rmtree(keydir);
    free(keydir);
    return edm_test_store_group_teardown(state);
}

/* raw=true with nothing but vars is the whole message, signed: the
 * sender defaults to the DKIM domain, the recipient to vars' email; a
 * given from/to that is not an address is 422 naming it. raw=true works
 * as a query parameter too (the product's "raw=true gives the full
 * signed message"). */
static void raw_preview_without_from_or_to(void **state)
{
    (void)state;
    int64_t tid = make_template();
    char path[96], *out = NULL, *hdr = NULL;
    snprintf(path, sizeof path, "/v1/templates/%lld/preview", (long long)tid);
    const char *body = "{\"vars\":{\"name\":\"Ann\",\"email\":\"ann@x.test\"},\"raw\":true}";
    int st = apitest_req(&srv, "POST", path, body, strlen(body), NULL, NULL, NULL, &out, &hdr);
    if (st != 200)
        fail_msg("raw preview: %d %s", st, out ? out : "");
    assert_non_null(strstr(hdr, "message/rfc822"));
    assert_non_null(strstr(out, "Subject: Hi Ann"));
    assert_non_null(strstr(out, "To: ann@x.test"));
    assert_non_null(strstr(out, "From: preview@example.com"));
    assert_non_null(strstr(out, "DKIM-Signature:"));
    free(out);
    free(hdr);
    /* no vars at all: a recipient of its own */
    body = "{\"raw\":true}";
    st = apitest_req(&srv, "POST", path, body, strlen(body), NULL, NULL, NULL, &out, NULL);
    assert_int_equal(st, 200);
    assert_non_null(strstr(out, "To: recipient@example.com"));
    free(out);
    expect_error("POST", path, "{\"raw\":true,\"from\":\"nobody\"}", 422, "invalid_address",
                 "from");
    expect_error("POST", path, "{\"raw\":true,\"to\":\"Ann <ann@x.test>\"}", 422, "invalid_address",
                 "to");
    /* raw=true as a query parameter, with or without a body */
    char qpath[128];
    snprintf(qpath, sizeof qpath, "%s?raw=true", path);
    body = "{\"vars\":{\"name\":\"Bo\"}}";
    st = apitest_req(&srv, "POST", qpath, body, strlen(body), NULL, NULL, NULL, &out, &hdr);
    assert_int_equal(st, 200);
    assert_non_null(strstr(hdr, "message/rfc822"));
    assert_non_null(strstr(out, "Subject: Hi Bo"));
    assert_non_null(strstr(out, "DKIM-Signature:"));
    free(out);
    free(hdr);
    st = apitest_req(&srv, "POST", qpath, NULL, 0, NULL, NULL, NULL, &out, NULL);
    assert_int_equal(st, 200);
    assert_non_null(strstr(out, "To: recipient@example.com"));
    free(out);
    snprintf(qpath, sizeof qpath, "%s?raw=false", path);
    json_t *parts = req("POST", qpath, body, 200);
    assert_string_equal(json_string_value(json_object_get(parts, "subject")), "Hi Bo");
    json_decref(parts);
    snprintf(qpath, sizeof qpath, "%s?raw=yes", path);
    expect_error("POST", qpath, body, 422, "invalid", "raw");
    /* the server is still there */
    json_decref(req("GET", "/v1/health", NULL, 200));
}

/* PUT replaces the template: what it leaves out is gone; null partials
 * (create or PUT) are none, not a store error. */
static void template_put_replaces(void **state)
{
    (void)state;
    json_t *t = req("POST", "/v1/templates",
                    "{\"name\":\"p\",\"subject\":\"s\",\"html\":\"<p>h</p>\",\"text\":\"t\","
                    "\"partials\":{\"foot\":\"bye\"}}",
                    201);
    int64_t tid = id_of(t);
    json_decref(t);
    char path[96];
    snprintf(path, sizeof path, "/v1/templates/%lld", (long long)tid);
    json_decref(
        req("PUT", path, "{\"name\":\"p2\",\"subject\":\"s2\",\"html\":\"<b>only</b>\"}", 200));
    t = req("GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(t, "name")), "p2");
    assert_string_equal(json_string_value(json_object_get(t, "html")), "<b>only</b>");
    assert_true(json_is_null(json_object_get(t, "text")));
    assert_int_equal(json_object_size(json_object_get(t, "partials")), 0);
    json_decref(t);
    t = req("PUT", path,
            "{\"name\":\"p3\",\"subject\":\"s3\",\"text\":\"x\",\"html\":null,\"partials\":null}",
            200);
    assert_true(json_is_null(json_object_get(t, "html")));
    assert_string_equal(json_string_value(json_object_get(t, "text")), "x");
    json_decref(t);
    t = req("POST", "/v1/templates",
            "{\"name\":\"q\",\"subject\":\"s\",\"text\":\"t\",\"partials\":null}", 201);
    assert_int_equal(json_object_size(json_object_get(t, "partials")), 0);
    json_decref(t);
    /* PUT without one of the required fields is 422 naming it */
    expect_error("PUT", path, "{\"name\":\"p4\",\"text\":\"x\"}", 422, "required", "subject");
}

/* null for an optional campaign field is its default, on create and
 * PATCH; name and from cannot be null (422 naming them); PATCH changes
 * only what it names. */
static void campaign_null_fields(void **state)
{
    (void)state;
    json_t *c = req("POST", "/v1/campaigns",
                    "{\"name\":\"n\",\"from\":\"a@example.com\",\"pool\":null,\"headers\":null,"
                    "\"tags\":null,\"reply_to\":null,\"send_at\":null,\"unsubscribe\":null,"
                    "\"max_per_hour\":null,\"track\":null,\"template_id\":null}",
                    201);
    int64_t cid = id_of(c);
    assert_string_equal(json_string_value(json_object_get(c, "pool")), "default");
    assert_int_equal(json_object_size(json_object_get(c, "headers")), 0);
    assert_int_equal(json_array_size(json_object_get(c, "tags")), 0);
    json_decref(c);
    char path[96];
    snprintf(path, sizeof path, "/v1/campaigns/%lld", (long long)cid);
    c = req("PATCH", path, "{\"headers\":{\"X-A\":\"1\"},\"tags\":[\"t\"]}", 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "headers"), "X-A")),
                        "1");
    json_decref(c);
    c = req("PATCH", path, "{\"headers\":null,\"tags\":null,\"pool\":null}", 200);
    assert_int_equal(json_object_size(json_object_get(c, "headers")), 0);
    assert_int_equal(json_array_size(json_object_get(c, "tags")), 0);
    assert_string_equal(json_string_value(json_object_get(c, "pool")), "default");
    assert_string_equal(json_string_value(json_object_get(c, "name")), "n");
    json_decref(c);
    /* track null is both off, on either store */
    c = req("PATCH", path, "{\"track\":{\"opens\":true,\"clicks\":true}}", 200);
    assert_true(json_is_true(json_object_get(json_object_get(c, "track"), "opens")));
    json_decref(c);
    c = req("PATCH", path, "{\"track\":null}", 200);
    assert_true(json_is_false(json_object_get(json_object_get(c, "track"), "opens")));
    assert_true(json_is_false(json_object_get(json_object_get(c, "track"), "clicks")));
    json_decref(c);
    expect_error("PATCH", path, "{\"name\":null}", 422, "required", "name");
    expect_error("PATCH", path, "{\"from\":null}", 422, "required", "from");
    expect_error("POST", "/v1/campaigns", "{\"name\":\"n\",\"from\":null}", 422, "required",
                 "from");
    c = req("GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(c, "from")), "a@example.com");
    json_decref(c);
}

/* The first event of receipt rid in GET /v1/events (polled until the
 * engine has recorded one; the dead DNS defers every second). */
static json_t *first_event_of(int64_t rid)
{
    for (int i = 0; i < 150; i++) {
        char url[96], after[32] = "0";
        for (int page = 0; page < 100; page++) {
            snprintf(url, sizeof url, "/v1/events?limit=1000&after=%s", after);
            json_t *p = req("GET", url, NULL, 200);
            size_t k;
            json_t *e;
            json_array_foreach(json_object_get(p, "items"), k, e)
            {
                if (json_integer_value(json_object_get(e, "receipt_id")) == rid) {
                    json_incref(e);
                    json_decref(p);
                    return e;
                }
            }
            json_t *next = json_object_get(p, "next");
            int more = json_is_string(next);
            if (more)
                snprintf(after, sizeof after, "%s", json_string_value(next));
            json_decref(p);
            if (!more)
                break;
        }
        edm_test_sleep_ms(100);
    }
    fail_msg("no event of receipt %lld in /v1/events", (long long)rid);
    return NULL;
}

/* An event of a transactional message's recipient names the message
 * (message_id) and no campaign (campaign_id null), as its receipt and
 * its webhook events do; a campaign recipient's event names its
 * campaign and no message. A message's counts name every state. */
static void events_name_their_message_or_campaign(void **state)
{
    (void)state;
    json_t *m = req("POST", "/v1/messages",
                    "{\"from\":\"a@example.com\",\"to\":[\"ev@example.org\"],\"subject\":\"s\","
                    "\"text\":\"t\"}",
                    202);
    int64_t mid = id_of(m);
    int64_t rid = json_integer_value(
        json_object_get(json_array_get(json_object_get(m, "recipients"), 0), "id"));
    json_decref(m);
    json_t *e = first_event_of(rid);
    assert_true(json_is_null(json_object_get(e, "campaign_id")));
    assert_int_equal(json_integer_value(json_object_get(e, "message_id")), mid);
    assert_string_equal(json_string_value(json_object_get(e, "email")), "ev@example.org");
    json_decref(e);
    /* the message's counts name every state, as a campaign's stats do */
    char mpath[96];
    snprintf(mpath, sizeof mpath, "/v1/messages/%lld", (long long)mid);
    m = req("GET", mpath, NULL, 200);
    json_t *counts = json_object_get(m, "counts");
    static const char *const states[] = {"queued",     "deferred", "delivered", "bounced",
                                         "suppressed", "failed",   "cancelled"};
    json_int_t sum = 0;
    for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
        json_t *n = json_object_get(counts, states[k]);
        if (!json_is_integer(n))
            fail_msg("counts.%s missing", states[k]);
        sum += json_integer_value(n);
    }
    assert_int_equal(json_object_size(counts), 7);
    assert_int_equal(sum, 1);
    assert_int_equal(json_integer_value(json_object_get(counts, "delivered")), 0);
    json_decref(m);
    m = req("GET", "/v1/messages?limit=1000", NULL, 200);
    size_t k;
    json_t *item;
    json_array_foreach(json_object_get(m, "items"), k, item)
        assert_int_equal(json_object_size(json_object_get(item, "counts")), 7);
    json_decref(m);

    char body[200], path[96];
    snprintf(body, sizeof body, "{\"name\":\"ev\",\"from\":\"a@example.com\",\"template_id\":%lld}",
             (long long)make_template());
    json_t *c = req("POST", "/v1/campaigns", body, 201);
    int64_t cid = id_of(c);
    json_decref(c);
    json_decref(apitest_upload(&srv, cid, "application/json",
                               "[{\"email\":\"ev@example.net\",\"name\":\"Ev\"}]", 200));
    snprintf(path, sizeof path, "/v1/campaigns/%lld/schedule", (long long)cid);
    json_decref(req("POST", path, "{}", 200));
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts", (long long)cid);
    json_t *r = req("GET", path, NULL, 200);
    rid = id_of(json_array_get(json_object_get(r, "items"), 0));
    json_decref(r);
    e = first_event_of(rid);
    assert_int_equal(json_integer_value(json_object_get(e, "campaign_id")), cid);
    assert_true(json_is_null(json_object_get(e, "message_id")));
    json_decref(e);
    /* stop its retries: the later tests count nothing of it */
    snprintf(path, sizeof path, "/v1/campaigns/%lld/cancel", (long long)cid);
    json_decref(req("POST", path, NULL, 200));
}

/* A recipient upload sent as application/json that is not JSON is 400
 * malformed_json with its position, and nothing of it is written; CSV
 * and NDJSON under their own types, and JSON arrays or objects under
 * application/json, are read as before. */
static void upload_not_json_is_400(void **state)
{
    (void)state;
    json_t *c = req("POST", "/v1/campaigns", "{\"name\":\"u\",\"from\":\"a@example.com\"}", 201);
    int64_t cid = id_of(c);
    json_decref(c);
    char path[96], *out = NULL;
    snprintf(path, sizeof path, "/v1/campaigns/%lld/recipients", (long long)cid);
    const char *bodies[] = {"email\nx@example.org\n", "  \n  not json", "\"x@example.org\""};
    const char *where[] = {"line 1, column 1", "line 2, column 3", "line 1, column 1"};
    for (size_t i = 0; i < 3; i++) {
        int st = apitest_req(&srv, "POST", path, bodies[i], strlen(bodies[i]), "application/json",
                             NULL, NULL, &out, NULL);
        if (st != 400 || strstr(out, "\"malformed_json\"") == NULL || strstr(out, where[i]) == NULL)
            fail_msg("upload %zu: %d %s", i, st, out ? out : "");
        free(out);
    }
    json_t *u =
        apitest_upload(&srv, cid, "application/json", "[{\"email\":\"a@example.org\"}]", 200);
    assert_int_equal(json_integer_value(json_object_get(u, "accepted")), 1);
    json_decref(u);
    u = apitest_upload(&srv, cid, "application/json", " {\"email\":\"b@example.org\"}\n", 200);
    assert_int_equal(json_integer_value(json_object_get(u, "accepted")), 1);
    json_decref(u);
    u = apitest_upload(&srv, cid, "text/csv", "email\nc@example.org\n", 200);
    assert_int_equal(json_integer_value(json_object_get(u, "accepted")), 1);
    json_decref(u);
    /* the refused bodies wrote nothing: three recipients in all */
    snprintf(path, sizeof path, "/v1/campaigns/%lld/stats", (long long)cid);
    json_t *st = req("GET", path, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(st, "total")), 3);
    json_decref(st);
}

/* GET /v1/pools shows each address's warm-up day and cap. */
static void pools_show_warmup_day_and_cap(void **state)
{
    (void)state;
    json_t *p = req("GET", "/v1/pools", NULL, 200);
    json_t *items = json_object_get(p, "items");
    assert_int_equal(json_array_size(items), 2);
    int seen = 0;
    size_t i;
    json_t *ip;
    json_array_foreach(items, i, ip)
    {
        const char *addr = json_string_value(json_object_get(ip, "addr"));
        assert_non_null(addr);
        assert_int_equal(json_integer_value(json_object_get(ip, "warmup_day")), 1);
        json_t *cap = json_object_get(ip, "warmup_cap");
        if (strcmp(addr, "127.0.0.2") == 0) {
            assert_int_equal(json_integer_value(cap), 1000);
            seen |= 1;
        } else {
            assert_true(cap != NULL && json_is_null(cap));
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    json_decref(p);
}

/* Follows a list from its first page with the given limit; returns the
 * number of items seen and checks each page's shape. */
static size_t walk(const char *path, int limit, size_t *pages)
{
    char url[300], after[64] = "";
    size_t seen = 0;
    *pages = 0;
    for (;;) {
        snprintf(url, sizeof url, "%s%slimit=%d%s%s", path, strchr(path, '?') ? "&" : "?", limit,
                 after[0] ? "&after=" : "", after);
        json_t *p = req("GET", url, NULL, 200);
        json_t *items = json_object_get(p, "items"), *next = json_object_get(p, "next");
        assert_true(json_is_array(items));
        assert_true(next != NULL && (json_is_null(next) || json_is_string(next)));
        assert_true(json_array_size(items) <= (size_t)limit);
        seen += json_array_size(items);
        (*pages)++;
        if (json_is_null(next)) {
            json_decref(p);
            return seen;
        }
        assert_int_equal(json_array_size(items), limit);
        snprintf(after, sizeof after, "%s", json_string_value(next));
        json_decref(p);
        assert_true(*pages < 100);
    }
}

/* Every list answers {items, next}, takes limit (1..1000, else 422
 * naming it) and after, and pages through all its items, the short lists
 * (pools, nodes, webhooks, a receipt's events) too. */
static void every_list_pages(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        json_decref(req("POST", "/v1/webhooks",
                        "{\"url\":\"http://127.0.0.1:9/hook\",\"events\":[\"delivered\"]}", 201));
    /* a transactional message to a domain the dead DNS cannot resolve:
     * its receipt is deferred again every second (retry.schedule) */
    json_t *m = req("POST", "/v1/messages",
                    "{\"from\":\"a@example.com\",\"to\":[\"r@example.org\"],\"subject\":\"s\","
                    "\"text\":\"t\"}",
                    202);
    int64_t rid = json_integer_value(
        json_object_get(json_array_get(json_object_get(m, "recipients"), 0), "id"));
    json_decref(m);
    assert_true(rid > 0);
    char events[96];
    snprintf(events, sizeof events, "/v1/receipts/%lld/events", (long long)rid);
    size_t total = 0;
    for (int i = 0; i < 150 && total < 3; i++) {
        json_t *e = req("GET", events, NULL, 200);
        total = json_array_size(json_object_get(e, "items"));
        json_decref(e);
        if (total < 3)
            edm_test_sleep_ms(100);
    }
    assert_true(total >= 3);
    size_t pages;
    assert_true(walk(events, 1, &pages) >= 3);
    assert_true(pages >= 3);
    assert_int_equal(walk("/v1/webhooks", 2, &pages), 3);
    assert_int_equal(pages, 2);
    assert_int_equal(walk("/v1/pools", 1, &pages), 2);
    assert_int_equal(pages, 2);
    assert_int_equal(walk("/v1/nodes", 1, &pages), 1);

    char receipts[96], msg[96];
    json_t *c = req("POST", "/v1/campaigns", "{\"name\":\"l\",\"from\":\"a@example.com\"}", 201);
    snprintf(receipts, sizeof receipts, "/v1/campaigns/%lld/receipts", (long long)id_of(c));
    json_decref(c);
    snprintf(msg, sizeof msg, "/v1/messages?tag=none");
    const char *lists[] = {
        "/v1/templates", "/v1/campaigns", receipts,    "/v1/suppressions", msg,
        "/v1/events",    "/v1/pools",     "/v1/nodes", "/v1/webhooks",     events};
    const char *bad[] = {"0", "1001", "-1", "abc", ""};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        char url[300];
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            snprintf(url, sizeof url, "%s%slimit=%s", lists[i], strchr(lists[i], '?') ? "&" : "?",
                     bad[k]);
            expect_error("GET", url, NULL, 422, "invalid", "limit");
        }
        snprintf(url, sizeof url, "%s%safter=x", lists[i], strchr(lists[i], '?') ? "&" : "?");
        expect_error("GET", url, NULL, 422, "invalid", "after");
        snprintf(url, sizeof url, "%s%slimit=1000", lists[i], strchr(lists[i], '?') ? "&" : "?");
        json_t *p = req("GET", url, NULL, 200);
        assert_true(json_is_array(json_object_get(p, "items")));
        assert_true(json_is_null(json_object_get(p, "next")));
        json_decref(p);
    }
}

/* A suppression shows its value under the name it was given by (email
 * or domain), in the 201 and in the list. */
static void suppressions_name_email_or_domain(void **state)
{
    (void)state;
    json_t *e =
        req("POST", "/v1/suppressions", "{\"email\":\"Sup@X.test\",\"reason\":\"manual\"}", 201);
    assert_string_equal(json_string_value(json_object_get(e, "email")), "sup@x.test");
    assert_true(json_is_null(json_object_get(e, "domain")));
    assert_string_equal(json_string_value(json_object_get(e, "reason")), "manual");
    json_decref(e);
    json_t *d =
        req("POST", "/v1/suppressions", "{\"domain\":\"spam.test\",\"reason\":\"policy\"}", 201);
    assert_string_equal(json_string_value(json_object_get(d, "domain")), "spam.test");
    assert_true(json_is_null(json_object_get(d, "email")));
    json_decref(d);
    json_t *l = req("GET", "/v1/suppressions", NULL, 200);
    int seen = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(l, "items"), i, s)
    {
        const char *em = json_string_value(json_object_get(s, "email"));
        const char *dm = json_string_value(json_object_get(s, "domain"));
        if (em && strcmp(em, "sup@x.test") == 0 && json_is_null(json_object_get(s, "domain")))
            seen |= 1;
        if (dm && strcmp(dm, "spam.test") == 0 && json_is_null(json_object_get(s, "email")))
            seen |= 2;
    }
    assert_int_equal(seen, 3);
    json_decref(l);
    /* without a reason (JSON or CSV) an entry's reason is "manual" */
    e = req("POST", "/v1/suppressions", "{\"email\":\"noreason@x.test\"}", 201);
    assert_string_equal(json_string_value(json_object_get(e, "reason")), "manual");
    json_decref(e);
    char *out = NULL;
    const char *csv = "email,reason\nnr1@x.test,\nnr2@x.test,complaint\n";
    assert_int_equal(apitest_req(&srv, "POST", "/v1/suppressions", csv, strlen(csv), "text/csv",
                                 NULL, NULL, &out, NULL),
                     200);
    free(out);
    assert_int_equal(
        apitest_req(&srv, "GET", "/v1/suppressions.csv", NULL, 0, NULL, NULL, NULL, &out, NULL),
        200);
    assert_non_null(strstr(out, "noreason@x.test,manual"));
    assert_non_null(strstr(out, "nr1@x.test,manual"));
    assert_non_null(strstr(out, "nr2@x.test,complaint"));
    free(out);
    json_decref(req("DELETE", "/v1/suppressions?email=noreason@x.test", NULL, 204));
    json_decref(req("DELETE", "/v1/suppressions?email=nr1@x.test", NULL, 204));
    json_decref(req("DELETE", "/v1/suppressions?email=nr2@x.test", NULL, 204));
    json_decref(req("DELETE", "/v1/suppressions?email=sup@x.test", NULL, 204));
    json_decref(req("DELETE", "/v1/suppressions?domain=spam.test", NULL, 204));
    expect_error("DELETE", "/v1/suppressions?domain=spam.test", NULL, 404, "not_found", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raw_preview_without_from_or_to),
        cmocka_unit_test(template_put_replaces),
        cmocka_unit_test(campaign_null_fields),
        cmocka_unit_test(pools_show_warmup_day_and_cap),
        cmocka_unit_test(every_list_pages),
        cmocka_unit_test(suppressions_name_email_or_domain),
        cmocka_unit_test(events_name_their_message_or_campaign),
        cmocka_unit_test(upload_not_json_is_400),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
