/*
 * tests/fuzz/fuzz_rfc2047.c: the Subject decoder (engine/message/rfc2047.c)
 * on arbitrary bytes as a field value. The result must never be NULL, must
 * be valid UTF-8 without control characters (C0, DEL, C1) and at most
 * EDM_RFC2047_MAX bytes. Two oracles: printable ASCII without "=?" and
 * without white space at its ends comes back as it is (up to the cap); and
 * text that is valid UTF-8 without controls, encoded by us as one B word or
 * as two Q words folded apart (split on a character boundary), decodes to
 * itself.
 */
#include "engine/base/alloc.h"
#include "engine/base/base64.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/utf8.h"
#include "engine/message/rfc2047.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* 1 if s[0..n) is valid UTF-8 without C0, DEL or C1 control characters. */
static int clean(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = edm_utf8_decode(u + i, n - i, &cp);
        if (l == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return 0;
        i += l;
    }
    return 1;
}

static void check(const char *in, size_t n, const char *want)
{
    char *got = edm_rfc2047_decode(in, n);
    EDM_ASSERT(got != NULL);
    size_t gl = strlen(got);
    EDM_ASSERT(gl <= EDM_RFC2047_MAX);
    EDM_ASSERT(clean(got, gl));
    if (want)
        EDM_ASSERT(strcmp(got, want) == 0);
    edm_free(got);
}

static void q_word(edm_buf *b, const char *s, size_t n)
{
    EDM_ASSERT(edm_buf_append_str(b, "=?utf-8?q?") == 0);
    for (size_t i = 0; i < n; i++)
        EDM_ASSERT(edm_buf_appendf(b, "=%02X", (unsigned char)s[i]) == 0);
    EDM_ASSERT(edm_buf_append_str(b, "?=") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check(s, size, NULL);

    int ascii = size > 0 && s[0] != ' ' && s[size - 1] != ' ';
    for (size_t i = 0; i < size && ascii; i++)
        ascii = data[i] >= 0x20 && data[i] < 0x7f &&
                !(data[i] == '=' && i + 1 < size && s[i + 1] == '?');
    if (ascii) {
        char want[EDM_RFC2047_MAX + 1];
        size_t wl = size < EDM_RFC2047_MAX ? size : EDM_RFC2047_MAX;
        memcpy(want, s, wl);
        want[wl] = '\0';
        check(s, size, want);
    }

    if (size > 0 && size <= EDM_RFC2047_MAX && clean(s, size)) {
        char *want = edm_strndup(s, size);
        EDM_ASSERT(want != NULL);
        edm_buf b = EDM_BUF_INIT;
        EDM_ASSERT(edm_buf_append_str(&b, " =?UTF-8?B?") == 0);
        EDM_ASSERT(edm_base64_encode(&b, s, size, 0) == 0);
        EDM_ASSERT(edm_buf_append_str(&b, "?=\r\n") == 0);
        check(b.data, b.len, want);
        /* Two Q words, split after the first character. */
        uint32_t cp;
        size_t first = edm_utf8_decode(data, size, &cp);
        if (first < size) {
            edm_buf_reset(&b);
            q_word(&b, s, first);
            EDM_ASSERT(edm_buf_append_str(&b, "\r\n\t ") == 0);
            q_word(&b, s + first, size - first);
            check(b.data, b.len, want);
        }
        edm_buf_free(&b);
        edm_free(want);
    }
    return 0;
}
