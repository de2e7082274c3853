/*
 * engine/message/mime_hdr.c: header fields for the composer (see mime_int.h).
 *
 * Owns header safety: every value goes through mime_hdr_sanitize (valid
 * UTF-8, no control characters, no line breaks) and is then written either
 * as plain ASCII words or as RFC 2047 B-encoded words, folded between atoms
 * so that lines stay within 78 columns where possible and never pass 998
 * octets (an atom that could not fit fails with EDM_ETOOBIG; the composer
 * bounds every atom it writes, so that is a bug, not data). Addresses are
 * validated, never repaired: mime_addr_valid accepts ASCII dot-atom local
 * parts and LDH domains only (engine/base/addr.c: no quoted local parts,
 * no SMTPUTF8, no address literals).
 */
#include "engine/message/mime_int.h"
#include "engine/base/addr.h"
#include "engine/base/base64.h"
#include "engine/base/err.h"

#include <string.h>

/* Longest plain word we write as is (fits a line after any field name). */
#define PLAIN_WORD_MAX 900
/* Longest quoted display name or parameter before we switch to encoded
 * forms that fold. */
#define QUOTED_MAX 60

void mime_fold_begin(mime_fold *f, edm_buf *out, const char *name)
{
    f->out = out;
    size_t n = strlen(name);
    f->rc = edm_buf_reserve(out, n + 80);
    if (f->rc == 0) {
        memcpy(out->data + out->len, name, n);
        out->len += n;
        out->data[out->len++] = ':';
        out->data[out->len] = '\0';
    }
    f->col = f->first = n + 1;
}

void mime_fold_atom(mime_fold *f, const char *s, size_t n)
{
    if (f->rc != 0)
        return;
    /* Never fold right after "Name:": Python's parser, among others, would
     * keep the fold's space as the start of the value. */
    int fold = f->col > f->first && f->col + 1 + n > MIME_FOLD_COLS;
    size_t col = fold ? 1 + n : f->col + 1 + n;
    if (col > MIME_LINE_MAX) {
        f->rc = EDM_ETOOBIG;
        return;
    }
    f->rc = edm_buf_reserve(f->out, n + 3);
    if (f->rc != 0)
        return;
    char *p = f->out->data + f->out->len;
    if (fold) {
        *p++ = '\r';
        *p++ = '\n';
    }
    *p++ = ' ';
    memcpy(p, s, n);
    p += n;
    *p = '\0';
    f->out->len = (size_t)(p - f->out->data);
    f->col = col;
}

void mime_fold_raw(mime_fold *f, const char *s, size_t n)
{
    if (f->rc != 0)
        return;
    if (f->col + n > MIME_LINE_MAX) {
        f->rc = EDM_ETOOBIG;
        return;
    }
    f->rc = edm_buf_append(f->out, s, n);
    f->col += n;
}

int mime_fold_end(mime_fold *f)
{
    if (f->rc == 0)
        f->rc = edm_buf_append(f->out, "\r\n", 2);
    return f->rc;
}

/* Length of the valid UTF-8 sequence at s (1..4) and its code point, or 0
 * if the bytes there are not valid UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf, v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        unsigned b = s[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf))
            return 0;
        v = (v << 6) | (b & 0x3f);
    }
    *cp = v;
    return len;
}

int mime_hdr_sanitize(edm_buf *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    /* Each input byte gives at most 3 output bytes (U+FFFD). */
    int rc = n > ((size_t)-1 - 4) / 3 ? EDM_ETOOBIG : edm_buf_reserve(out, 3 * n + 4);
    if (rc != 0)
        return rc;
    size_t start = out->len;
    int space = 1; /* drop leading spaces */
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t len = utf8_decode(u + i, n - i, &cp);
        const char *bytes = s + i;
        if (len == 0) {
            bytes = "\xef\xbf\xbd"; /* U+FFFD for one bad byte */
            len = 3;
            i += 1;
            cp = 0xfffd;
        } else {
            i += len;
        }
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
            cp == ' ') {
            if (!space)
                out->data[out->len++] = ' ';
            space = 1;
            continue;
        }
        memcpy(out->data + out->len, bytes, len);
        out->len += len;
        space = 0;
    }
    if (out->len > start && out->data[out->len - 1] == ' ')
        out->len--;
    out->data[out->len] = '\0';
    return 0;
}

int mime_hdr_is_plain(const char *s, size_t n)
{
    size_t word = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 || c < 0x20 || c == 0x7f)
            return 0;
        if (c == '=' && i + 1 < n && s[i + 1] == '?')
            return 0;
        word = c == ' ' ? 0 : word + 1;
        if (word > PLAIN_WORD_MAX)
            return 0;
    }
    return 1;
}

/* Plain words separated by single spaces become one atom each. */
static void plain_words(mime_fold *f, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != ' ')
            j++;
        mime_fold_atom(f, s + i, j - i);
        i = j + 1;
    }
}

void mime_hdr_encoded_words(mime_fold *f, const char *s, size_t n)
{
    /* "=?UTF-8?B?" + base64 + "?=" is at most 75 chars (RFC 2047 2);
     * whole UTF-8 characters per word (RFC 2047 5). */
    static const char pre[] = "=?UTF-8?B?";
    size_t i = 0;
    while (i < n) {
        size_t room = f->col + 1 < MIME_FOLD_COLS ? MIME_FOLD_COLS - f->col - 1 : 0;
        if (room > 75)
            room = 75;
        size_t kmax = room >= 16 ? (room - 12) / 4 * 3 : 0;
        size_t need = 1;
        while (i + need < n && ((unsigned char)s[i + need] & 0xc0) == 0x80)
            need++;
        if (kmax < need) /* a fresh line: 12 + 60 = 72 columns; right after
                          * a long field name (no fold there): one character */
            kmax = f->col > f->first ? 45 : need;
        size_t k = n - i < kmax ? n - i : kmax;
        while (k > need && i + k < n && ((unsigned char)s[i + k] & 0xc0) == 0x80)
            k--;
        char word[80];
        memcpy(word, pre, sizeof pre - 1);
        edm_base64_encode_raw(word + sizeof pre - 1, s + i, k);
        size_t len = sizeof pre - 1 + EDM_BASE64_LEN(k);
        word[len++] = '?';
        word[len++] = '=';
        mime_fold_atom(f, word, len);
        i += k;
    }
}

int mime_hdr_unstructured(edm_buf *out, edm_buf *scratch, const char *name, const char *v, size_t n)
{
    edm_buf_reset(scratch);
    int rc = mime_hdr_sanitize(scratch, v, n);
    if (rc != 0)
        return rc;
    mime_fold f;
    mime_fold_begin(&f, out, name);
    if (mime_hdr_is_plain(scratch->data, scratch->len))
        plain_words(&f, scratch->data, scratch->len);
    else
        mime_hdr_encoded_words(&f, scratch->data, scratch->len);
    return mime_fold_end(&f);
}

/* Addresses and domains are checked by the one validator the API and the
 * import use too (engine/base/addr.c), so what they accept composes. */
int mime_domain_valid(const char *d, size_t n)
{
    return edm_addr_domain_sendable(d, n);
}

int mime_addr_valid(const char *addr)
{
    return edm_addr_sendable(addr);
}

int mime_url_valid(const char *url)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++, n++)
        if (*p < 33 || *p > 126 || *p == '<' || *p == '>' || *p == '"')
            return 0;
    return n >= 1 && n <= PLAIN_WORD_MAX - 2;
}

/* Appends s as a quoted-string ("..." with \ before " and \). */
static int append_quoted(edm_buf *out, const char *s, size_t n)
{
    int rc = edm_buf_append_char(out, '"');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            rc = edm_buf_append_char(out, '\\');
        if (rc == 0)
            rc = edm_buf_append_char(out, s[i]);
    }
    return rc ? rc : edm_buf_append_char(out, '"');
}

/* 1 if every word of s, once quoted (backslashes before " and \), still
 * fits PLAIN_WORD_MAX. */
static int quoted_words_fit(const char *s, size_t n)
{
    size_t word = 2;
    for (size_t i = 0; i < n; i++) {
        word = s[i] == ' ' ? 2 : word + 1 + (s[i] == '"' || s[i] == '\\');
        if (word > PLAIN_WORD_MAX)
            return 0;
    }
    return 1;
}

int mime_hdr_address(edm_buf *out, edm_buf *scratch, const char *name, const char *display,
                     const char *addr)
{
    if (!mime_addr_valid(addr))
        return EDM_EINVAL;
    edm_buf_reset(scratch);
    int rc = display ? mime_hdr_sanitize(scratch, display, strlen(display)) : 0;
    if (rc != 0)
        return rc;
    mime_fold f;
    mime_fold_begin(&f, out, name);
    size_t dn = scratch->len;
    if (dn == 0) {
        mime_fold_atom(&f, addr, strlen(addr));
        return mime_fold_end(&f);
    }
    if (mime_hdr_is_plain(scratch->data, dn) && quoted_words_fit(scratch->data, dn)) {
        /* A quoted-string, folded at its spaces (FWS inside quotes unfolds
         * to the one space sanitising left there). Reserve first:
         * append_quoted reads from the same buffer. */
        if ((rc = edm_buf_reserve(scratch, 2 * dn + 2)) != 0 ||
            (rc = append_quoted(scratch, scratch->data, dn)) != 0)
            return rc;
        plain_words(&f, scratch->data + dn, scratch->len - dn);
    } else {
        mime_hdr_encoded_words(&f, scratch->data, dn);
    }
    edm_buf_reset(scratch);
    if ((rc = edm_buf_appendf(scratch, "<%s>", addr)) != 0)
        return rc;
    mime_fold_atom(&f, scratch->data, scratch->len);
    return mime_fold_end(&f);
}

/* RFC 2231 attribute-char: what may stay unescaped in an extended value. */
static int is_attr_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$&+-.^_`|~", c) != NULL);
}

int mime_hdr_param(mime_fold *f, edm_buf *scratch, const char *key, const char *v, size_t n)
{
    edm_buf_reset(scratch);
    int rc = mime_hdr_sanitize(scratch, v, n);
    if (rc != 0)
        return rc;
    size_t vn = scratch->len;
    mime_fold_raw(f, ";", 1);
    if (vn <= QUOTED_MAX && mime_hdr_is_plain(scratch->data, vn)) {
        /* Reserve first: append_quoted reads from the same buffer. */
        if ((rc = edm_buf_reserve(scratch, 2 * vn + strlen(key) + 3)) != 0 ||
            (rc = edm_buf_appendf(scratch, "%s=", key)) != 0 ||
            (rc = append_quoted(scratch, scratch->data, vn)) != 0)
            return rc;
        mime_fold_atom(f, scratch->data + vn, scratch->len - vn);
        return f->rc;
    }
    /* key*0*=utf-8''%XX..; key*1*=...; segments of at most 48 encoded
     * characters, never splitting a %XX triplet. */
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0;
    for (int seg = 0; i < vn || seg == 0; seg++) {
        size_t at = scratch->len;
        rc = edm_buf_appendf(scratch, "%s*%d*=%s", key, seg, seg == 0 ? "utf-8''" : "");
        for (size_t w = 0; rc == 0 && i < vn && w < 48; i++) {
            unsigned char c = (unsigned char)scratch->data[i];
            if (is_attr_char(c)) {
                rc = edm_buf_append_char(scratch, (char)c);
                w++;
            } else {
                char e[3] = {'%', hex[c >> 4], hex[c & 15]};
                rc = edm_buf_append(scratch, e, 3);
                w += 3;
            }
        }
        if (rc != 0)
            return rc;
        if (seg > 0)
            mime_fold_raw(f, ";", 1);
        mime_fold_atom(f, scratch->data + at, scratch->len - at);
    }
    return f->rc;
}
