/*
 * engine/dkim_canon.c: relaxed/relaxed canonicalisation for the DKIM
 * signer (see dkim_int.h), done by us rather than a library so that the
 * body is hashed in one streaming pass with no copy of the message.
 *
 * Header (RFC 6376 3.4.2): lower-case name, unfold, runs of WSP to one SP,
 * no WSP at the end of the value or around the colon. Body (3.4.4): runs
 * of WSP to one SP, none at line ends, empty lines at the end dropped, a
 * CRLF after the last non-empty line; an empty body hashes as "". Lines
 * end with CRLF; a lone CR or LF is an ordinary character.
 */
#include "engine/dkim_int.h"
#include "engine/alloc.h"
#include "engine/err.h"

#include <string.h>

static const char *find_crlf(const char *p, const char *end)
{
    while (p < end) {
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        if (cr == NULL || cr + 1 >= end)
            return NULL;
        if (cr[1] == '\n')
            return cr;
        p = cr + 1;
    }
    return NULL;
}

int dkim_canon_split(const char *msg, size_t len, dkim_field **fields, size_t *cap, size_t *n,
                     size_t *body)
{
    const char *p = msg, *end = msg + len;
    *n = 0;
    *body = len;
    while (p < end) {
        const char *eol = find_crlf(p, end);
        const char *le = eol ? eol : end;
        if (le == p) { /* the blank line */
            *body = (size_t)(le + 2 - msg);
            return 0;
        }
        if (*p == ' ' || *p == '\t') {
            if (*n == 0)
                return EDM_EINVAL;
            dkim_field *f = &(*fields)[*n - 1];
            f->len = (size_t)(le - f->p);
        } else {
            const char *colon = memchr(p, ':', (size_t)(le - p));
            if (colon == NULL)
                return EDM_EINVAL;
            if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 32;
                dkim_field *nf = edm_realloc(*fields, nc * sizeof *nf);
                if (nf == NULL)
                    return EDM_ENOMEM;
                *fields = nf;
                *cap = nc;
            }
            dkim_field *f = &(*fields)[(*n)++];
            f->p = p;
            f->len = (size_t)(le - p);
            f->name_len = (size_t)(colon - p);
        }
        p = eol ? eol + 2 : end;
    }
    return 0;
}

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

int dkim_canon_header(edm_buf *out, const char *p, size_t len, int crlf)
{
    int rc = edm_buf_reserve(out, len + 3);
    if (rc != 0)
        return rc;
    char *o = out->data + out->len;
    const char *colon = memchr(p, ':', len);
    EDM_ASSERT(colon != NULL);
    const char *name_end = colon;
    while (name_end > p && is_wsp(name_end[-1]))
        name_end--;
    for (const char *q = p; q < name_end; q++)
        *o++ = (*q >= 'A' && *q <= 'Z') ? (char)(*q + 32) : *q;
    *o++ = ':';
    int ws = 0, any = 0;
    for (const char *q = colon + 1; q < p + len; q++) {
        char c = *q;
        if (c == '\r' || c == '\n')
            continue;
        if (is_wsp(c)) {
            ws = any;
            continue;
        }
        if (ws)
            *o++ = ' ';
        ws = 0;
        any = 1;
        *o++ = c;
    }
    if (crlf) {
        *o++ = '\r';
        *o++ = '\n';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}

int dkim_canon_body(EVP_MD_CTX *ctx, const char *p, size_t len)
{
    unsigned char buf[8192];
    size_t bl = 0, empties = 0, line = 0;
    int ws = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (bl == sizeof buf) {                                                                    \
            if (EVP_DigestUpdate(ctx, buf, bl) != 1)                                               \
                return EDM_EIO;                                                                    \
            bl = 0;                                                                                \
        }                                                                                          \
        buf[bl++] = (unsigned char)(ch);                                                           \
    } while (0)
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '\r' && i + 1 < len && p[i + 1] == '\n') {
            i++;
            if (line == 0) {
                empties++;
            } else {
                PUT('\r');
                PUT('\n');
            }
            line = 0;
            ws = 0;
            continue;
        }
        if (is_wsp(c)) {
            ws = 1;
            continue;
        }
        if (line == 0)
            for (; empties > 0; empties--) {
                PUT('\r');
                PUT('\n');
            }
        if (ws) {
            PUT(' ');
            line++;
            ws = 0;
        }
        PUT(c);
        line++;
    }
    if (line > 0) {
        PUT('\r');
        PUT('\n');
    }
#undef PUT
    if (bl > 0 && EVP_DigestUpdate(ctx, buf, bl) != 1)
        return EDM_EIO;
    return 0;
}
