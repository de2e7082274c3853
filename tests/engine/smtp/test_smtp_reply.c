/*
 * tests/engine/smtp/test_smtp_reply.c: the SMTP reply parser, table-driven:
 * single and multi-line replies, enhanced codes, partial input, pipelined
 * replies back to back, malformed and over-long lines; queue id parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/smtp/smtp_ehlo.h"
#include "engine/smtp/smtp_reply.h"

#include <string.h>

static void parses_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        long rc; /* bytes used, 0 more needed, or EDM_E* */
        int code;
        const char *enh;
        const char *text;
        int nlines;
    } cases[] = {
        {"250 OK\r\n", 8, 250, "", "OK", 1},
        {"250 2.1.0 Ok\r\n", 14, 250, "2.1.0", "Ok", 1},
        {"250\r\n", 5, 250, "", "", 1},
        {"220 mx ESMTP\n", 13, 220, "", "mx ESMTP", 1},
        {"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", 44, 250, "",
         "mx.test\nPIPELINING\nSIZE 1000", 3},
        {"550-5.1.1 one\r\n550 5.1.1 two\r\n", 30, 550, "5.1.1", "one\ntwo", 2},
        {"451 4.7.650 The mail server [1.2.3.4] has been temporarily rate limited\r\n", 73, 451,
         "4.7.650", "The mail server [1.2.3.4] has been temporarily rate limited", 1},
        {"550 4.1.1 class mismatch keeps text\r\n", 37, 550, "", "4.1.1 class mismatch keeps text",
         1},
        {"250 2.0.0Ok\r\n", 13, 250, "", "2.0.0Ok", 1},
        {"250 OK\r\n354 go\r\n", 8, 250, "", "OK", 1},
        {"250-first\r\n250 sec", 0, 0, "", "", 0},
        {"25", 0, 0, "", "", 0},
        {"", 0, 0, "", "", 0},
        {"hello\r\n", EDM_EPROTO, 0, "", "", 0},
        {"hel", EDM_EPROTO, 0, "", "", 0},
        {"199 x\r\n", EDM_EPROTO, 0, "", "", 0},
        {"600 x\r\n", EDM_EPROTO, 0, "", "", 0},
        {"250x\r\n", EDM_EPROTO, 0, "", "", 0},
        {"25\r\n", EDM_EPROTO, 0, "", "", 0},
        {"250-a\r\n251 b\r\n", EDM_EPROTO, 0, "", "", 0},
        {"250 a\rb\r\n", EDM_EPROTO, 0, "", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        smtp_reply r;
        smtp_reply_init(&r);
        long rc = smtp_reply_parse(&r, cases[i].in, strlen(cases[i].in));
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %ld, want %ld", i, cases[i].in, rc, cases[i].rc);
        if (rc > 0) {
            assert_int_equal(r.code, cases[i].code);
            assert_string_equal(r.enhanced, cases[i].enh);
            assert_string_equal(edm_buf_cstr(&r.text), cases[i].text);
            assert_int_equal(r.nlines, cases[i].nlines);
        }
        smtp_reply_free(&r);
    }
}

static void limits(void **state)
{
    (void)state;
    char line[SMTP_REPLY_LINE_MAX + 8];
    smtp_reply r;
    smtp_reply_init(&r);
    /* Exactly 512 bytes with CRLF: accepted. */
    memset(line, 'a', sizeof line);
    memcpy(line, "250 ", 4);
    memcpy(line + SMTP_REPLY_LINE_MAX - 2, "\r\n", 2);
    assert_int_equal(smtp_reply_parse(&r, line, SMTP_REPLY_LINE_MAX), SMTP_REPLY_LINE_MAX);
    /* One more byte: over the limit, with or without the line end seen. */
    memset(line, 'a', sizeof line);
    memcpy(line, "250 ", 4);
    memcpy(line + SMTP_REPLY_LINE_MAX - 1, "\r\n", 2);
    assert_int_equal(smtp_reply_parse(&r, line, SMTP_REPLY_LINE_MAX + 1), EDM_ETOOBIG);
    assert_int_equal(smtp_reply_parse(&r, line, SMTP_REPLY_LINE_MAX - 1), 0);
    /* Too many lines. */
    edm_buf b = EDM_BUF_INIT;
    for (int i = 0; i < SMTP_REPLY_LINES_MAX; i++)
        edm_buf_append_str(&b, "250-x\r\n");
    edm_buf_append_str(&b, "250 x\r\n");
    assert_int_equal(smtp_reply_parse(&r, b.data, b.len), EDM_ETOOBIG);
    edm_buf_free(&b);
    smtp_reply_free(&r);
}

static void queue_ids(void **state)
{
    (void)state;
    static const struct {
        const char *text, *id;
    } cases[] = {
        {"Ok: queued as 4Xk2Lm0zZ7z9sWq", "4Xk2Lm0zZ7z9sWq"},
        {"OK id=1t2Xyz-000Abc-7Q", "1t2Xyz-000Abc-7Q"},
        {"OK  1700000000 a1si123456pfb.234 - gsmtp", "a1si123456pfb.234"},
        {"Ok: queued as ABC.", "ABC"},
        /* OpenSMTPD smtp_session.c: "250 2.0.0 %08x Message accepted for delivery" */
        {"6f86798f Message accepted for delivery", "6f86798f"},
        /* Sendmail srvrsmtp.c: "250 2.0.0 %s Message accepted for delivery" */
        {"3A1B2C3D004567 Message accepted for delivery", "3A1B2C3D004567"},
        /* OpenSMTPD 6.x: "250 %s: %08x Message accepted for delivery" (no enhanced code
         * parsed: it is followed by a colon) */
        {"2.0.0: 6f86798f Message accepted for delivery", "6f86798f"},
        {"Ok Message accepted for delivery", ""},
        {"<x> Message accepted for delivery", ""},
        /* Exchange / Exchange Online (outlook.com) */
        {"<a1b2@EX1.contoso.com> [InternalId=12884901890, Hostname=AM0PR01MB1234.eurprd01.prod."
         "exchangelabs.com] 4567 bytes in 0.123, 36.2 KB/sec Queued mail for delivery",
         "12884901890"},
        /* Exchange's documented telnet test: "250 2.6.0 <GUID> Queued mail for delivery" */
        {"<SNT0-MC3-F1964xSNUX00142e45@SNT0-MC3-F19.Snt0.hotmail.com>\nQueued mail for delivery",
         "SNT0-MC3-F1964xSNUX00142e45@SNT0-MC3-F19.Snt0.hotmail.com"},
        /* qmail-smtpd.c: "250 ok %lu qp %lu" */
        {"ok 1700000000 qp 12345", "12345"},
        {"Ok", ""},
        {"Message accepted for delivery", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[72];
        assert_string_equal(smtp_reply_queue_id(cases[i].text, out, sizeof out), cases[i].id);
    }
}

static void ehlo_capabilities(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        unsigned caps;
        unsigned long size;
    } cases[] = {
        {"mx.test\nPIPELINING\nSIZE 10240000\nSTARTTLS\n8BITMIME\nENHANCEDSTATUSCODES\n"
         "SMTPUTF8\nCHUNKING\nAUTH PLAIN LOGIN",
         SMTP_CAP_PIPELINING | SMTP_CAP_SIZE | SMTP_CAP_STARTTLS | SMTP_CAP_8BITMIME |
             SMTP_CAP_ENHANCED | SMTP_CAP_SMTPUTF8 | SMTP_CAP_CHUNKING | SMTP_CAP_AUTH_PLAIN |
             SMTP_CAP_AUTH_LOGIN,
         10240000},
        {"mx.test says hi", 0, 0},
        {"mx.test\npipelining\nsize\nAUTH=LOGIN",
         SMTP_CAP_PIPELINING | SMTP_CAP_SIZE | SMTP_CAP_AUTH_LOGIN, 0},
        {"mx.test\nAUTH CRAM-MD5 XOAUTH2\nX-EXPS GSSAPI\nDSN", 0, 0},
        {"PIPELINING", 0, 0}, /* the first line is the server's name */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned long size = 99;
        assert_int_equal(smtp_ehlo_parse(cases[i].text, &size), cases[i].caps);
        assert_int_equal(size, cases[i].size);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_table),
        cmocka_unit_test(limits),
        cmocka_unit_test(queue_ids),
        cmocka_unit_test(ehlo_capabilities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
