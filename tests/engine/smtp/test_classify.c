/*
 * tests/engine/smtp/test_classify.c: reply and failure classification, one
 * table with real-world replies (Gmail, Microsoft, Yahoo, Postfix).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/smtp/classify.h"

#include <string.h>

#define D CLASSIFY_DELIVERED
#define F CLASSIFY_DEFERRED
#define B CLASSIFY_BOUNCED

static void replies(void **state)
{
    (void)state;
    static const struct {
        enum classify_stage stage;
        int code;
        const char *enh, *text;
        enum classify_status st;
        enum classify_category cat;
    } cases[] = {
        {CLASSIFY_AT_DATA_END, 250, "2.0.0", "OK 1700000000 x - gsmtp", D, CLASSIFY_NONE},
        {CLASSIFY_AT_RCPT, 550, "5.1.1", "The email account that you tried to reach does not exist",
         B, CLASSIFY_BAD_MAILBOX},
        {CLASSIFY_AT_RCPT, 550, "", "Requested action not taken: mailbox unavailable", B,
         CLASSIFY_BAD_MAILBOX},
        {CLASSIFY_AT_RCPT, 550, "", "", B, CLASSIFY_BAD_MAILBOX},
        {CLASSIFY_AT_MAIL, 550, "", "", B, CLASSIFY_POLICY},
        {CLASSIFY_AT_RCPT, 452, "4.2.2", "The email account that you tried to reach is over quota",
         F, CLASSIFY_MAILBOX_FULL},
        {CLASSIFY_AT_DATA_END, 552, "5.2.2", "Mailbox full", B, CLASSIFY_MAILBOX_FULL},
        {CLASSIFY_AT_DATA_END, 552, "",
         "Requested mail action aborted: exceeded storage allocation", B, CLASSIFY_MAILBOX_FULL},
        {CLASSIFY_AT_DATA_END, 550, "5.7.1",
         "Our system has detected that this message is likely unsolicited mail. To reduce the "
         "amount of spam",
         B, CLASSIFY_SPAM_BLOCK},
        {CLASSIFY_AT_RCPT, 554, "5.7.1",
         "Service unavailable; Client host [1.2.3.4] blocked using zen.spamhaus.org", B,
         CLASSIFY_SPAM_BLOCK},
        {CLASSIFY_AT_RCPT, 550, "5.7.1", "Relaying denied", B, CLASSIFY_POLICY},
        {CLASSIFY_AT_MAIL, 421, "4.7.0",
         "[1.2.3.4] Our system has detected an unusual rate of unsolicited mail", F,
         CLASSIFY_SPAM_BLOCK},
        {CLASSIFY_AT_MAIL, 421, "4.7.28", "Gmail has detected an unusual rate of mail", F,
         CLASSIFY_RATE_LIMITED},
        {CLASSIFY_AT_GREETING, 421, "", "Service not available, closing transmission channel", F,
         CLASSIFY_RATE_LIMITED},
        {CLASSIFY_AT_RCPT, 451, "4.7.1", "Too many messages, slow down", F, CLASSIFY_RATE_LIMITED},
        {CLASSIFY_AT_RCPT, 450, "4.7.1", "Greylisted, see http://postgrey", F, CLASSIFY_POLICY},
        {CLASSIFY_AT_RCPT, 451, "4.3.0", "Temporary lookup failure", F, CLASSIFY_OTHER},
        {CLASSIFY_AT_RCPT, 550, "5.1.2", "Host unknown", B, CLASSIFY_BAD_DOMAIN},
        {CLASSIFY_AT_RCPT, 556, "5.1.10", "Recipient address has null MX", B, CLASSIFY_BAD_DOMAIN},
        {CLASSIFY_AT_RCPT, 554, "5.4.4", "Unable to route", B, CLASSIFY_BAD_DOMAIN},
        {CLASSIFY_AT_DATA_END, 554, "5.3.4", "Message too big for system", B, CLASSIFY_POLICY},
        {CLASSIFY_AT_GREETING, 554, "", "No SMTP service here", F, CLASSIFY_POLICY},
        {CLASSIFY_AT_HELO, 501, "5.5.2", "Syntax error", F, CLASSIFY_PROTOCOL},
        {CLASSIFY_AT_DATA, 503, "", "Bad sequence of commands", B, CLASSIFY_PROTOCOL},
        {CLASSIFY_AT_AUTH, 535, "5.7.8", "Authentication credentials invalid", F, CLASSIFY_POLICY},
        {CLASSIFY_AT_RCPT, 550, "5.2.1", "The email account that you tried to reach is disabled", B,
         CLASSIFY_BAD_MAILBOX},
        {CLASSIFY_AT_RCPT, 450, "", "mailbox busy", F, CLASSIFY_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        classify_result r =
            classify_reply(cases[i].stage, cases[i].code, cases[i].enh, cases[i].text);
        if (r.status != cases[i].st || r.category != cases[i].cat)
            fail_msg("case %zu (%d %s %s): got %s/%s, want %s/%s", i, cases[i].code, cases[i].enh,
                     cases[i].text, classify_status_name(r.status),
                     classify_category_name(r.category), classify_status_name(cases[i].st),
                     classify_category_name(cases[i].cat));
    }
}

static void failures(void **state)
{
    (void)state;
    static const struct {
        enum classify_failure f;
        enum classify_status st;
        const char *cat;
    } cases[] = {
        {CLASSIFY_FAIL_NETWORK, F, "network"},
        {CLASSIFY_FAIL_TIMEOUT, F, "network"},
        {CLASSIFY_FAIL_TLS, F, "tls"},
        {CLASSIFY_FAIL_PROTOCOL, F, "protocol"},
        {CLASSIFY_FAIL_DNS_TEMP, F, "dns"},
        {CLASSIFY_FAIL_NXDOMAIN, B, "bad_domain"},
        {CLASSIFY_FAIL_NULL_MX, B, "bad_domain"},
        {CLASSIFY_FAIL_NO_ADDRESS, F, "dns"},
        {CLASSIFY_FAIL_EXPIRED, B, "expired"},
        {CLASSIFY_FAIL_LOCAL, B, "policy"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        classify_result r = classify_failure(cases[i].f);
        assert_int_equal(r.status, cases[i].st);
        assert_string_equal(classify_category_name(r.category), cases[i].cat);
    }
    assert_string_equal(classify_status_name(CLASSIFY_BOUNCED), "bounced");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replies),
        cmocka_unit_test(failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
