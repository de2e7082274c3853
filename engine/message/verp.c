/*
 * engine/message/verp.c: HMAC tokens for VERP return paths and unsubscribe links
 * (see verp.h). HMAC-SHA256 (SHA-256 from OpenSSL) over "edm-verp:<purpose>" || id
 * (8 bytes, big-endian), truncated to 10 bytes and written in RFC 4648
 * base32, lower case. Ids are written in hex without leading zeros.
 */
#include "engine/message/verp.h"
#include "engine/base/err.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#define TAG_BYTES 10
#define TAG_CHARS 16 /* base32 of 10 bytes */

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

/* SHA-256, fetched once for the process (never freed: it lives as long
 * as the process, like OpenSSL's own tables). */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256 == NULL)
        EDM_PANIC("SHA256 unavailable");
}

static void digest(const void *p, size_t n, unsigned char md[32])
{
    unsigned int len = 0;
    if (EVP_Digest(p, n, md, &len, sha256, NULL) != 1 || len != 32)
        EDM_PANIC("SHA-256 failed");
}

/* HMAC-SHA256 (RFC 2104) from two one-shot digests: several times
 * cheaper per token than OpenSSL's HMAC(), which looks the algorithms up
 * by name on every call. Checked against `openssl mac` by the tests. */
static void hmac_sha256(const void *key, size_t klen, const unsigned char *msg, size_t mlen,
                        unsigned char out[32])
{
    unsigned char k0[64] = {0}, buf[64 + 64];
    if (klen > 64)
        digest(key, klen, k0);
    else
        memcpy(k0, key, klen);
    EDM_ASSERT(mlen <= 64);
    for (int i = 0; i < 64; i++)
        buf[i] = k0[i] ^ 0x36;
    memcpy(buf + 64, msg, mlen);
    unsigned char inner[32];
    digest(buf, 64 + mlen, inner);
    for (int i = 0; i < 64; i++)
        buf[i] = k0[i] ^ 0x5c;
    memcpy(buf + 64, inner, 32);
    digest(buf, 64 + 32, out);
    OPENSSL_cleanse(k0, sizeof k0);
    OPENSSL_cleanse(buf, sizeof buf);
}

/* The tag of (kind, id) and, for click tokens, the link index. */
static int tag2(unsigned char out[TAG_BYTES], enum edm_verp_kind kind, const void *secret,
                size_t secret_len, uint64_t id, uint32_t link)
{
    if (secret == NULL || secret_len < EDM_VERP_SECRET_MIN || secret_len > 1024)
        return EDM_EINVAL;
    pthread_once(&sha256_once, fetch_sha256);
    unsigned char msg[40];
    static const char *const labels[] = {"edm-verp:bounce", "edm-verp:unsub", "edm-verp:open",
                                         "edm-verp:click"};
    const char *label = labels[kind];
    size_t n = strlen(label) + 1; /* with its NUL */
    memcpy(msg, label, n);
    for (int i = 0; i < 8; i++)
        msg[n + (size_t)i] = (unsigned char)(id >> (56 - 8 * i));
    n += 8;
    if (kind == EDM_VERP_CLICK)
        for (int i = 0; i < 4; i++)
            msg[n++] = (unsigned char)(link >> (24 - 8 * i));
    unsigned char md[32];
    hmac_sha256(secret, secret_len, msg, n, md);
    memcpy(out, md, TAG_BYTES);
    return 0;
}

static int tag(unsigned char out[TAG_BYTES], enum edm_verp_kind kind, const void *secret,
               size_t secret_len, uint64_t id)
{
    return tag2(out, kind, secret, secret_len, id, 0);
}

static void base32(char *dst, const unsigned char *p)
{
    /* 10 bytes = 80 bits = 16 characters, no padding. */
    for (int g = 0; g < 2; g++) {
        const unsigned char *s = p + 5 * g;
        uint64_t v = (uint64_t)s[0] << 32 | (uint64_t)s[1] << 24 | (uint64_t)s[2] << 16 |
                     (uint64_t)s[3] << 8 | s[4];
        for (int i = 0; i < 8; i++)
            *dst++ = b32[(v >> (35 - 5 * i)) & 31];
    }
}

int edm_verp_token(char *out, enum edm_verp_kind kind, const void *secret, size_t secret_len,
                   uint64_t id)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char t[TAG_BYTES];
    int rc = tag(t, kind, secret, secret_len, id);
    if (rc != 0)
        return rc;
    char digits[17];
    int nd = 0;
    do {
        digits[nd++] = hex[id & 15];
        id >>= 4;
    } while (id);
    int len = 0;
    while (nd)
        out[len++] = digits[--nd];
    out[len++] = '-';
    base32(out + len, t);
    len += TAG_CHARS;
    out[len] = '\0';
    return len;
}

int edm_verp_token_check(const char *tok, size_t n, enum edm_verp_kind kind, const void *secret,
                         size_t secret_len, uint64_t *id)
{
    const char *dash = memchr(tok, '-', n);
    if (dash == NULL || dash == tok || dash - tok > 16 || (size_t)(tok + n - dash - 1) != TAG_CHARS)
        return EDM_EINVAL;
    uint64_t v = 0;
    for (const char *p = tok; p < dash; p++) {
        char c = *p;
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return EDM_EINVAL;
        v = v << 4 | (uint64_t)d;
    }
    char want[TAG_CHARS], got[TAG_CHARS];
    unsigned char t[TAG_BYTES];
    int rc = tag(t, kind, secret, secret_len, v);
    if (rc != 0)
        return rc;
    base32(want, t);
    for (int i = 0; i < TAG_CHARS; i++) {
        char c = dash[1 + i];
        got[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    /* Canonical form only: the id has no leading zeros. */
    if (CRYPTO_memcmp(want, got, TAG_CHARS) != 0 || (dash - tok > 1 && tok[0] == '0'))
        return EDM_EINVAL;
    *id = v;
    return 0;
}

static int prefix_ok(const char *prefix)
{
    size_t n = strlen(prefix);
    if (n == 0 || n > 40)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = prefix[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || (c == '.' && i > 0 && i + 1 < n && prefix[i + 1] != '.')))
            return 0;
    }
    return 1;
}

static int domain_ok(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-' || d[n - 1] == '.' || strstr(d, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

int edm_verp_address_token(edm_buf *out, const char *prefix, const char *domain, const char *token)
{
    if (!prefix_ok(prefix) || !domain_ok(domain))
        return EDM_EINVAL;
    return edm_buf_appendf(out, "%s+%s@%s", prefix, token, domain);
}

int edm_verp_address(edm_buf *out, enum edm_verp_kind kind, const char *prefix, const char *domain,
                     const void *secret, size_t secret_len, uint64_t id)
{
    char tok[EDM_VERP_TOKEN_MAX];
    int n = edm_verp_token(tok, kind, secret, secret_len, id);
    if (n < 0)
        return n;
    return edm_verp_address_token(out, prefix, domain, tok);
}

int edm_verp_address_parse(const char *addr, enum edm_verp_kind kind, const char *prefix,
                           const void *secret, size_t secret_len, uint64_t *id)
{
    size_t pn = strlen(prefix);
    const char *at = strrchr(addr, '@');
    if (at == NULL || (size_t)(at - addr) <= pn + 1 || strncasecmp(addr, prefix, pn) != 0 ||
        addr[pn] != '+')
        return EDM_EINVAL;
    const char *tok = addr + pn + 1;
    return edm_verp_token_check(tok, (size_t)(at - tok), kind, secret, secret_len, id);
}

int edm_verp_unsub_url(edm_buf *out, const char *base_url, const char *token)
{
    for (const char *p = token; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return EDM_EINVAL;
    if (strncasecmp(base_url, "https://", 8) != 0 && strncasecmp(base_url, "http://", 7) != 0)
        return EDM_EINVAL;
    const char *hash = strchr(base_url, '#');
    size_t bn = hash ? (size_t)(hash - base_url) : strlen(base_url);
    const char *q = memchr(base_url, '?', bn);
    const char *sep = q == NULL                                                          ? "?"
                      : (bn > 0 && (base_url[bn - 1] == '?' || base_url[bn - 1] == '&')) ? ""
                                                                                         : "&";
    return edm_buf_appendf(out, "%.*s%st=%s", (int)bn, base_url, sep, token);
}

/* Writes v in hex without leading zeros; returns the length. */
static int put_hex(char *out, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char digits[17];
    int nd = 0, len = 0;
    do {
        digits[nd++] = hex[v & 15];
        v >>= 4;
    } while (v);
    while (nd)
        out[len++] = digits[--nd];
    return len;
}

/* Parses canonical hex (no leading zeros, 1..max digits); -1 if not. */
static int get_hex(const char *p, size_t n, size_t max, uint64_t *v)
{
    if (n == 0 || n > max || (n > 1 && p[0] == '0'))
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return 0;
}

int edm_verp_track_token(char *out, enum edm_verp_kind kind, const void *secret, size_t secret_len,
                         uint64_t id, uint32_t link)
{
    if (kind != EDM_VERP_OPEN && kind != EDM_VERP_CLICK)
        return EDM_EINVAL;
    unsigned char t[TAG_BYTES];
    int rc = tag2(t, kind, secret, secret_len, id, kind == EDM_VERP_CLICK ? link : 0);
    if (rc != 0)
        return rc;
    int len = put_hex(out, id);
    out[len++] = '-';
    if (kind == EDM_VERP_CLICK) {
        len += put_hex(out + len, link);
        out[len++] = '-';
    }
    base32(out + len, t);
    len += TAG_CHARS;
    out[len] = '\0';
    return len;
}

int edm_verp_track_check(const char *tok, size_t n, enum edm_verp_kind kind, const void *secret,
                         size_t secret_len, uint64_t *id, uint32_t *link)
{
    if ((kind != EDM_VERP_OPEN && kind != EDM_VERP_CLICK) || n < TAG_CHARS + 2 ||
        tok[n - TAG_CHARS - 1] != '-')
        return EDM_EINVAL;
    const char *tagp = tok + n - TAG_CHARS;
    const char *end = tagp - 1; /* the '-' before the tag */
    uint64_t v = 0, l = 0;
    if (kind == EDM_VERP_CLICK) {
        const char *dash = memchr(tok, '-', (size_t)(end - tok));
        if (dash == NULL || get_hex(tok, (size_t)(dash - tok), 16, &v) != 0 ||
            get_hex(dash + 1, (size_t)(end - dash - 1), 8, &l) != 0)
            return EDM_EINVAL;
    } else if (get_hex(tok, (size_t)(end - tok), 16, &v) != 0) {
        return EDM_EINVAL;
    }
    unsigned char t[TAG_BYTES];
    int rc = tag2(t, kind, secret, secret_len, v, (uint32_t)l);
    if (rc != 0)
        return rc;
    char want[TAG_CHARS];
    base32(want, t);
    if (CRYPTO_memcmp(want, tagp, TAG_CHARS) != 0)
        return EDM_EINVAL;
    *id = v;
    if (link)
        *link = (uint32_t)l;
    return 0;
}
