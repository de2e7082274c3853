/*
 * tests/engine/smtp/test_smtp_8bitmime.c: RFC 6152 in the SMTP client,
 * against the project's fake server with and without 8BITMIME in its EHLO
 * reply (and with EHLO refused, so HELO): an 8bit message (SMTP_MSG_8BITMIME)
 * goes with BODY=8BITMIME only to a server that offers it, and to one that
 * does not it is never sent (no MAIL FROM, no byte of it): its outcome is
 * the failure EDM_FAIL_NEEDS_7BIT (classified a deferral), whether it was
 * the first message (taken before EHLO) or a later one; 7bit messages on
 * the same connection go on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/log.h"
#include "tests/support/smtp_run.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ONE[] = {"a@x.test", NULL};

#define MSG_8BIT                                                                                   \
    "From: s@y.test\r\nTo: a@x.test\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\n"                     \
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"           \
    "Gr\xc3\xbc\xc3\x9f"                                                                           \
    "e aus K\xc3\xb6ln, \xe4\xbd\xa0\xe5\xa5\xbd\r\n"
#define MSG_7BIT                                                                                   \
    "From: s@y.test\r\nTo: a@x.test\r\nSubject: 7bit\r\nMIME-Version: 1.0\r\n"                     \
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nhello\r\n"

enum server { OFFERS_8BITMIME, LACKS_8BITMIME, HELO_ONLY };

/* Three messages on one connection: 8bit (the first, taken before EHLO),
 * 7bit, 8bit (taken after EHLO, pipelined behind the 7bit one). */
static void run_three(enum server kind, int pipelining)
{
    smtp_run r;
    run_init(&r);
    smtp_fake_config cfg = {0};
    cfg.ip = "127.0.0.1";
    cfg.no_8bitmime = kind != OFFERS_8BITMIME;
    cfg.no_ehlo = kind == HELO_ONLY;
    cfg.no_pipelining = !pipelining;
    smtp_fake *f = run_fake(&r, &cfg);
    size_t m0 = run_add(&r, "s@y.test", ONE, MSG_8BIT);
    size_t m1 = run_add(&r, "s@y.test", ONE, MSG_7BIT);
    size_t m2 = run_add(&r, "s@y.test", ONE, MSG_8BIT);
    r.msgs[m0].m.flags = SMTP_MSG_8BITMIME;
    r.msgs[m2].m.flags = SMTP_MSG_8BITMIME;
    smtp_target t = {"fake.test", "127.0.0.1"};
    smtp_options o = run_options(&t, 1, smtp_fake_port(f));
    run_session(&r, &o);
    run_loop(&r);

    assert_int_equal(r.done_calls, 3);
    assert_int_equal(r.closed_calls, 1);
    assert_int_equal(r.fail_seen, 0);
    assert_int_equal(smtp_fake_connections(f), 1);
    assert_int_equal(smtp_fake_pipelining_violations(f), 0);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(r.msgs[i].done, 1);
    const char *log = smtp_fake_log(f);
    char want[200];
    assert_int_equal(r.msgs[m1].status, EDM_DSTATE_DELIVERED);
    assert_int_equal(r.msgs[m1].needs_7bit, 0);
    if (kind == OFFERS_8BITMIME) {
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(r.msgs[i].status, EDM_DSTATE_DELIVERED);
            assert_int_equal(r.msgs[i].needs_7bit, 0);
        }
        snprintf(want, sizeof want, "MAIL FROM:<s@y.test> SIZE=%zu BODY=8BITMIME\n",
                 strlen(MSG_8BIT));
        const char *first = strstr(log, want);
        if (first == NULL || strstr(first + 1, want) == NULL)
            fail_msg("want two 8BITMIME transactions, log:\n%s", log);
        /* The 7bit message is not declared 8BITMIME. */
        snprintf(want, sizeof want, "MAIL FROM:<s@y.test> SIZE=%zu\n", strlen(MSG_7BIT));
        assert_non_null(strstr(log, want));
        assert_int_equal(smtp_fake_messages(f), 3);
        assert_string_equal(smtp_fake_message(f, 0)->data, MSG_8BIT);
        assert_string_equal(smtp_fake_message(f, 2)->data, MSG_8BIT);
    } else {
        for (size_t i = 0; i < 3; i += 2) {
            run_msg *m = &r.msgs[i];
            assert_int_equal(m->needs_7bit, 1);
            assert_int_equal(m->failure, EDM_FAIL_NEEDS_7BIT);
            assert_int_equal(m->rcpt[0].failure, EDM_FAIL_NEEDS_7BIT);
            assert_int_equal(m->status, EDM_DSTATE_DEFERRED);
            assert_int_equal(m->rcpt[0].status, EDM_DSTATE_DEFERRED);
            assert_int_equal(m->code, 0);
            assert_string_equal(m->enhanced, "4.6.3");
            assert_non_null(strstr(m->text, "8BITMIME"));
        }
        /* Only the 7bit message reached the server, without BODY=. */
        assert_null(strstr(log, "BODY="));
        assert_int_equal(smtp_fake_messages(f), 1);
        assert_string_equal(smtp_fake_message(f, 0)->data, MSG_7BIT);
        const char *mail = strstr(log, "MAIL FROM:");
        assert_non_null(mail);
        assert_null(strstr(mail + 1, "MAIL FROM:"));
        for (const char *p = log; *p; p++)
            if ((unsigned char)*p >= 0x80)
                fail_msg("an 8-bit byte reached the server:\n%s", log);
    }
    if (kind == HELO_ONLY)
        assert_non_null(strstr(log, "EHLO client.test\nHELO client.test\n"));
    run_free(&r);
}

static void body_8bitmime_when_offered(void **state)
{
    (void)state;
    run_three(OFFERS_8BITMIME, 1);
    run_three(OFFERS_8BITMIME, 0);
}

static void never_8bit_to_a_server_without_it(void **state)
{
    (void)state;
    run_three(LACKS_8BITMIME, 1);
    run_three(LACKS_8BITMIME, 0);
    run_three(HELO_ONLY, 0);
}

int main(void)
{
    edm_log_set_level(getenv("EDM_TEST_DEBUG") ? EDM_LOG_DEBUG : EDM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(body_8bitmime_when_offered),
        cmocka_unit_test(never_8bit_to_a_server_without_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
