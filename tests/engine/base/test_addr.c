/*
 * tests/engine/base/test_addr.c: the address validator (engine/base/addr.c):
 * RFC 5321 mailboxes accepted and refused with their reasons, lower-casing,
 * internationalised domains to A-labels (RFC 3492 sample strings), what edm
 * refuses because it cannot send it (quoted and non-ASCII local parts,
 * address literals), From / Reply-To mailboxes, and the composer's check
 * (every accepted address passes it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/addr.h"
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
        {"x@sub-1.a2.example.co.uk", "x@sub-1.a2.example.co.uk", "sub-1.a2.example.co.uk"},
        {"x@bücher.de", "x@xn--bcher-kva.de", "xn--bcher-kva.de"},
        {"x@BÜcher.de", "x@xn--bcher-kva.de", "xn--bcher-kva.de"},
        {"x@例え.テスト", "x@xn--r8jz45g.xn--zckzah", "xn--r8jz45g.xn--zckzah"},
        {"x@xn--bcher-kva.de", "x@xn--bcher-kva.de", "xn--bcher-kva.de"},
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
        if (!edm_addr_sendable(out))
            fail_msg("%s: accepted as %s, which the composer refuses", cases[i].in, out);
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
        {"a@[300.1.1.1]", "address literals are not supported"},
        {"x@[127.0.0.1]", "address literals are not supported"},
        {"x@[IPv6:::1]", "address literals are not supported"},
        {"\"abc@x.test", "quoted local parts are not supported"},
        {"\"john doe\"@example.com", "quoted local parts are not supported"},
        {"\"a@b\"@example.com", "quoted local parts are not supported"},
        {"josé@example.com", "non-ASCII local parts are not supported (SMTPUTF8)"},
        {"\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@example.com",
         "non-ASCII local parts are not supported (SMTPUTF8)"},
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

/* From / Reply-To: one mailbox, the local part's case kept, the domain
 * lower-cased in A-labels, the display name found. */
static void mailboxes(void **state)
{
    (void)state;
    static const struct {
        const char *in, *addr, *name;
    } ok[] = {
        {"shop@example.com", "shop@example.com", NULL},
        {" News@Example.COM ", "News@example.com", NULL},
        {"<a@x.test>", "a@x.test", NULL},
        {"Shop <shop@example.com>", "shop@example.com", "Shop"},
        {"\"Doe, John\" <j@x.test>", "j@x.test", "Doe, John"},
        {"\"a <b>\" <j@x.test>", "j@x.test", "a <b>"},
        {"Müller <m@bücher.de>", "m@xn--bcher-kva.de", "Müller"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        edm_mailbox mb;
        const char *why = NULL;
        if (edm_addr_mailbox(ok[i].in, strlen(ok[i].in), &mb, &why) != 0)
            fail_msg("%s: refused: %s", ok[i].in, why);
        assert_string_equal(mb.addr, ok[i].addr);
        assert_true(edm_addr_sendable(mb.addr));
        if (ok[i].name == NULL) {
            assert_null(mb.name);
        } else {
            assert_int_equal(mb.name_len, strlen(ok[i].name));
            assert_memory_equal(mb.name, ok[i].name, mb.name_len);
        }
    }
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"a@x.test, b@y.test", "only one address is allowed (quote a display name holding , or ;)"},
        {"A <a@x.test>, B <b@y.test>",
         "only one address is allowed (quote a display name holding , or ;)"},
        {"A <a@x.test> <b@y.test>",
         "only one address is allowed (quote a display name holding , or ;)"},
        {"Group: a@x.test;", "only one address is allowed (quote a display name holding , or ;)"},
        {"Doe, John <j@x.test>",
         "only one address is allowed (quote a display name holding , or ;)"},
        {"\"a b\"@x.test", "quoted local parts are not supported"},
        {"Q <\"a b\"@x.test>", "quoted local parts are not supported"},
        {"U <ü@x.test>", "non-ASCII local parts are not supported (SMTPUTF8)"},
        {"L <a@[127.0.0.1]>", "address literals are not supported"},
        {"A <a@x.test", "expected \"Name <address>\""},
        {"A a@x.test>", "misplaced >"},
        {"A <a@x.test> trailing", "text after the address"},
        {"\"A <a@x.test>", "unterminated quoted string"},
        {"A <a@x.test>\r\nBcc: b@y.test", "line break in address"},
        {"not an address", "missing @"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        edm_mailbox mb;
        const char *why = NULL;
        if (edm_addr_mailbox(bad[i].in, strlen(bad[i].in), &mb, &why) != EDM_EINVAL)
            fail_msg("%s: accepted as %s", bad[i].in, mb.addr);
        if (strcmp(why, bad[i].why) != 0)
            fail_msg("%s: reason '%s', expected '%s'", bad[i].in, why, bad[i].why);
    }
    edm_mailbox mb;
    const char *why;
    assert_int_equal(edm_addr_mailbox("A <a\0@x.test>", 14, &mb, &why), EDM_EINVAL);
    assert_string_equal(why, "NUL byte in address");
}

/* The composer's check: already-normal ASCII addresses only. */
static void sendable(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        int ok;
    } t[] = {
        {"a@example.com", 1},
        {"a@localhost", 1},
        {"a@xn--bcher-kva.de", 1},
        {"\"a b\"@example.com", 0},
        {"jos\xc3\xa9@example.com", 0},
        {"a@b\xc3\xbc"
         "cher.de",
         0},
        {"a@[127.0.0.1]", 0},
        {"a@-x.test", 0},
        {"a@x..test", 0},
        {"a@x.test.", 0},
        {"a..b@x.test", 0},
        {"@x.test", 0},
        {"a", 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (edm_addr_sendable(t[i].addr) != t[i].ok)
            fail_msg("sendable(%s) != %d", t[i].addr, t[i].ok);
    assert_false(edm_addr_sendable(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_and_normalises),
        cmocka_unit_test(refuses_with_reason),
        cmocka_unit_test(domains),
        cmocka_unit_test(mailboxes),
        cmocka_unit_test(sendable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
