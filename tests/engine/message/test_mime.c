/*
 * tests/engine/message/test_mime.c: the composer. Encoders, the choice of
 * transfer encoding and header safety table by table; then every message
 * of mime_cases.c parsed back by Python's email package (policy=default,
 * no defects, values compared), rejections, allocation failures, no
 * allocation once warm, unique ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/base64.h"
#include "engine/base/err.h"
#include "engine/message/mime.h"
#include "engine/message/mime_int.h"
#include "tests/engine/message/mime_cases.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void qp_table(void **state)
{
    (void)state;
    char a76[77], a77[78], want77[90];
    memset(a76, 'a', 76);
    a76[76] = '\0';
    memset(a77, 'a', 77);
    a77[77] = '\0';
    snprintf(want77, sizeof want77, "%.75s=\r\naa", a77);
    static const char eq26[] = "==========================";
    static const struct {
        const char *in, *out;
    } t[] = {
        {"abc", "abc"},
        {"a=b", "a=3Db"},
        {"\xc3\xa9t\xc3\xa9", "=C3=A9t=C3=A9"},
        {"x \ny\t\n", "x=20\r\ny=09\r\n"},
        {"x  y", "x  y"},
        {"end ", "end=20"},
        {"From me\nFrom", "=46rom me\r\nFrom"},
        {"a\rb\nc\r\nd\r", "a\r\nb\r\nc\r\nd\r\n"},
        {"\t\x01\x7f", "\t=01=7F"},
        {".\n..", ".\r\n.."},
        {"", ""},
        {eq26, "=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=3D=\r\n="
               "3D"},
    };
    edm_buf b = EDM_BUF_INIT;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        edm_buf_reset(&b);
        assert_int_equal(mime_enc_qp(&b, t[i].in, strlen(t[i].in)), 0);
        if (strcmp(edm_buf_cstr(&b), t[i].out) != 0)
            fail_msg("qp(%s) = [%s], want [%s]", t[i].in, edm_buf_cstr(&b), t[i].out);
    }
    edm_buf_reset(&b);
    assert_int_equal(mime_enc_qp(&b, a76, 76), 0);
    assert_string_equal(b.data, a76);
    edm_buf_reset(&b);
    assert_int_equal(mime_enc_qp(&b, a77, 77), 0);
    assert_string_equal(b.data, want77);
    /* Every line of a long mixed input stays within 76 columns. */
    char big[20000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)((i * 7919) % 251 + 1);
    edm_buf_reset(&b);
    assert_int_equal(mime_enc_qp(&b, big, sizeof big), 0);
    size_t col = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i] == '\r') {
            assert_int_equal(b.data[i + 1], '\n');
            assert_true(i == 0 || (b.data[i - 1] != ' ' && b.data[i - 1] != '\t'));
            col = 0;
            i++;
            continue;
        }
        assert_true(b.data[i] != '\n');
        assert_true(++col <= 76);
    }
    edm_buf_free(&b);
}

static void base64_table(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *b64;
    } t[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    edm_buf b = EDM_BUF_INIT;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        edm_buf_reset(&b);
        assert_int_equal(edm_base64_encode(&b, t[i].plain, strlen(t[i].plain), 0), 0);
        assert_string_equal(edm_buf_cstr(&b), t[i].b64);
        edm_buf_reset(&b);
        assert_int_equal(edm_base64_decode(&b, t[i].b64, strlen(t[i].b64)), 0);
        assert_string_equal(edm_buf_cstr(&b), t[i].plain);
    }
    /* 76-column lines, each ended by CRLF; decoding skips the breaks. */
    unsigned char bin[200];
    for (int i = 0; i < 200; i++)
        bin[i] = (unsigned char)(i * 37);
    edm_buf_reset(&b);
    assert_int_equal(edm_base64_encode(&b, bin, sizeof bin, 76), 0);
    assert_int_equal(b.len, 268 + 4 * 2); /* 76, 76, 76 and 40 columns */
    assert_memory_equal(b.data + 76, "\r\n", 2);
    edm_buf d = EDM_BUF_INIT;
    assert_int_equal(edm_base64_decode(&d, b.data, b.len), 0);
    assert_int_equal(d.len, sizeof bin);
    assert_memory_equal(d.data, bin, sizeof bin);
    static const char *const bad[] = {
        "Zg", "Zg=", "Zg===", "Z===", "Zh==", "Zm9=v", "Zm9v!", "=Zm9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        edm_buf_reset(&d);
        if (edm_base64_decode(&d, bad[i], strlen(bad[i])) != EDM_EINVAL)
            fail_msg("base64 \"%s\" accepted", bad[i]);
        assert_int_equal(d.len, 0);
    }
    edm_buf_free(&b);
    edm_buf_free(&d);
}

static void sanitize_table(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        int plain;
    } t[] = {
        {"plain text", "plain text", 1},
        {"  a \r\n\tb  ", "a b", 1},
        {"a\0b", "a", 1},
        {"x\r\nBcc: y", "x Bcc: y", 1},
        {"\xff", "\xef\xbf\xbd", 0},
        {"\xc3", "\xef\xbf\xbd", 0},
        {"\xc3\xa9", "\xc3\xa9", 0},
        {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 0}, /* overlong */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 0}, /* surrogate */
        {"a\xc2\x85"
         "b\xe2\x80\xa9"
         "c",
         "a b c", 1},
        {"=?x?=", "=?x?=", 0},
        {"a=b?", "a=b?", 1},
        {"\x01\x02", "", 1},
    };
    edm_buf b = EDM_BUF_INIT;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        edm_buf_reset(&b);
        assert_int_equal(mime_hdr_sanitize(&b, t[i].in, strlen(t[i].in)), 0);
        assert_string_equal(edm_buf_cstr(&b), t[i].out);
        assert_int_equal(mime_hdr_is_plain(b.data ? b.data : "", b.len), t[i].plain);
    }
    edm_buf_free(&b);
}

static void address_and_name_table(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        int ok;
    } a[] = {
        {"a@example.com", 1},
        {"first.last+tag@sub.example.co.uk", 1},
        {"o'brien@example.com", 1},
        {"a@localhost", 1},
        {"", 0},
        {"a", 0},
        {"@example.com", 0},
        {"a@", 0},
        {"a..b@example.com", 0},
        {".a@example.com", 0},
        {"a.@example.com", 0},
        {"a b@example.com", 0},
        {"a@exa mple.com", 0},
        {"a@example.com\r\nBcc: x@y.z", 0},
        {"a@-example.com", 0},
        {"a@example-.com", 0},
        {"a@example..com", 0},
        {"<a@example.com>", 0},
        {"\"a\"@example.com", 0},
        {"j\xc3\xb6rg@example.com", 0},
        {"a@b@example.com", 0},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.com", 0},
    };
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
        if (edm_mime_addr_ok(a[i].addr) != a[i].ok)
            fail_msg("addr_ok(%s) != %d", a[i].addr, a[i].ok);
    static const struct {
        const char *name;
        int ok;
    } h[] = {
        {"X-Campaign", 1},
        {"Precedence", 1},
        {"x", 1},
        {"", 0},
        {"X Bad", 0},
        {"X:Bad", 0},
        {"X-\xc3\xa9", 0},
        {"X-Tab\t", 0},
        {"From", 0},
        {"from", 0},
        {"TO", 0},
        {"Date", 0},
        {"Message-ID", 0},
        {"DKIM-Signature", 0},
        {"Content-Type", 0},
        {"content-disposition", 0},
        {"MIME-Version", 0},
        {"List-Unsubscribe", 0},
        {"List-Unsubscribe-Post", 0},
        {"Reply-To", 0},
        {"Bcc", 0},
        {"Return-Path", 0},
        {"Subject", 0},
        {"Feedback-ID", 0},
        {"Resent-To", 0},
        {"Sender", 0},
        {"X-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
    };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        if (edm_mime_header_name_ok(h[i].name) != h[i].ok)
            fail_msg("header_name_ok(%s) != %d", h[i].name, h[i].ok);
}

static void rejects(void **state)
{
    (void)state;
    edm_mime *m = edm_mime_new();
    static const edm_mime_header bad_from[] = {{"From", "x@y.z"}};
    static const edm_mime_header bad_space[] = {{"X Bad", "v"}};
    static const edm_mime_header bad_nl[] = {{"X-A\r\nBcc", "v"}};
    static const edm_mime_header bad_ct[] = {{"Content-Type", "text/html"}};
    static const edm_mime_attachment cid_bad[] = {{"a.png", "image/png", "x", 1, "a b@x"}};
    static const edm_mime_attachment cid_angle[] = {{"a.png", "image/png", "x", 1, "<a@x>"}};
    static const edm_mime_attachment cid_two_at[] = {{"a.png", "image/png", "x", 1, "a@b@x"}};
    static const edm_mime_attachment cid_twice[] = {{"a.png", "image/png", "x", 1, "a@x"},
                                                    {"b.pdf", "application/pdf", "y", 1, NULL},
                                                    {"c.png", "image/png", "z", 1, "a@x"}};
    static const struct {
        edm_mime_msg msg;
        const char *error;
    } t[] = {
        {{.from_addr = "bad", .to_addr = "b@example.com"}, "from"},
        {{.from_addr = "a@example.com", .to_addr = "b@example.com\r\nBcc: c@d.e"}, "to"},
        {{.from_addr = "a@example.com", .to_addr = "b@example.com", .reply_to = "x y@z"},
         "reply_to"},
        {{.from_addr = "a@example.com", .to_addr = "b@example.com", .unsub_mailto = "u@"},
         "mailto"},
        {{.from_addr = "a@example.com", .to_addr = "b@example.com", .unsub_url = "https://x/ y"},
         "url"},
        {{.from_addr = "a@example.com", .to_addr = "b@example.com", .unsub_url = "javascript:x"},
         "url"},
        {{.from_addr = "a@example.com", .to_addr = "b@example.com", .unsub_url = "https://x/>,<y"},
         "url"},
        {{.from_addr = "a@example.com",
          .to_addr = "b@example.com",
          .headers = bad_from,
          .n_headers = 1},
         "headers[0]"},
        {{.from_addr = "a@example.com",
          .to_addr = "b@example.com",
          .headers = bad_space,
          .n_headers = 1},
         "headers[0]"},
        {{.from_addr = "a@example.com",
          .to_addr = "b@example.com",
          .headers = bad_nl,
          .n_headers = 1},
         "headers[0]"},
        {{.from_addr = "a@example.com",
          .to_addr = "b@example.com",
          .headers = bad_ct,
          .n_headers = 1},
         "headers[0]"},
        {{.from_addr = "a@example.com", .to_addr = "b@example.com", .msgid_domain = "a b"},
         "msgid_domain"},
        {{.from_addr = "a@example.com", .to_addr = "b@example.com", .message_id = "<x@y>"},
         "message_id"},
        {{.from_addr = "a@example.com",
          .to_addr = "b@example.com",
          .html = "<p>x</p>",
          .attachments = cid_bad,
          .n_attachments = 1},
         "attachments[0].content_id"},
        {{.from_addr = "a@example.com",
          .to_addr = "b@example.com",
          .html = "<p>x</p>",
          .attachments = cid_angle,
          .n_attachments = 1},
         "attachments[0].content_id"},
        {{.from_addr = "a@example.com",
          .to_addr = "b@example.com",
          .html = "<p>x</p>",
          .attachments = cid_two_at,
          .n_attachments = 1},
         "attachments[0].content_id"},
        {{.from_addr = "a@example.com",
          .to_addr = "b@example.com",
          .html = "<p>x</p>",
          .attachments = cid_twice,
          .n_attachments = 3},
         "attachments[2].content_id"},
        {{.from_addr = "a@example.com",
          .to_addr = "b@example.com",
          .text = "no html",
          .attachments = cid_twice,
          .n_attachments = 1},
         "html body"},
    };
    edm_buf out = EDM_BUF_INIT;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        edm_buf_reset(&out);
        assert_int_equal(edm_buf_append_str(&out, "keep"), 0);
        assert_int_equal(edm_mime_compose(m, &t[i].msg, &out), EDM_EINVAL);
        if (strstr(edm_mime_error(m), t[i].error) == NULL)
            fail_msg("case %zu: error \"%s\" does not name %s", i, edm_mime_error(m), t[i].error);
        assert_string_equal(out.data, "keep");
    }
    edm_buf_free(&out);
    edm_mime_free(m);
}

/* A template variable must not make a 1.6 MB Subject: every header field
 * value is capped (EDM_MIME_MAX_FIELD bytes) and the message fails with
 * an error naming the field; exactly the limit still composes. */
static void header_values_capped(void **state)
{
    (void)state;
    edm_mime *m = edm_mime_new();
    size_t big = 1600 * 1000;
    char *v = malloc(big + 1);
    assert_non_null(v);
    memset(v, 'x', big);
    v[big] = '\0';
    edm_mime_header h[] = {{"X-Campaign", v}};
    edm_mime_msg t[] = {
        {.from_addr = "a@example.com", .to_addr = "b@example.com", .subject = v},
        {.from_addr = "a@example.com", .to_addr = "b@example.com", .from_name = v},
        {.from_addr = "a@example.com", .to_addr = "b@example.com", .to_name = v},
        {.from_addr = "a@example.com", .to_addr = "b@example.com", .headers = h, .n_headers = 1},
        {.from_addr = "a@example.com", .to_addr = "b@example.com", .feedback_id = v},
    };
    static const char *const field[] = {"subject", "from name", "to name", "headers[0]",
                                        "feedback_id"};
    edm_buf out = EDM_BUF_INIT;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        edm_buf_reset(&out);
        assert_int_equal(edm_buf_append_str(&out, "keep"), 0);
        assert_int_equal(edm_mime_compose(m, &t[i], &out), EDM_EINVAL);
        if (strstr(edm_mime_error(m), field[i]) == NULL ||
            strstr(edm_mime_error(m), "1600000 bytes") == NULL)
            fail_msg("case %zu: error \"%s\" does not name %s and the size", i, edm_mime_error(m),
                     field[i]);
        assert_string_equal(out.data, "keep");
    }
    v[EDM_MIME_MAX_FIELD] = '\0'; /* at the limit: composes */
    edm_buf_reset(&out);
    assert_int_equal(edm_mime_compose(m, &t[0], &out), 0);
    assert_true(out.len > EDM_MIME_MAX_FIELD);
    edm_buf_free(&out);
    free(v);
    edm_mime_free(m);
}

/* Which transfer encoding a text body gets (docs/messages.md). */
static void cte_choice_table(void **state)
{
    (void)state;
    static char a998[999], a999[1000], two998[2000], e499[999], e500[1001], cr[1300];
    memset(a998, 'a', 998);
    memset(a999, 'a', 999);
    memset(two998, 'b', 998);
    memcpy(two998 + 998, "\r\n", 2);
    memset(two998 + 1000, 'b', 998);
    for (int i = 0; i < 499; i++)
        memcpy(e499 + 2 * i, "\xc3\xa9", 2); /* 998 octets of é */
    memcpy(e500, e499, 998);
    memcpy(e500 + 998, "\xc3\xa9", 2);
    memset(cr, 'c', 1201);
    cr[600] = '\r'; /* a lone CR ends a line too */
    const struct {
        const char *s;
        size_t n; /* 0: strlen */
        int allow;
        enum mime_cte want;
    } t[] = {
        {"", 0, 0, MIME_CTE_7BIT},
        {"plain ascii\r\nlines\n", 0, 0, MIME_CTE_7BIT},
        {"plain ascii\r\nlines\n", 0, 1, MIME_CTE_7BIT},
        {"a=b <a href=\"x\">   \n\t.\n", 0, 0, MIME_CTE_7BIT},
        {a998, 0, 0, MIME_CTE_7BIT},
        {a999, 0, 0, MIME_CTE_QP},
        {a999, 0, 1, MIME_CTE_QP},
        {two998, 0, 0, MIME_CTE_7BIT},
        {"Gr\xc3\xbc\xc3\x9f"
         "e",
         0, 0, MIME_CTE_QP},
        {"Gr\xc3\xbc\xc3\x9f"
         "e",
         0, 1, MIME_CTE_8BIT},
        {"\xe4\xb8\xad\xe6\x96\x87", 0, 1, MIME_CTE_8BIT},
        {e499, 0, 1, MIME_CTE_8BIT},
        {e500, 0, 1, MIME_CTE_QP},
        {cr, 0, 0, MIME_CTE_7BIT},
        {"From here\n", 0, 0, MIME_CTE_QP},
        {"x\nFrom here", 0, 0, MIME_CTE_QP},
        {"x\r\nFrom \xc3\xa9", 0, 1, MIME_CTE_QP},
        {"x From here\nFrom\nFromage\n", 0, 0, MIME_CTE_7BIT},
        {"nul\0byte", 8, 0, MIME_CTE_QP},
        {"nul\0byte\xc3\xa9", 10, 1, MIME_CTE_QP},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t n = t[i].n ? t[i].n : strlen(t[i].s);
        enum mime_cte got = mime_enc_choose(t[i].s, n, t[i].allow);
        if (got != t[i].want)
            fail_msg("case %zu: %s, want %s", i, mime_cte_name(got), mime_cte_name(t[i].want));
    }
}

/* Our own structural check: CRLF only, no line over 998 octets, no
 * control or 8-bit byte in the header block, and exactly nfields lines
 * that start a field (the rest are continuations starting with a space). */
static void check_structure(const char *name, const char *p, size_t len, size_t nfields,
                            size_t soft_max)
{
    size_t fields = 0, line = 0;
    int in_head = 1, bol = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r' && i + 1 < len && p[i + 1] == '\n') {
            if (in_head && line == 0)
                in_head = 0;
            if (in_head && line > soft_max)
                fail_msg("%s: header line of %zu columns (want <= %zu)", name, line, soft_max);
            i++;
            line = 0;
            bol = 1;
            continue;
        }
        if (c == '\r' || c == '\n')
            fail_msg("%s: bare CR or LF at %zu", name, i);
        if (++line > 998)
            fail_msg("%s: line over 998 octets at %zu", name, i);
        if (in_head) {
            if (c < 32 || c > 126)
                if (c != '\t')
                    fail_msg("%s: byte %u in the header block at %zu", name, c, i);
            if (bol && c != ' ' && c != '\t')
                fields++;
        }
        bol = 0;
    }
    if (fields != nfields)
        fail_msg("%s: %zu header fields, want %zu", name, fields, nfields);
}

static size_t expected_fields(const mime_case *c)
{
    const edm_mime_msg *m = &c->msg;
    size_t n = 7 + (strncmp(c->content_type, "text/", 5) == 0) + (m->reply_to != NULL) +
               (m->unsub_mailto || m->unsub_url) + (m->feedback_id != NULL) + m->n_headers;
    return n + (m->unsub_url && strncmp(m->unsub_url, "https:", 6) == 0);
}

static void cases_parse_back(void **state)
{
    (void)state;
    size_t n;
    const mime_case *cases = mime_cases(&n);
    char *dir = edm_test_tmpdir("mime");
    edm_mime *m = edm_mime_new();
    edm_buf out = EDM_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        mime_case_build(&cases[i], m, NULL, NULL, 0, &out);
        if (edm_mime_is_8bit(m) != cases[i].eight_bit)
            fail_msg("%s: edm_mime_is_8bit %d", cases[i].name, edm_mime_is_8bit(m));
        /* 78 columns (RFC 5322 2.1.1) except where one word is longer. */
        size_t soft = strcmp(cases[i].name, "long_headers") == 0 ? 998 : 78;
        check_structure(cases[i].name, out.data, out.len, expected_fields(&cases[i]), soft);
        mime_case_write(dir, "", &cases[i], out.data, out.len, 0);
    }
    char *res = mime_check_parse(dir);
    for (size_t i = 0; i < n; i++)
        mime_expect_line(res, cases[i].name, "ok");
    free(res);
    edm_buf_free(&out);
    edm_mime_free(m);
    edm_test_rmtree(dir);
    free(dir);
}

static void alloc_failures(void **state)
{
    (void)state;
    size_t n;
    const mime_case *cases = mime_cases(&n);
    const mime_case *c = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(cases[i].name, "attachments") == 0)
            c = &cases[i];
    assert_non_null(c);
    int done = 0;
    for (long k = 0; k < 200 && !done; k++) {
        edm_mime *m = edm_mime_new();
        edm_buf out = EDM_BUF_INIT;
        assert_int_equal(edm_buf_append_str(&out, "pre"), 0);
        edm_alloc_fail_after(k);
        int rc = edm_mime_compose(m, &c->msg, &out);
        edm_alloc_fail_after(-1);
        if (rc == 0) {
            done = 1;
        } else {
            assert_int_equal(rc, EDM_ENOMEM);
            assert_int_equal(out.len, 3);
            assert_string_equal(out.data, "pre");
        }
        edm_buf_free(&out);
        edm_mime_free(m);
    }
    assert_true(done);
}

static void warm_composer_allocates_nothing(void **state)
{
    (void)state;
    size_t n;
    const mime_case *cases = mime_cases(&n);
    edm_mime *m = edm_mime_new();
    edm_buf out = EDM_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        edm_buf_reset(&out);
        assert_int_equal(edm_mime_compose(m, &cases[i].msg, &out), 0);
    }
    assert_int_equal(edm_buf_reserve(&out, 1 << 20), 0);
    for (size_t i = 0; i < n; i++) {
        edm_buf_reset(&out);
        edm_alloc_fail_after(0);
        int rc = edm_mime_compose(m, &cases[i].msg, &out);
        long injected = edm_alloc_injected_failures();
        edm_alloc_fail_after(-1);
        if (rc != 0 || injected != 0)
            fail_msg("%s: a warm composer allocated (rc %d)", cases[i].name, rc);
    }
    edm_buf_free(&out);
    edm_mime_free(m);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ids_unique_and_on_domain(void **state)
{
    (void)state;
    edm_mime *m = edm_mime_new();
    edm_buf out = EDM_BUF_INIT;
    enum { N = 2000 };
    char **ids = calloc(N, sizeof *ids);
    edm_mime_msg msg = {.from_addr = "a@example.com",
                        .to_addr = "b@example.com",
                        .text = "x",
                        .text_len = 1,
                        .html = "y",
                        .html_len = 1};
    for (int i = 0; i < N; i++) {
        msg.msgid_domain = i % 2 ? "mail.example.org" : NULL;
        assert_int_equal(edm_mime_compose(m, &msg, &out), 0);
        ids[i] = strdup(edm_mime_message_id(m));
        const char *dom = strrchr(ids[i], '@');
        assert_non_null(dom);
        assert_string_equal(dom + 1, i % 2 ? "mail.example.org" : "example.com");
        assert_true(edm_mime_addr_ok(ids[i]));
    }
    qsort(ids, N, sizeof *ids, cmp_str);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    for (int i = 0; i < N; i++)
        free(ids[i]);
    free(ids);
    msg.message_id = "given.1@example.com";
    edm_buf_reset(&out);
    assert_int_equal(edm_mime_compose(m, &msg, &out), 0);
    assert_non_null(strstr(out.data, "\r\nMessage-ID: <given.1@example.com>\r\n"));
    edm_buf_free(&out);
    edm_mime_free(m);
}

/* The byte-at-a-time rule mime_enc_choose implements with memchr and word
 * scans: QP for a NUL, a line over 998 octets or a line starting "From ";
 * 7bit without high bytes; else 8bit when allowed. */
static enum mime_cte choose_reference(const char *s, size_t n, int allow_8bit)
{
    int high = 0;
    size_t line = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n') {
            line = 0;
            continue;
        }
        if (c == 0 || ++line > 998 ||
            (line == 1 && c == 'F' && n - i >= 5 && memcmp(s + i, "From ", 5) == 0))
            return MIME_CTE_QP;
        high |= c & 0x80;
    }
    return !high ? MIME_CTE_7BIT : allow_8bit ? MIME_CTE_8BIT : MIME_CTE_QP;
}

/* Random bodies built from the bytes that matter (line ends, NUL, high
 * bytes, "From ", long runs) agree with the reference, both ways. */
static void cte_choice_matches_reference(void **state)
{
    (void)state;
    static const char *const pieces[] = {"a",    "xyz",      "\r",           "\n", "\r\n", "From ",
                                         "From", "\xc3\xa9", "\xe4\xb8\xad", " F", "=",    "\t"};
    char buf[4096];
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        size_t n = 0;
        int parts = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 40;
        while (parts-- > 0 && n < sizeof buf - 1100) {
            unsigned r = (seed = seed * 1103515245u + 12345u) >> 16;
            if (r % 50 == 0) { /* a long run, sometimes past 998 */
                size_t len = 990 + r % 20;
                memset(buf + n, 'k', len);
                n += len;
            } else if (r % 97 == 0) {
                buf[n++] = '\0';
            } else {
                const char *p = pieces[r % (sizeof pieces / sizeof pieces[0])];
                memcpy(buf + n, p, strlen(p));
                n += strlen(p);
            }
        }
        for (int allow = 0; allow < 2; allow++)
            if (mime_enc_choose(buf, n, allow) != choose_reference(buf, n, allow))
                fail_msg("round %d (%zu bytes, allow_8bit %d): %d, reference %d", round, n, allow,
                         (int)mime_enc_choose(buf, n, allow), (int)choose_reference(buf, n, allow));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qp_table),
        cmocka_unit_test(cte_choice_table),
        cmocka_unit_test(cte_choice_matches_reference),
        cmocka_unit_test(base64_table),
        cmocka_unit_test(sanitize_table),
        cmocka_unit_test(address_and_name_table),
        cmocka_unit_test(rejects),
        cmocka_unit_test(header_values_capped),
        cmocka_unit_test(cases_parse_back),
        cmocka_unit_test(alloc_failures),
        cmocka_unit_test(warm_composer_allocates_nothing),
        cmocka_unit_test(ids_unique_and_on_domain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
