/*
 * tests/engine/message/test_mime_downgrade.c: edm_mime_downgrade
 * (engine/message/mime_downgrade.c). Exact bytes for a single part, a
 * multipart with 8bit text and 8bit application/octet-stream, a nested
 * multipart, a part without Content-Transfer-Encoding, a message/rfc822
 * part; 7bit parts, preambles and epilogues kept byte for byte; the
 * refusals (8-bit header fields, preamble, a base64 body, no boundary,
 * nesting); a round trip of every byte value and awkward text lines
 * decoded again by Python's email package and compared with the original
 * parts; allocation failures; edm_message_build_raw with and without
 * allow_8bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/base64.h"
#include "engine/base/err.h"
#include "engine/message/message.h"
#include "engine/message/mime_downgrade.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has8(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return 1;
    return 0;
}

/* Downgrades in (a C string) and compares with want byte for byte. */
static void expect(const char *in, const char *want)
{
    edm_buf out = EDM_BUF_INIT;
    char err[160] = "";
    int rc = edm_mime_downgrade(&out, in, strlen(in), err, sizeof err);
    if (rc != 0)
        fail_msg("downgrade: %d %s", rc, err);
    assert_false(has8(out.data, out.len));
    if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
        fail_msg("got:\n%.*s\nwant:\n%s", (int)out.len, out.data, want);
    edm_buf_free(&out);
}

/* Downgrading in fails with EDM_EINVAL, a reason containing why, and
 * leaves what out held. */
static void refuse(const char *in, const char *why)
{
    edm_buf out = EDM_BUF_INIT;
    assert_int_equal(edm_buf_append_str(&out, "kept"), 0);
    char err[160] = "";
    assert_int_equal(edm_mime_downgrade(&out, in, strlen(in), err, sizeof err), EDM_EINVAL);
    if (strstr(err, why) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", err, why);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, "kept", 4);
    edm_buf_free(&out);
}

static void single_part_text(void **state)
{
    (void)state;
    expect("From: a@example.com\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n"
           "Subject: hi\r\n"
           "\r\n"
           "Grüße aus Köln\r\n"
           "second line =\r\n",
           "From: a@example.com\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Subject: hi\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n"
           "\r\n"
           "Gr=C3=BC=C3=9Fe aus K=C3=B6ln\r\n"
           "second line =3D\r\n");
    /* Without MIME-Version, Content-Type or Content-Transfer-Encoding: a
     * text/plain message, given the two MIME fields it needs. */
    expect("From: a@example.com\r\nSubject: hi\r\n\r\nna\xc3\xafve\r\n",
           "From: a@example.com\r\nSubject: hi\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n"
           "MIME-Version: 1.0\r\n"
           "\r\nna=C3=AFve\r\n");
    /* A single part of another type goes base64; folded and repeated
     * Content-Transfer-Encoding fields all go. */
    expect("From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
           "Content-Transfer-Encoding:\r\n 8bit\r\ncontent-transfer-encoding : binary\r\n"
           "\r\n\xff\xfe\x01\x02",
           "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n//4BAg==\r\n");
}

static void multipart_text_and_binary(void **state)
{
    (void)state;
    expect("From: a@example.com\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed;\r\n boundary=\"=_b 1\"\r\n"
           "\r\n"
           "This is a preamble.\r\n"
           "--=_b 1\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n"
           "\r\n"
           "春\r\n"
           "--=_b 1  \r\n"
           "Content-Type: application/octet-stream\r\n"
           "Content-Transfer-Encoding: 8bit\r\n"
           "Content-Disposition: attachment; filename=\"x.bin\"\r\n"
           "\r\n"
           "\xff\xfe\x01\x02\r\n"
           "--=_b 1\r\n"
           "Content-Type: text/plain; charset=us-ascii\r\n"
           "Content-Transfer-Encoding: 7bit\r\n"
           "\r\n"
           "plain  \r\nascii\r\n"
           "--=_b 1--\r\n"
           "epilogue\r\n",
           "From: a@example.com\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed;\r\n boundary=\"=_b 1\"\r\n"
           "\r\n"
           "This is a preamble.\r\n"
           "--=_b 1\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n"
           "\r\n"
           "=E6=98=A5\r\n"
           "--=_b 1  \r\n"
           "Content-Type: application/octet-stream\r\n"
           "Content-Disposition: attachment; filename=\"x.bin\"\r\n"
           "Content-Transfer-Encoding: base64\r\n"
           "\r\n"
           "//4BAg==\r\n"
           "--=_b 1\r\n"
           "Content-Type: text/plain; charset=us-ascii\r\n"
           "Content-Transfer-Encoding: 7bit\r\n"
           "\r\n"
           "plain  \r\nascii\r\n"
           "--=_b 1--\r\n"
           "epilogue\r\n");
}

static void nested_multipart(void **state)
{
    (void)state;
    /* multipart/mixed declared 8bit: alternative (8bit text, html without
     * Content-Transfer-Encoding) and a 7bit attachment; the outer
     * declaration becomes 7bit, the inner one is left absent. */
    expect("From: a@example.com\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=outer\r\n"
           "Content-Transfer-Encoding: 8bit\r\n"
           "\r\n"
           "--outer\r\n"
           "Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
           "\r\n"
           "--inner\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n"
           "\r\n"
           "é\r\n"
           "--inner\r\n"
           "Content-Type: text/html; charset=utf-8\r\n"
           "\r\n"
           "<p>é</p>\r\n"
           "--inner--\r\n"
           "--outer\r\n"
           "Content-Type: text/csv\r\n"
           "\r\n"
           "a,b\r\n"
           "--outer--\r\n",
           "From: a@example.com\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=outer\r\n"
           "Content-Transfer-Encoding: 7bit\r\n"
           "\r\n"
           "--outer\r\n"
           "Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
           "\r\n"
           "--inner\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n"
           "\r\n"
           "=C3=A9\r\n"
           "--inner\r\n"
           "Content-Type: text/html; charset=utf-8\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n"
           "\r\n"
           "<p>=C3=A9</p>\r\n"
           "--inner--\r\n"
           "--outer\r\n"
           "Content-Type: text/csv\r\n"
           "\r\n"
           "a,b\r\n"
           "--outer--\r\n");
}

static void part_without_fields(void **state)
{
    (void)state;
    /* A part with an empty header section is text/plain (RFC 2046 5.1):
     * it gets the field; an unclosed last part runs to the end. */
    expect("From: a@example.com\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\n\r\nü\r\n--b\r\nContent-Type: image/png\r\n\r\n\x89PNG",
           "From: a@example.com\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=C3=BC\r\n"
           "--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           "iVBORw==\r\n");
    /* The parts of a multipart/digest are message/rfc822. */
    expect("From: a@example.com\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/digest; boundary=d\r\n\r\n"
           "--d\r\n\r\nFrom: b@example.com\r\nSubject: x\r\n\r\nß\r\n--d--\r\n",
           "From: a@example.com\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/digest; boundary=d\r\n\r\n"
           "--d\r\n\r\nFrom: b@example.com\r\nSubject: x\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=9F\r\n--d--\r\n");
}

static void message_rfc822_walked(void **state)
{
    (void)state;
    /* A forwarded message: its header fields as they are, its body
     * quoted-printable, the enclosing part declared 7bit. */
    expect("From: a@example.com\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
           "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "From: c@example.com\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nñ\r\n"
           "--b--\r\n",
           "From: a@example.com\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
           "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
           "From: c@example.com\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=B1\r\n"
           "--b--\r\n");
}

static void seven_bit_untouched(void **state)
{
    (void)state;
    /* No 8-bit byte: the message as it is, odd lines and all. */
    static const char *const same[] = {
        "From: a@example.com\r\n\r\nascii only\r\n",
        "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "pre\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\nx  \r\n--b--\r\nepi",
        "no header at all",
        "",
        "From: a@example.com\r\nContent-Transfer-Encoding: base64\r\n\r\n!!not base64\n\r\r\n",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        expect(same[i], same[i]);
    /* In a converted message, the 7bit parts, the preamble, the
     * delimiters and the epilogue stay byte for byte (odd spacing,
     * trailing blanks, long lines and a bare LF included). */
    char longline[1200];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    edm_buf in = EDM_BUF_INIT, want = EDM_BUF_INIT;
    const char *head = "From: a@example.com\r\nMIME-Version: 1.0\r\n"
                       "Content-Type: multipart/mixed; boundary=\"q\"\r\n\r\n"
                       "pre  amble \r\n--q\r\nContent-Type: text/plain\r\n\r\n";
    assert_int_equal(edm_buf_appendf(&in, "%s%s\r\nbare\nLF \r\n--q\r\n", head, longline), 0);
    assert_int_equal(edm_buf_appendf(&want, "%s%s\r\nbare\nLF \r\n--q\r\n", head, longline), 0);
    assert_int_equal(edm_buf_append_str(
                         &in, "Content-Type: text/plain; charset=utf-8\r\n\r\nä\r\n--q--\r\n  epi "
                              "logue\r\n\r\n"),
                     0);
    assert_int_equal(edm_buf_append_str(&want, "Content-Type: text/plain; charset=utf-8\r\n"
                                               "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                                               "=C3=A4\r\n--q--\r\n  epi logue\r\n\r\n"),
                     0);
    assert_int_equal(edm_buf_append_char(&in, '\0'), 0);
    in.len--;
    assert_int_equal(edm_buf_append_char(&want, '\0'), 0);
    expect(in.data, want.data);
    edm_buf_free(&in);
    edm_buf_free(&want);
}

/* Quoted-printable would put the enclosing boundary at a line start (a
 * soft break before "--b" of a long line): that part goes base64. */
static void qp_break_before_a_boundary(void **state)
{
    (void)state;
    char x75[76], in[1024], want[1024];
    memset(x75, 'x', 75);
    x75[75] = '\0';
    snprintf(in, sizeof in,
             "From: a@example.com\r\nMIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
             "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s--b\r\n\xc3\xa9\r\n"
             "--b--\r\n",
             x75);
    snprintf(want, sizeof want,
             "From: a@example.com\r\nMIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
             "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\n"
             "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\r\n"
             "eHh4eHh4eHh4eHh4eHh4eHh4LS1iDQrDqQ==\r\n"
             "--b--\r\n");
    expect(in, want);
    /* One x less: the break falls elsewhere, quoted-printable it is. */
    x75[74] = '\0';
    snprintf(in, sizeof in,
             "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
             "--b\r\n\r\n%s--b\r\n\xc3\xa9\r\n--b--\r\n",
             x75);
    snprintf(want, sizeof want,
             "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n"
             "MIME-Version: 1.0\r\n\r\n"
             "--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s-=\r\n-b\r\n"
             "=C3=A9\r\n--b--\r\n",
             x75);
    expect(in, want);
}

static void refusals(void **state)
{
    (void)state;
    refuse("From: a@example.com\r\nSubject: Grüße\r\n\r\nbody\r\n", "header field");
    refuse("From: a@example.com\r\nSubject: Grüße\r\n\r\nGrüße\r\n", "SMTPUTF8");
    /* in a part's header section */
    refuse("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\nContent-Disposition: attachment; filename=\"ä.txt\"\r\n\r\nx\r\n--b--\r\n",
           "SMTPUTF8");
    /* in the header of an attached message */
    refuse("From: a@example.com\r\nContent-Type: message/rfc822\r\n\r\n"
           "From: b@example.com\r\nSubject: ü\r\n\r\nx\r\n",
           "SMTPUTF8");
    refuse("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           "préambule\r\n--b\r\n\r\nx\r\n--b--\r\n",
           "preamble");
    refuse("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\n\r\nx\r\n--b--\r\népilogue\r\n",
           "epilogue");
    refuse("From: a@example.com\r\nContent-Transfer-Encoding: base64\r\n\r\n\xc3\xa9\r\n",
           "declared base64");
    refuse("From: a@example.com\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n\xc3\xa9\r\n",
           "declared x-uuencode");
    refuse("From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\n\xc3\xa9\r\n",
           "without a boundary");
    refuse("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--c\r\n\r\n\xc3\xa9\r\n",
           "multipart without its boundary");
    refuse("From: a@example.com\r\nContent-Type: message/partial; id=x; number=1\r\n\r\n"
           "\xc3\xa9\r\n",
           "message/partial");
    /* nested past the limit */
    edm_buf in = EDM_BUF_INIT;
    assert_int_equal(edm_buf_append_str(&in, "From: a@example.com\r\n"), 0);
    for (int i = 0; i <= EDM_MIME_DOWNGRADE_DEPTH; i++)
        assert_int_equal(edm_buf_appendf(&in,
                                         "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
                                         "--b%d\r\n",
                                         i, i),
                         0);
    assert_int_equal(edm_buf_append_str(&in, "\r\n\xc3\xa9\r\n"), 0);
    assert_int_equal(edm_buf_append_char(&in, '\0'), 0);
    refuse(in.data, "nested deeper");
    /* one level less goes */
    edm_buf_reset(&in);
    assert_int_equal(edm_buf_append_str(&in, "From: a@example.com\r\n"), 0);
    for (int i = 0; i < EDM_MIME_DOWNGRADE_DEPTH; i++)
        assert_int_equal(edm_buf_appendf(&in,
                                         "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
                                         "--b%d\r\n",
                                         i, i),
                         0);
    assert_int_equal(edm_buf_append_str(&in, "\r\n\xc3\xa9\r\n"), 0);
    edm_buf out = EDM_BUF_INIT;
    char err[160];
    assert_int_equal(edm_mime_downgrade(&out, in.data, in.len, err, sizeof err), 0);
    assert_false(has8(out.data, out.len));
    assert_non_null(strstr(out.data, "\r\n=C3=A9\r\n"));
    edm_buf_free(&out);
    edm_buf_free(&in);
}

/* Every byte value in an attachment, and text with lines the encoder must
 * treat with care (long, "From ", trailing blanks, "=", a NUL), converted
 * and read back by Python's email package: the same parts, the same
 * decoded bytes, no defects, no line over 76 in what was encoded. */
static void round_trip_python(void **state)
{
    (void)state;
    char *dir = edm_test_tmpdir("downgrade");
    edm_buf in = EDM_BUF_INIT, out = EDM_BUF_INIT;
    assert_int_equal(edm_buf_append_str(&in, "From: a@example.com\r\nTo: b@example.com\r\n"
                                             "Subject: round trip\r\nMIME-Version: 1.0\r\n"
                                             "Content-Type: multipart/mixed; boundary=\"x\"\r\n"
                                             "\r\n--x\r\n"
                                             "Content-Type: text/plain; charset=utf-8\r\n"
                                             "Content-Transfer-Encoding: 8bit\r\n\r\n"),
                     0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(edm_buf_append_str(&in, "春季新品现已全面上市 "), 0);
    assert_int_equal(edm_buf_append_str(&in, "\r\nFrom here on: a=b \t\r\n"), 0);
    assert_int_equal(edm_buf_append(&in, "nul\0byte ü\r\n", 13), 0);
    assert_int_equal(edm_buf_append_str(&in, "--x\r\nContent-Type: application/octet-stream\r\n"
                                             "Content-Transfer-Encoding: binary\r\n\r\n"),
                     0);
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < 256; c++)
            assert_int_equal(edm_buf_append_char(&in, (char)c), 0);
    assert_int_equal(edm_buf_append_str(&in, "\r\n--x--\r\n"), 0);

    char err[160];
    assert_int_equal(edm_mime_downgrade(&out, in.data, in.len, err, sizeof err), 0);
    assert_false(has8(out.data, out.len));
    /* The attachment decodes in C too: base64 lines of 76. */
    const char *b64 = strstr(out.data, "Content-Transfer-Encoding: base64\r\n\r\n");
    assert_non_null(b64);
    b64 += strlen("Content-Transfer-Encoding: base64\r\n\r\n");
    const char *b64end = strstr(b64, "\r\n--x--");
    assert_non_null(b64end);
    assert_int_equal(b64[76], '\r');
    edm_buf bin = EDM_BUF_INIT;
    assert_int_equal(edm_base64_decode(&bin, b64, (size_t)(b64end - b64)), 0);
    assert_int_equal(bin.len, 3 * 256);
    for (size_t i = 0; i < bin.len; i++)
        assert_int_equal((unsigned char)bin.data[i], i % 256);
    edm_buf_free(&bin);

    char a[4300], b[4300], cmd[12000];
    snprintf(a, sizeof a, "%s/in.eml", dir);
    snprintf(b, sizeof b, "%s/out.eml", dir);
    assert_int_equal(edm_test_write_file(a, in.data, in.len), 0);
    assert_int_equal(edm_test_write_file(b, out.data, out.len), 0);
    snprintf(
        cmd, sizeof cmd,
        "/usr/bin/python3 -c 'import email, email.policy, sys\n"
        "def parts(p):\n"
        "    m = email.message_from_bytes(open(p, \"rb\").read(), policy=email.policy.default)\n"
        "    return m, [(x.get_content_type(), x.get_payload(decode=True))\n"
        "               for x in m.walk() if not x.is_multipart()]\n"
        "a, pa = parts(sys.argv[1])\n"
        "b, pb = parts(sys.argv[2])\n"
        "bad = [x.defects for x in b.walk() if x.defects]\n"
        "print(\"parts\", len(pb), \"same\", pa == pb, \"defects\", bad)\n"
        "encs = [str(x[\"content-transfer-encoding\"]) for x in b.walk() if not x.is_multipart()]\n"
        "print(\"encodings\", encs)\n"
        "body = open(sys.argv[2], \"rb\").read().split(b\"\\r\\n\\r\\n\", 1)[1]\n"
        "lines = [l for l in body.split(b\"\\r\\n\") if not l.startswith(b\"Content-\")]\n"
        "print(\"longest\", max(len(l) for l in lines))' %s %s",
        a, b);
    char *py = NULL;
    assert_int_equal(edm_test_run(cmd, &py), 0);
    if (strstr(py, "parts 2 same True defects []\n") == NULL ||
        strstr(py, "encodings ['quoted-printable', 'base64']\n") == NULL ||
        strstr(py, "longest 76\n") == NULL)
        fail_msg("python email:\n%s", py);
    free(py);
    edm_buf_free(&in);
    edm_buf_free(&out);
    edm_test_rmtree(dir);
    free(dir);
}

static void alloc_failures(void **state)
{
    (void)state;
    const char *in = "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                     "--b\r\n\r\nü\r\n--b\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--b--\r\n";
    edm_buf want = EDM_BUF_INIT;
    char err[160];
    assert_int_equal(edm_mime_downgrade(&want, in, strlen(in), err, sizeof err), 0);
    for (long k = 0;; k++) {
        edm_buf out = EDM_BUF_INIT;
        edm_alloc_fail_after(k);
        int rc = edm_mime_downgrade(&out, in, strlen(in), err, sizeof err);
        edm_alloc_fail_after(-1);
        if (rc == 0) {
            assert_int_equal(out.len, want.len);
            assert_memory_equal(out.data, want.data, want.len);
            edm_buf_free(&out);
            break;
        }
        assert_int_equal(rc, EDM_ENOMEM);
        assert_int_equal(out.len, 0);
        edm_buf_free(&out);
    }
    edm_buf_free(&want);
}

/* edm_message_build_raw (message_raw.c): as stored with allow_8bit and
 * flagged 8bit; converted and not flagged without; refused with the
 * reason when it cannot be converted, nothing appended. */
static void build_raw_converts(void **state)
{
    (void)state;
    static const char raw[] = "From: a@example.com\r\nMessage-ID: <m.1@example.com>\r\n"
                              "MIME-Version: 1.0\r\n"
                              "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                              "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                              "Grüße\r\n--b\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n"
                              "--b--\r\n";
    static const unsigned char secret[32] = "a secret of 32 bytes for VERP..";
    edm_message_ctx c = {.from_addr = "a@example.com", .secret = secret, .secret_len = 32};
    edm_message_worker w;
    assert_int_equal(edm_message_worker_init(&w), 0);
    edm_buf out = EDM_BUF_INIT, want = EDM_BUF_INIT;
    char *sender = NULL, msgid[256], err[256];
    int is_8bit = -1;
    assert_int_equal(edm_message_build_raw(&w, &c, 7, raw, sizeof raw - 1, 1700000000, 1, &out,
                                           &sender, msgid, &is_8bit, err, sizeof err),
                     0);
    assert_int_equal(is_8bit, 1);
    assert_int_equal(out.len, sizeof raw - 1);
    assert_memory_equal(out.data, raw, out.len);
    assert_string_equal(msgid, "m.1@example.com");
    assert_non_null(sender);
    edm_free(sender);
    edm_buf_reset(&out);

    assert_int_equal(edm_message_build_raw(&w, &c, 7, raw, sizeof raw - 1, 1700000000, 0, &out,
                                           &sender, msgid, &is_8bit, err, sizeof err),
                     0);
    assert_int_equal(is_8bit, 0);
    assert_int_equal(edm_mime_downgrade(&want, raw, sizeof raw - 1, err, sizeof err), 0);
    assert_int_equal(out.len, want.len);
    assert_memory_equal(out.data, want.data, want.len);
    assert_false(has8(out.data, out.len));
    assert_non_null(strstr(want.data, "\r\n\r\nGr=C3=BC=C3=9Fe\r\n--b\r\n"));
    assert_non_null(strstr(want.data, "\r\n\r\niVBORw==\r\n--b--\r\n"));
    edm_free(sender);
    edm_buf_reset(&out);

    /* Cannot be made 7bit: one after a part was converted, one at once. */
    static const char *const bad[] = {
        "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\n\r\nü\r\n--b--\r\népilogue\r\n",
        "From: a@example.com\r\nSubject: Grüße\r\n\r\nGrüße\r\n",
    };
    static const char *const why[] = {"epilogue", "SMTPUTF8"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(edm_buf_append_str(&out, "kept"), 0);
        sender = NULL;
        assert_int_equal(edm_message_build_raw(&w, &c, 7, bad[i], strlen(bad[i]), 1700000000, 0,
                                               &out, &sender, msgid, &is_8bit, err, sizeof err),
                         EDM_EINVAL);
        assert_non_null(strstr(err, "an 8bit message and a server without 8BITMIME: "));
        assert_non_null(strstr(err, why[i]));
        assert_null(sender);
        assert_int_equal(out.len, 4);
        edm_buf_reset(&out);
    }
    edm_buf_free(&out);
    edm_buf_free(&want);
    edm_message_worker_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_part_text),           cmocka_unit_test(multipart_text_and_binary),
        cmocka_unit_test(nested_multipart),           cmocka_unit_test(part_without_fields),
        cmocka_unit_test(message_rfc822_walked),      cmocka_unit_test(seven_bit_untouched),
        cmocka_unit_test(qp_break_before_a_boundary), cmocka_unit_test(refusals),
        cmocka_unit_test(round_trip_python),          cmocka_unit_test(alloc_failures),
        cmocka_unit_test(build_raw_converts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
