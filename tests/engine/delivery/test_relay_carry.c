/*
 * tests/engine/delivery/test_relay_carry.c: connections carrying on
 * across domains (engine/delivery/relay_carry.c), through the relay's
 * seams (tests/support/relay_fixture.c): behind a route one connection
 * serves every waiting domain, up to the destination's
 * max_messages_per_connection and past the DNS refresh; under an "mx:"
 * rule only domains with the same MX hosts share a connection. Each case
 * counts the connections the fake transport was asked to open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/timeutil.h"
#include "tests/support/relay_fixture.h"

#include <string.h>

/* Domains under one "mx:" rule but with other MX hosts share its limits,
 * not a connection: the session to mx.shared.test closes and one to
 * mx2.shared.test opens. */
static void mx_rule_other_hosts_open_their_own_connection(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"domains\": [{\"match\": \"mx:*.shared.test\", \"max_connections\": 1,"
          " \"max_messages_per_connection\": 100}]}",
          NULL, 0, 3);
    submit_n(f, "r%d@s1.test", 5);
    submit_n(f, "r%d@s3.test", 5);
    wait_outcomes(f, 10);
    assert_int_equal(count_kind(f, ".test", EDM_DSTATE_DELIVERED), 10);
    assert_int_equal(counts(f)->max_open, 1);
    assert_int_equal(counts(f)->opened, 2);
    size_t on_mx2 = 0;
    for (size_t i = 0; i < f->ngot; i++)
        on_mx2 += strcmp(f->got[i].mx_host, "mx2.shared.test") == 0;
    assert_int_equal(on_mx2, 5);
}

/* A "*" route to one relay with a single connection. */
#define ROUTE_ONE_CONNECTION                                                                       \
    "{\"routes\": [{\"match\": \"*\", \"relay\": \"127.0.1.50:2525\", \"max_connections\": 1}],"

/* A route's session whose domain has nothing left carries on with the
 * next domain waiting for the route's connection (MX rollup), instead of
 * a close and a connect per domain; it carries no more than the
 * destination's max_messages_per_connection. */
static void a_route_session_carries_on_across_domains(void **state)
{
    struct fx *f = *state;
    start(f, ROUTE_ONE_CONNECTION " \"domains\": [{\"match\": \"*\", \"max_connections\": 5}]}",
          NULL, 0, 1);
    submit_domains(f, 12, 5);
    wait_outcomes(f, 60);
    assert_int_equal(count_kind(f, ".test", EDM_DSTATE_DELIVERED), 60);
    assert_int_equal(counts(f)->max_open, 1);
    assert_int_equal(counts(f)->opened, 1);
    assert_int_equal(counts(f)->max_per_conn, 60);
    json_t *j = edm_relay_json(f->relay);
    assert_int_equal(json_integer_value(json_object_get(j, "queued")), 0);
    json_decref(j);
    teardown((void **)&f);
    setup(state);
    f = *state;
    start(f,
          ROUTE_ONE_CONNECTION " \"domains\": [{\"match\": \"*\", \"max_connections\": 5,"
                               " \"max_messages_per_connection\": 7}]}",
          NULL, 0, 1);
    submit_domains(f, 3, 5);
    wait_outcomes(f, 15);
    assert_int_equal(count_kind(f, ".test", EDM_DSTATE_DELIVERED), 15);
    assert_int_equal(counts(f)->max_per_conn, 7);
    assert_int_equal(counts(f)->opened, 3);
}

/* Behind a route the connection reaches the relay however old a waiting
 * domain's look-up is: a domain that waited past the DNS refresh is
 * carried on too, not left for a close and a new connection. */
static void a_route_session_carries_on_past_the_dns_refresh(void **state)
{
    struct fx *f = *state;
    start(f, ROUTE_ONE_CONNECTION " \"domains\": [{\"match\": \"*\", \"max_connections\": 5}]}",
          NULL, 0, 20);
    submit_n(f, "r%d@d0.test", 5);
    spin(f, 10); /* d0's look-up answered, its session is sending */
    submit_n(f, "r%d@d1.test", 5);
    spin(f, 10); /* d1 looked up, waiting for the route's one connection */
    assert_int_equal(counts(f)->opened, 1);
    assert_true(f->ngot < 5);
    edm_time_advance_ms(61 * 1000);
    wait_outcomes(f, 10);
    assert_int_equal(count_kind(f, ".test", EDM_DSTATE_DELIVERED), 10);
    assert_int_equal(counts(f)->opened, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mx_rule_other_hosts_open_their_own_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_route_session_carries_on_across_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(a_route_session_carries_on_past_the_dns_refresh, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
