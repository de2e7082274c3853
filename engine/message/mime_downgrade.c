/*
 * engine/message/mime_downgrade.c: a message that arrived whole (SMTP
 * submission, engine/message/message_raw.c) with 8-bit body bytes, made
 * 7bit for a server without 8BITMIME (RFC 6152 section 3; what Postfix's
 * smtp MIME downgrade and Sendmail do). Entry point: edm_mime_downgrade
 * (mime_downgrade.h), called by edm_message_build_raw before it signs.
 *
 * The walk (RFC 2045, RFC 2046), one entity at a time (the message, then
 * each part), an entity without 8-bit bytes copied as it is:
 *  - multipart (any subtype): split on its boundary's delimiter lines (a line "--b" or
 *    "--b--", transport padding allowed, the CRLF before it belongs to
 *    it); each part walked, the preamble, delimiters and epilogue copied;
 *    parts of multipart/digest default to message/rfc822. A last part with
 *    no close delimiter runs to the end of the body.
 *  - message/rfc822: walked as a message (RFC 2046 5.2.1 allows it no
 *    encoding but 7bit, 8bit or binary, so it cannot be base64'd whole);
 *    its own header fields must be 7bit as well.
 *  - any other part (a leaf): a text type re-encoded as quoted-printable
 *    (mime_enc.c: every line end written CRLF, lines <= 76 columns),
 *    anything else as base64 (engine/base/base64.c, lines of 76), the
 *    Content-Transfer-Encoding field(s) replaced by one at the end of the
 *    part's header section. A part without Content-Type is text/plain.
 * A multipart or message/rfc822 entity declared 8bit or binary is declared
 * 7bit after the walk; a message without MIME-Version gets one.
 *
 * Limits, each an EDM_EINVAL with its reason: header fields with 8-bit
 * bytes (SMTPUTF8 would be needed); 8-bit bytes in a preamble or epilogue
 * (no MIME-equivalent form keeps them), in a body declared base64,
 * quoted-printable or an unknown encoding, in a multipart without a
 * boundary (or without any delimiter line), in message/partial or
 * message/external-body (RFC 2046: 7bit only); nesting past
 * EDM_MIME_DOWNGRADE_DEPTH. Only CRLF ends lines; a boundary is read from
 * the first 998 bytes of the unfolded Content-Type value.
 */
#include "engine/message/mime_downgrade.h"
#include "engine/base/base64.h"
#include "engine/base/err.h"
#include "engine/message/mime_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct dg {
    edm_buf *out;
    char *err;
    size_t errlen;
    const char *bnd[EDM_MIME_DOWNGRADE_DEPTH + 2]; /* the enclosing boundaries */
    size_t nbnd;
} dg;

static int dg_fail(dg *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int dg_fail(dg *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, d->errlen, fmt, ap);
    va_end(ap);
    return EDM_EINVAL;
}

static int has8(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return 1;
    return 0;
}

/* Copies bytes that must go as they are; 8-bit ones cannot. */
static int copy7(dg *d, const char *p, size_t n, const char *what)
{
    if (has8(p, n))
        return dg_fail(d, "8-bit bytes in %s", what);
    return edm_buf_append(d->out, p, n);
}

/* The header fields of an entity: what the walk needs from them. */
typedef struct fields {
    char type[128];  /* lower-case type/subtype, or "" */
    char cte[32];    /* lower-case Content-Transfer-Encoding token, or "" */
    char bnd[200];   /* boundary parameter, or "" */
    int has_cte;     /* a Content-Transfer-Encoding field is there */
    int has_version; /* a MIME-Version field is there */
} fields;

/* The end of the field that starts at h[i] (after its last CRLF, folded
 * continuation lines included). */
static size_t field_end(const char *h, size_t hl, size_t i)
{
    for (;;) {
        const char *cr = NULL;
        for (size_t k = i; k + 1 < hl; k++)
            if (h[k] == '\r' && h[k + 1] == '\n') {
                cr = h + k;
                break;
            }
        if (cr == NULL)
            return hl;
        i = (size_t)(cr - h) + 2;
        if (i >= hl || (h[i] != ' ' && h[i] != '\t'))
            return i;
    }
}

/* 1 if the field f[0..n) is named name (case-insensitive; white space
 * before the colon allowed); *val then points after the colon. */
static int field_is(const char *f, size_t n, const char *name, const char **val)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(f, name, nl) != 0)
        return 0;
    size_t i = nl;
    while (i < n && (f[i] == ' ' || f[i] == '\t'))
        i++;
    if (i >= n || f[i] != ':')
        return 0;
    *val = f + i + 1;
    return 1;
}

/* The value v[0..n) unfolded (CR and LF dropped), at most cap-1 bytes. */
static void unfold(const char *v, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++)
        if (v[i] != '\r' && v[i] != '\n')
            dst[o++] = v[i];
    dst[o] = '\0';
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A token (RFC 2045 5.1) at s, lower-cased into dst; returns its end. */
static const char *token(const char *s, char *dst, size_t cap, int slash)
{
    size_t o = 0;
    while (*s && *s != ';' && *s != '=' && *s != '"' && *s != ' ' && *s != '\t' && *s != '(' &&
           (slash || *s != '/')) {
        if (o + 1 < cap) {
            char c = *s;
            dst[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        s++;
    }
    dst[o] = '\0';
    return s;
}

/* Content-Type value v: type/subtype and the boundary parameter. A value
 * that does not parse leaves type "" (text/plain, RFC 2045 5.2). */
static void parse_ctype(const char *v, fields *f)
{
    char type[64], sub[64];
    const char *s = token(skip_ws(v), type, sizeof type, 0);
    s = skip_ws(s);
    if (*s != '/' || type[0] == '\0')
        return;
    s = token(skip_ws(s + 1), sub, sizeof sub, 1);
    if (sub[0] == '\0')
        return;
    snprintf(f->type, sizeof f->type, "%s/%s", type, sub);
    while ((s = strchr(s, ';')) != NULL) {
        char name[32], val[sizeof f->bnd];
        s = token(skip_ws(s + 1), name, sizeof name, 1);
        s = skip_ws(s);
        if (*s != '=')
            continue;
        s = skip_ws(s + 1);
        size_t o = 0;
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1])
                    s++;
                if (o + 1 < sizeof val)
                    val[o++] = *s;
            }
            if (*s == '"')
                s++;
        } else {
            while (*s && *s != ';' && *s != ' ' && *s != '\t') {
                if (o + 1 < sizeof val)
                    val[o++] = *s;
                s++;
            }
        }
        val[o] = '\0';
        if (strcmp(name, "boundary") == 0 && f->bnd[0] == '\0')
            memcpy(f->bnd, val, o + 1);
    }
}

static void read_fields(const char *h, size_t hl, fields *f)
{
    memset(f, 0, sizeof *f);
    int seen_type = 0;
    char v[MIME_LINE_MAX + 1];
    for (size_t i = 0; i < hl;) {
        size_t e = field_end(h, hl, i);
        const char *val;
        if (field_is(h + i, e - i, "Content-Type", &val) && !seen_type) {
            seen_type = 1;
            unfold(val, (size_t)(h + e - val), v, sizeof v);
            parse_ctype(v, f);
        } else if (field_is(h + i, e - i, "Content-Transfer-Encoding", &val) && !f->has_cte) {
            f->has_cte = 1;
            unfold(val, (size_t)(h + e - val), v, sizeof v);
            token(skip_ws(v), f->cte, sizeof f->cte, 1);
        } else if (field_is(h + i, e - i, "MIME-Version", &val)) {
            f->has_version = 1;
        }
        i = e;
    }
}

/* Writes the header section h[0..hl): as it is when cte is NULL, else
 * without its Content-Transfer-Encoding fields and with
 * "Content-Transfer-Encoding: cte" at its end; then MIME-Version when
 * add_version. */
static int write_header(dg *d, const char *h, size_t hl, const char *cte, int add_version)
{
    int rc = 0;
    for (size_t i = 0; i < hl && rc == 0;) {
        size_t e = field_end(h, hl, i);
        const char *val;
        if (cte == NULL || !field_is(h + i, e - i, "Content-Transfer-Encoding", &val))
            rc = copy7(d, h + i, e - i, "a header field (it needs SMTPUTF8)");
        i = e;
    }
    if (rc == 0 && cte)
        rc = edm_buf_appendf(d->out, "Content-Transfer-Encoding: %s\r\n", cte);
    if (rc == 0 && add_version)
        rc = edm_buf_append_str(d->out, "MIME-Version: 1.0\r\n");
    return rc;
}

/* If a delimiter line of boundary b starts at s (a line start), returns 1
 * for "--b", 2 for "--b--", and sets *le after its CRLF (or to end). */
static int delimiter(const char *s, const char *end, const char *b, size_t bl, const char **le)
{
    if ((size_t)(end - s) < bl + 2 || s[0] != '-' || s[1] != '-' || memcmp(s + 2, b, bl) != 0)
        return 0;
    const char *q = s + 2 + bl;
    int kind = 1;
    if (end - q >= 2 && q[0] == '-' && q[1] == '-') {
        q += 2;
        kind = 2;
    }
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    if (q == end) {
        *le = end;
        return kind;
    }
    if (end - q >= 2 && q[0] == '\r' && q[1] == '\n') {
        *le = q + 2;
        return kind;
    }
    return 0;
}

/* The start of the line after the one at s (after its CRLF), or end. */
static const char *next_line(const char *s, const char *end)
{
    for (const char *p = s; p < end; p++) {
        p = memchr(p, '\r', (size_t)(end - p));
        if (p == NULL)
            break;
        if (p + 1 < end && p[1] == '\n')
            return p + 2;
    }
    return end;
}

/* 1 if a line of the encoded body e[0..n) starts with "--" and one of
 * the enclosing boundaries (it would end its part early). */
static int delimiter_in(const dg *d, const char *e, size_t n)
{
    for (const char *ls = e, *end = e + n; ls < end; ls = next_line(ls, end)) {
        if (end - ls < 2 || ls[0] != '-' || ls[1] != '-')
            continue;
        for (size_t i = 0; i < d->nbnd; i++) {
            size_t bl = strlen(d->bnd[i]);
            if ((size_t)(end - ls) >= bl + 2 && memcmp(ls + 2, d->bnd[i], bl) == 0)
                return 1;
        }
    }
    return 0;
}

static int entity(dg *d, const char *p, size_t n, const char *deftype, int top, int bounded,
                  int depth);

static int parts(dg *d, const char *body, const char *end, const fields *f, const char *deftype,
                 int depth);

/* The body of a multipart, boundary f->bnd, from body to end. */
static int multipart(dg *d, const char *body, const char *end, const fields *f, int depth)
{
    const char *deftype =
        strcmp(f->type, "multipart/digest") == 0 ? "message/rfc822" : "text/plain";
    int rc;
    EDM_ASSERT(d->nbnd < sizeof d->bnd / sizeof d->bnd[0]);
    d->bnd[d->nbnd++] = f->bnd;
    rc = parts(d, body, end, f, deftype, depth);
    d->nbnd--;
    return rc;
}

/* multipart's walk over the lines of body[0..end). */
static int parts(dg *d, const char *body, const char *end, const fields *f, const char *deftype,
                 int depth)
{
    size_t bl = strlen(f->bnd);
    const char *part = NULL; /* start of the current part, NULL in the preamble */
    const char *ls = body;   /* a line start */
    int rc;
    while (ls < end) {
        const char *le;
        int kind = delimiter(ls, end, f->bnd, bl, &le);
        if (kind == 0) {
            ls = next_line(ls, end);
            continue;
        }
        /* The CRLF before the delimiter line belongs to it (an empty part
         * "--b" CRLF "--b" has none of its own). */
        const char *cut = ls - body >= 2 ? ls - 2 : ls;
        if (part == NULL) {
            rc = copy7(d, body, (size_t)(cut - body), "a multipart preamble");
        } else {
            if (cut < part)
                cut = part;
            rc = entity(d, part, (size_t)(cut - part), deftype, 0, 1, depth + 1);
        }
        if (rc == 0)
            rc = copy7(d, cut, (size_t)(le - cut), "a multipart delimiter");
        if (rc != 0)
            return rc;
        if (kind == 2)
            return copy7(d, le, (size_t)(end - le), "a multipart epilogue");
        part = ls = le;
    }
    if (part == NULL)
        return dg_fail(d, "8-bit bytes in a multipart without its boundary \"%s\"", f->bnd);
    /* No close delimiter: the last part runs to the end. */
    return entity(d, part, (size_t)(end - part), deftype, 0, 0, depth + 1);
}

/* One entity p[0..n): a header section, a blank line, a body. top: the
 * message itself; bounded: a delimiter follows (a base64 body then ends
 * without its own CRLF). */
static int entity(dg *d, const char *p, size_t n, const char *deftype, int top, int bounded,
                  int depth)
{
    if (!has8(p, n))
        return edm_buf_append(d->out, p, n);
    if (depth > EDM_MIME_DOWNGRADE_DEPTH)
        return dg_fail(d, "8-bit bytes in parts nested deeper than %d", EDM_MIME_DOWNGRADE_DEPTH);
    size_t hl = n, bo = n; /* header length, body offset */
    if (n >= 2 && p[0] == '\r' && p[1] == '\n') {
        hl = 0;
        bo = 2;
    } else {
        for (size_t i = 0; i + 3 < n; i++)
            if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
                hl = i + 2;
                bo = i + 4;
                break;
            }
    }
    if (has8(p, hl))
        return dg_fail(d, "8-bit bytes in a header field (it needs SMTPUTF8)");
    fields f;
    read_fields(p, hl, &f);
    const char *type = f.type[0] ? f.type : deftype;
    const char *body = p + bo, *end = p + n;
    int plain = f.cte[0] == '\0' || strcmp(f.cte, "7bit") == 0 || strcmp(f.cte, "8bit") == 0 ||
                strcmp(f.cte, "binary") == 0;
    if (!plain)
        return dg_fail(d, "8-bit bytes in a body declared %s", f.cte);
    int add_version = top && !f.has_version;
    /* 8bit or binary declared on a composite entity becomes 7bit. */
    const char *composite_cte = f.has_cte && strcmp(f.cte, "7bit") != 0 ? "7bit" : NULL;
    int rc;
    if (strncmp(type, "multipart/", 10) == 0) {
        if (f.bnd[0] == '\0')
            return dg_fail(d, "8-bit bytes in a %s without a boundary", type);
        if ((rc = write_header(d, p, hl, composite_cte, add_version)) != 0 ||
            (rc = edm_buf_append(d->out, p + hl, bo - hl)) != 0)
            return rc;
        return multipart(d, body, end, &f, depth);
    }
    if (strcmp(type, "message/rfc822") == 0) {
        if ((rc = write_header(d, p, hl, composite_cte, add_version)) != 0 ||
            (rc = edm_buf_append(d->out, p + hl, bo - hl)) != 0)
            return rc;
        return entity(d, body, (size_t)(end - body), "text/plain", 0, bounded, depth + 1);
    }
    if (strcmp(type, "message/partial") == 0 || strcmp(type, "message/external-body") == 0)
        return dg_fail(d, "8-bit bytes in a %s part (RFC 2046: 7bit only)", type);
    int text = strncmp(type, "text/", 5) == 0;
    size_t mark = d->out->len;
    if (text) {
        if ((rc = write_header(d, p, hl, "quoted-printable", add_version)) != 0 ||
            (rc = edm_buf_append(d->out, p + hl, bo - hl)) != 0)
            return rc;
        size_t at = d->out->len;
        if ((rc = mime_enc_qp(d->out, body, (size_t)(end - body))) != 0)
            return rc;
        if (!delimiter_in(d, d->out->data + at, d->out->len - at))
            return 0;
        /* A soft line break put an enclosing boundary at a line start:
         * base64, whose alphabet has no '-', cannot. */
        d->out->len = mark;
    }
    if ((rc = write_header(d, p, hl, "base64", add_version)) != 0 ||
        (rc = edm_buf_append(d->out, p + hl, bo - hl)) != 0)
        return rc;
    size_t before = d->out->len;
    if ((rc = edm_base64_encode(d->out, body, (size_t)(end - body), 76)) != 0)
        return rc;
    if (bounded && d->out->len >= before + 2)
        d->out->len -= 2; /* the delimiter brings its own CRLF */
    return 0;
}

int edm_mime_downgrade(edm_buf *out, const char *msg, size_t len, char *err, size_t errlen)
{
    dg d = {.out = out, .err = err, .errlen = errlen};
    size_t start = out->len;
    int rc = entity(&d, msg, len, "text/plain", 1, 0, 0);
    if (rc != 0) {
        out->len = start;
        if (rc != EDM_EINVAL)
            snprintf(err, errlen, "%s", edm_strerror(rc));
    }
    return rc;
}
