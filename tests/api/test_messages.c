/*
 * tests/api/test_messages.c: POST /v1/messages and its reads inside the
 * real `edm serve`, delivering to a real smtp-sink (Postfix's) through a
 * route on loopback: 202 with one receipt id per recipient, the receipts
 * reach delivered with an attempt event (smtp-sink's copy has to[i].name as
 * the To display name), GET /v1/messages/{id} and the
 * list by tag and state, Idempotency-Key replay, messages hidden from the
 * campaign API, and every refused input (Bcc, CR/LF, NUL in a name or a
 * variable, 1,001 recipients, a bad address, both content kinds) answered 422 with nothing stored.
 * Attachments: each recipient's message as smtp-sink took it is
 * multipart/mixed with the bytes sent (Python's email package), DKIM
 * valid (dkimpy; tests/api/attach_check.py); GET shows their metadata;
 * every refused attachment is 422 naming it. Inline parts (content_id):
 * the copy smtp-sink took is mixed(related(alternative(text, html),
 * image with Content-ID and an inline disposition), pdf), the bytes as
 * sent, the HTML's cid: link kept, DKIM valid; GET shows the content_id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/base64.h"
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
#include <unistd.h>

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

/* attach_check.py's reading of one message smtp-sink took (txt: the DKIM
 * key record to verify against). */
static json_t *attach_check(const char *msg, const char *txt)
{
    char path[1200], cmd[4096];
    snprintf(path, sizeof path, "%s/check.eml", sink_dir);
    assert_int_equal(edm_test_write_file(path, msg, strlen(msg)), 0);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s '%s'",
             edm_test_src("tests/api/attach_check.py"), path, txt);
    char *out = NULL;
    int rc = edm_test_run(cmd, &out);
    if (rc != 0)
        fail_msg("attach_check.py: %d %s", rc, out ? out : "");
    json_t *v = json_loads(out, 0, NULL);
    if (v == NULL)
        fail_msg("attach_check.py: %s", out);
    free(out);
    unlink(path);
    return v;
}

/* A body of POST /v1/messages to a@a.test with these attachments. */
static char *attach_body(json_t *attachments)
{
    json_t *b = json_pack("{s:s, s:[s], s:s, s:s, s:o}", "from", "shop@example.com", "to",
                          "a@a.test", "subject", "s", "text", "t", "attachments", attachments);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

static json_t *att(const char *filename, const char *content)
{
    return json_pack("{s:s, s:s}", "filename", filename, "content", content);
}

/* POST /v1/messages with attachments: a PDF (its type from the name), a
 * text file with a long non-ASCII name (RFC 2231) and an empty file. The
 * 202, GET (and the list) with the attachments' metadata and never their
 * bytes, then every recipient's message as smtp-sink took it: read by
 * Python's email package, multipart/mixed without defects, each
 * attachment's decoded bytes equal to what was sent, DKIM (dkimpy) valid
 * over it all. Then every refused input (not base64, no file name, CR/LF
 * or NUL in it, no content, a multipart type, a content_id with a space,
 * in <>, with two '@', of 251 bytes, not a string, used twice, or in a
 * message without html, an unknown field, 21 files, over 10 MiB decoded)
 * is 422 naming the field, and nothing is stored. */
/* smtp-sink and `edm serve` signing for example.com with a new key and
 * routing *.test to the sink; txt gets the key's DKIM record. Returns the
 * key's directory (malloc'd; the caller removes it). */
/* POST of in (taken) to path, answered status: the new object's id. */
static int64_t post_id(apitest *t, const char *path, json_t *in, int status)
{
    char *body = json_dumps(in, JSON_COMPACT);
    json_decref(in);
    json_t *a = req(t, "POST", path, body, status);
    free(body);
    int64_t id = json_integer_value(json_object_get(a, "id"));
    json_decref(a);
    return id;
}

static char *start_signed(apitest *t, char *txt, size_t txtlen)
{
    sink_start();
    char *keydir = edm_test_tmpdir("attachkey");
    assert_non_null(keydir);
    char cmd[1400], extra[2048];
    snprintf(cmd, sizeof cmd,
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s/k.pem 2>&1",
             keydir);
    assert_int_equal(edm_test_run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "openssl pkey -in %s/k.pem -pubout -outform DER | base64 -w0",
             keydir);
    char *pub = NULL;
    assert_int_equal(edm_test_run(cmd, &pub), 0);
    snprintf(txt, txtlen, "v=DKIM1; k=rsa; p=%s", pub);
    free(pub);
    snprintf(extra, sizeof extra,
             "\"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s1\", \"key\": "
             "\"%s/k.pem\"}], \"pools\": [{\"name\": \"default\"}], "
             "\"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}]",
             keydir, sink_port);
    apitest_start_serve(t, "EDM_TEST_ATT_KEYS", "att-key", 0, extra);
    return keydir;
}

static void messages_with_attachments(void **state)
{
    (void)state;
    char txt[1024];
    apitest t;
    char *keydir = start_signed(&t, txt, sizeof txt);

    unsigned char pdf[1000];
    memcpy(pdf, "%PDF-1.4\n", 9);
    for (size_t i = 9; i < sizeof pdf; i++)
        pdf[i] = (unsigned char)(i * 37 + 11);
    const char *txtfile = "Gr\xc3\xbc\xc3\x9f"
                          "e aus K\xc3\xb6ln\r\n";
    const char *name2 = "Rechnung M\xc3\xa4rz \xe2\x80\x93 \xc3\x9c"
                        "bersicht f\xc3\xbcr Kunden 2026.txt";
    edm_buf b64pdf = EDM_BUF_INIT, b64txt = EDM_BUF_INIT;
    assert_int_equal(edm_base64_encode(&b64pdf, pdf, sizeof pdf, 0), 0);
    assert_int_equal(edm_base64_encode(&b64txt, txtfile, strlen(txtfile), 0), 0);
    json_t *in = json_pack(
        "{s:s, s:[s, s], s:s, s:s, s:s, s:[o, {s:s, s:s, s:s}, o]}", "from",
        "Shop <shop@example.com>", "to", "ann@a.test", "bob@b.test", "subject", "Invoice {{email}}",
        "text", "Your invoice, {{email}}", "html", "<p>Your invoice, {{email}}</p>", "attachments",
        att("invoice.pdf", edm_buf_cstr(&b64pdf)), "filename", name2, "content",
        edm_buf_cstr(&b64txt), "content_type", "text/plain", att("empty.bin", ""));
    int64_t id = post_id(&t, "/v1/messages", in, 202);

    /* the metadata, never the bytes */
    json_t *want =
        json_pack("[{s:s, s:s, s:i}, {s:s, s:s, s:i}, {s:s, s:s, s:i}]", "filename", "invoice.pdf",
                  "content_type", "application/pdf", "size", (int)sizeof pdf, "filename", name2,
                  "content_type", "text/plain", "size", (int)strlen(txtfile), "filename",
                  "empty.bin", "content_type", "application/octet-stream", "size", 0);
    json_t *m = wait_done(&t, id);
    if (!json_equal(json_object_get(m, "attachments"), want))
        fail_msg("GET attachments: %s", json_dumps(json_object_get(m, "attachments"), 0));
    json_t *rs = json_object_get(m, "recipients");
    assert_string_equal(status_of(rs, "ann@a.test"), "delivered");
    assert_string_equal(status_of(rs, "bob@b.test"), "delivered");
    json_decref(m);
    json_t *l = req(&t, "GET", "/v1/messages", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
    assert_true(json_equal(
        json_object_get(json_array_get(json_object_get(l, "items"), 0), "attachments"), want));
    json_decref(l);
    json_decref(want);

    /* every recipient's message carries them, byte for byte, signed */
    json_t *parts =
        json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]", "filename", "invoice.pdf",
                  "content_type", "application/pdf", "b64", edm_buf_cstr(&b64pdf), "filename",
                  name2, "content_type", "text/plain", "b64", edm_buf_cstr(&b64txt), "filename",
                  "empty.bin", "content_type", "application/octet-stream", "b64", "");
    const char *rcpts[] = {"ann@a.test", "bob@b.test"};
    for (size_t i = 0; i < 2; i++) {
        char *raw = sink_message_for(rcpts[i]);
        assert_non_null(raw);
        json_t *r = attach_check(raw, txt);
        char *dump = json_dumps(r, 0);
        if (strcmp(json_string_value(json_object_get(r, "type")), "multipart/mixed") != 0 ||
            json_array_size(json_object_get(r, "defects")) != 0 ||
            strcmp(json_string_value(json_object_get(r, "dkim")), "pass") != 0 ||
            !json_equal(json_object_get(r, "attachments"), parts))
            fail_msg("message to %s: %s\n%.2000s", rcpts[i], dump, raw);
        char hello[64];
        snprintf(hello, sizeof hello, "Your invoice, %s", rcpts[i]);
        assert_string_equal(json_string_value(json_object_get(r, "text")), hello);
        free(dump);
        json_decref(r);
        free(raw);
    }
    json_decref(parts);

    /* refused input: 422 naming the field, nothing stored */
    const char *b64 = edm_buf_cstr(&b64pdf);
    char cid251[252];
    memset(cid251, 'c', 251);
    cid251[251] = '\0';
    struct {
        json_t *attachments;
        const char *code, *field;
    } bad[] = {
        {json_pack("[o, o]", att("a.pdf", b64), att("b.pdf", "not base64!")), "invalid",
         "attachments[1].content"},
        {json_pack("[{s:s}]", "content", b64), "required", "attachments[0].filename"},
        {json_pack("[o]", att("", b64)), "required", "attachments[0].filename"},
        {json_pack("[o]", att("a.pdf\r\nBcc: x@evil.test", b64)), "invalid",
         "attachments[0].filename"},
        {json_pack("[o]", json_pack("{s:s#, s:s}", "filename", "a\0.pdf", (int)6, "content", b64)),
         "invalid", "attachments[0].filename"},
        {json_pack("[{s:s}]", "filename", "a.pdf"), "required", "attachments[0].content"},
        {json_pack("[{s:s, s:i}]", "filename", "a.pdf", "content", 1), "invalid_type",
         "attachments[0].content"},
        {json_pack("[{s:s, s:s, s:s}]", "filename", "a.pdf", "content", b64, "content_type",
                   "multipart/mixed"),
         "invalid", "attachments[0].content_type"},
        {json_pack("[{s:s, s:s, s:s}]", "filename", "a.pdf", "content", b64, "content_type", "pdf"),
         "invalid", "attachments[0].content_type"},
        {json_pack("[{s:s, s:s, s:s}]", "filename", "logo.png", "content", b64, "content_id",
                   "logo 1"),
         "invalid", "attachments[0].content_id"},
        {json_pack("[{s:s, s:s, s:s}]", "filename", "logo.png", "content", b64, "content_id",
                   "<logo@x>"),
         "invalid", "attachments[0].content_id"},
        {json_pack("[{s:s, s:s, s:s}]", "filename", "logo.png", "content", b64, "content_id",
                   "a@b@x"),
         "invalid", "attachments[0].content_id"},
        {json_pack("[{s:s, s:s, s:s}]", "filename", "logo.png", "content", b64, "content_id",
                   cid251),
         "invalid", "attachments[0].content_id"},
        {json_pack("[{s:s, s:s, s:i}]", "filename", "logo.png", "content", b64, "content_id", 7),
         "invalid_type", "attachments[0].content_id"},
        {json_pack("[{s:s, s:s, s:s}, o, {s:s, s:s, s:s}]", "filename", "a.png", "content", b64,
                   "content_id", "logo@x", att("b.pdf", b64), "filename", "c.png", "content", b64,
                   "content_id", "logo@x"),
         "duplicate", "attachments[2].content_id"},
        /* attach_body has text only: inline parts need html */
        {json_pack("[o, {s:s, s:s, s:s}]", att("b.pdf", b64), "filename", "a.png", "content", b64,
                   "content_id", "logo@x"),
         "invalid", "attachments[1].content_id"},
        {json_pack("[{s:s, s:s, s:s}]", "filename", "logo.png", "content", b64, "cid", "logo"),
         "unknown_field", "attachments[0].cid"},
        {json_pack("[s]", "a.pdf"), "invalid_type", "attachments[0]"},
        {json_pack("{s:s}", "filename", "a.pdf"), "invalid_type", "attachments"},
        {json_array(), NULL, NULL}, /* 21 attachments, below */
        {json_array(), NULL, NULL}, /* over 10 MiB in all, below */
    };
    size_t nbad = sizeof bad / sizeof bad[0];
    for (int i = 0; i < 21; i++)
        json_array_append_new(bad[nbad - 2].attachments, att("a.txt", "YQ=="));
    bad[nbad - 2].code = "invalid";
    bad[nbad - 2].field = "attachments";
    /* two of 5.5 MiB: each fine alone, 11 MiB together */
    size_t half = 5632 * 1024;
    char *big = malloc(EDM_BASE64_LEN(half) + 1);
    assert_non_null(big);
    memset(big, 'A', EDM_BASE64_LEN(half));
    big[EDM_BASE64_LEN(half)] = '\0';
    json_array_append_new(bad[nbad - 1].attachments, att("a.bin", big));
    json_array_append_new(bad[nbad - 1].attachments, att("b.bin", big));
    free(big);
    bad[nbad - 1].code = "too_large";
    bad[nbad - 1].field = "attachments";
    for (size_t i = 0; i < nbad; i++) {
        char *bb = attach_body(bad[i].attachments);
        apitest_expect_error(&t, "POST", "/v1/messages", bb, 422, bad[i].code, bad[i].field);
        free(bb);
    }
    l = req(&t, "GET", "/v1/messages", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
    json_decref(l);

    edm_buf_free(&b64pdf);
    edm_buf_free(&b64txt);
    apitest_stop(&t);
    sink_stop();
    edm_test_rmtree(keydir);
    free(keydir);
}

/* POST /v1/messages with an inline logo (content_id "logo@x", cid: in
 * the HTML) and a PDF: GET shows the content_id on the logo only, and
 * every recipient's copy as smtp-sink took it is
 * mixed(related(alternative(text, html), png), pdf) without defects, the
 * png with Content-ID <logo@x>, disposition inline and its file name, both
 * files' bytes as sent, the HTML still linking cid:logo@x, DKIM valid.
 * A message with inline parts only has no multipart/mixed. With
 * template_id, the template's html counts: a text-only template is 422
 * attachments[0].content_id, one with html is accepted. */
static void messages_with_inline_parts(void **state)
{
    (void)state;
    char txt[1024];
    apitest t;
    char *keydir = start_signed(&t, txt, sizeof txt);

    unsigned char png[600], pdf[700];
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    for (size_t i = 8; i < sizeof png; i++)
        png[i] = (unsigned char)(i * 29 + 3);
    memcpy(pdf, "%PDF-1.4\n", 9);
    for (size_t i = 9; i < sizeof pdf; i++)
        pdf[i] = (unsigned char)(i * 37 + 11);
    edm_buf b64png = EDM_BUF_INIT, b64pdf = EDM_BUF_INIT;
    assert_int_equal(edm_base64_encode(&b64png, png, sizeof png, 0), 0);
    assert_int_equal(edm_base64_encode(&b64pdf, pdf, sizeof pdf, 0), 0);
    const char *html = "<img src=\"cid:logo@x\" alt=\"Shop\"><p>Your receipt, {{email}}</p>";
    json_t *in = json_pack("{s:s, s:[s], s:s, s:s, s:s, s:[{s:s, s:s, s:s}, o]}", "from",
                           "Shop <shop@example.com>", "to", "ann@a.test", "subject", "Receipt",
                           "text", "Your receipt, {{email}}", "html", html, "attachments",
                           "filename", "logo.png", "content", edm_buf_cstr(&b64png), "content_id",
                           "logo@x", att("receipt.pdf", edm_buf_cstr(&b64pdf)));
    int64_t id = post_id(&t, "/v1/messages", in, 202);

    json_t *want =
        json_pack("[{s:s, s:s, s:i, s:s}, {s:s, s:s, s:i}]", "filename", "logo.png", "content_type",
                  "image/png", "size", (int)sizeof png, "content_id", "logo@x", "filename",
                  "receipt.pdf", "content_type", "application/pdf", "size", (int)sizeof pdf);
    json_t *m = wait_done(&t, id);
    if (!json_equal(json_object_get(m, "attachments"), want))
        fail_msg("GET attachments: %s", json_dumps(json_object_get(m, "attachments"), 0));
    assert_string_equal(status_of(json_object_get(m, "recipients"), "ann@a.test"), "delivered");
    json_decref(m);
    json_decref(want);

    char *raw = sink_message_for("ann@a.test");
    assert_non_null(raw);
    json_t *r = attach_check(raw, txt);
    char *dump = json_dumps(r, 0);
    json_t *inl = json_pack("[{s:s, s:s, s:s, s:s, s:s}]", "content_id", "<logo@x>", "disposition",
                            "inline", "filename", "logo.png", "content_type", "image/png", "b64",
                            edm_buf_cstr(&b64png));
    json_t *atts = json_pack("[{s:s, s:s, s:s}]", "filename", "receipt.pdf", "content_type",
                             "application/pdf", "b64", edm_buf_cstr(&b64pdf));
    const char *h = json_string_value(json_object_get(r, "html"));
    if (strcmp(json_string_value(json_object_get(r, "tree")),
               "multipart/mixed(multipart/related(multipart/alternative(text/plain,text/html),"
               "image/png),application/pdf)") != 0 ||
        json_array_size(json_object_get(r, "defects")) != 0 ||
        strcmp(json_string_value(json_object_get(r, "dkim")), "pass") != 0 ||
        !json_equal(json_object_get(r, "inline"), inl) ||
        !json_equal(json_object_get(r, "attachments"), atts) || h == NULL ||
        strstr(h, "<img src=\"cid:logo@x\" alt=\"Shop\">") == NULL ||
        strstr(h, "Your receipt, ann@a.test") == NULL)
        fail_msg("message: %s\n%.3000s", dump, raw);
    free(dump);
    json_decref(r);
    free(raw);
    json_decref(atts);

    /* inline parts only (html alone): multipart/related at the top */
    in = json_pack("{s:s, s:[s], s:s, s:s, s:[{s:s, s:s, s:s}]}", "from", "shop@example.com", "to",
                   "bob@b.test", "subject", "Logo", "html", "<img src=\"cid:logo@x\">",
                   "attachments", "filename", "logo.png", "content", edm_buf_cstr(&b64png),
                   "content_id", "logo@x");
    id = post_id(&t, "/v1/messages", in, 202);
    m = wait_done(&t, id);
    assert_string_equal(status_of(json_object_get(m, "recipients"), "bob@b.test"), "delivered");
    json_decref(m);
    raw = sink_message_for("bob@b.test");
    assert_non_null(raw);
    r = attach_check(raw, txt);
    dump = json_dumps(r, 0);
    if (strcmp(json_string_value(json_object_get(r, "tree")),
               "multipart/related(text/html,image/png)") != 0 ||
        json_array_size(json_object_get(r, "defects")) != 0 ||
        strcmp(json_string_value(json_object_get(r, "dkim")), "pass") != 0 ||
        !json_equal(json_object_get(r, "inline"), inl) ||
        json_array_size(json_object_get(r, "attachments")) != 0)
        fail_msg("message: %s\n%.3000s", dump, raw);
    free(dump);
    json_decref(r);
    free(raw);
    json_decref(inl);

    /* template_id: the template's html decides */
    const char *kinds[] = {"text", "html"};
    json_t *a = NULL;
    for (int k = 0; k < 2; k++) {
        in = json_pack("{s:s, s:s, s:s}", "name", kinds[k], "subject", "S", kinds[k], "<p>x</p>");
        json_int_t tid = post_id(&t, "/v1/templates", in, 201);
        in = json_pack("{s:s, s:[s], s:I, s:[{s:s, s:s, s:s}]}", "from", "shop@example.com", "to",
                       "cy@c.test", "template_id", tid, "attachments", "filename", "logo.png",
                       "content", edm_buf_cstr(&b64png), "content_id", "logo@x");
        char *body = json_dumps(in, JSON_COMPACT);
        json_decref(in);
        if (k == 0)
            apitest_expect_error(&t, "POST", "/v1/messages", body, 422, "invalid",
                                 "attachments[0].content_id");
        else
            a = req(&t, "POST", "/v1/messages", body, 202);
        free(body);
    }
    m = wait_done(&t, json_integer_value(json_object_get(a, "id")));
    json_decref(a);
    assert_string_equal(status_of(json_object_get(m, "recipients"), "cy@c.test"), "delivered");
    json_decref(m);
    raw = sink_message_for("cy@c.test");
    assert_non_null(raw);
    r = attach_check(raw, txt);
    assert_string_equal(json_string_value(json_object_get(r, "tree")),
                        "multipart/related(text/html,image/png)");
    assert_string_equal(json_string_value(json_object_get(r, "dkim")), "pass");
    json_decref(r);
    free(raw);
    json_t *l = req(&t, "GET", "/v1/messages", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 3);
    json_decref(l);

    edm_buf_free(&b64png);
    edm_buf_free(&b64pdf);
    apitest_stop(&t);
    sink_stop();
    edm_test_rmtree(keydir);
    free(keydir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(messages_end_to_end),
        cmocka_unit_test(messages_with_attachments),
        cmocka_unit_test(messages_with_inline_parts),
    };
    int rc =
        cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
    sink_stop();
    return rc;
}
