/*
 * engine/message/dkim.c: DKIM keys and signing (see dkim.h).
 *
 * Owns key loading (OpenSSL PEM, checked for algorithm and size), the DNS
 * TXT record, the choice and order of signed fields, the DKIM-Signature
 * field's text and the signing itself. Canonicalisation is in
 * dkim_canon.c. The body hash and the hash of the signed fields are
 * computed once per message and shared by every key; each key then hashes
 * its own DKIM-Signature field (b= empty) and signs the SHA-256 digest:
 * PKCS#1 v1.5 for RSA, PureEdDSA over the digest for Ed25519 (RFC 8463 3).
 *
 * A signer caches one OpenSSL signing context per key (RSA: an
 * EVP_PKEY_CTX set up for PKCS#1 + SHA-256; Ed25519: a DigestSign
 * context) so that a message costs the signature and little else. For
 * RSA the context is made on the signer's own copy of the key: OpenSSL
 * keeps one blinding per key for the thread that made it, and every other
 * thread signing with that key goes through a second, locked one (about
 * 2% more per signature with four threads, measured).
 * Return contract: 0 or a negative EDM_E* code; out untouched on failure.
 */
#include "engine/message/dkim.h"
#include "engine/base/alloc.h"
#include "engine/base/base64.h"
#include "engine/message/dkim_int.h"
#include "engine/base/err.h"

#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct edm_dkim_key {
    EVP_PKEY *pkey;
    enum edm_dkim_alg alg;
    unsigned long serial; /* tells keys apart in signer caches */
    char domain[254];
    char selector[64];
};

#define SIGNER_SLOTS 8

struct edm_dkim_signer {
    EVP_MD *sha256;
    EVP_MD_CTX *body, *head, *one;
    dkim_field *fields;
    size_t fields_cap;
    edm_buf canon, sig, hlist, bodybuf;
    struct {
        const edm_dkim_key *key;
        unsigned long serial;
        EVP_PKEY *own;      /* RSA: this signer's copy of the key */
        EVP_PKEY_CTX *pctx; /* RSA */
        EVP_MD_CTX *ectx;   /* Ed25519 */
    } slot[SIGNER_SLOTS];
};

/* The fields we sign, in h= order; From is listed once more than it
 * occurs so that no From can be added (over-signing). */
static const char *const signed_names[] = {"From",
                                           "To",
                                           "Subject",
                                           "Date",
                                           "Message-ID",
                                           "MIME-Version",
                                           "Content-Type",
                                           "Content-Transfer-Encoding",
                                           "List-Unsubscribe",
                                           "List-Unsubscribe-Post",
                                           "Reply-To",
                                           "Feedback-ID"};

static atomic_ulong key_serial;

static int key_error(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int key_error(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* A DNS name or selector: labels of letters, digits, '-' and '_'. */
static int dns_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") != NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

int edm_dkim_key_load(edm_dkim_key **out, const char *pem_path, const char *domain,
                      const char *selector, enum edm_dkim_alg alg, char *err, size_t errlen)
{
    *out = NULL;
    if (!dns_name_ok(domain, 253))
        return key_error(err, errlen, EDM_EINVAL, "domain: not a domain name");
    if (!dns_name_ok(selector, 63))
        return key_error(err, errlen, EDM_EINVAL, "selector: not a DNS label");
    FILE *fp = fopen(pem_path, "r");
    if (fp == NULL)
        return key_error(err, errlen, EDM_EIO, "key: cannot open %s", pem_path);
    EVP_PKEY *pkey = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
    fclose(fp);
    if (pkey == NULL)
        return key_error(err, errlen, EDM_EINVAL, "key: %s is not an unencrypted PEM private key",
                         pem_path);
    int id = EVP_PKEY_get_base_id(pkey), bits = EVP_PKEY_get_bits(pkey);
    int rc = 0;
    if (alg == EDM_DKIM_RSA_SHA256 && id != EVP_PKEY_RSA)
        rc = key_error(err, errlen, EDM_EINVAL, "key: %s is not an RSA key", pem_path);
    else if (alg == EDM_DKIM_RSA_SHA256 && (bits < 1024 || bits > 4096))
        rc =
            key_error(err, errlen, EDM_EINVAL, "key: RSA key of %d bits (1024-4096 allowed)", bits);
    else if (alg == EDM_DKIM_ED25519_SHA256 && id != EVP_PKEY_ED25519)
        rc = key_error(err, errlen, EDM_EINVAL, "key: %s is not an Ed25519 key", pem_path);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
        return rc;
    }
    edm_dkim_key *k = edm_calloc(1, sizeof *k);
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return key_error(err, errlen, EDM_ENOMEM, "out of memory");
    }
    k->pkey = pkey;
    k->alg = alg;
    k->serial = atomic_fetch_add(&key_serial, 1) + 1;
    snprintf(k->domain, sizeof k->domain, "%s", domain);
    snprintf(k->selector, sizeof k->selector, "%s", selector);
    *out = k;
    return 0;
}

void edm_dkim_key_free(edm_dkim_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_free(key->pkey);
    edm_free(key);
}

enum edm_dkim_alg edm_dkim_key_alg(const edm_dkim_key *key)
{
    return key->alg;
}

const char *edm_dkim_key_domain(const edm_dkim_key *key)
{
    return key->domain;
}

const char *edm_dkim_key_selector(const edm_dkim_key *key)
{
    return key->selector;
}

int edm_dkim_key_dns_txt(const edm_dkim_key *key, edm_buf *out)
{
    unsigned char raw[32], *der = NULL;
    const unsigned char *pub = raw;
    size_t n = sizeof raw;
    if (key->alg == EDM_DKIM_RSA_SHA256) {
        int len = i2d_PUBKEY(key->pkey, &der);
        if (len <= 0)
            return EDM_ENOMEM;
        pub = der;
        n = (size_t)len;
    } else if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &n) != 1) {
        return EDM_EIO;
    }
    size_t start = out->len;
    int rc = edm_buf_appendf(
        out, "v=DKIM1; k=%s; p=", key->alg == EDM_DKIM_RSA_SHA256 ? "rsa" : "ed25519");
    if (rc == 0)
        rc = edm_base64_encode(out, pub, n, 0);
    OPENSSL_free(der);
    if (rc != 0)
        out->len = start;
    return rc;
}

edm_dkim_signer *edm_dkim_signer_new(void)
{
    edm_dkim_signer *s = edm_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    s->body = EVP_MD_CTX_new();
    s->head = EVP_MD_CTX_new();
    s->one = EVP_MD_CTX_new();
    if (!s->sha256 || !s->body || !s->head || !s->one) {
        edm_dkim_signer_free(s);
        return NULL;
    }
    return s;
}

void edm_dkim_signer_free(edm_dkim_signer *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < SIGNER_SLOTS; i++) {
        EVP_PKEY_CTX_free(s->slot[i].pctx);
        EVP_PKEY_free(s->slot[i].own);
        EVP_MD_CTX_free(s->slot[i].ectx);
    }
    EVP_MD_CTX_free(s->body);
    EVP_MD_CTX_free(s->head);
    EVP_MD_CTX_free(s->one);
    EVP_MD_free(s->sha256);
    edm_free(s->fields);
    edm_buf_free(&s->canon);
    edm_buf_free(&s->sig);
    edm_buf_free(&s->hlist);
    edm_buf_free(&s->bodybuf);
    edm_free(s);
}

/* The signer's slot for key, set up on first use (slots are reused
 * round-robin when more keys than slots pass through one signer). */
static int slot_for(edm_dkim_signer *s, const edm_dkim_key *key)
{
    int free_slot = -1;
    for (int i = 0; i < SIGNER_SLOTS; i++) {
        if (s->slot[i].key == key && s->slot[i].serial == key->serial)
            return i;
        if (free_slot < 0 && s->slot[i].key == NULL)
            free_slot = i;
    }
    int i = free_slot >= 0 ? free_slot : (int)(key->serial % SIGNER_SLOTS);
    EVP_PKEY_CTX_free(s->slot[i].pctx);
    EVP_PKEY_free(s->slot[i].own);
    EVP_MD_CTX_free(s->slot[i].ectx);
    memset(&s->slot[i], 0, sizeof s->slot[i]);
    if (key->alg == EDM_DKIM_RSA_SHA256) {
        EVP_PKEY *own = EVP_PKEY_dup(key->pkey);
        EVP_PKEY_CTX *p = own ? EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL) : NULL;
        if (p == NULL || EVP_PKEY_sign_init(p) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PADDING) != 1 ||
            EVP_PKEY_CTX_set_signature_md(p, s->sha256) != 1) {
            EVP_PKEY_CTX_free(p);
            EVP_PKEY_free(own);
            return EDM_EIO;
        }
        s->slot[i].own = own;
        s->slot[i].pctx = p;
    } else {
        EVP_MD_CTX *e = EVP_MD_CTX_new();
        if (e == NULL || EVP_DigestSignInit_ex(e, NULL, NULL, NULL, NULL, key->pkey, NULL) != 1) {
            EVP_MD_CTX_free(e);
            return EDM_EIO;
        }
        s->slot[i].ectx = e;
    }
    s->slot[i].key = key;
    s->slot[i].serial = key->serial;
    return i;
}

static int name_is(const dkim_field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(f->p, name, f->name_len) == 0;
}

/* Hashes the signed fields into s->head and writes the h= list (names
 * separated by ':', as folding atoms) to hlist. */
static int hash_fields(edm_dkim_signer *s, size_t nf, edm_buf *hlist, int *has_from)
{
    if (EVP_DigestInit_ex(s->head, s->sha256, NULL) != 1)
        return EDM_EIO;
    edm_buf_reset(&s->canon);
    *has_from = 0;
    for (size_t k = 0; k < sizeof signed_names / sizeof signed_names[0]; k++) {
        /* Every instance, bottom-up (RFC 6376 5.4.2). */
        for (size_t i = nf; i-- > 0;) {
            if (!name_is(&s->fields[i], signed_names[k]))
                continue;
            int rc = dkim_canon_header(&s->canon, s->fields[i].p, s->fields[i].len, 1);
            if (rc == 0)
                rc = edm_buf_appendf(hlist, "%s%s", hlist->len ? ":" : "", signed_names[k]);
            if (rc != 0)
                return rc;
            *has_from |= k == 0;
        }
    }
    if (*has_from && edm_buf_append_str(hlist, ":From") != 0)
        return EDM_ENOMEM;
    if (EVP_DigestUpdate(s->head, s->canon.data, s->canon.len) != 1)
        return EDM_EIO;
    return 0;
}

/* Appends text to a DKIM-Signature field being built, folding before it
 * (CRLF SP) when the line would pass 78 columns, else a space if sep. */
static int put(edm_buf *out, size_t *col, const char *text, size_t n, int sep)
{
    int rc = 0;
    if (*col + n + (sep ? 1 : 0) > 78 && *col > 1) {
        rc = edm_buf_append(out, "\r\n ", 3);
        *col = 1;
    } else if (sep) {
        rc = edm_buf_append_char(out, ' ');
        (*col)++;
    }
    if (rc == 0)
        rc = edm_buf_append(out, text, n);
    *col += n;
    return rc;
}

/* One DKIM-Signature field for key, appended to out. */
static int sign_one(edm_dkim_signer *s, const edm_dkim_key *key, const edm_buf *hlist,
                    const char *bh, int64_t t, edm_buf *out)
{
    int slot = slot_for(s, key);
    if (slot < 0)
        return slot;
    size_t start = out->len, col = 15;
    char tag[400];
    int rc = edm_buf_append_str(out, "DKIM-Signature:");
    int n = snprintf(tag, sizeof tag, "v=1; a=%s; c=relaxed/relaxed;", edm_dkim_alg_name(key->alg));
    rc = rc ? rc : put(out, &col, tag, (size_t)n, 1);
    n = snprintf(tag, sizeof tag, "d=%s; s=%s;", key->domain, key->selector);
    rc = rc ? rc : put(out, &col, tag, (size_t)n, 1);
    n = snprintf(tag, sizeof tag, "t=%lld;", (long long)t);
    rc = rc ? rc : put(out, &col, tag, (size_t)n, 1);
    /* h=: names joined by ':'; a fold only ever follows a ':'. */
    const char *h = hlist->data;
    for (size_t i = 0, first = 1; rc == 0 && i < hlist->len; first = 0) {
        const char *end = memchr(h + i, ':', hlist->len - i);
        size_t j = end ? (size_t)(end - h) + 1 : hlist->len;
        char piece[64];
        size_t pn = 0;
        if (first)
            pn = (size_t)snprintf(piece, sizeof piece, "h=");
        memcpy(piece + pn, h + i, j - i);
        pn += j - i;
        if (j == hlist->len)
            piece[pn++] = ';';
        rc = put(out, &col, piece, pn, first);
        i = j;
    }
    n = snprintf(tag, sizeof tag, "bh=%s;", bh);
    rc = rc ? rc : put(out, &col, tag, (size_t)n, 1);
    rc = rc ? rc : put(out, &col, "b=", 2, 1);
    /* The hash covers this field with an empty b=, canonicalised, no CRLF. */
    unsigned char md[EVP_MAX_MD_SIZE], sig[1024];
    unsigned int mdlen = 0;
    size_t siglen = sizeof sig;
    if (rc == 0) {
        edm_buf_reset(&s->canon);
        rc = dkim_canon_header(&s->canon, out->data + start, out->len - start, 0);
    }
    if (rc == 0 && (EVP_MD_CTX_copy_ex(s->one, s->head) != 1 ||
                    EVP_DigestUpdate(s->one, s->canon.data, s->canon.len) != 1 ||
                    EVP_DigestFinal_ex(s->one, md, &mdlen) != 1 ||
                    (key->alg == EDM_DKIM_RSA_SHA256
                         ? EVP_PKEY_sign(s->slot[slot].pctx, sig, &siglen, md, mdlen) != 1
                         : EVP_DigestSign(s->slot[slot].ectx, sig, &siglen, md, mdlen) != 1)))
        rc = EDM_EIO;
    if (rc == 0) {
        edm_buf_reset(&s->sig);
        rc = edm_base64_encode(&s->sig, sig, siglen, 0);
    }
    for (size_t i = 0; rc == 0 && i < s->sig.len;) {
        size_t room = col < 77 ? 77 - col : 0;
        if (room == 0) {
            rc = edm_buf_append(out, "\r\n ", 3);
            col = 1;
            continue;
        }
        size_t k = s->sig.len - i < room ? s->sig.len - i : room;
        rc = edm_buf_append(out, s->sig.data + i, k);
        col += k;
        i += k;
    }
    if (rc == 0)
        rc = edm_buf_append(out, "\r\n", 2);
    return rc;
}

int edm_dkim_sign(edm_dkim_signer *s, edm_dkim_key *const *keys, size_t nkeys, const char *msg,
                  size_t len, int64_t t, edm_buf *out)
{
    size_t nf, body, start = out->len;
    if (nkeys == 0)
        return 0;
    int rc = dkim_canon_split(msg, len, &s->fields, &s->fields_cap, &nf, &body);
    if (rc != 0)
        return rc;
    unsigned char bh[EVP_MAX_MD_SIZE];
    unsigned int bhlen = 0;
    if (EVP_DigestInit_ex(s->body, s->sha256, NULL) != 1)
        return EDM_EIO;
    if ((rc = dkim_canon_body(s->body, &s->bodybuf, msg + body, len - body)) != 0)
        return rc;
    if (EVP_DigestFinal_ex(s->body, bh, &bhlen) != 1)
        return EDM_EIO;
    char bh64[EDM_BASE64_LEN(EVP_MAX_MD_SIZE) + 1];
    edm_base64_encode_raw(bh64, bh, bhlen);
    bh64[EDM_BASE64_LEN(bhlen)] = '\0';
    int has_from;
    edm_buf_reset(&s->hlist);
    rc = hash_fields(s, nf, &s->hlist, &has_from);
    if (rc == 0 && !has_from)
        rc = EDM_EINVAL;
    for (size_t i = 0; rc == 0 && i < nkeys; i++)
        rc = sign_one(s, keys[i], &s->hlist, bh64, t, out);
    if (rc != 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}
