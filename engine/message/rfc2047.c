/*
 * engine/message/rfc2047.c: unstructured header text as a person reads it
 * (the Subject of a submitted message, which the API shows; rfc2047.h).
 *
 * Entry point: edm_rfc2047_decode, in three steps.
 *  - Unfolding (RFC 5322 2.2.3): a CRLF (or bare LF) followed by WSP is
 *    removed, the WSP kept; leading and trailing WSP and line ends go.
 *  - Encoded words, =?charset[*lang]?B|Q?text?= (RFC 2047; charset and
 *    encoding case-insensitive), are decoded wherever they start, inside a
 *    run of text too, as most mail readers do (RFC 2047 5 wants white
 *    space around them); white space between two decoded words is dropped
 *    (6.2). The bytes of utf-8 and us-ascii words are taken as they are,
 *    any other charset goes through iconv(3) to UTF-8. A word that is
 *    malformed (a charset that is not an RFC 2047 token, an encoding other
 *    than B or Q, white space inside, no "?=", bad base64 or "=XX"), whose
 *    charset iconv does not know, whose bytes do not convert, or whose
 *    result is not valid UTF-8 stays the text it is: never an error. So
 *    do both halves of a character split across two words (RFC 2047 5
 *    forbids the split; a few old encoders make it).
 *  - The result: bytes that are not UTF-8 (raw 8-bit text) become U+FFFD,
 *    tab, CR and LF a space, other control characters (C0, DEL, C1)
 *    U+FFFD; it ends at EDM_RFC2047_MAX bytes, on a character boundary.
 *
 * Time and memory are linear in the input: decoding stops once the result
 * is sure to be full, so a huge field costs one scan and at most a couple
 * of thousand decoded words. Out of memory is fatal.
 */
#include "engine/message/rfc2047.h"
#include "engine/base/alloc.h"
#include "engine/base/base64.h"
#include "engine/base/err.h"
#include "engine/base/hex.h"
#include "engine/base/utf8.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define CHARSET_MAX 64

/* The result as it is written: sanitised and capped. */
typedef struct out {
    char b[EDM_RFC2047_MAX + 1];
    size_t len;
    int full;
} out;

/* Appends s[0..n) to o, character by character, each made safe, until the
 * next one would pass the cap. */
static void emit(out *o, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && !o->full;) {
        uint32_t cp = 0;
        size_t l = edm_utf8_decode(u + i, n - i, &cp);
        const char *c = s + i;
        size_t cl = l;
        if (l == 0 || (cp < 0x20 && cp != '\t' && cp != '\r' && cp != '\n') ||
            (cp >= 0x7f && cp < 0xa0)) {
            c = "\xEF\xBF\xBD";
            cl = 3;
            l = l ? l : 1;
        } else if (cp < 0x20) {
            c = " ";
            cl = 1;
        }
        if (o->len + cl > EDM_RFC2047_MAX) {
            o->full = 1;
            break;
        }
        memcpy(o->b + o->len, c, cl);
        o->len += cl;
        i += l;
    }
}

static void need(int rc)
{
    if (rc != 0)
        EDM_PANIC("rfc2047: %s", edm_strerror(rc));
}

/* An RFC 2047 token character: printable ASCII but SPACE and especials. */
static int is_token(unsigned char c)
{
    return c > ' ' && c < 0x7f && strchr("()<>@,;:\"/[]?.=", c) == NULL;
}

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

typedef struct ew {
    char charset[CHARSET_MAX + 1];
    char enc; /* 'B' or 'Q' */
    const char *text;
    size_t tlen;
    size_t len; /* of the whole word */
} ew;

/* Reads the encoded word s[0..n) starts with (s starts "=?"). 0, or -1 if
 * it is none. */
static int ew_parse(const char *s, size_t n, ew *w)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 2, cl = 0;
    while (i < n && is_token(u[i]) && u[i] != '*') {
        if (cl == CHARSET_MAX)
            return -1;
        w->charset[cl++] = s[i++];
    }
    w->charset[cl] = '\0';
    if (cl == 0)
        return -1;
    if (i < n && u[i] == '*') { /* RFC 2231 language, ignored */
        size_t ls = ++i;
        while (i < n && is_token(u[i]) && u[i] != '*')
            i++;
        if (i == ls)
            return -1;
    }
    if (i + 2 >= n || u[i] != '?' || u[i + 2] != '?')
        return -1;
    w->enc = (char)toupper(u[i + 1]);
    if (w->enc != 'B' && w->enc != 'Q')
        return -1;
    i += 3;
    w->text = s + i;
    while (i < n && u[i] != '?' && u[i] > ' ' && u[i] < 0x7f)
        i++;
    w->tlen = (size_t)(s + i - w->text);
    if (w->tlen == 0 || i + 1 >= n || u[i] != '?' || u[i + 1] != '=')
        return -1;
    w->len = i + 2;
    return 0;
}

/* The bytes w encodes, appended to b. 0, or -1 if the text is malformed. */
static int ew_bytes(const ew *w, edm_buf *b)
{
    if (w->enc == 'B') {
        int rc = edm_base64_decode(b, w->text, w->tlen);
        need(rc == EDM_ENOMEM ? rc : 0);
        return rc == 0 ? 0 : -1;
    }
    const unsigned char *t = (const unsigned char *)w->text;
    for (size_t i = 0; i < w->tlen; i++) {
        char c = (char)t[i];
        if (t[i] == '_') {
            c = ' ';
        } else if (t[i] == '=') {
            int hi = i + 2 < w->tlen ? edm_hex_value(t[i + 1]) : -1;
            int lo = hi >= 0 ? edm_hex_value(t[i + 2]) : -1;
            if (lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        need(edm_buf_append_char(b, c));
    }
    return 0;
}

/* bytes[0..n) in charset cs, converted to UTF-8 into conv. 0, or -1 if iconv
 * does not know cs or the bytes do not convert. */
static int convert(const char *cs, const char *bytes, size_t n, edm_buf *conv)
{
    iconv_t cd = iconv_open("UTF-8", cs);
    if (cd == (iconv_t)-1)
        return -1;
    char *in = (char *)bytes;
    size_t inleft = n;
    int rc = 0;
    need(edm_buf_reserve(conv, n * 2 + 16));
    for (int flush = 0; flush < 2;) {
        char *op = conv->data + conv->len;
        size_t oleft = conv->cap - conv->len - 1; /* room for buf's NUL */
        size_t r =
            flush ? iconv(cd, NULL, NULL, &op, &oleft) : iconv(cd, &in, &inleft, &op, &oleft);
        conv->len = (size_t)(op - conv->data);
        if (r == (size_t)-1 && errno == E2BIG) {
            need(edm_buf_reserve(conv, conv->cap));
            continue;
        }
        if (r == (size_t)-1) {
            rc = -1;
            break;
        }
        flush++;
    }
    iconv_close(cd);
    conv->data[conv->len] = '\0';
    return rc;
}

/* The UTF-8 text of w in *p, *n (pointing into bytes or conv). 0, or -1 if
 * it stays the text it is. */
static int ew_text(const ew *w, edm_buf *bytes, edm_buf *conv, const char **p, size_t *n)
{
    edm_buf_reset(bytes);
    edm_buf_reset(conv);
    if (ew_bytes(w, bytes) != 0)
        return -1;
    const char *b = bytes->data ? bytes->data : "";
    if (strcasecmp(w->charset, "utf-8") == 0 || strcasecmp(w->charset, "us-ascii") == 0) {
        *p = b, *n = bytes->len;
    } else {
        if (convert(w->charset, b, bytes->len, conv) != 0)
            return -1;
        *p = conv->data, *n = conv->len;
    }
    return edm_utf8_valid(*p, *n) ? 0 : -1;
}

char *edm_rfc2047_decode(const char *v, size_t n)
{
    /* Unfold, then trim. */
    char *u = edm_xmalloc(n + 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\r' && i + 2 < n && v[i + 1] == '\n' && is_wsp(v[i + 2]))
            i++;
        else if (!(v[i] == '\n' && i + 1 < n && is_wsp(v[i + 1])))
            u[m++] = v[i];
    }
    size_t s = 0;
    while (s < m && (is_wsp(u[s]) || u[s] == '\r' || u[s] == '\n'))
        s++;
    while (m > s && (is_wsp(u[m - 1]) || u[m - 1] == '\r' || u[m - 1] == '\n'))
        m--;

    out o = {.len = 0};
    edm_buf bytes = EDM_BUF_INIT, conv = EDM_BUF_INIT;
    size_t lit = s;   /* start of the text not written yet */
    int lit_text = 0; /* [lit, i) holds more than white space */
    int after_word = 0;
    for (size_t i = s; i + 1 < m && !o.full;) {
        /* Text that will be written fills the result on its own (each
         * character of at most 4 bytes writes at least one): stop here, so
         * that a huge field costs a scan, not an iconv per word. */
        if ((lit_text || !after_word) && o.len + (i - lit) / 4 > EDM_RFC2047_MAX)
            break;
        ew w;
        const char *t;
        size_t tl;
        if (u[i] != '=' || u[i + 1] != '?' || ew_parse(u + i, m - i, &w) != 0) {
            lit_text |= !is_wsp(u[i]);
            i++;
            continue;
        }
        if (ew_text(&w, &bytes, &conv, &t, &tl) != 0) {
            lit_text = 1;
            i += w.len; /* kept as text */
            continue;
        }
        if (!after_word || lit_text) /* else only white space between words */
            emit(&o, u + lit, i - lit);
        emit(&o, t, tl);
        after_word = 1;
        lit_text = 0;
        lit = i = i + w.len;
    }
    emit(&o, u + lit, m - lit);
    edm_buf_free(&bytes);
    edm_buf_free(&conv);
    edm_free(u);
    o.b[o.len] = '\0';
    return edm_xstrdup(o.b);
}
