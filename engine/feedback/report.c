/*
 * engine/feedback/report.c: fb_parse (see report.h): the MIME walk that
 * finds a report's parts (message/delivery-status, message/feedback-report,
 * the returned message or its headers, the first text/plain), the RFC 3464
 * and RFC 5965 field blocks, the returned Message-ID and the VERP tokens.
 * The non-standard plain-text bounces are report_text.c's.
 *
 * The message is copied once with every CR removed, so everything below
 * works on LF-only text; base64 and quoted-printable parts are decoded
 * into buffers owned by the walk. No input makes it read out of bounds
 * (tests/fuzz/fuzz_feedback.c).
 */
#include "engine/feedback/report_int.h"
#include "engine/base/alloc.h"
#include "engine/base/base64.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/hex.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH   6
#define MAX_PARTS   64
#define MAX_DECODED 8

typedef struct span {
    const char *p;
    size_t n;
} span;

typedef struct walk {
    fb_report *r;
    int parts;
    int report_arf; /* the top level says report-type=feedback-report */
    span dsn, arf, returned, text;
    edm_buf decoded[MAX_DECODED];
    int ndecoded;
    int oom;
} walk;

const char *fb_action_name(enum fb_action a)
{
    switch (a) {
    case FB_ACTION_FAILED: return "failed";
    case FB_ACTION_DELAYED: return "delayed";
    case FB_ACTION_DELIVERED: return "delivered";
    case FB_ACTION_RELAYED: return "relayed";
    case FB_ACTION_EXPANDED: return "expanded";
    case FB_ACTION_NONE:
    default: return "";
    }
}

/* ---- text helpers (report_int.h) ---- */

const char *fb_find(const char *p, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    if (m == 0 || m > n)
        return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (tolower((unsigned char)p[i]) == tolower((unsigned char)needle[0]) &&
            strncasecmp(p + i, needle, m) == 0)
            return p + i;
    return NULL;
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

void fb_copy(char *out, size_t size, const char *p, size_t n)
{
    while (n && blank(*p))
        p++, n--;
    while (n && blank(p[n - 1]))
        n--;
    if (n >= size)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (p[i] == '\0' || p[i] == '\n' || p[i] == '\t') ? ' ' : p[i];
    out[n] = '\0';
}

int fb_enhanced_in(const char *p, size_t n, char out[16])
{
    for (size_t i = 0; i + 5 <= n; i++) {
        if ((p[i] != '2' && p[i] != '4' && p[i] != '5') || p[i + 1] != '.' ||
            (i > 0 && (isalnum((unsigned char)p[i - 1]) || p[i - 1] == '.')))
            continue;
        size_t j = i + 2, d1 = 0, d2 = 0;
        while (j < n && isdigit((unsigned char)p[j]) && d1 < 3)
            j++, d1++;
        if (d1 == 0 || j >= n || p[j] != '.')
            continue;
        j++;
        while (j < n && isdigit((unsigned char)p[j]) && d2 < 3)
            j++, d2++;
        if (d2 == 0 || (j < n && (isdigit((unsigned char)p[j]) || p[j] == '.')))
            continue;
        memcpy(out, p + i, j - i);
        out[j - i] = '\0';
        return 1;
    }
    return 0;
}

int fb_code_in(const char *p, size_t n, const char **at)
{
    for (size_t i = 0; i + 3 <= n; i++) {
        if ((p[i] != '4' && p[i] != '5') || p[i + 1] < '0' || p[i + 1] > '5' ||
            !isdigit((unsigned char)p[i + 2]))
            continue;
        if (i > 0 && (isalnum((unsigned char)p[i - 1]) || p[i - 1] == '.' || p[i - 1] == '-'))
            continue;
        /* "550 ", "550-", "550" at the end of a line, or Yahoo's "554: " */
        if (i + 3 < n && p[i + 3] != ' ' && p[i + 3] != '-' && p[i + 3] != '\n' &&
            !(p[i + 3] == ':' && (i + 4 == n || p[i + 4] == ' ')))
            continue;
        if (at)
            *at = p + i;
        return (p[i] - '0') * 100 + (p[i + 1] - '0') * 10 + (p[i + 2] - '0');
    }
    return 0;
}

static int local_char(char c)
{
    return isalnum((unsigned char)c) || (c != '\0' && strchr(".!#$%&'*+/=?^_`{|}~-", c));
}

int fb_addr_in(const char *p, size_t n, char *out, size_t size)
{
    for (size_t i = 1; i + 1 < n; i++) {
        if (p[i] != '@')
            continue;
        size_t a = i, b = i + 1;
        while (a > 0 && local_char(p[a - 1]))
            a--;
        while (b < n && (isalnum((unsigned char)p[b]) || p[b] == '.' || p[b] == '-'))
            b++;
        while (b > i + 1 && p[b - 1] == '.')
            b--;
        while (a < i && p[a] == '.')
            a++;
        if (a == i || b == i + 1 || b - a >= size)
            continue;
        memcpy(out, p + a, b - a);
        out[b - a] = '\0';
        return 1;
    }
    return 0;
}

/* ---- headers ---- */

/* Splits p[0..n) at the first empty line: *hl bytes of header, then the
 * body. No empty line: all header. */
static void split(const char *p, size_t n, size_t *hl, span *body)
{
    if (n > 0 && p[0] == '\n') {
        *hl = 0;
        body->p = p + 1;
        body->n = n - 1;
        return;
    }
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\n' && p[i + 1] == '\n') {
            *hl = i + 1;
            body->p = p + i + 2;
            body->n = n - i - 2;
            return;
        }
    *hl = n;
    body->p = p + n;
    body->n = 0;
}

/* The value of field name in the block p[0..n), unfolded, into out[size].
 * Returns 1 if present. */
static int field(const char *p, size_t n, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n;) {
        const char *line = p + i;
        const char *e = memchr(line, '\n', n - i);
        size_t ll = e ? (size_t)(e - line) : n - i;
        if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            size_t o = 0;
            const char *v = line + nl + 1;
            size_t vl = ll - nl - 1;
            for (;;) {
                for (size_t k = 0; k < vl && o + 1 < size; k++)
                    out[o++] = v[k];
                i += ll + 1;
                if (i >= n || (p[i] != ' ' && p[i] != '\t'))
                    break;
                line = p + i;
                e = memchr(line, '\n', n - i);
                ll = e ? (size_t)(e - line) : n - i;
                v = line;
                vl = ll;
                while (vl && (*v == ' ' || *v == '\t'))
                    v++, vl--;
                if (o + 1 < size)
                    out[o++] = ' ';
            }
            out[o] = '\0';
            char tmp[EDM_OUTCOME_TEXT_MAX];
            fb_copy(tmp, sizeof tmp < size ? sizeof tmp : size, out, o);
            memcpy(out, tmp, strlen(tmp) + 1);
            return 1;
        }
        i += ll + 1;
    }
    return 0;
}

/* A parameter of a Content-Type value (lower-case name) into out. */
static void param(const char *v, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t vl = strlen(v), nl = strlen(name);
    for (const char *p = fb_find(v, vl, name); p;
         p = fb_find(p + 1, vl - (size_t)(p + 1 - v), name)) {
        if (p > v && p[-1] != ';' && p[-1] != ' ' && p[-1] != '\t')
            continue;
        const char *q = p + nl;
        while (*q == ' ')
            q++;
        if (*q != '=')
            continue;
        q++;
        while (*q == ' ')
            q++;
        size_t o = 0;
        if (*q == '"') {
            for (q++; *q && *q != '"' && o + 1 < size; q++)
                out[o++] = *q;
        } else {
            for (; *q && *q != ';' && *q != ' ' && o + 1 < size; q++)
                out[o++] = *q;
        }
        out[o] = '\0';
        return;
    }
}

/* "type/subtype" of a Content-Type value, lower case. */
static void ctype(const char *v, char *out, size_t size)
{
    size_t o = 0;
    for (; *v && *v != ';' && o + 1 < size; v++)
        if (!blank(*v))
            out[o++] = (char)tolower((unsigned char)*v);
    out[o] = '\0';
}

/* ---- tokens and Message-ID ---- */

static void add_token(char (*list)[EDM_VERP_TOKEN_MAX], size_t *n, const char *t, size_t tl)
{
    char tok[EDM_VERP_TOKEN_MAX];
    for (size_t i = 0; i < tl; i++)
        tok[i] = (char)tolower((unsigned char)t[i]);
    tok[tl] = '\0';
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], tok) == 0)
            return;
    if (*n < FB_MAX_TOKENS)
        memcpy(list[(*n)++], tok, tl + 1);
}

static void scan_prefix(fb_report *r, const char *p, size_t n, const char *prefix, int unsub)
{
    size_t pl = strlen(prefix);
    for (const char *s = fb_find(p, n, prefix); s;
         s = fb_find(s + 1, n - (size_t)(s + 1 - p), prefix)) {
        if (s > p && (isalnum((unsigned char)s[-1]) || s[-1] == '.'))
            continue;
        const char *t = s + pl, *end = p + n;
        size_t tl = 0;
        while (t + tl < end && tl < EDM_VERP_TOKEN_MAX &&
               (isalnum((unsigned char)t[tl]) || t[tl] == '-'))
            tl++;
        if (tl == 0 || tl >= EDM_VERP_TOKEN_MAX || t + tl >= end || t[tl] != '@')
            continue;
        if (unsub)
            add_token(r->unsub_tokens, &r->nunsub, t, tl);
        else
            add_token(r->bounce_tokens, &r->nbounce, t, tl);
    }
}

static void scan_tokens(fb_report *r, const char *p, size_t n)
{
    scan_prefix(r, p, n, "bounces+", 0);
    scan_prefix(r, p, n, "unsubscribe+", 1);
}

static void set_message_id(fb_report *r, const char *v)
{
    const char *lt = strchr(v, '<');
    const char *p = lt ? lt + 1 : v;
    size_t n = strcspn(p, "> \t");
    fb_copy(r->message_id, sizeof r->message_id, p, n);
}

/* ---- the MIME walk ---- */

static int qp_decode(edm_buf *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '=' && i + 1 < n && p[i + 1] == '\n') {
            i++;
        } else if (p[i] == '=' && i + 2 < n && edm_hex_value(p[i + 1]) >= 0 &&
                   edm_hex_value(p[i + 2]) >= 0) {
            if (edm_buf_append_char(
                    out, (char)(edm_hex_value(p[i + 1]) * 16 + edm_hex_value(p[i + 2]))) != 0)
                return EDM_ENOMEM;
            i += 2;
        } else if (edm_buf_append_char(out, p[i]) != 0) {
            return EDM_ENOMEM;
        }
    }
    return 0;
}

/* Decodes body per its Content-Transfer-Encoding (CRs dropped again). */
static span decode(walk *w, span body, const char *cte)
{
    int b64 = strcasecmp(cte, "base64") == 0, qp = strcasecmp(cte, "quoted-printable") == 0;
    if ((!b64 && !qp) || w->ndecoded == MAX_DECODED)
        return body;
    edm_buf *b = &w->decoded[w->ndecoded];
    int rc = b64 ? edm_base64_decode(b, body.p, body.n) : qp_decode(b, body.p, body.n);
    if (rc == EDM_ENOMEM)
        w->oom = 1;
    if (rc != 0 || b->data == NULL) {
        edm_buf_free(b); /* a failed decode may have grown it */
        return body;
    }
    w->ndecoded++;
    size_t o = 0;
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] != '\r')
            b->data[o++] = b->data[i];
    b->len = o;
    scan_tokens(w->r, b->data, b->len);
    return (span){b->data, b->len};
}

static void walk_part(walk *w, const char *p, size_t n, int depth);

static void walk_multipart(walk *w, span body, const char *b, int depth)
{
    size_t bl = strlen(b);
    const char *part = NULL;
    for (size_t i = 0; i < body.n;) {
        const char *line = body.p + i;
        const char *nl = memchr(line, '\n', body.n - i);
        size_t ll = nl ? (size_t)(nl - line) : body.n - i;
        if (ll >= 2 + bl && line[0] == '-' && line[1] == '-' && memcmp(line + 2, b, bl) == 0) {
            if (part) {
                size_t pn = (size_t)(line - part);
                walk_part(w, part, pn ? pn - 1 : 0, depth + 1);
            }
            if (ll >= 4 + bl && line[2 + bl] == '-' && line[3 + bl] == '-')
                return;
            part = nl ? nl + 1 : body.p + body.n;
        }
        i += ll + 1;
    }
    if (part && part < body.p + body.n)
        walk_part(w, part, (size_t)(body.p + body.n - part), depth + 1);
}

static void walk_part(walk *w, const char *p, size_t n, int depth)
{
    if (depth > MAX_DEPTH || w->parts >= MAX_PARTS)
        return;
    w->parts++;
    size_t hl;
    span body;
    split(p, n, &hl, &body);
    char ctv[512], type[64], cte[32];
    if (!field(p, hl, "Content-Type", ctv, sizeof ctv))
        strcpy(ctv, "text/plain");
    ctype(ctv, type, sizeof type);
    if (strncmp(type, "multipart/", 10) == 0) {
        char boundary[128], rtype[64];
        param(ctv, "boundary", boundary, sizeof boundary);
        if (depth == 0) {
            param(ctv, "report-type", rtype, sizeof rtype);
            w->report_arf = strcasecmp(rtype, "feedback-report") == 0;
        }
        if (boundary[0])
            walk_multipart(w, body, boundary, depth);
        return;
    }
    if (!field(p, hl, "Content-Transfer-Encoding", cte, sizeof cte))
        cte[0] = '\0';
    body = decode(w, body, cte);
    if (strcmp(type, "message/delivery-status") == 0 ||
        strcmp(type, "message/global-delivery-status") == 0) {
        if (w->dsn.p == NULL)
            w->dsn = body;
    } else if (strcmp(type, "message/feedback-report") == 0) {
        if (w->arf.p == NULL)
            w->arf = body;
    } else if (strcmp(type, "message/rfc822") == 0 || strcmp(type, "message/global") == 0 ||
               strcmp(type, "text/rfc822-headers") == 0 ||
               strcmp(type, "message/rfc822-headers") == 0 ||
               strcmp(type, "message/global-headers") == 0) {
        if (w->returned.p == NULL)
            w->returned = body;
    } else if (strcmp(type, "text/plain") == 0 || type[0] == '\0') {
        if (w->text.p == NULL)
            w->text = body;
    }
}

/* ---- RFC 3464 and RFC 5965 fields ---- */

/* The part of a typed value after "type;" ("rfc822; a@b" -> "a@b"), <>
 * removed. */
static void typed(char *v)
{
    char *semi = strchr(v, ';');
    char *s = semi ? semi + 1 : v;
    while (*s == ' ' || *s == '<')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '>'))
        n--;
    memmove(v, s, n);
    v[n] = '\0';
}

static enum fb_action action_parse(const char *v)
{
    static const struct {
        const char *name;
        enum fb_action a;
    } t[] = {{"failed", FB_ACTION_FAILED},
             {"delayed", FB_ACTION_DELAYED},
             {"delivered", FB_ACTION_DELIVERED},
             {"relayed", FB_ACTION_RELAYED},
             {"expanded", FB_ACTION_EXPANDED}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strncasecmp(v, t[i].name, strlen(t[i].name)) == 0)
            return t[i].a;
    return FB_ACTION_NONE;
}

static void dsn_block(fb_report *r, const char *p, size_t n)
{
    char v[EDM_OUTCOME_TEXT_MAX];
    int has_action = field(p, n, "Action", v, sizeof v);
    enum fb_action a = has_action ? action_parse(v) : FB_ACTION_NONE;
    char fr[256];
    int has_rcpt = field(p, n, "Final-Recipient", fr, sizeof fr);
    if ((!has_action && !has_rcpt) || r->nrcpts == FB_MAX_RCPTS)
        return;
    fb_rcpt *x = &r->rcpts[r->nrcpts++];
    memset(x, 0, sizeof *x);
    x->action = a;
    if (has_rcpt) {
        typed(fr);
        snprintf(x->final_rcpt, sizeof x->final_rcpt, "%s", fr);
    }
    if (field(p, n, "Original-Recipient", v, sizeof v)) {
        typed(v);
        fb_copy(x->original_rcpt, sizeof x->original_rcpt, v, strlen(v));
    }
    if (field(p, n, "Status", v, sizeof v) && !fb_enhanced_in(v, strlen(v), x->status))
        x->status[0] = '\0';
    if (field(p, n, "Diagnostic-Code", v, sizeof v)) {
        char *semi = strchr(v, ';');
        const char *d = semi ? semi + 1 : v;
        fb_copy(x->diagnostic, sizeof x->diagnostic, d, strlen(d));
        const char *at;
        x->code = fb_code_in(x->diagnostic, strlen(x->diagnostic), &at);
        if (x->code && at != x->diagnostic)
            x->code = 0; /* only a reply that leads the diagnostic counts */
    }
    if (field(p, n, "Remote-MTA", v, sizeof v)) {
        typed(v);
        fb_copy(x->remote_mta, sizeof x->remote_mta, v, strlen(v));
    }
}

static void parse_dsn(fb_report *r, span s)
{
    r->kind = FB_KIND_DSN;
    r->form = "rfc3464";
    size_t start = 0;
    for (size_t i = 0; i <= s.n; i++) {
        int end = i == s.n || (s.p[i] == '\n' && (i + 1 == s.n || s.p[i + 1] == '\n'));
        if (!end)
            continue;
        if (i > start)
            dsn_block(r, s.p + start, i - start);
        start = i + 1;
        while (start < s.n && s.p[start] == '\n')
            start++;
        if (i < start)
            i = start - 1;
    }
}

static void parse_arf(fb_report *r, span s)
{
    char v[256];
    r->kind = FB_KIND_ARF;
    r->form = "arf";
    if (field(s.p, s.n, "Feedback-Type", v, sizeof v))
        fb_copy(r->feedback_type, sizeof r->feedback_type, v, strcspn(v, " ;"));
    if (field(s.p, s.n, "Original-Rcpt-To", v, sizeof v)) {
        typed(v);
        snprintf(r->arf_rcpt, sizeof r->arf_rcpt, "%s", v);
    }
    if (field(s.p, s.n, "Original-Mail-From", v, sizeof v)) {
        typed(v);
        snprintf(r->arf_mail_from, sizeof r->arf_mail_from, "%s", v);
    }
}

int fb_parse(const char *msg, size_t len, fb_report *r)
{
    memset(r, 0, sizeof *r);
    r->form = "";
    char *copy = edm_malloc(len + 1);
    if (copy == NULL)
        return EDM_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (msg[i] != '\r')
            copy[n++] = msg[i];
    copy[n] = '\0';
    walk w;
    memset(&w, 0, sizeof w);
    w.r = r;
    scan_tokens(r, copy, n);
    walk_part(&w, copy, n, 0);

    if (w.arf.p || (w.report_arf && w.returned.p))
        parse_arf(r, w.arf);
    else if (w.dsn.p)
        parse_dsn(r, w.dsn);
    else if (w.text.p)
        fb_text_bounce(w.text.p, w.text.n, r);

    char v[512];
    if (w.returned.p) {
        size_t hl;
        span b;
        split(w.returned.p, w.returned.n, &hl, &b);
        if (field(w.returned.p, hl, "Message-ID", v, sizeof v))
            set_message_id(r, v);
    } else if (w.text.p) {
        /* A copy of the message inline (qmail, Exim): its header lines. */
        for (const char *m = fb_find(w.text.p, w.text.n, "\nmessage-id:"); m && !r->message_id[0];
             m = NULL) {
            size_t rest = w.text.n - (size_t)(m + 1 - w.text.p);
            if (field(m + 1, rest, "Message-ID", v, sizeof v))
                set_message_id(r, v);
        }
    }
    for (int i = 0; i < w.ndecoded; i++)
        edm_buf_free(&w.decoded[i]);
    edm_free(copy);
    return w.oom ? EDM_ENOMEM : 0;
}
