/*
 * tests/engine/smtp/test_smtp_listen.c: what the server policies share
 * (engine/smtp/smtp_listen.c) without a socket: connections counted per
 * IP and in all, the 421 replies past each cap, peers forgotten only when
 * they have nothing left to remember, a bad listen address refused with
 * the policy's name, and stop releasing the owner before done runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/smtp/smtp_listen.h"

#include <string.h>

static int released, done_calls;

static void release(void *owner)
{
    assert_int_equal(done_calls, 0); /* the owner goes first */
    released += owner != NULL;
}

static void done(void *arg)
{
    assert_int_equal(*(int *)arg, 7);
    done_calls++;
}

static void counts_and_caps(void **state)
{
    (void)state;
    int owner = 0;
    smtp_listen l = {.name = "test", .release = release, .owner = &owner};
    smtp_listen_peer *a1 = smtp_listen_count(&l, "192.0.2.1");
    assert_null(smtp_listen_refuse(&l, a1, 2, 3));
    smtp_listen_peer *a2 = smtp_listen_count(&l, "192.0.2.1");
    assert_ptr_equal(a1, a2);
    assert_int_equal(a1->conns, 2);
    assert_null(smtp_listen_refuse(&l, a2, 2, 3));
    smtp_listen_peer *a3 = smtp_listen_count(&l, "192.0.2.1");
    assert_string_equal(smtp_listen_refuse(&l, a3, 2, 3),
                        "421 4.7.0 Too many connections from your address");
    smtp_listen_peer *b = smtp_listen_count(&l, "2001:db8::1");
    assert_ptr_not_equal(a1, b);
    assert_int_equal(l.conns, 4);
    assert_string_equal(smtp_listen_refuse(&l, b, 2, 3),
                        "421 4.3.2 Too many connections, try later");

    smtp_listen_uncount(&l, b); /* b is forgotten */
    assert_ptr_equal(l.peers, a1);
    assert_null(a1->next);
    a1->failures = 1; /* a1 is remembered while it has a failure */
    for (int i = 0; i < 3; i++)
        smtp_listen_uncount(&l, a1);
    assert_int_equal(l.conns, 0);
    assert_ptr_equal(l.peers, a1);
    a1->failures = 0;
    a1->locked_until = edm_time_now() + 60; /* or a lock-out running */
    smtp_listen_uncount(&l, NULL);
    assert_ptr_equal(l.peers, a1);
    a1->locked_until = 0;
    smtp_listen_uncount(&l, NULL);
    assert_null(l.peers);

    smtp_listen_count(&l, "192.0.2.9"); /* freed by stop */
    int arg = 7;
    smtp_listen_stop(&l, done, &arg);
    assert_int_equal(released, 1);
    assert_int_equal(done_calls, 1);
}

static void bad_address_and_null_stop(void **state)
{
    (void)state;
    smtp_listen l = {.name = "inbound"};
    char bad[] = "no-port-here";
    char *const addrs[] = {bad};
    char err[128];
    assert_int_equal(smtp_listen_on(&l, addrs, 1, 0, "", err, sizeof err), EDM_EINVAL);
    assert_string_equal(err, "inbound: bad address no-port-here");
    int arg = 7;
    done_calls = 0;
    smtp_listen_stop(NULL, done, &arg);
    assert_int_equal(done_calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_and_caps),
        cmocka_unit_test(bad_address_and_null_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
