/*
 * tests/api/test_messages.c: POST /v1/messages and its reads inside the
 * real `edm serve`, delivering to a real smtp-sink (Postfix's) through a
 * route on loopback: 202 with one receipt id per recipient, the receipts
 * reach delivered with an attempt event (smtp-sink's copy has to[i].name as
 * the To display name), GET /v1/messages/{id} and the
 * list by tag and state, Idempotency-Key replay, messages hidden from the
 * campaign API, and every refused input (Bcc, CR/LF, NUL in a name or a
 * variable, 1,001 recipients, a bad address, both content kinds) answered 422 with nothing stored.
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

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define req apitest_expect

static pid_t sink_pid;
static int sink_port;
static char *sink_dir; /* smtp-sink writes each message it takes here */

static void sink_start(void)
{
    sink_port = edm_test_free_port("127.0.0.1");
    char addr[64], dump[600];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sink_port);
    sink_dir = edm_test_tmpdir("msgsink");
    assert_non_null(sink_dir);
    assert_int_equal(chmod(sink_dir, 0777), 0); /* smtp-sink writes as nobody */
    snprintf(dump, sizeof dump, "%s/m.", sink_dir);
    char *argv[] = {"smtp-sink", "-u", "nobody", "-d", dump, addr, "64", NULL};
    sink_pid = edm_test_spawn(argv, NULL);
    assert_true(sink_pid > 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", sink_port, 5000), 0);
}

static void sink_stop(void)
{
    if (sink_pid > 0)
        edm_test_stop(sink_pid, 1000);
    sink_pid = 0;
    if (sink_dir) {
        edm_test_rmtree(sink_dir);
        free(sink_dir);
        sink_dir = NULL;
    }
}

/* Does msg (as smtp-sink dumps it: lines end in LF) have this line? */
static int has_line(const char *msg, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = msg; (p = strstr(p, line)) != NULL; p++)
        if ((p == msg || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\r'))
            return 1;
    return 0;
}

/* The message smtp-sink took for rcpt (malloc'd), or NULL. */
static char *sink_message_for(const char *rcpt)
{
    char want[300], path[1200];
    snprintf(want, sizeof want, "X-Rcpt-Args: <%s>", rcpt);
    DIR *d = opendir(sink_dir);
    assert_non_null(d);
    struct dirent *e;
    char *found = NULL;
    while (found == NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", sink_dir, e->d_name);
        size_t len;
        char *m = edm_test_read_file(path, &len);
        if (m && strstr(m, want))
            found = m;
        else
            free(m);
    }
    closedir(d);
    return found;
}

static const char *status_of(json_t *rcpts, const char *email)
{
    size_t i;
    json_t *r;
    json_array_foreach(rcpts, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "email")), email) == 0)
            return json_string_value(json_object_get(r, "status"));
    }
    return NULL;
}

/* Polls GET /v1/messages/{id} until it is done (or 20 s). */
static json_t *wait_done(apitest *t, int64_t id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/messages/%lld", (long long)id);
    for (int i = 0; i < 400; i++) {
        json_t *m = req(t, "GET", path, NULL, 200);
        if (strcmp(json_string_value(json_object_get(m, "status")), "done") == 0)
            return m;
        json_decref(m);
        edm_test_sleep_ms(50);
    }
    fail_msg("message %lld not done in 20 s", (long long)id);
    return NULL;
}

static void messages_end_to_end(void **state)
{
    (void)state;
    sink_start();
    char extra[256];
    snprintf(extra, sizeof extra,
             "\"pools\": [{\"name\": \"default\"}], "
             "\"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}]",
             sink_port);
    apitest t;
    apitest_start_serve(&t, "EDM_TEST_MSG_KEYS", "msg-key", 0, extra);

    /* a suppressed address gets its receipt, state suppressed */
    json_decref(req(&t, "POST", "/v1/suppressions", "{\"email\":\"gone@b.test\"}", 201));
    const char *body = "{\"from\":\"Shop <shop@example.com>\","
                       "\"to\":[\"ann@a.test\",{\"email\":\"Bob@B.test\",\"name\":\"Bob "
                       "\u00c9mile\\r\\nBcc: x@evil.test\","
                       "\"vars\":{\"order\":\"42\"}},\"gone@b.test\",\"ann@a.test\"],"
                       "\"subject\":\"Order {{order}}\",\"text\":\"Hi {{name}}, order {{order}}\","
                       "\"vars\":{\"order\":\"7\",\"name\":\"friend\"},"
                       "\"headers\":{\"X-Order\":\"7\",\"Auto-Submitted\":\"auto-generated\"},"
                       "\"tags\":[\"receipt\",\"shop\"]}";
    char *out = NULL, *hdr = NULL;
    int st = apitest_req(&t, "POST", "/v1/messages", body, strlen(body), NULL,
                         "Idempotency-Key: order-7", NULL, &out, &hdr);
    if (st != 202)
        fail_msg("POST /v1/messages: %d %s", st, out);
    json_t *a = json_loads(out, 0, NULL);
    assert_non_null(a);
    int64_t id = json_integer_value(json_object_get(a, "id"));
    assert_true(id > 0);
    json_t *rs = json_object_get(a, "recipients");
    assert_int_equal(json_array_size(rs), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rs, 0), "status")),
                        "queued");
    assert_true(json_integer_value(json_object_get(json_array_get(rs, 0), "id")) > 0);
    /* normalised address */
    assert_string_equal(json_string_value(json_object_get(json_array_get(rs, 1), "email")),
                        "bob@b.test");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rs, 2), "status")),
                        "suppressed");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rs, 3), "status")),
                        "duplicate");
    assert_true(json_is_null(json_object_get(json_array_get(rs, 3), "id")));
    int64_t rid = json_integer_value(json_object_get(json_array_get(rs, 0), "id"));

    /* the same key and body: the same answer, replayed */
    char *out2 = NULL, *hdr2 = NULL;
    assert_int_equal(apitest_req(&t, "POST", "/v1/messages", body, strlen(body), NULL,
                                 "Idempotency-Key: order-7", NULL, &out2, &hdr2),
                     202);
    assert_string_equal(out, out2);
    assert_non_null(strstr(hdr2, "Idempotent-Replayed: true"));
    free(out);
    free(hdr);
    free(out2);
    free(hdr2);

    /* delivered through the route to smtp-sink */
    json_t *m = wait_done(&t, id);
    json_t *mr = json_object_get(m, "recipients");
    assert_int_equal(json_array_size(mr), 3);
    assert_string_equal(status_of(mr, "ann@a.test"), "delivered");
    assert_string_equal(status_of(mr, "bob@b.test"), "delivered");
    assert_string_equal(status_of(mr, "gone@b.test"), "suppressed");
    /* to[i].name is the To display name (an encoded word, its CR LF gone,
     * no Bcc field); a plain address has none (not the vars' "name") */
    char *bob = sink_message_for("bob@b.test"), *ann = sink_message_for("ann@a.test");
    assert_non_null(bob);
    assert_non_null(ann);
    if (!has_line(bob, "To: =?UTF-8?B?Qm9iIMOJbWlsZSBCY2M6IHhAZXZpbC50ZXN0?= <bob@b.test>"))
        fail_msg("To of bob: %.600s", bob);
    /* no Bcc field in the header; in the body, {{name}} is to[i].name
     * (over the message's vars' "name"), its line break kept as text */
    char *body_of_bob = strstr(bob, "\n\n"); /* smtp-sink's lines end in LF */
    if (body_of_bob == NULL)
        body_of_bob = strstr(bob, "\n\r\n");
    assert_non_null(body_of_bob);
    *body_of_bob = '\0';
    assert_null(strstr(bob, "\nBcc:"));
    if (strstr(body_of_bob + 2, "Hi Bob") == NULL)
        fail_msg("body of bob: %.600s", body_of_bob + 2);
    if (strstr(ann, "Hi friend") == NULL)
        fail_msg("body of ann: %.600s", ann);
    if (!has_line(ann, "To: ann@a.test"))
        fail_msg("To of ann: %.600s", ann);
    free(bob);
    free(ann);
    assert_string_equal(json_string_value(json_object_get(m, "source")), "api");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "counts"), "delivered")),
                     2);
    /* every receipt field is there; campaign_id is null (the parent is
     * the message, not a campaign) */
    static const char *const fields[] = {"id",
                                         "campaign_id",
                                         "email",
                                         "status",
                                         "attempts",
                                         "smtp_code",
                                         "enhanced_code",
                                         "response",
                                         "bounce_category",
                                         "mx_host",
                                         "mx_ip",
                                         "source_ip",
                                         "tls",
                                         "message_id",
                                         "remote_queue_id",
                                         "queued_at",
                                         "first_attempt_at",
                                         "last_attempt_at",
                                         "delivered_at",
                                         "next_attempt_at",
                                         "feedback",
                                         "feedback_at",
                                         "opened_at",
                                         "clicked_at"};
    json_t *r0 = json_array_get(mr, 0);
    assert_int_equal(json_object_size(r0), sizeof fields / sizeof fields[0]);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (json_object_get(r0, fields[i]) == NULL)
            fail_msg("message receipt without %s", fields[i]);
    assert_true(json_is_null(json_object_get(r0, "campaign_id")));
    json_decref(m);
    json_decref(a);

    /* its receipts' events */
    char path[128];
    snprintf(path, sizeof path, "/v1/receipts/%lld/events", (long long)rid);
    json_t *ev = req(&t, "GET", path, NULL, 200);
    json_t *items = json_object_get(ev, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "status")),
                        "delivered");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "smtp_code")),
                     250);
    json_decref(ev);

    /* a second message with a template and send_at in the future: stays queued */
    json_t *tpl = req(&t, "POST", "/v1/templates",
                      "{\"name\":\"w\",\"subject\":\"Reset\",\"text\":\"code {{code}}\"}", 201);
    int64_t tid = json_integer_value(json_object_get(tpl, "id"));
    json_decref(tpl);
    char b2[400];
    snprintf(b2, sizeof b2,
             "{\"from\":\"shop@example.com\",\"to\":[{\"email\":\"c@c.test\",\"vars\":"
             "{\"code\":\"1\"}}],\"template_id\":%lld,\"send_at\":\"2099-01-01T00:00:00Z\","
             "\"tags\":[\"reset\"]}",
             (long long)tid);
    json_t *a2 = req(&t, "POST", "/v1/messages", b2, 202);
    int64_t id2 = json_integer_value(json_object_get(a2, "id"));
    json_decref(a2);
    edm_test_sleep_ms(600);
    snprintf(path, sizeof path, "/v1/messages/%lld", (long long)id2);
    m = req(&t, "GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(m, "status")), "pending");
    assert_string_equal(status_of(json_object_get(m, "recipients"), "c@c.test"), "queued");
    json_decref(m);

    /* lists: by tag, by a recipient's state, paging */
    json_t *l = req(&t, "GET", "/v1/messages?tag=reset", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(l, "items"), 0), "id")),
        id2);
    json_decref(l);
    l = req(&t, "GET", "/v1/messages?status=delivered", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
    json_decref(l);
    l = req(&t, "GET", "/v1/messages?limit=1", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
    assert_true(json_is_string(json_object_get(l, "next")));
    json_decref(l);
    apitest_expect_error(&t, "GET", "/v1/messages?status=nope", NULL, 422, "invalid", "status");

    /* messages are not campaigns */
    snprintf(path, sizeof path, "/v1/campaigns/%lld", (long long)id);
    apitest_expect_error(&t, "GET", path, NULL, 404, NULL, NULL);
    l = req(&t, "GET", "/v1/campaigns", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 0);
    json_decref(l);
    apitest_expect_error(&t, "GET", "/v1/messages/999999", NULL, 404, NULL, NULL);

    /* refused input: 422 naming the field, nothing stored */
    static const struct {
        const char *body, *code, *field;
    } bad[] = {
        {"{\"from\":\"s@example.com\",\"to\":[\"a@a.test\"],\"subject\":\"s\",\"text\":\"t\","
         "\"headers\":{\"Bcc\":\"x@y.test\"}}",
         "reserved", "headers.Bcc"},
        {"{\"from\":\"s@example.com\",\"to\":[\"a@a.test\"],\"subject\":\"s\",\"text\":\"t\","
         "\"headers\":{\"X-A\":\"1\\r\\nBcc: x@y.test\"}}",
         "invalid", "headers.X-A"},
        {"{\"from\":\"s@example.com\",\"to\":[\"a@a.test\"],\"subject\":\"s\",\"text\":\"t\","
         "\"headers\":{\"Sender\":\"x@y.test\"}}",
         "reserved", "headers.Sender"},
        {"{\"from\":\"s@example.com\",\"to\":[\"a@a.test\",\"not an address\"],\"subject\":\"s\","
         "\"text\":\"t\"}",
         "invalid_address", "to[1]"},
        {"{\"from\":\"s@example.com\",\"to\":[{\"email\":\"a@a.test\",\"cc\":1}],\"subject\":\"s\","
         "\"text\":\"t\"}",
         "unknown_field", "to[0].email"},
        {"{\"from\":\"s@example.com\",\"to\":[],\"subject\":\"s\",\"text\":\"t\"}", "invalid",
         "to"},
        {"{\"from\":\"s@example.com\",\"to\":[\"a@a.test\"],\"subject\":\"s\"}", "required",
         "html"},
        {"{\"from\":\"s@example.com\",\"to\":[\"a@a.test\"],\"text\":\"t\"}", "required",
         "subject"},
        {"{\"from\":\"s@example.com\",\"to\":[\"a@a.test\"],\"subject\":\"s\",\"text\":\"t\","
         "\"template_id\":1}",
         "invalid", "template_id"},
        {"{\"from\":\"a@b.c, d@e.f\",\"to\":[\"a@a.test\"],\"subject\":\"s\",\"text\":\"t\"}",
         "invalid_address", "from"},
        {"{\"from\":\"s@example.com\",\"to\":[\"a@a.test\"],\"subject\":\"s\",\"text\":\"t\","
         "\"bcc\":[\"x@y.test\"]}",
         "unknown_field", "bcc"},
        /* NUL in a name or a variable: refused at the edge, not failed later */
        {"{\"from\":\"s@example.com\",\"to\":[{\"email\":\"a@a.test\",\"name\":\"A\\u0000B\"}],"
         "\"subject\":\"s\",\"text\":\"t\"}",
         "invalid", "to[0].name"},
        {"{\"from\":\"s@example.com\",\"to\":[\"b@a.test\",{\"email\":\"a@a.test\","
         "\"vars\":{\"l\":[\"x\\u0000\"]}}],\"subject\":\"s\",\"text\":\"t\"}",
         "invalid", "to[1].vars"},
        {"{\"from\":\"s@example.com\",\"to\":[\"a@a.test\"],\"vars\":{\"v\":\"\\u0000\"},"
         "\"subject\":\"s\",\"text\":\"t\"}",
         "invalid", "vars"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        apitest_expect_error(&t, "POST", "/v1/messages", bad[i].body, 422, bad[i].code,
                             bad[i].field);
    edm_buf many = EDM_BUF_INIT;
    edm_buf_append_str(&many,
                       "{\"from\":\"s@example.com\",\"subject\":\"s\",\"text\":\"t\",\"to\":[");
    for (int i = 0; i < 1001; i++)
        edm_buf_appendf(&many, "%s\"u%d@a.test\"", i ? "," : "", i);
    edm_buf_append_str(&many, "]}");
    apitest_expect_error(&t, "POST", "/v1/messages", edm_buf_cstr(&many), 422, "invalid", "to");
    edm_buf_free(&many);
    l = req(&t, "GET", "/v1/messages", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 2);
    json_decref(l);

    apitest_stop(&t);
    sink_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(messages_end_to_end),
    };
    int rc =
        cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
    sink_stop();
    return rc;
}
