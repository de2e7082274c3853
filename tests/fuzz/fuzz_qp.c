/*
 * tests/fuzz/fuzz_qp.c: the quoted-printable encoder on arbitrary bytes.
 * The output must be CRLF lines of at most 76 columns, only printable
 * ASCII and tabs, no white space before a line end, no line starting
 * "From ", and must decode (RFC 2045 6.7, decoder below) to the input with
 * its line ends (CRLF, LF, lone CR) written as CRLF.
 */
#include "engine/base/err.h"
#include "engine/message/mime_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    edm_buf enc = EDM_BUF_INIT, want = EDM_BUF_INIT, got = EDM_BUF_INIT;
    EDM_ASSERT(mime_enc_qp(&enc, s, size) == 0);
    /* The input with normalised line ends. */
    for (size_t i = 0; i < size; i++) {
        if (s[i] == '\r' || s[i] == '\n') {
            if (s[i] == '\r' && i + 1 < size && s[i + 1] == '\n')
                i++;
            EDM_ASSERT(edm_buf_append(&want, "\r\n", 2) == 0);
        } else {
            EDM_ASSERT(edm_buf_append_char(&want, s[i]) == 0);
        }
    }
    /* Line shape, then decoding. */
    const char *p = enc.data ? enc.data : "", *end = p + enc.len;
    while (p < end) {
        const char *eol = strstr(p, "\r\n");
        const char *le = eol ? eol : end;
        size_t len = (size_t)(le - p);
        EDM_ASSERT(len <= 76);
        EDM_ASSERT(len < 5 || memcmp(p, "From ", 5) != 0);
        if (len > 0)
            EDM_ASSERT(le[-1] != ' ' && le[-1] != '\t');
        int soft = len > 0 && le[-1] == '=';
        for (const char *q = p; q < le - (soft ? 1 : 0); q++) {
            unsigned char c = (unsigned char)*q;
            EDM_ASSERT((c >= 33 && c <= 126) || c == ' ' || c == '\t');
            if (c == '=') {
                EDM_ASSERT(q + 2 < le + (soft ? 0 : 1) && hexval(q[1]) >= 0 && hexval(q[2]) >= 0);
                EDM_ASSERT(edm_buf_append_char(&got, (char)(hexval(q[1]) * 16 + hexval(q[2]))) ==
                           0);
                q += 2;
            } else {
                EDM_ASSERT(edm_buf_append_char(&got, (char)c) == 0);
            }
        }
        if (eol && !soft)
            EDM_ASSERT(edm_buf_append(&got, "\r\n", 2) == 0);
        EDM_ASSERT(eol != NULL || !soft);
        p = eol ? eol + 2 : end;
    }
    EDM_ASSERT(got.len == want.len && (got.len == 0 || memcmp(got.data, want.data, got.len) == 0));
    edm_buf_free(&enc);
    edm_buf_free(&want);
    edm_buf_free(&got);
    return 0;
}
