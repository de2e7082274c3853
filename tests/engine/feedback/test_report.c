/*
 * tests/engine/feedback/test_report.c: the DSN and ARF parser
 * (engine/feedback/report.c, report_text.c) over the samples in
 * tests/engine/feedback/samples/: RFC 3464 reports as Postfix and Gmail
 * write them, the plain-text forms of Exim, qmail, Exchange, Gmail, Yahoo,
 * Sendmail (failure and delay warning) and Postfix (its text alone),
 * ARF as RFC 5965's example, Yahoo (base64, CRLF) and Microsoft JMRP send
 * them, and a message that is neither. Each case checks every field the
 * processor uses. Placeholders XBTOKENX, XUTOKENX and XMSGIDX stand where
 * a real report carries edm's tokens and Message-ID.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/feedback/report.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct want {
    const char *file;
    enum fb_kind kind;
    const char *form;
    enum fb_action action;
    const char *status;
    int code;
    const char *diag_has; /* substring of the diagnostic */
    const char *rcpt;
    const char *message_id;
    const char *bounce_token; /* first one, or NULL: none */
    const char *unsub_token;
    const char *feedback_type;
};

static const struct want cases[] = {
    {"postfix_failed.eml", FB_KIND_DSN, "rfc3464", FB_ACTION_FAILED, "5.1.1", 0, "user unknown",
     "nobody@example.org", "XMSGIDX", "xbtokenx", "xutokenx", ""},
    {"remote_550_multi.eml", FB_KIND_DSN, "rfc3464", FB_ACTION_FAILED, "5.1.1", 550,
     "550-5.1.1 The email account that you tried to reach does not exist. Please try",
     "nobody@example.org", "XMSGIDX", "xbtokenx", NULL, ""},
    {"postfix_delayed.eml", FB_KIND_DSN, "rfc3464", FB_ACTION_DELAYED, "4.4.1", 0,
     "Connection refused", "slow@example.org", "XMSGIDX", "xbtokenx", NULL, ""},
    {"exim_failed.eml", FB_KIND_DSN, "exim", FB_ACTION_FAILED, "5.1.1", 550,
     "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown",
     "nobody@example.org", "XMSGIDX", "xbtokenx", NULL, ""},
    {"exim_delayed.eml", FB_KIND_DSN, "exim", FB_ACTION_DELAYED, "4.3.0", 451,
     "451 4.3.0 Temporary lookup failure", "slow@example.org", "", "xbtokenx", NULL, ""},
    {"qmail_failed.eml", FB_KIND_DSN, "qmail", FB_ACTION_FAILED, "5.1.1", 550,
     "550 5.1.1 <nobody@example.org>... User unknown", "nobody@example.org", "XMSGIDX", "xbtokenx",
     NULL, ""},
    {"qmail_nocode.eml", FB_KIND_DSN, "qmail", FB_ACTION_FAILED, "5.1.1", 0,
     "Sorry, no mailbox here by that name. (#5.1.1)", "nobody@example.org", "", "xbtokenx", NULL,
     ""},
    {"exchange_failed.eml", FB_KIND_DSN, "exchange", FB_ACTION_FAILED, "5.1.1", 550,
     "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "nobody@example.org", "XMSGIDX", "xbtokenx",
     NULL, ""},
    {"gmail_failed.eml", FB_KIND_DSN, "gmail", FB_ACTION_FAILED, "5.1.1", 550,
     "550 5.1.1 unnecessary spaces.", "nobody@example.org", "XMSGIDX", "xbtokenx", NULL, ""},
    {"yahoo_failed.eml", FB_KIND_DSN, "yahoo", FB_ACTION_FAILED, "5.0.0", 554,
     "554: delivery error: dd This user doesn't have a yahoo.com account", "nobody@example.org",
     "XMSGIDX", "xbtokenx", NULL, ""},
    {"sendmail_failed.eml", FB_KIND_DSN, "sendmail", FB_ACTION_FAILED, "5.1.1", 550,
     "550 5.1.1 <nobody@example.org>... User unknown", "nobody@example.org", "XMSGIDX", "xbtokenx",
     NULL, ""},
    {"sendmail_delayed.eml", FB_KIND_DSN, "sendmail", FB_ACTION_DELAYED, "4.0.0", 0, "Deferred",
     "slow@example.org", "XMSGIDX", "xbtokenx", NULL, ""},
    {"postfix_text_failed.eml", FB_KIND_DSN, "postfix", FB_ACTION_FAILED, "5.1.1", 550, "550 5.1.1",
     "nobody@example.org", "XMSGIDX", "xbtokenx", NULL, ""},
    {"arf_rfc5965.eml", FB_KIND_ARF, "arf", FB_ACTION_NONE, NULL, 0, NULL, NULL,
     "8787KJKJ3K4J3K4J3K4J3.mail@example.net", NULL, NULL, "abuse"},
    {"arf_yahoo_base64.eml", FB_KIND_ARF, "arf", FB_ACTION_NONE, NULL, 0, NULL, NULL, "XMSGIDX",
     "xbtokenx", "xutokenx", "abuse"},
    {"arf_jmrp.eml", FB_KIND_ARF, "arf", FB_ACTION_NONE, NULL, 0, NULL, NULL, "XMSGIDX", NULL, NULL,
     "abuse"},
    {"autoreply.eml", FB_KIND_NONE, "", FB_ACTION_NONE, NULL, 0, NULL, NULL, "", "xbtokenx", NULL,
     ""},
};

static char *sample(const char *file, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/engine/feedback/samples/%s", file);
    char *d = edm_test_read_file(edm_test_src(rel), len);
    if (d == NULL)
        fail_msg("cannot read %s", rel);
    return d;
}

static void test_samples(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct want *w = &cases[i];
        size_t len;
        char *msg = sample(w->file, &len);
        fb_report r;
        assert_int_equal(fb_parse(msg, len, &r), 0);
        printf("%s: kind=%d form=%s n=%zu\n", w->file, r.kind, r.form, r.nrcpts);
        assert_int_equal(r.kind, w->kind);
        assert_string_equal(r.form, w->form);
        if (w->rcpt) {
            assert_int_equal(r.nrcpts, 1);
            printf("  action=%s status=%s code=%d diag=[%s]\n", fb_action_name(r.rcpts[0].action),
                   r.rcpts[0].status, r.rcpts[0].code, r.rcpts[0].diagnostic);
            assert_int_equal(r.rcpts[0].action, w->action);
            assert_string_equal(r.rcpts[0].status, w->status);
            assert_int_equal(r.rcpts[0].code, w->code);
            assert_non_null(strstr(r.rcpts[0].diagnostic, w->diag_has));
            assert_string_equal(r.rcpts[0].final_rcpt, w->rcpt);
        } else {
            assert_int_equal(r.nrcpts, 0);
        }
        assert_string_equal(r.message_id, w->message_id);
        if (w->bounce_token) {
            assert_int_equal(r.nbounce, 1);
            assert_string_equal(r.bounce_tokens[0], w->bounce_token);
        } else {
            assert_int_equal(r.nbounce, 0);
        }
        if (w->unsub_token) {
            assert_int_equal(r.nunsub, 1);
            assert_string_equal(r.unsub_tokens[0], w->unsub_token);
        } else {
            assert_int_equal(r.nunsub, 0);
        }
        assert_string_equal(r.feedback_type, w->feedback_type);
        free(msg);
    }
}

/* RFC 5965's example names the reporter's view of the recipient. */
static void test_arf_fields(void **state)
{
    (void)state;
    size_t len;
    char *msg = sample("arf_rfc5965.eml", &len);
    fb_report r;
    assert_int_equal(fb_parse(msg, len, &r), 0);
    assert_string_equal(r.arf_rcpt, "user@example.com");
    assert_string_equal(r.arf_mail_from, "somespammer@example.net");
    free(msg);
}

/* Two recipients in one DSN, tokens in mixed case (case-folded on the way
 * back), and a token too long to be edm's is not collected. */
static void test_two_recipients_and_tokens(void **state)
{
    (void)state;
    const char *msg = "To: BOUNCES+1F-ABCDEFGHABCDEFGH@b.example\n"
                      "Content-Type: multipart/report; report-type=delivery-status; boundary=x\n"
                      "\n--x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; m\n\n"
                      "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.2.2\n"
                      "Diagnostic-Code: smtp; 552 5.2.2 mailbox full\n\n"
                      "Final-Recipient: rfc822;<b@example.org>\nAction: delayed\nStatus: 4.2.2\n"
                      "\n--x\nContent-Type: text/plain\n\n"
                      "bounces+0123456789abcdef0123456789abcdef0123456789@x.example\n--x--\n";
    fb_report r;
    assert_int_equal(fb_parse(msg, strlen(msg), &r), 0);
    assert_int_equal(r.kind, FB_KIND_DSN);
    assert_int_equal(r.nrcpts, 2);
    assert_string_equal(r.rcpts[0].final_rcpt, "a@example.org");
    assert_int_equal(r.rcpts[0].code, 552);
    assert_string_equal(r.rcpts[1].final_rcpt, "b@example.org");
    assert_int_equal(r.rcpts[1].action, FB_ACTION_DELAYED);
    assert_string_equal(r.rcpts[1].status, "4.2.2");
    assert_int_equal(r.nbounce, 1);
    assert_string_equal(r.bounce_tokens[0], "1f-abcdefghabcdefgh");
}

/* Truncated and empty input: no crash, nothing recognised. */
static void test_truncated(void **state)
{
    (void)state;
    size_t len;
    char *msg = sample("postfix_failed.eml", &len);
    for (size_t cut = 0; cut < len; cut += 7) {
        fb_report r;
        assert_int_equal(fb_parse(msg, cut, &r), 0);
        assert_true(r.nrcpts <= FB_MAX_RCPTS);
    }
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_arf_fields),
        cmocka_unit_test(test_two_recipients_and_tokens),
        cmocka_unit_test(test_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
