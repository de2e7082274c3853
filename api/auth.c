/*
 * api/auth.c: Bearer API keys. Keys come from an environment variable
 * (comma-separated; blanks around each key ignored), never from a file.
 * Only their SHA-256 digests are kept; a presented key is hashed and
 * compared with every configured digest by CRYPTO_memcmp, without an early
 * exit, so the time taken does not depend on how much of a key matched or
 * on which key it is.
 *
 * Entry points: api_auth_load, api_auth_check, api_auth_nkeys,
 * api_auth_free. Keys never reach the log.
 */
#include "api/api_int.h"
#include "engine/base/alloc.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct api_auth {
    size_t n;
    unsigned char (*digests)[SHA256_DIGEST_LENGTH];
};

int api_auth_load(api_auth **out, const char *keys_env)
{
    api_auth *a = edm_xcalloc(1, sizeof *a);
    const char *v = getenv(keys_env ? keys_env : "EDM_API_KEYS");
    size_t cap = 0;
    while (v && *v) {
        const char *comma = strchr(v, ',');
        size_t len = comma ? (size_t)(comma - v) : strlen(v);
        const char *k = v;
        size_t kl = len;
        while (kl > 0 && (*k == ' ' || *k == '\t'))
            k++, kl--;
        while (kl > 0 && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
            kl--;
        if (kl > 0) {
            if (a->n == cap) {
                cap = cap ? cap * 2 : 4;
                a->digests = edm_xrealloc(a->digests, cap * sizeof *a->digests);
            }
            SHA256((const unsigned char *)k, kl, a->digests[a->n++]);
        }
        v += len;
        if (*v == ',')
            v++;
    }
    *out = a;
    return (int)a->n;
}

void api_auth_free(api_auth *a)
{
    if (a == NULL)
        return;
    if (a->digests)
        OPENSSL_cleanse(a->digests, a->n * sizeof *a->digests);
    edm_free(a->digests);
    edm_free(a);
}

int api_auth_nkeys(const api_auth *a)
{
    return (int)a->n;
}

int api_auth_check(const api_auth *a, const char *authorization)
{
    if (a->n == 0 || authorization == NULL)
        return 0;
    while (*authorization == ' ')
        authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    while (len > 0 && tok[len - 1] == ' ')
        len--;
    if (len == 0)
        return 0;
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, len, d);
    int ok = 0;
    for (size_t i = 0; i < a->n; i++)
        ok |= CRYPTO_memcmp(d, a->digests[i], sizeof d) == 0;
    OPENSSL_cleanse(d, sizeof d);
    return ok;
}
