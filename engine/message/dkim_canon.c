/*
 * engine/message/dkim_canon.c: relaxed/relaxed canonicalisation for the DKIM
 * signer (see dkim_int.h), done by us rather than a library so that the
 * body is hashed in one streaming pass with no copy of the message.
 *
 * Header (RFC 6376 3.4.2): lower-case name, unfold, runs of WSP to one SP,
 * no WSP at the end of the value or around the colon. Body (3.4.4): runs
 * of WSP to one SP, none at line ends, empty lines at the end dropped, a
 * CRLF after the last non-empty line; an empty body hashes as "". Lines
 * end with CRLF; a lone CR or LF is an ordinary character.
 */
#include "engine/message/dkim_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

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

/* 1 if the line (without its CRLF) is its own relaxed form: no tab, no
 * two spaces in a row, no space at its end. */
static int line_is_canonical(const char *p, const char *end)
{
    if (p == end)
        return 1;
    if (end[-1] == ' ' || memchr(p, '\t', (size_t)(end - p)) != NULL)
        return 0;
    for (const char *q = p; (q = memchr(q, ' ', (size_t)(end - q))) != NULL; q++)
        if (q + 1 < end && q[1] == ' ')
            return 0;
    return 1;
}

/* Writes the relaxed form of one line (no CRLF) at o; returns the end. */
static char *canon_line(char *o, const char *p, const char *end)
{
    int ws = 0;
    for (; p < end; p++) {
        if (is_wsp(*p)) {
            ws = 1;
            continue;
        }
        if (ws)
            *o++ = ' ';
        ws = 0;
        *o++ = *p;
    }
    return o;
}

int dkim_canon_body(EVP_MD_CTX *ctx, edm_buf *scratch, const char *p, size_t len)
{
    edm_buf_reset(scratch);
    int rc = edm_buf_reserve(scratch, len + 2);
    if (rc != 0)
        return rc;
    char *start = scratch->data, *o = start;
    const char *end = p + len;
    while (p < end) {
        const char *crlf = find_crlf(p, end);
        const char *le = crlf ? crlf : end;
        if (line_is_canonical(p, le)) {
            memcpy(o, p, (size_t)(le - p));
            o += le - p;
        } else {
            o = canon_line(o, p, le);
        }
        if (crlf == NULL)
            break;
        *o++ = '\r';
        *o++ = '\n';
        p = crlf + 2;
    }
    /* Empty lines at the end go; a non-empty body ends with one CRLF. */
    while (o - start >= 2 && o[-2] == '\r' && o[-1] == '\n')
        o -= 2;
    if (o > start) {
        *o++ = '\r';
        *o++ = '\n';
    }
    if (o > start && EVP_DigestUpdate(ctx, start, (size_t)(o - start)) != 1)
        return EDM_EIO;
    return 0;
}
