/*
 * tests/fuzz/fuzz_dkim_canon.c: the relaxed body canonicaliser (with its
 * fast path for lines already canonical) against a plain transcription of
 * RFC 6376 3.4.4 on arbitrary bytes: both must hash the same. Also splits
 * the input as a header block and checks the fields cover it.
 */
#include "engine/message/dkim_int.h"
#include "engine/base/err.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* RFC 6376 3.4.4, step by step on a copy. */
static size_t reference(const char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && !(in[j] == '\r' && j + 1 < n && in[j + 1] == '\n'))
            j++;
        /* one line [i, j): WSP runs to one SP, then no WSP at its end */
        size_t start = o;
        for (size_t k = i; k < j; k++) {
            int wsp = in[k] == ' ' || in[k] == '\t';
            if (wsp && o > start && out[o - 1] == ' ')
                continue;
            out[o++] = wsp ? ' ' : in[k];
        }
        while (o > start && out[o - 1] == ' ')
            o--;
        if (j < n) {
            out[o++] = '\r';
            out[o++] = '\n';
            i = j + 2;
        } else {
            i = j;
            if (o > start) {
                out[o++] = '\r';
                out[o++] = '\n';
            }
        }
    }
    while (o >= 2 && out[o - 2] == '\r' && out[o - 1] == '\n')
        o -= 2;
    if (o > 0) {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char *ref = malloc(size + 4);
    EDM_ASSERT(ref != NULL);
    size_t rn = reference(s, size, ref);
    unsigned char want[32], got[32];
    unsigned int len;
    EDM_ASSERT(EVP_Digest(ref, rn, want, &len, EVP_sha256(), NULL) == 1);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    edm_buf scratch = EDM_BUF_INIT;
    EDM_ASSERT(ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
    EDM_ASSERT(dkim_canon_body(ctx, &scratch, s, size) == 0);
    EDM_ASSERT(EVP_DigestFinal_ex(ctx, got, &len) == 1);
    EDM_ASSERT(memcmp(want, got, 32) == 0);

    dkim_field *f = NULL;
    size_t cap = 0, nf = 0, body = 0;
    if (dkim_canon_split(s, size, &f, &cap, &nf, &body) == 0) {
        EDM_ASSERT(body <= size);
        for (size_t i = 0; i < nf; i++) {
            EDM_ASSERT(f[i].p >= s && f[i].p + f[i].len <= s + size);
            EDM_ASSERT(f[i].name_len < f[i].len && f[i].p[f[i].name_len] == ':');
            edm_buf_reset(&scratch);
            EDM_ASSERT(dkim_canon_header(&scratch, f[i].p, f[i].len, 1) == 0);
            EDM_ASSERT(scratch.len <= f[i].len + 2);
        }
    }
    free(f);
    edm_buf_free(&scratch);
    EVP_MD_CTX_free(ctx);
    free(ref);
    return 0;
}
