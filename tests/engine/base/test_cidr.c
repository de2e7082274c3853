/*
 * tests/engine/base/test_cidr.c: CIDR networks (engine/base/cidr.c):
 * what parses and what is refused (prefix lengths past the family's, no
 * digits, junk), and membership on and around prefix boundaries for IPv4
 * and IPv6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/cidr.h"

static void parses_and_refuses(void **state)
{
    (void)state;
    edm_cidr n;
    assert_int_equal(edm_cidr_parse("192.0.2.0/24", &n), 0);
    assert_int_equal(n.bits, 24);
    assert_int_equal(edm_cidr_parse("192.0.2.7", &n), 0);
    assert_int_equal(n.bits, 32);
    assert_int_equal(edm_cidr_parse("2001:db8::/32", &n), 0);
    assert_int_equal(n.bits, 32);
    assert_int_equal(edm_cidr_parse("::1", &n), 0);
    assert_int_equal(n.bits, 128);
    assert_int_equal(edm_cidr_parse("0.0.0.0/0", &n), 0);
    assert_int_equal(n.bits, 0);
    static const char *const bad[] = {
        "",
        "/24",
        "192.0.2.0/",
        "192.0.2.0/33",
        "192.0.2.0/-1",
        "192.0.2.0/2x",
        "2001:db8::/129",
        "2001:db8::/200",
        "example.com",
        "192.0.2.300/24",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(edm_cidr_parse(bad[i], &n), -1);
}

static void matches_on_boundaries(void **state)
{
    (void)state;
    edm_cidr n;
    assert_int_equal(edm_cidr_parse("10.1.2.128/25", &n), 0);
    assert_true(edm_cidr_contains(&n, "10.1.2.128"));
    assert_true(edm_cidr_contains(&n, "10.1.2.255"));
    assert_false(edm_cidr_contains(&n, "10.1.2.127"));
    assert_false(edm_cidr_contains(&n, "10.1.3.128"));
    assert_false(edm_cidr_contains(&n, "::ffff:10.1.2.200")); /* other family */
    assert_false(edm_cidr_contains(&n, "not an address"));
    assert_int_equal(edm_cidr_parse("0.0.0.0/0", &n), 0);
    assert_true(edm_cidr_contains(&n, "203.0.113.9"));
    assert_int_equal(edm_cidr_parse("2001:db8:ab00::/40", &n), 0);
    assert_true(edm_cidr_contains(&n, "2001:db8:abff::1"));
    assert_false(edm_cidr_contains(&n, "2001:db8:ac00::1"));
    assert_false(edm_cidr_contains(&n, "192.0.2.1"));
    assert_int_equal(edm_cidr_parse("2001:db8::1/128", &n), 0);
    assert_true(edm_cidr_contains(&n, "2001:db8::1"));
    assert_false(edm_cidr_contains(&n, "2001:db8::2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_and_refuses),
        cmocka_unit_test(matches_on_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
