/*
 * tests/engine/ingest/test_addr.c: recipient address validation and normalisation:
 * RFC 5321 mailboxes accepted and refused with their reasons, lower-casing,
 * internationalised domains to A-labels (RFC 3492 sample strings).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/ingest/addr.h"
#include "engine/base/err.h"

#include <string.h>

static void accepts_and_normalises(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out, *domain;
    } cases[] = {
        {"user@example.com", "user@example.com", "example.com"},
        {"  User.Name+Tag@Example.COM\t", "user.name+tag@example.com", "example.com"},
        {"a!#$%&'*/=?^_`{|}~-@x.test", "a!#$%&'*/=?^_`{|}~-@x.test", "x.test"},
        {"\"john doe\"@example.com", "\"john doe\"@example.com", "example.com"},
        {"\"a@b\"@example.com", "\"a@b\"@example.com", "example.com"},
        {"\"q\\\"x\"@example.com", "\"q\\\"x\"@example.com", "example.com"},
        {"x@sub-1.a2.example.co.uk", "x@sub-1.a2.example.co.uk", "sub-1.a2.example.co.uk"},
        {"x@bücher.de", "x@xn--bcher-kva.de", "xn--bcher-kva.de"},
        {"x@BÜcher.de", "x@xn--bcher-kva.de", "xn--bcher-kva.de"},
        {"x@例え.テスト", "x@xn--r8jz45g.xn--zckzah", "xn--r8jz45g.xn--zckzah"},
        {"x@xn--bcher-kva.de", "x@xn--bcher-kva.de", "xn--bcher-kva.de"},
        {"josé@example.com", "josé@example.com", "example.com"},
        {"x@[127.0.0.1]", "x@[127.0.0.1]", "[127.0.0.1]"},
        {"x@[IPv6:::1]", "x@[IPv6:::1]", "[IPv6:::1]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[EDM_ADDR_MAX];
        size_t doff = 0;
        const char *why = NULL;
        int rc = edm_addr_normalize(cases[i].in, strlen(cases[i].in), out, &doff, &why);
        if (rc != 0)
            fail_msg("%s: refused: %s", cases[i].in, why);
        assert_string_equal(out, cases[i].out);
        assert_string_equal(out + doff, cases[i].domain);
    }
}

static void refuses_with_reason(void **state)
{
    (void)state;
    char long_local[80], long_label[80], long_domain[300];
    memset(long_local, 'a', 65);
    strcpy(long_local + 65, "@x.test");
    strcpy(long_label, "a@");
    memset(long_label + 2, 'b', 64);
    strcpy(long_label + 66, ".test");
    strcpy(long_domain, "a@");
    for (int i = 0; i < 26; i++)
        memcpy(long_domain + 2 + i * 10, "abcdefghi.", 10);
    strcpy(long_domain + 262, "test");
    static const struct {
        const char *in, *why;
    } fixed[] = {
        {"", "empty address"},
        {"plain", "missing @"},
        {"@x.test", "empty local part"},
        {"a@", "missing domain"},
        {"a@localhost", "domain needs at least two labels"},
        {".a@x.test", "misplaced dot in local part"},
        {"a..b@x.test", "misplaced dot in local part"},
        {"a.@x.test", "misplaced dot in local part"},
        {"a b@x.test", "invalid character in local part"},
        {"a(b)@x.test", "invalid character in local part"},
        {"a@x..test", "empty domain label"},
        {"a@x.test.", "domain ends with a dot"},
        {"a@-x.test", "domain label starts or ends with a hyphen"},
        {"a@x-.test", "domain label starts or ends with a hyphen"},
        {"a@x_y.test", "invalid character in domain"},
        {"a@x.123", "top-level domain is all digits"},
        {"a@[300.1.1.1]", "invalid address literal"},
        {"\"abc@x.test", "unterminated quoted local part"},
        {"a@x\xff.test", "invalid UTF-8 in domain"},
        {"a\xc3@x.test", "invalid UTF-8 in local part"},
        {"a@x.test'; DROP TABLE deliveries;--", "invalid character in domain"},
    };
    struct {
        const char *in, *why;
    } cases[sizeof fixed / sizeof fixed[0] + 3];
    memcpy(cases, fixed, sizeof fixed);
    size_t n = sizeof fixed / sizeof fixed[0];
    cases[n].in = long_local, cases[n++].why = "local part longer than 64 octets";
    cases[n].in = long_label, cases[n++].why = "domain label longer than 63 octets";
    cases[n].in = long_domain, cases[n++].why = "domain longer than 255 octets";
    for (size_t i = 0; i < n; i++) {
        char out[EDM_ADDR_MAX];
        size_t doff;
        const char *why = NULL;
        int rc = edm_addr_normalize(cases[i].in, strlen(cases[i].in), out, &doff, &why);
        if (rc != EDM_EINVAL)
            fail_msg("%s: accepted as %s", cases[i].in, out);
        if (strcmp(why, cases[i].why) != 0)
            fail_msg("%s: reason '%s', expected '%s'", cases[i].in, why, cases[i].why);
    }
    /* an embedded NUL byte */
    char out[EDM_ADDR_MAX];
    size_t doff;
    const char *why;
    assert_int_equal(edm_addr_normalize("a\0b@x.test", 10, out, &doff, &why), EDM_EINVAL);
    assert_string_equal(why, "NUL byte in address");
}

static void domains(void **state)
{
    (void)state;
    char out[EDM_ADDR_MAX];
    const char *why;
    assert_int_equal(edm_addr_normalize_domain(" Example.COM ", 13, out, &why), 0);
    assert_string_equal(out, "example.com");
    assert_int_equal(edm_addr_normalize_domain("münchen.de", strlen("münchen.de"), out, &why), 0);
    assert_string_equal(out, "xn--mnchen-3ya.de");
    assert_int_equal(edm_addr_normalize_domain("a@b.c", 5, out, &why), EDM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_and_normalises),
        cmocka_unit_test(refuses_with_reason),
        cmocka_unit_test(domains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
