/*
 * tests/engine/store/test_outcome.c: the outcome's inline strings
 * (engine/store/outcome.c): bounded copies cut on a UTF-8 boundary, and the
 * names the store writes for categories.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/store/outcome.h"

#include <string.h>

static void put_cuts_on_a_character_boundary(void **state)
{
    (void)state;
    char b[6];
    edm_outcome_put(b, sizeof b, "abc");
    assert_string_equal(b, "abc");
    edm_outcome_put(b, sizeof b, NULL);
    assert_string_equal(b, "");
    edm_outcome_put(b, sizeof b, "abcdefgh");
    assert_string_equal(b, "abcde");
    /* "ab" + U+00E9 (2 bytes) + U+20AC (3 bytes): 5 bytes fit, the euro
     * sign would be cut after its first 1 byte: it goes whole. */
    edm_outcome_put(b, sizeof b, "ab\xc3\xa9\xe2\x82\xac");
    assert_string_equal(b, "ab\xc3\xa9");
    /* A 4-byte character cut in its middle. */
    edm_outcome_put(b, sizeof b, "a\xf0\x9f\x98\x80z");
    assert_string_equal(b, "a\xf0\x9f\x98\x80");
    edm_outcome_put(b, sizeof b, "ab\xf0\x9f\x98\x80");
    assert_string_equal(b, "ab");

    edm_outcome o;
    char big[EDM_OUTCOME_TEXT_MAX + 100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    EDM_OUTCOME_PUT(o.text, big);
    assert_int_equal(strlen(o.text), EDM_OUTCOME_TEXT_MAX - 1);
}

static void category_names(void **state)
{
    (void)state;
    static const char *const want[EDM_CATEGORY_COUNT] = {
        "",           "bad_mailbox",  "bad_domain", "mailbox_full", "policy",
        "spam_block", "rate_limited", "dns",        "network",      "tls",
        "auth",       "protocol",     "expired",    "other"};
    for (int c = 0; c < EDM_CATEGORY_COUNT; c++)
        assert_string_equal(edm_category_name((enum edm_category)c), want[c]);
    assert_int_equal(EDM_CATEGORY_AUTH, 10);
    assert_string_equal(edm_failure_name(EDM_FAIL_NONE), "reply");
    assert_string_equal(edm_failure_name(EDM_FAIL_NO_POOL), "no_pool");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_cuts_on_a_character_boundary),
        cmocka_unit_test(category_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
