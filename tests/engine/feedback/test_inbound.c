/*
 * tests/engine/feedback/test_inbound.c: the inbound listener
 * (engine/feedback/inbound.c).
 *
 *  - rcpt_kinds: the RCPT decision, table-driven: issued bounce and
 *    unsubscribe tokens and the feedback addresses (any case) are taken;
 *    forged, altered, wrong-purpose tokens, other domains, relay attempts
 *    and everything else are refused.
 *  - real_clients: the real `edm serve` with "inbound" (STARTTLS, per-IP
 *    cap 3, command timeout 2 s) and a campaign of three; then
 *    inbound_clients.py with Python's smtplib: every address edm did not
 *    issue gets 550 at RCPT and nothing changes (receipts, events,
 *    suppressions identical); then an ARF report to the feedback address
 *    marks the right receipt complained and a mail to unsubscribe+TOKEN@
 *    unsubscribes, each suppressed with its reason, the third receipt
 *    untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/feedback/inbound.h"
#include "engine/message/verp.h"
#include "tests/api/apitest.h"
#include "tests/support/testlib.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char secret[] = "inbound-test-secret-0123456789";

static void rcpt_kinds(void **state)
{
    (void)state;
    edm_config cfg;
    edm_config_defaults(&cfg);
    cfg.bounce_domain = edm_xstrdup("bounce.test");
    cfg.inbound.feedback_addresses = edm_xcalloc(2, sizeof(char *));
    cfg.inbound.feedback_addresses[0] = edm_xstrdup("fbl@bounce.test");
    cfg.inbound.nfeedback = 1;
    edm_inbound_opts o = {.cfg = &cfg, .secret = secret, .secret_len = sizeof secret - 1};

    char b[EDM_VERP_TOKEN_MAX], u[EDM_VERP_TOKEN_MAX], alt[EDM_VERP_TOKEN_MAX];
    assert_true(edm_verp_token(b, EDM_VERP_BOUNCE, secret, sizeof secret - 1, 42) > 0);
    assert_true(edm_verp_token(u, EDM_VERP_UNSUB, secret, sizeof secret - 1, 42) > 0);
    snprintf(alt, sizeof alt, "%s", b);
    alt[strlen(alt) - 1] = alt[strlen(alt) - 1] == 'a' ? 'b' : 'a';
    char upper[80];
    snprintf(upper, sizeof upper, "BOUNCES+%s@BOUNCE.TEST", b);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    struct {
        char addr[160];
        enum edm_inbound_rcpt want;
    } cases[32];
    size_t n = 0;
#define CASE(want_, ...)                                                                           \
    do {                                                                                           \
        snprintf(cases[n].addr, sizeof cases[n].addr, __VA_ARGS__);                                \
        cases[n++].want = want_;                                                                   \
    } while (0)
    CASE(EDM_INBOUND_BOUNCE, "bounces+%s@bounce.test", b);
    CASE(EDM_INBOUND_BOUNCE, "%s", upper);
    CASE(EDM_INBOUND_UNSUBSCRIBE, "unsubscribe+%s@bounce.test", u);
    CASE(EDM_INBOUND_FEEDBACK, "fbl@bounce.test");
    CASE(EDM_INBOUND_FEEDBACK, "FBL@Bounce.Test");
    CASE(EDM_INBOUND_REFUSED, "bounces+%s@bounce.test", alt);
    CASE(EDM_INBOUND_REFUSED, "bounces+%s@bounce.test", u);
    CASE(EDM_INBOUND_REFUSED, "unsubscribe+%s@bounce.test", b);
    CASE(EDM_INBOUND_REFUSED, "bounces+%s@other.test", b);
    CASE(EDM_INBOUND_REFUSED, "bounces+%s@bounce.test.evil.test", b);
    CASE(EDM_INBOUND_REFUSED, "bounces+%sx@bounce.test", b);
    CASE(EDM_INBOUND_REFUSED, "bounces+0-aaaaaaaaaaaaaaaa@bounce.test");
    CASE(EDM_INBOUND_REFUSED, "bounces@bounce.test");
    CASE(EDM_INBOUND_REFUSED, "bounces+@bounce.test");
    CASE(EDM_INBOUND_REFUSED, "fbl@other.test");
    CASE(EDM_INBOUND_REFUSED, "fbl+x@bounce.test");
    CASE(EDM_INBOUND_REFUSED, "postmaster@bounce.test");
    CASE(EDM_INBOUND_REFUSED, "someone@gmail.com");
    CASE(EDM_INBOUND_REFUSED, "someone@[127.0.0.1]");
    CASE(EDM_INBOUND_REFUSED, "\"bounces+%s\"@bounce.test", b);
    CASE(EDM_INBOUND_REFUSED, "bounces+%s%%gmail.com@bounce.test", b);
    CASE(EDM_INBOUND_REFUSED, "@bounce.test:someone@gmail.com");
    CASE(EDM_INBOUND_REFUSED, "%s", "");
    for (size_t i = 0; i < n; i++)
        if (edm_inbound_rcpt_kind(&o, cases[i].addr) != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].addr, edm_inbound_rcpt_kind(&o, cases[i].addr),
                     cases[i].want);
    /* Without bounce_domain, a token is taken at any domain; a forged one
     * still is not. */
    edm_free(cfg.bounce_domain);
    cfg.bounce_domain = NULL;
    char a[160];
    snprintf(a, sizeof a, "bounces+%s@other.test", b);
    assert_int_equal(edm_inbound_rcpt_kind(&o, a), EDM_INBOUND_BOUNCE);
    snprintf(a, sizeof a, "bounces+%s@other.test", alt);
    assert_int_equal(edm_inbound_rcpt_kind(&o, a), EDM_INBOUND_REFUSED);
    /* postmaster (RFC 5321 4.5.1) is taken once it is listed as a feedback
     * address (docs/feedback.md) */
    cfg.inbound.feedback_addresses[1] = edm_xstrdup("postmaster@bounce.test");
    cfg.inbound.nfeedback = 2;
    assert_int_equal(edm_inbound_rcpt_kind(&o, "Postmaster@bounce.test"), EDM_INBOUND_FEEDBACK);
    assert_int_equal(edm_inbound_rcpt_kind(&o, "postmaster@other.test"), EDM_INBOUND_REFUSED);
    edm_config_free(&cfg);
}

static apitest srv;

#define req(method, path, body, want) apitest_expect(&srv, method, path, body, want)

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

/* Everything the listener could change: the receipts, every event, the
 * suppression list. */
static json_t *snapshot(int64_t cid)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts", (long long)cid);
    return json_pack("{s:o, s:o, s:o}", "receipts", req("GET", path, NULL, 200), "events",
                     req("GET", "/v1/events", NULL, 200), "suppressions",
                     req("GET", "/v1/suppressions", NULL, 200));
}

static void run_clients(const char *args)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s 2>&1",
             edm_test_src("tests/engine/feedback/inbound_clients.py"), args);
    int rc = edm_test_run(cmd, &out);
    if (rc != 0 || out == NULL || strstr(out, "ok") == NULL) {
        char *log = edm_test_read_file(srv.log, NULL);
        fail_msg("inbound_clients.py %s (%d):\n%s\nedm serve log:\n%s", args, rc, out ? out : "",
                 log ? log : "");
    }
    free(out);
}

static void real_clients(void **state)
{
    (void)state;
    char *dir = edm_test_tmpdir("inboundtls");
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout mail.key -out mail.crt "
             "-days 2 -subj /CN=localhost 2>&1",
             dir);
    if (edm_test_run(cmd, &out) != 0)
        fail_msg("certificate: %s", out);
    free(out);
    int port = edm_test_free_port("127.0.0.1");
    char extra[1024];
    snprintf(extra, sizeof extra,
             "\"bounce_domain\": \"bounce.test\", \"inbound\": {\"listen\": [\"127.0.0.1:%d\"], "
             "\"feedback_addresses\": [\"fbl@bounce.test\"], \"cert\": \"%s/mail.crt\", "
             "\"key\": \"%s/mail.key\", \"max_connections_per_ip\": 3, \"command_timeout\": 2}",
             port, dir, dir);
    apitest_start_serve(&srv, "EDM_TEST_INBOUND_KEYS", "k1", 0, extra);
    assert_int_equal(edm_test_wait_port("127.0.0.1", port, 5000), 0);

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
                               "email\nuser0@example.org\nuser1@example.org\nuser2@example.org\n",
                               200));
    json_t *before = snapshot(cid);
    json_t *items = json_object_get(json_object_get(before, "receipts"), "items");
    assert_int_equal(json_array_size(items), 3);
    int64_t id[3];
    for (int i = 0; i < 3; i++)
        id[i] = json_integer_value(json_object_get(json_array_get(items, (size_t)i), "id"));

    unsigned char sec[64];
    size_t slen;
    secret_of(sec, &slen);
    char b0[EDM_VERP_TOKEN_MAX], u0[EDM_VERP_TOKEN_MAX], b1[EDM_VERP_TOKEN_MAX],
        u2[EDM_VERP_TOKEN_MAX];
    assert_true(edm_verp_token(b0, EDM_VERP_BOUNCE, sec, slen, (uint64_t)id[0]) > 0);
    assert_true(edm_verp_token(u0, EDM_VERP_UNSUB, sec, slen, (uint64_t)id[0]) > 0);
    assert_true(edm_verp_token(b1, EDM_VERP_BOUNCE, sec, slen, (uint64_t)id[1]) > 0);
    assert_true(edm_verp_token(u2, EDM_VERP_UNSUB, sec, slen, (uint64_t)id[2]) > 0);

    /* Refusals: nothing changes. */
    char args[512];
    snprintf(args, sizeof args, "%d refuse bounce.test %s %s", port, b0, u0);
    run_clients(args);
    json_t *after = snapshot(cid);
    if (!json_equal(before, after)) {
        char *a = json_dumps(before, JSON_COMPACT), *z = json_dumps(after, JSON_COMPACT);
        fail_msg("refusals changed something:\n%s\n%s", a, z);
    }
    json_decref(after);

    /* An ARF report to the feedback address, an unsubscribe by mail. */
    snprintf(args, sizeof args, "%d accept bounce.test fbl@bounce.test %s %s", port, b1, u2);
    run_clients(args);
    after = snapshot(cid);
    json_t *ritems = json_object_get(json_object_get(after, "receipts"), "items");
    json_t *r0 = json_array_get(ritems, 0), *r1 = json_array_get(ritems, 1),
           *r2 = json_array_get(ritems, 2);
    assert_true(json_equal(r0, json_array_get(items, 0)));
    assert_string_equal(json_string_value(json_object_get(r1, "feedback")), "complained");
    assert_string_equal(json_string_value(json_object_get(r2, "feedback")), "unsubscribed");
    json_t *ev = json_object_get(json_object_get(after, "events"), "items");
    assert_int_equal(json_array_size(ev), 2);
    int seen_complaint = 0, seen_unsub = 0;
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(ev, i);
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *email = json_string_value(json_object_get(e, "email"));
        if (strcmp(type, "complaint") == 0 && strcmp(email, "user1@example.org") == 0)
            seen_complaint++;
        if (strcmp(type, "unsubscribe") == 0 && strcmp(email, "user2@example.org") == 0)
            seen_unsub++;
    }
    assert_int_equal(seen_complaint, 1);
    assert_int_equal(seen_unsub, 1);
    json_t *sup = json_object_get(json_object_get(after, "suppressions"), "items");
    assert_int_equal(json_array_size(sup), 2);
    int reasons = 0;
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(sup, i);
        const char *email = json_string_value(json_object_get(s, "value"));
        const char *reason = json_string_value(json_object_get(s, "reason"));
        reasons += strcmp(email, "user1@example.org") == 0 && strcmp(reason, "complaint") == 0;
        reasons += strcmp(email, "user2@example.org") == 0 && strcmp(reason, "unsubscribe") == 0;
    }
    assert_int_equal(reasons, 2);
    json_decref(after);
    json_decref(before);
    apitest_stop(&srv);
    edm_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rcpt_kinds),
        cmocka_unit_test(real_clients),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (srv.pid > 0)
        edm_test_stop(srv.pid, 1000);
    return rc;
}
