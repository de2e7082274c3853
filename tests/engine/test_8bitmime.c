/*
 * tests/engine/test_8bitmime.c: 8BITMIME end to end on one loop: a
 * campaign with a Chinese and German template, DKIM-signed, to two
 * domains routed to two fake SMTP servers, one offering 8BITMIME and one
 * not. Every recipient ends delivered after one attempt and one event;
 * the first server gets 8bit bodies with BODY=8BITMIME, the second never
 * gets an 8-bit byte (the relay gave the 8bit messages back and the
 * pipeline composed them again as quoted-printable); and every message
 * as received verifies with dkimpy and parses with Python's email package.
 *
 * Then a message that arrived whole (the SMTP submission path: prepared by
 * edm_message_raw_prepare, stored by message_create), 8bit text, 8bit
 * HTML and an 8bit attachment, to one recipient behind each server: the
 * one without 8BITMIME gets it converted (mime_downgrade.c: the text
 * parts quoted-printable, the attachment base64), both end delivered at
 * the first attempt, both copies verify with dkimpy, and Python's email
 * package reads the same decoded parts from both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/config/config.h"
#include "engine/engine.h"
#include "engine/message/message.h"
#include "engine/store/store.h"
#include "tests/support/smtp_fake.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PER_DOMAIN 12

struct fx {
    char *dir;
    edm_store *st;
    edm_config cfg;
    uv_loop_t loop;
    smtp_fake *with, *without;
    edm_engine *eng;
    int64_t cid;
    int stopped;
};

static void on_stopped(void *arg)
{
    ((struct fx *)arg)->stopped = 1;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static const char *campaign_status(struct fx *f, char *buf, size_t n)
{
    edm_campaign_row c;
    assert_int_equal(f->st->ops->campaign_get(f->st, f->cid, &c), 0);
    snprintf(buf, n, "%s", edm_cstate_name(c.state));
    edm_campaign_row_clear(&c);
    return buf;
}

static void setup_campaign(struct fx *f)
{
    edm_store *st = f->st;
    json_t *tf = json_pack(
        "{s:s, s:s, s:s, s:s}", "name", "t", "subject", "{{name}}，春季新品八折 — Frühling", "html",
        "<table width=\"100%\" style=\"font-family:Arial\"><tr><td class=\"x\">"
        "<p>{{name}}您好：春季新品现已全面上市，全场八折！</p>\n"
        "<p>Grüße aus Köln – größer, schöner.</p>\n"
        "<a href=\"https://shop.example.com/?u={{id}}&amp;s=edm\">立即选购</a></td></tr></table>\n",
        "text", "{{name}}您好：春季新品现已全面上市，全场八折！\nGrüße aus Köln.\n");
    edm_template_row t;
    assert_int_equal(st->ops->template_create(st, tf, &t), 0);
    json_t *cf = json_pack("{s:s, s:I, s:s}", "name", "c", "template_id", (json_int_t)t.id, "from",
                           "示例商城 <news@example.com>");
    edm_campaign_row c;
    assert_int_equal(st->ops->campaign_create(st, cf, &c), 0);
    f->cid = c.id;
    json_decref(tf);
    edm_template_row_clear(&t);
    json_decref(cf);
    edm_campaign_row_clear(&c);
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, f->cid, &up), 0);
    for (int i = 0; i < 2 * N_PER_DOMAIN; i++) {
        char email[64], vars[96];
        const char *dom = i % 2 ? "b.test" : "a.test";
        snprintf(email, sizeof email, "r%d@%s", i, dom);
        snprintf(vars, sizeof vars, "{\"name\": \"张伟%d\", \"id\": %d}", i, i);
        edm_recipient r = {.email = email, .domain = dom, .vars_json = vars};
        enum edm_add_outcome o;
        assert_int_equal(st->ops->upload_add(up, &r, 1, &o), 0);
    }
    assert_int_equal(st->ops->upload_end(up, 1), 0);
}

/* Writes each message a fake received to dir/<prefix><i>.eml. */
static void dump(const smtp_fake *fk, const char *dir, const char *prefix)
{
    for (size_t i = 0; i < smtp_fake_messages(fk); i++) {
        char path[4300];
        int n = snprintf(path, sizeof path, "%s/%s%zu.eml", dir, prefix, i);
        assert_true(n > 0 && (size_t)n < sizeof path);
        const edm_buf *b = smtp_fake_message(fk, i);
        assert_int_equal(edm_test_write_file(path, b->data, b->len), 0);
    }
}

static int has_8bit(const edm_buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        if ((unsigned char)b->data[i] >= 0x80)
            return 1;
    return 0;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* A store, a loop, a DKIM key for example.com (its record in
 * dir/msgs/dns.txt for dkimpy), a fake server with 8BITMIME for a.test and
 * one without for b.test, and the config routing to them. */
/* Every message both servers got, written under msgs (its path), passes
 * dkimpy: `want` of them. */
static void dkim_check_both(struct fx *f, char *msgs, size_t n, size_t want)
{
    char cmd[9000];
    snprintf(msgs, n, "%s/msgs", f->dir);
    dump(f->with, msgs, "with");
    dump(f->without, msgs, "without");
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s",
             edm_test_src("tests/engine/message/dkim_check.py"), msgs);
    assert_int_equal(edm_test_run(cmd, &out), 0);
    if (count(out, " pass 1\n") != want)
        fail_msg("dkimpy:\n%s", out);
    free(out);
}

static void fixture(struct fx *f, const char *tag)
{
    char path[4200], err[512], cmd[9000];
    f->dir = edm_test_tmpdir(tag);
    snprintf(path, sizeof path, "%s/edm.db", f->dir);
    assert_int_equal(edm_store_open(path, &f->st, err, sizeof err), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out s1.pem "
             "2>/dev/null && mkdir msgs && echo \"s1._domainkey.example.com v=DKIM1; k=rsa; "
             "p=$(openssl pkey -in s1.pem -pubout -outform DER | base64 -w0)\" > msgs/dns.txt",
             f->dir);
    assert_int_equal(edm_test_run(cmd, NULL), 0);

    smtp_fake_config with = {.ip = "127.0.0.1"}, without = {.ip = "127.0.0.1", .no_8bitmime = 1};
    f->with = smtp_fake_start(&f->loop, &with);
    f->without = smtp_fake_start(&f->loop, &without);
    assert_non_null(f->with);
    assert_non_null(f->without);
    char json[2048];
    snprintf(json, sizeof json,
             "{\"db\": \"edm.db\", \"smtp\": {\"helo\": \"edm.test\", \"tls\": \"none\"},"
             " \"routes\": [{\"match\": \"a.test\", \"relay\": \"127.0.0.1:%d\"},"
             "              {\"match\": \"b.test\", \"relay\": \"127.0.0.1:%d\"}],"
             " \"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s1\", \"key\": \"s1.pem\","
             "            \"algorithm\": \"rsa-sha256\"}],"
             " \"retry\": {\"schedule\": [60], \"max_age\": 600}}",
             smtp_fake_port(f->with), smtp_fake_port(f->without));
    edm_config_errors errs;
    int rc = edm_config_load_string(json, strlen(json), "test", f->dir, &f->cfg, &errs);
    for (size_t i = 0; rc && i < errs.count; i++)
        fprintf(stderr, "config: %s\n", errs.msg[i]);
    assert_int_equal(rc, 0);
}

/* Stops the fakes and closes everything fixture opened. */
static void fixture_done(struct fx *f)
{
    smtp_fake_close(f->with);
    smtp_fake_close(f->without);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    smtp_fake_free(f->with);
    smtp_fake_free(f->without);
    uv_walk(&f->loop, close_walk, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    edm_config_free(&f->cfg);
    edm_test_store_release(f->st, f->dir);
}

static void utf8_campaign_to_servers_with_and_without_8bitmime(void **state)
{
    (void)state;
    struct fx fx = {0}, *f = &fx;
    fixture(f, "8bitmime");
    char err[512], cmd[9000];

    setup_campaign(f);
    assert_int_equal(f->st->ops->campaign_transition(f->st, f->cid,
                                                     EDM_CSTATE_BIT(EDM_CSTATE_DRAFT),
                                                     EDM_CSTATE_SCHEDULED, edm_time_now()),
                     0);
    assert_int_equal(edm_engine_start(&f->loop, &f->cfg, f->st, &f->eng, err, sizeof err), 0);
    char st[32];
    uint64_t deadline = edm_time_mono_ms() + 30000;
    while (strcmp(campaign_status(f, st, sizeof st), "completed") != 0 &&
           edm_time_mono_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        edm_test_sleep_ms(5);
    }
    edm_engine_stop(f->eng, on_stopped, f);
    while (!f->stopped)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_string_equal(st, "completed");

    /* Every recipient delivered at the first attempt: giving a message
     * back to be composed again is not an attempt. */
    int64_t counts[EDM_DSTATE_COUNT];
    assert_int_equal(f->st->ops->campaign_counts(f->st, f->cid, counts), 0);
    assert_int_equal(counts[EDM_DSTATE_DELIVERED], 2 * N_PER_DOMAIN);
    edm_receipt_filter flt = {.limit = 100};
    edm_page pg;
    assert_int_equal(f->st->ops->receipt_list(f->st, f->cid, &flt, &pg), 0);
    assert_int_equal(json_array_size(pg.items), 2 * N_PER_DOMAIN);
    for (size_t i = 0; i < json_array_size(pg.items); i++) {
        json_t *r = json_array_get(pg.items, i);
        assert_string_equal(json_string_value(json_object_get(r, "status")), "delivered");
        assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 1);
        json_t *ev = NULL;
        assert_int_equal(
            f->st->ops->receipt_events(f->st, json_integer_value(json_object_get(r, "id")), &ev),
            0);
        assert_int_equal(json_array_size(ev), 1);
        json_decref(ev);
    }
    edm_page_free(&pg);

    /* The server with 8BITMIME: 8bit bodies, declared. */
    assert_int_equal(smtp_fake_messages(f->with), N_PER_DOMAIN);
    assert_int_equal(count(smtp_fake_log(f->with), " BODY=8BITMIME\n"), N_PER_DOMAIN);
    for (size_t i = 0; i < N_PER_DOMAIN; i++) {
        const edm_buf *b = smtp_fake_message(f->with, i);
        assert_int_equal(count(b->data, "Content-Transfer-Encoding: 8bit\r\n"), 2);
        assert_non_null(strstr(b->data, "春季新品现已全面上市"));
    }
    /* The one without: not one 8-bit byte, quoted-printable bodies. */
    assert_int_equal(smtp_fake_messages(f->without), N_PER_DOMAIN);
    assert_null(strstr(smtp_fake_log(f->without), "BODY="));
    for (size_t i = 0; i < N_PER_DOMAIN; i++) {
        const edm_buf *b = smtp_fake_message(f->without, i);
        assert_false(has_8bit(b));
        assert_int_equal(count(b->data, "Content-Transfer-Encoding: quoted-printable\r\n"), 2);
    }

    /* Both forms verify as received, and parse without defects. */
    char msgs[4300];
    dkim_check_both(f, msgs, sizeof msgs, 2 * N_PER_DOMAIN);
    char *out = NULL;
    snprintf(
        cmd, sizeof cmd,
        "/usr/bin/python3 -c 'import email, email.policy, glob, sys\n"
        "for p in sorted(glob.glob(sys.argv[1] + \"/*.eml\")):\n"
        "    m = email.message_from_bytes(open(p, \"rb\").read(), policy=email.policy.default)\n"
        "    bad = [x.defects for x in m.walk() if x.defects]\n"
        "    t = m.get_body((\"plain\",)).get_content()\n"
        "    h = m.get_body((\"html\",)).get_content()\n"
        "    ok = not bad and \"春季新品现已全面上市\" in t and \"立即选购\" in h\n"
        "    print(\"ok\" if ok else \"FAIL \" + p)' %s",
        msgs);
    assert_int_equal(edm_test_run(cmd, &out), 0);
    if (count(out, "ok\n") != 2 * N_PER_DOMAIN)
        fail_msg("python email:\n%s", out);
    free(out);

    fixture_done(f);
}

/* A submitted message (as engine/smtp/submission.c's on_data stores it). */
static const char submitted[] =
    "From: =?utf-8?B?56S65L6L5ZWG5Z+O?= <news@example.com>\r\n"
    "To: r1@a.test, r2@b.test\r\n"
    "Subject: =?utf-8?B?5pil5a2j5paw5ZOB?=\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"mixed\"\r\n"
    "\r\n"
    "This is a multi-part message in MIME format.\r\n"
    "--mixed\r\n"
    "Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
    "\r\n"
    "--alt\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "张伟您好：春季新品现已全面上市，全场八折！\r\n"
    "Grüße aus Köln – größer, schöner.\r\n"
    "From here on, a line of more than seventy-six columns, to be broken by a soft line break.\r\n"
    "--alt\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>张伟您好：<a href=\"https://shop.example.com/?a=1&amp;b=2\">立即选购</a></p>\r\n"
    "--alt--\r\n"
    "--mixed\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "\x80\x81\xfe\xff binary \xc0\xc1\r\n"
    "--mixed\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "An ASCII part, kept as it is.\r\n"
    "--mixed--\r\n";

static void submitted_8bit_message_to_a_server_without_8bitmime(void **state)
{
    (void)state;
    struct fx fx = {0}, *f = &fx;
    fixture(f, "8bitmime-raw");
    char err[512], cmd[9000];

    /* Stored as the submission server stores it. */
    edm_buf raw = EDM_BUF_INIT;
    char *hfrom = NULL, *subject = NULL;
    assert_int_equal(edm_message_raw_prepare(submitted, sizeof submitted - 1, NULL, edm_time_now(),
                                             &raw, &hfrom, &subject, err, sizeof err),
                     0);
    edm_recipient rs[2] = {{.email = "r1@a.test", .domain = "a.test"},
                           {.email = "r2@b.test", .domain = "b.test"}};
    edm_message_new m = {.source = "smtp",
                         .from = hfrom,
                         .subject = subject,
                         .raw = raw.data,
                         .rawlen = raw.len,
                         .envelope_from = "news@example.com",
                         .rcpts = rs,
                         .nrcpts = 2};
    int64_t id = 0, rids[2];
    enum edm_add_outcome outs[2];
    assert_int_equal(f->st->ops->message_create(f->st, &m, edm_time_now(), &id, rids, outs), 0);
    assert_int_equal(outs[0], EDM_ADD_ACCEPTED);
    assert_int_equal(outs[1], EDM_ADD_ACCEPTED);
    edm_free(hfrom);
    edm_free(subject);

    assert_int_equal(edm_engine_start(&f->loop, &f->cfg, f->st, &f->eng, err, sizeof err), 0);
    char status[32] = "";
    uint64_t deadline = edm_time_mono_ms() + 30000;
    while (strcmp(status, "done") != 0 && edm_time_mono_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        edm_test_sleep_ms(5);
        json_t *mj = NULL;
        assert_int_equal(f->st->ops->message_get(f->st, id, &mj), 0);
        snprintf(status, sizeof status, "%s", json_string_value(json_object_get(mj, "status")));
        json_decref(mj);
    }
    edm_engine_stop(f->eng, on_stopped, f);
    while (!f->stopped)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_string_equal(status, "done");

    /* Both recipients delivered, at the first attempt. */
    json_t *mj = NULL;
    assert_int_equal(f->st->ops->message_get(f->st, id, &mj), 0);
    json_t *rcpts = json_object_get(mj, "recipients");
    assert_int_equal(json_array_size(rcpts), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *r = json_array_get(rcpts, i);
        if (strcmp(json_string_value(json_object_get(r, "status")), "delivered") != 0)
            fail_msg("recipient %zu: %s", i, json_dumps(r, 0));
        assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 1);
    }
    json_decref(mj);

    /* The server with 8BITMIME got the message as stored, declared 8bit;
     * the one without not one 8-bit byte: the 8bit parts re-encoded, the
     * rest as it was. */
    assert_int_equal(smtp_fake_messages(f->with), 1);
    assert_int_equal(count(smtp_fake_log(f->with), " BODY=8BITMIME\n"), 1);
    const edm_buf *w8 = smtp_fake_message(f->with, 0);
    assert_true(w8->len > raw.len);
    assert_memory_equal(w8->data + w8->len - raw.len, raw.data, raw.len);
    assert_int_equal(smtp_fake_messages(f->without), 1);
    assert_null(strstr(smtp_fake_log(f->without), "BODY="));
    const edm_buf *w7 = smtp_fake_message(f->without, 0);
    assert_false(has_8bit(w7));
    assert_int_equal(count(w7->data, "Content-Transfer-Encoding: quoted-printable\r\n"), 2);
    assert_int_equal(count(w7->data, "Content-Transfer-Encoding: base64\r\n"), 1);
    assert_int_equal(count(w7->data, "Content-Transfer-Encoding: 8bit\r\n"), 0);
    assert_non_null(strstr(w7->data, "\r\n--mixed\r\nContent-Type: text/plain; "
                                     "charset=us-ascii\r\n\r\nAn ASCII part, kept as it is.\r\n"
                                     "--mixed--\r\n"));
    edm_buf_free(&raw);

    /* Both copies verify as received; both read back to the same parts. */
    char msgs[4300];
    dkim_check_both(f, msgs, sizeof msgs, 2);
    char *out = NULL;
    snprintf(
        cmd, sizeof cmd,
        "/usr/bin/python3 -c 'import email, email.policy, sys\n"
        "def parts(p):\n"
        "    m = email.message_from_bytes(open(p, \"rb\").read(), policy=email.policy.default)\n"
        "    bad = [x.defects for x in m.walk() if x.defects]\n"
        "    return bad, [(x.get_content_type(), x.get_payload(decode=True).replace(b\"\\r\\n\", "
        "b\"\\n\")) for x in m.walk() if not x.is_multipart()]\n"
        "ba, a = parts(sys.argv[1] + \"/with0.eml\")\n"
        "bb, b = parts(sys.argv[1] + \"/without0.eml\")\n"
        "t = [p for c, p in b if c == \"text/plain\"][0].decode()\n"
        "ok = not ba and not bb and a == b and len(a) == 4 and \"春季新品现已全面上市\" in t\n"
        "print(\"ok\" if ok else \"FAIL %%r %%r\" %% (ba + bb, [a, b]))' %s",
        msgs);
    assert_int_equal(edm_test_run(cmd, &out), 0);
    if (strcmp(out, "ok\n") != 0)
        fail_msg("python email:\n%s", out);
    free(out);

    fixture_done(f);
}

int main(void)
{
    edm_log_set_level(getenv("EDM_TEST_DEBUG") ? EDM_LOG_DEBUG : EDM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_campaign_to_servers_with_and_without_8bitmime),
        cmocka_unit_test(submitted_8bit_message_to_a_server_without_8bitmime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
