/*
 * tests/engine/delivery/test_classify.c: reply and failure classification
 * (engine/delivery/classify.c), one table with real-world replies (Gmail,
 * Microsoft, Yahoo, Postfix), and the outcome-level entry points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/delivery/classify.h"
#include "engine/store/store.h"
#include "tests/engine/delivery/classify_replies.h"

#include <string.h>

#define D EDM_DSTATE_DELIVERED
#define F EDM_DSTATE_DEFERRED
#define B EDM_DSTATE_BOUNCED

static void replies(void **state)
{
    (void)state;
    static const struct {
        enum edm_smtp_step step;
        int code;
        const char *enh, *text;
        enum edm_dstate st;
        enum edm_category cat;
    } cases[] = {
        {EDM_STEP_DATA_END, 250, "2.0.0", "OK 1700000000 x - gsmtp", D, EDM_CATEGORY_NONE},
        {EDM_STEP_RCPT, 550, "5.1.1", "The email account that you tried to reach does not exist", B,
         EDM_CATEGORY_BAD_MAILBOX},
        {EDM_STEP_RCPT, 550, "", "Requested action not taken: mailbox unavailable", B,
         EDM_CATEGORY_BAD_MAILBOX},
        {EDM_STEP_RCPT, 550, "", "", B, EDM_CATEGORY_BAD_MAILBOX},
        {EDM_STEP_MAIL, 550, "", "", B, EDM_CATEGORY_POLICY},
        {EDM_STEP_RCPT, 452, "4.2.2", "The email account that you tried to reach is over quota", F,
         EDM_CATEGORY_MAILBOX_FULL},
        {EDM_STEP_DATA_END, 552, "5.2.2", "Mailbox full", B, EDM_CATEGORY_MAILBOX_FULL},
        {EDM_STEP_DATA_END, 552, "", "Requested mail action aborted: exceeded storage allocation",
         B, EDM_CATEGORY_MAILBOX_FULL},
        {EDM_STEP_DATA_END, 550, "5.7.1",
         "Our system has detected that this message is likely unsolicited mail. To reduce the "
         "amount of spam",
         B, EDM_CATEGORY_SPAM_BLOCK},
        {EDM_STEP_RCPT, 554, "5.7.1",
         "Service unavailable; Client host [1.2.3.4] blocked using zen.spamhaus.org", B,
         EDM_CATEGORY_SPAM_BLOCK},
        {EDM_STEP_RCPT, 550, "5.7.1", "Relaying denied", B, EDM_CATEGORY_POLICY},
        {EDM_STEP_MAIL, 421, "4.7.0",
         "[1.2.3.4] Our system has detected an unusual rate of unsolicited mail", F,
         EDM_CATEGORY_SPAM_BLOCK},
        {EDM_STEP_MAIL, 421, "4.7.28", "Gmail has detected an unusual rate of mail", F,
         EDM_CATEGORY_RATE_LIMITED},
        {EDM_STEP_GREETING, 421, "", "Service not available, closing transmission channel", F,
         EDM_CATEGORY_RATE_LIMITED},
        {EDM_STEP_RCPT, 451, "4.7.1", "Too many messages, slow down", F, EDM_CATEGORY_RATE_LIMITED},
        {EDM_STEP_RCPT, 450, "4.7.1", "Greylisted, see http://postgrey", F, EDM_CATEGORY_POLICY},
        {EDM_STEP_RCPT, 451, "4.3.0", "Temporary lookup failure", F, EDM_CATEGORY_OTHER},
        {EDM_STEP_RCPT, 550, "5.1.2", "Host unknown", B, EDM_CATEGORY_BAD_DOMAIN},
        {EDM_STEP_RCPT, 556, "5.1.10", "Recipient address has null MX", B, EDM_CATEGORY_BAD_DOMAIN},
        {EDM_STEP_RCPT, 554, "5.4.4", "Unable to route", B, EDM_CATEGORY_BAD_DOMAIN},
        {EDM_STEP_DATA_END, 554, "5.3.4", "Message too big for system", B, EDM_CATEGORY_POLICY},
        {EDM_STEP_GREETING, 554, "", "No SMTP service here", F, EDM_CATEGORY_POLICY},
        {EDM_STEP_HELO, 501, "5.5.2", "Syntax error", F, EDM_CATEGORY_PROTOCOL},
        {EDM_STEP_DATA, 503, "", "Bad sequence of commands", B, EDM_CATEGORY_PROTOCOL},
        {EDM_STEP_AUTH, 535, "5.7.8", "Authentication credentials invalid", F, EDM_CATEGORY_AUTH},
        {EDM_STEP_AUTH, 454, "4.7.0", "Temporary authentication failure", F, EDM_CATEGORY_AUTH},
        {EDM_STEP_AUTH, 421, "4.7.0", "Too many connections, slow down", F,
         EDM_CATEGORY_RATE_LIMITED},
        {EDM_STEP_RCPT, 550, "5.2.1", "The email account that you tried to reach is disabled", B,
         EDM_CATEGORY_BAD_MAILBOX},
        {EDM_STEP_RCPT, 450, "", "mailbox busy", F, EDM_CATEGORY_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        classify_result r =
            classify_reply(cases[i].step, cases[i].code, cases[i].enh, cases[i].text);
        if (r.status != cases[i].st || r.category != cases[i].cat)
            fail_msg("case %zu (%d %s %s): got %s/%s, want %s/%s", i, cases[i].code, cases[i].enh,
                     cases[i].text, edm_dstate_name(r.status), edm_category_name(r.category),
                     edm_dstate_name(cases[i].st), edm_category_name(cases[i].cat));
    }
}

/* Every row of the table of real replies (classify_replies.h, each with
 * its source); all mismatches are listed before the test fails. */
static void real_replies(void **state)
{
    (void)state;
    size_t n = sizeof reply_cases / sizeof reply_cases[0];
    assert_true(n >= 100);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct reply_case *c = &reply_cases[i];
        classify_result r = classify_reply(c->step, c->code, c->enh, c->text);
        if (r.status != c->st || r.category != c->cat) {
            print_error("row %zu (%d %s %s): got %s/%s, want %s/%s\n", i, c->code, c->enh, c->text,
                        edm_dstate_name(r.status), edm_category_name(r.category),
                        edm_dstate_name(c->st), edm_category_name(c->cat));
            bad++;
        }
    }
    if (bad)
        fail_msg("%d of %zu real replies misclassified", bad, n);
}

static void failures(void **state)
{
    (void)state;
    static const struct {
        enum edm_failure f;
        enum edm_dstate st;
        const char *cat;
    } cases[] = {
        {EDM_FAIL_NETWORK, F, "network"},
        {EDM_FAIL_TIMEOUT, F, "network"},
        {EDM_FAIL_TLS, F, "tls"},
        {EDM_FAIL_PROTOCOL, F, "protocol"},
        {EDM_FAIL_DNS_TEMP, F, "dns"},
        {EDM_FAIL_NXDOMAIN, B, "bad_domain"},
        {EDM_FAIL_NULL_MX, B, "bad_domain"},
        {EDM_FAIL_NO_ADDRESS, F, "dns"},
        {EDM_FAIL_LOCAL, B, "policy"},
        {EDM_FAIL_AUTH, F, "auth"},
        {EDM_FAIL_BACKOFF, F, "rate_limited"},
        {EDM_FAIL_NO_POOL, F, "other"},
        {EDM_FAIL_NEEDS_7BIT, F, "protocol"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        classify_result r = classify_failure(cases[i].f);
        assert_int_equal(r.status, cases[i].st);
        assert_string_equal(edm_category_name(r.category), cases[i].cat);
    }
    assert_string_equal(edm_dstate_name(EDM_DSTATE_BOUNCED), "bounced");
}

/* classify_outcome reads the facts of an outcome: a reply at its step, or
 * the failure kind (which wins over any code); classify_expire keeps them. */
static void outcomes(void **state)
{
    (void)state;
    edm_outcome o;
    memset(&o, 0, sizeof o);
    o.step = EDM_STEP_RCPT;
    o.code = 550;
    EDM_OUTCOME_PUT(o.enhanced, "5.1.1");
    EDM_OUTCOME_PUT(o.text, "User unknown");
    classify_outcome(&o);
    assert_int_equal(o.status, EDM_DSTATE_BOUNCED);
    assert_string_equal(edm_category_name(o.category), "bad_mailbox");

    o.step = EDM_STEP_MAIL; /* a 5xx at MAIL FROM is not about the mailbox */
    o.enhanced[0] = '\0';
    o.text[0] = '\0';
    classify_outcome(&o);
    assert_int_equal(o.status, EDM_DSTATE_BOUNCED);
    assert_string_equal(edm_category_name(o.category), "policy");

    o.failure = EDM_FAIL_TIMEOUT;
    classify_outcome(&o);
    assert_int_equal(o.status, EDM_DSTATE_DEFERRED);
    assert_string_equal(edm_category_name(o.category), "network");

    classify_expire(&o);
    assert_int_equal(o.status, EDM_DSTATE_BOUNCED);
    assert_string_equal(edm_category_name(o.category), "expired");
    assert_int_equal(o.code, 550);

    memset(&o, 0, sizeof o);
    o.step = EDM_STEP_DATA_END;
    o.code = 250;
    classify_outcome(&o);
    assert_int_equal(o.status, EDM_DSTATE_DELIVERED);
    assert_int_equal(o.category, EDM_CATEGORY_NONE);
    assert_string_equal(edm_category_name(o.category), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replies),
        cmocka_unit_test(real_replies),
        cmocka_unit_test(failures),
        cmocka_unit_test(outcomes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
