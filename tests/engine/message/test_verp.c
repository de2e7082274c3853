/*
 * tests/engine/message/test_verp.c: VERP and unsubscribe tokens: round trips,
 * case folding, forgery (every single-character change of a token is
 * refused), purpose separation, wrong secrets, the HMAC checked against
 * `openssl mac`, and unsubscribe URLs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/message/mime.h"
#include "engine/message/verp.h"
#include "tests/support/testlib.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char secret[] = "0123456789abcdef-test-secret";
#define SLEN (sizeof secret - 1)

static void round_trips(void **state)
{
    (void)state;
    static const uint64_t ids[] = {0, 1, 15, 16, 255, 4096, 123456789, UINT64_MAX};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        for (int kind = EDM_VERP_BOUNCE; kind <= EDM_VERP_UNSUB; kind++) {
            char tok[EDM_VERP_TOKEN_MAX];
            int n = edm_verp_token(tok, kind, secret, SLEN, ids[i]);
            assert_true(n > 17 && n < EDM_VERP_TOKEN_MAX);
            assert_int_equal((size_t)n, strlen(tok));
            uint64_t id = 7;
            assert_int_equal(edm_verp_token_check(tok, (size_t)n, kind, secret, SLEN, &id), 0);
            assert_true(id == ids[i]);
            /* The other purpose, another secret: refused. */
            assert_int_equal(edm_verp_token_check(tok, (size_t)n, !kind, secret, SLEN, &id),
                             EDM_EINVAL);
            assert_int_equal(
                edm_verp_token_check(tok, (size_t)n, kind, "another-secret-0123", 19, &id),
                EDM_EINVAL);
            /* Upper case (a folded local part) still checks. */
            for (int k = 0; k < n; k++)
                tok[k] = (char)toupper((unsigned char)tok[k]);
            assert_int_equal(edm_verp_token_check(tok, (size_t)n, kind, secret, SLEN, &id), 0);
            assert_true(id == ids[i]);
        }
    }
}

static void forgeries_refused(void **state)
{
    (void)state;
    char tok[EDM_VERP_TOKEN_MAX];
    int n = edm_verp_token(tok, EDM_VERP_BOUNCE, secret, SLEN, 0xabcdef);
    uint64_t id;
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz-";
    size_t tried = 0;
    for (int i = 0; i < n; i++) {
        for (const char *c = alphabet; *c; c++) {
            char forged[EDM_VERP_TOKEN_MAX];
            memcpy(forged, tok, (size_t)n + 1);
            if (tolower((unsigned char)forged[i]) == *c)
                continue;
            forged[i] = *c;
            if (edm_verp_token_check(forged, (size_t)n, EDM_VERP_BOUNCE, secret, SLEN, &id) == 0)
                fail_msg("forged token %s accepted", forged);
            tried++;
        }
    }
    assert_true(tried > 500);
    static const char *const malformed[] = {"",
                                            "-",
                                            "abc",
                                            "-aaaaaaaaaaaaaaaa",
                                            "0abc-aaaaaaaaaaaaaaaa",
                                            "12345678901234567-aaaaaaaaaaaaaaaa",
                                            "12-aaaa",
                                            "xyz-aaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        assert_int_equal(edm_verp_token_check(malformed[i], strlen(malformed[i]), EDM_VERP_BOUNCE,
                                              secret, SLEN, &id),
                         EDM_EINVAL);
    /* Secrets shorter than the minimum are refused outright. */
    assert_int_equal(edm_verp_token(tok, EDM_VERP_BOUNCE, "short", 5, 1), EDM_EINVAL);
    assert_int_equal(edm_verp_token(tok, EDM_VERP_BOUNCE, NULL, 0, 1), EDM_EINVAL);
}

/* The tag is HMAC-SHA256 as openssl computes it, truncated and base32'd,
 * for a short key and for one longer than SHA-256's block (hashed first). */
static void hmac_matches_openssl(void **state)
{
    (void)state;
    char longkey[101];
    for (int i = 0; i < 100; i++)
        longkey[i] = (char)('A' + i % 26);
    longkey[100] = '\0';
    const char *keys[] = {secret, longkey};
    for (int k = 0; k < 2; k++) {
        char tok[EDM_VERP_TOKEN_MAX];
        assert_true(edm_verp_token(tok, EDM_VERP_BOUNCE, keys[k], strlen(keys[k]), 0x0102) > 0);
        char cmd[1024], *out = NULL;
        /* "edm-verp:bounce\0" + 8-byte big-endian id */
        snprintf(cmd, sizeof cmd,
                 "printf 'edm-verp:bounce\\000\\000\\000\\000\\000\\000\\000\\001\\002' | "
                 "openssl mac -digest SHA256 -macopt key:%s HMAC",
                 keys[k]);
        assert_int_equal(edm_test_run(cmd, &out), 0);
        unsigned char mac[10];
        for (int i = 0; i < 10; i++) {
            unsigned v;
            assert_int_equal(sscanf(out + 2 * i, "%2x", &v), 1);
            mac[i] = (unsigned char)v;
        }
        free(out);
        static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
        char want[40] = "102-";
        size_t w = 4;
        for (int g = 0; g < 2; g++) {
            uint64_t v = 0;
            for (int i = 0; i < 5; i++)
                v = v << 8 | mac[5 * g + i];
            for (int i = 0; i < 8; i++)
                want[w++] = b32[(v >> (35 - 5 * i)) & 31];
        }
        want[w] = '\0';
        assert_string_equal(tok, want);
    }
}

static void addresses_and_urls(void **state)
{
    (void)state;
    edm_buf b = EDM_BUF_INIT;
    assert_int_equal(
        edm_verp_address(&b, EDM_VERP_BOUNCE, "bounces", "bounce.example.com", secret, SLEN, 42),
        0);
    assert_int_equal(strncmp(b.data, "bounces+2a-", 11), 0);
    assert_non_null(strstr(b.data, "@bounce.example.com"));
    assert_true(edm_mime_addr_ok(b.data));
    uint64_t id = 0;
    assert_int_equal(edm_verp_address_parse(b.data, EDM_VERP_BOUNCE, "bounces", secret, SLEN, &id),
                     0);
    assert_true(id == 42);
    assert_int_equal(edm_verp_address_parse(b.data, EDM_VERP_BOUNCE, "other", secret, SLEN, &id),
                     EDM_EINVAL);
    assert_int_equal(edm_verp_address_parse(b.data, EDM_VERP_UNSUB, "bounces", secret, SLEN, &id),
                     EDM_EINVAL);
    assert_int_equal(edm_verp_address_parse("bounces@example.com", EDM_VERP_BOUNCE, "bounces",
                                            secret, SLEN, &id),
                     EDM_EINVAL);
    edm_buf_reset(&b);
    assert_int_equal(
        edm_verp_address(&b, EDM_VERP_BOUNCE, "bad prefix", "example.com", secret, SLEN, 1),
        EDM_EINVAL);
    assert_int_equal(edm_verp_address(&b, EDM_VERP_BOUNCE, "b", "exa mple.com", secret, SLEN, 1),
                     EDM_EINVAL);
    static const struct {
        const char *base, *prefix;
    } u[] = {
        {"https://mail.example.com/unsubscribe", "https://mail.example.com/unsubscribe?t="},
        {"https://x.example/u?list=7", "https://x.example/u?list=7&t="},
        {"https://x.example/u?", "https://x.example/u?t="},
        {"https://x.example/u?a=1&", "https://x.example/u?a=1&t="},
        {"https://x.example/u#frag", "https://x.example/u?t="},
    };
    char t77[EDM_VERP_TOKEN_MAX];
    assert_true(edm_verp_token(t77, EDM_VERP_UNSUB, secret, SLEN, 77) > 0);
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        edm_buf_reset(&b);
        assert_int_equal(edm_verp_unsub_url(&b, u[i].base, t77), 0);
        assert_int_equal(strncmp(b.data, u[i].prefix, strlen(u[i].prefix)), 0);
        const char *tok = b.data + strlen(u[i].prefix);
        assert_int_equal(edm_verp_token_check(tok, strlen(tok), EDM_VERP_UNSUB, secret, SLEN, &id),
                         0);
        assert_true(id == 77);
    }
    edm_buf_reset(&b);
    assert_int_equal(edm_verp_unsub_url(&b, "ftp://x/", t77), EDM_EINVAL);
    assert_int_equal(edm_verp_unsub_url(&b, "https://x/", "a&b=c"), EDM_EINVAL);
    edm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips),
        cmocka_unit_test(forgeries_refused),
        cmocka_unit_test(hmac_matches_openssl),
        cmocka_unit_test(addresses_and_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
