/*
 * engine/message/mime_enc.c: body transfer encodings for the composer (see
 * mime_int.h): quoted-printable (RFC 2045 6.7) and 7bit/8bit pass-through,
 * both normalising every line end (CRLF, LF, lone CR) to CRLF.
 *
 * Quoted-printable output lines are at most 76 columns including the soft
 * break '='; whitespace before a line end, '=', controls, DEL and bytes
 * over 127 are escaped, and so is the 'F' of a line starting "From " (an
 * mbox writer on the way would otherwise mangle it and break DKIM). Base64
 * is in engine/base/base64.c. Returns 0 or EDM_ENOMEM/EDM_ETOOBIG.
 */
#include "engine/message/mime_int.h"
#include "engine/base/err.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

const char *mime_cte_name(enum mime_cte cte)
{
    switch (cte) {
    case MIME_CTE_7BIT: return "7bit";
    case MIME_CTE_8BIT: return "8bit";
    case MIME_CTE_QP: return "quoted-printable";
    case MIME_CTE_BASE64: return "base64";
    default: EDM_PANIC("bad cte %d", (int)cte);
    }
}

/* The end of the line that starts at p: the next CR or LF, or end. */
static const char *line_end(const char *p, const char *end)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    const char *le = lf ? lf : end;
    const char *cr = memchr(p, '\r', (size_t)(le - p));
    return cr ? cr : le;
}

enum mime_cte mime_enc_choose(const char *s, size_t n, int allow_8bit)
{
    /* A line at a time (memchr finds its end), its bytes eight at a time:
     * any high bit is remembered, any NUL byte decides. */
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t high = 0;
    for (const char *p = s, *end = s + n; p < end;) {
        const char *le = line_end(p, end);
        size_t len = (size_t)(le - p), i = 0;
        /* A line starting "From " stays quoted-printable: an mbox writer on
         * the way would turn it into ">From " and break the DKIM body hash. */
        if (len > MIME_LINE_MAX || (len >= 5 && memcmp(p, "From ", 5) == 0))
            return MIME_CTE_QP;
        for (; i + 8 <= len; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if ((w - ones) & ~w & highs)
                return MIME_CTE_QP; /* a NUL byte */
            high |= w;
        }
        for (; i < len; i++) {
            if (p[i] == 0)
                return MIME_CTE_QP;
            high |= (unsigned char)p[i];
        }
        p = le + 1;
    }
    if (!(high & highs))
        return MIME_CTE_7BIT;
    return allow_8bit ? MIME_CTE_8BIT : MIME_CTE_QP;
}

static int is_eol(const char *s, size_t n, size_t i)
{
    return i >= n || s[i] == '\r' || s[i] == '\n';
}

/* Byte classes for the encoder: 0 literal, 1 always escaped, 2 space or
 * tab (escaped before a line end), 3 CR or LF, 4 'F' (escaped when it
 * starts "From " at the start of a line). */
static unsigned char qp_class[256];

static void qp_class_init(void)
{
    for (int c = 0; c < 256; c++)
        qp_class[c] = (c >= 33 && c <= 126 && c != '=') ? 0 : 1;
    qp_class[' '] = qp_class['\t'] = 2;
    qp_class['\r'] = qp_class['\n'] = 3;
    qp_class['F'] = 4;
}

int mime_enc_qp(edm_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, qp_class_init);
    if (n > ((size_t)-1 - 16) / 4)
        return EDM_ETOOBIG;
    int rc = edm_buf_reserve(out, 4 * n + 16);
    if (rc != 0)
        return rc;
    const unsigned char *u = (const unsigned char *)s;
    char *o = out->data + out->len;
    size_t col = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        unsigned cls = qp_class[c];
        /* Fastest path: a run of literals (spaces and tabs included) that
         * fits the line; a space or tab the run ends on before a line end
         * is left for the slow path (it must be escaped). */
        if (col < 74 && cls == 0) {
            size_t lim = n - i < 74 - col ? n - i : 74 - col, k = 1;
            o[0] = (char)c;
            while (k < lim && (qp_class[u[i + k]] & ~2u) == 0) {
                o[k] = (char)u[i + k];
                k++;
            }
            if ((u[i + k - 1] == ' ' || u[i + k - 1] == '\t') &&
                (i + k == n || qp_class[u[i + k]] == 3))
                k--;
            o += k;
            col += k;
            i += k;
            continue;
        }
        /* Fast path: a literal that cannot need a soft break here. */
        if (col < 74 && (cls == 0 || (cls == 2 && i + 1 < n && qp_class[u[i + 1]] != 3) ||
                         (cls == 4 && col > 0))) {
            *o++ = (char)c;
            col++;
            i++;
            continue;
        }
        if (cls == 3) {
            i += (c == '\r' && i + 1 < n && u[i + 1] == '\n') ? 2 : 1;
            *o++ = '\r';
            *o++ = '\n';
            col = 0;
            continue;
        }
        int last = is_eol(s, n, i + 1);
        int from = cls == 4 && n - i >= 5 && memcmp(s + i, "From ", 5) == 0;
        int esc = cls == 1 || (cls == 2 && last) || (from && col == 0);
        size_t w = esc ? 3 : 1;
        if (col + w > (last ? 76u : 75u)) {
            *o++ = '=';
            *o++ = '\r';
            *o++ = '\n';
            col = 0;
            if (from && !esc) {
                esc = 1;
                w = 3;
            }
        }
        if (esc) {
            *o++ = '=';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
        col += w;
        i++;
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}

int mime_enc_text(edm_buf *out, enum mime_cte cte, const char *s, size_t n)
{
    if (cte == MIME_CTE_QP)
        return mime_enc_qp(out, s, n);
    EDM_ASSERT(cte == MIME_CTE_7BIT || cte == MIME_CTE_8BIT);
    if (n > ((size_t)-1 - 16) / 2)
        return EDM_ETOOBIG;
    int rc = edm_buf_reserve(out, 2 * n + 16);
    if (rc != 0)
        return rc;
    /* Each line copied whole, its end (CR, LF or CRLF) written as CRLF. */
    char *o = out->data + out->len;
    for (const char *p = s, *end = s + n; p < end;) {
        const char *le = line_end(p, end);
        memcpy(o, p, (size_t)(le - p));
        o += le - p;
        if (le == end)
            break;
        *o++ = '\r';
        *o++ = '\n';
        p = le + (le[0] == '\r' && le + 1 < end && le[1] == '\n' ? 2 : 1);
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}
