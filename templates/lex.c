/*
 * templates/lex.c: the template tokenizer (tpl_lex).
 *
 * Splits a source into text and tag tokens, following set-delimiter tags,
 * then applies the Mustache whitespace rules: a line holding only
 * whitespace and one non-interpolating tag (or an adjacent pair of
 * inheritance tags, as in {{<parent}}{{$block}}) is "standalone" and is
 * removed from the output, its indentation remembered for partials and
 * blocks. Handlebars {{~x~}} trims whitespace around a tag.
 *
 * Returns 0, EDM_EINVAL (unclosed tag, bad delimiters, empty tag: err has
 * the position) or EDM_ENOMEM. Positions are byte offsets; columns count
 * bytes from 1.
 */
#include "templates/tpl_int.h"

#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_DELIM 16

int tpl_lex_error(edm_tpl_error *err, int code, uint32_t line, uint32_t col, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->line = (int)line;
    err->col = (int)col;
    int n = 0;
    if (line > 0)
        n = snprintf(err->msg, sizeof err->msg, "line %u, col %u: ", line, col);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Finds needle in src[from, len); returns its offset or (size_t)-1. */
static size_t find(const char *src, size_t len, size_t from, const char *needle, size_t nlen)
{
    if (nlen == 0 || from > len || len - from < nlen)
        return (size_t)-1;
    const char *p = memmem(src + from, len - from, needle, nlen);
    return p ? (size_t)(p - src) : (size_t)-1;
}

struct lexer {
    const char *src;
    size_t len;
    struct tpl_tok *toks;
    size_t n, cap;
    size_t pos_done; /* line/col tracking: position counted so far */
    uint32_t line;
    size_t line_start;
};

static void advance_lines(struct lexer *lx, size_t pos)
{
    for (size_t i = lx->pos_done; i < pos; i++)
        if (lx->src[i] == '\n') {
            lx->line++;
            lx->line_start = i + 1;
        }
    lx->pos_done = pos;
}

static struct tpl_tok *push(struct lexer *lx, int kind, size_t start, size_t end)
{
    if (lx->n == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 64;
        struct tpl_tok *t = edm_realloc(lx->toks, cap * sizeof *t);
        if (t == NULL)
            return NULL;
        lx->toks = t;
        lx->cap = cap;
    }
    struct tpl_tok *t = &lx->toks[lx->n++];
    memset(t, 0, sizeof *t);
    t->kind = (uint8_t)kind;
    t->start = start;
    t->end = end;
    advance_lines(lx, start);
    t->line = lx->line;
    t->col = (uint32_t)(start - lx->line_start + 1);
    return t;
}

static int kind_of(char c)
{
    switch (c) {
    case '#': return TPL_T_SECTION;
    case '^': return TPL_T_INVERTED;
    case '/': return TPL_T_CLOSE;
    case '!': return TPL_T_COMMENT;
    case '>': return TPL_T_PARTIAL;
    case '<': return TPL_T_PARENT;
    case '$': return TPL_T_BLOCK;
    case '&': return TPL_T_RAW;
    default: return TPL_T_VAR;
    }
}

/* New delimiters from "<% %>" (content of a {{=<% %>=}} tag). */
static int set_delims(const char *s, size_t n, char *open, size_t *olen, char *close, size_t *clen)
{
    size_t i = 0;
    while (i < n && is_ws(s[i]))
        i++;
    size_t a = i;
    while (i < n && !is_ws(s[i]))
        i++;
    size_t alen = i - a;
    while (i < n && is_ws(s[i]))
        i++;
    size_t b = i;
    while (i < n && !is_ws(s[i]))
        i++;
    size_t blen = i - b;
    while (i < n && is_ws(s[i]))
        i++;
    if (i != n || alen == 0 || blen == 0 || alen >= MAX_DELIM || blen >= MAX_DELIM)
        return -1;
    if (memchr(s + a, '=', alen) || memchr(s + b, '=', blen))
        return -1;
    memcpy(open, s + a, alen);
    *olen = alen;
    memcpy(close, s + b, blen);
    *clen = blen;
    return 0;
}

static int tokenize(struct lexer *lx, edm_tpl_error *err)
{
    const char *src = lx->src;
    size_t len = lx->len;
    char open[MAX_DELIM] = "{{", close[MAX_DELIM] = "}}";
    size_t olen = 2, clen = 2, pos = 0;
    while (pos < len) {
        size_t p = find(src, len, pos, open, olen);
        if (p == (size_t)-1)
            p = len;
        if (p > pos && push(lx, TPL_T_TEXT, pos, p) == NULL)
            return EDM_ENOMEM;
        if (p == len)
            break;
        struct tpl_tok *t = push(lx, TPL_T_VAR, p, p);
        if (t == NULL)
            return EDM_ENOMEM;
        size_t q = p + olen, cs, ce, end;
        int kind;
        char needle[MAX_DELIM + 3];
        if (q < len && src[q] == '~') {
            t->trim_l = 1;
            q++;
        }
        /* {{{x}}}, {{=a b=}} and {{!-- x --}} end with a prefix + close. */
        const char *prefix = NULL, *what = NULL;
        size_t plen = 0, skip = 0;
        if (q < len && src[q] == '{') {
            prefix = "}", plen = 1, skip = 1, kind = TPL_T_RAW, what = "tag";
        } else if (q < len && src[q] == '=') {
            prefix = "=", plen = 1, skip = 1, kind = TPL_T_DELIM, what = "delimiter tag";
        } else if (q + 2 < len && src[q] == '!' && src[q + 1] == '-' && src[q + 2] == '-') {
            prefix = "--", plen = 2, skip = 3, kind = TPL_T_COMMENT, what = "comment";
        }
        if (prefix) {
            memcpy(needle, prefix, plen);
            memcpy(needle + plen, close, clen);
            size_t r = find(src, len, q + skip, needle, plen + clen);
            if (r == (size_t)-1)
                return tpl_lex_error(err, EDM_EINVAL, t->line, t->col,
                                     "unclosed %s (expected \"%.*s\")", what, (int)(plen + clen),
                                     needle);
            cs = q + skip;
            ce = r;
            end = r + plen + clen;
            if (kind == TPL_T_DELIM &&
                set_delims(src + cs, ce - cs, open, &olen, close, &clen) != 0)
                return tpl_lex_error(err, EDM_EINVAL, t->line, t->col,
                                     "invalid delimiter tag (expected two delimiters "
                                     "without spaces or '=')");
        } else {
            size_t r = find(src, len, q, close, clen);
            if (r == (size_t)-1)
                return tpl_lex_error(err, EDM_EINVAL, t->line, t->col,
                                     "unclosed tag (expected \"%.*s\")", (int)clen, close);
            end = r + clen;
            if (r > q && src[r - 1] == '~' && (r - 1 > q || !t->trim_l)) {
                t->trim_r = 1;
                r--;
            }
            kind = q < r ? kind_of(src[q]) : TPL_T_VAR;
            cs = kind == TPL_T_VAR ? q : q + 1;
            ce = r;
        }
        while (cs < ce && is_ws(src[cs]))
            cs++;
        while (ce > cs && is_ws(src[ce - 1]))
            ce--;
        if ((kind == TPL_T_PARTIAL || kind == TPL_T_PARENT) && cs < ce && src[cs] == '*') {
            t->dynamic = 1;
            cs++;
            while (cs < ce && is_ws(src[cs]))
                cs++;
        }
        if (kind == TPL_T_VAR && ce - cs >= 4 && memcmp(src + cs, "else", 4) == 0 &&
            (ce - cs == 4 || is_ws(src[cs + 4]))) {
            kind = TPL_T_ELSE;
            cs += 4;
            while (cs < ce && is_ws(src[cs]))
                cs++;
        }
        if (cs == ce && kind != TPL_T_COMMENT && kind != TPL_T_DELIM && kind != TPL_T_ELSE)
            return tpl_lex_error(err, EDM_EINVAL, t->line, t->col, "empty tag");
        t->kind = (uint8_t)kind;
        t->cs = cs;
        t->ce = ce;
        t->end = end;
        pos = end;
    }
    return 0;
}

static int capable(int kind)
{
    return kind != TPL_T_TEXT && kind != TPL_T_VAR && kind != TPL_T_RAW;
}

static int inheritance(const struct tpl_tok *t)
{
    return t->kind == TPL_T_PARENT || t->kind == TPL_T_BLOCK ||
           (t->kind == TPL_T_CLOSE && (t->closes == TPL_T_PARENT || t->closes == TPL_T_BLOCK));
}

/* End of the line after pos if only spaces/tabs come before it: the offset
 * just past its newline (or len at the end); (size_t)-1 otherwise. */
static size_t ws_to_eol(const char *src, size_t len, size_t pos, size_t *nl)
{
    while (pos < len && (src[pos] == ' ' || src[pos] == '\t'))
        pos++;
    *nl = pos;
    if (pos == len)
        return len;
    if (src[pos] == '\n')
        return pos + 1;
    if (src[pos] == '\r' && pos + 1 < len && src[pos + 1] == '\n')
        return pos + 2;
    return (size_t)-1;
}

/* Start of the line before pos if only spaces/tabs come after it. */
static size_t ws_from_bol(const char *src, size_t pos)
{
    while (pos > 0 && (src[pos - 1] == ' ' || src[pos - 1] == '\t'))
        pos--;
    return (pos == 0 || src[pos - 1] == '\n') ? pos : (size_t)-1;
}

static void mark_closes(struct tpl_tok *toks, size_t n)
{
    uint8_t stack[256];
    size_t depth = 0, lost = 0;
    for (size_t i = 0; i < n; i++) {
        int k = toks[i].kind;
        if (k == TPL_T_SECTION || k == TPL_T_INVERTED || k == TPL_T_PARENT || k == TPL_T_BLOCK) {
            if (depth < sizeof stack)
                stack[depth++] = (uint8_t)k;
            else
                lost++;
        } else if (k == TPL_T_CLOSE) {
            if (lost)
                lost--;
            else if (depth)
                toks[i].closes = stack[--depth];
        }
    }
}

static void standalone(const char *src, size_t len, struct tpl_tok *toks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct tpl_tok *t = &toks[i];
        if (!capable(t->kind) || t->standalone)
            continue;
        size_t ls = ws_from_bol(src, t->start), nl;
        if (ls == (size_t)-1)
            continue;
        size_t last = i;
        size_t eol = ws_to_eol(src, len, t->end, &nl);
        if (eol == (size_t)-1 && i + 1 < n && capable(toks[i + 1].kind) &&
            toks[i + 1].start == t->end && inheritance(t) && inheritance(&toks[i + 1])) {
            last = i + 1;
            eol = ws_to_eol(src, len, toks[last].end, &nl);
        }
        if (eol == (size_t)-1)
            continue;
        int keepnl = last == i + 1 && t->kind == TPL_T_BLOCK && toks[last].kind == TPL_T_CLOSE;
        for (size_t j = i; j <= last; j++) {
            toks[j].standalone = 1;
            toks[j].keepnl = (uint8_t)keepnl;
            toks[j].ls = ls;
            toks[j].ie = t->start;
        }
        if (i > 0 && toks[i - 1].kind == TPL_T_TEXT && toks[i - 1].end > ls)
            toks[i - 1].end = ls > toks[i - 1].start ? ls : toks[i - 1].start;
        if (last + 1 < n && toks[last + 1].kind == TPL_T_TEXT) {
            size_t to = keepnl ? nl : eol;
            struct tpl_tok *nx = &toks[last + 1];
            nx->start = to < nx->end ? to : nx->end;
        }
        i = last;
    }
}

static void tilde(const char *src, struct tpl_tok *toks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (toks[i].trim_l && i > 0 && toks[i - 1].kind == TPL_T_TEXT) {
            struct tpl_tok *p = &toks[i - 1];
            while (p->end > p->start && is_ws(src[p->end - 1]))
                p->end--;
        }
        if (toks[i].trim_r && i + 1 < n && toks[i + 1].kind == TPL_T_TEXT) {
            struct tpl_tok *p = &toks[i + 1];
            while (p->start < p->end && is_ws(src[p->start]))
                p->start++;
        }
    }
}

int tpl_lex(const char *src, size_t len, struct tpl_tok **toks, size_t *ntok, edm_tpl_error *err)
{
    struct lexer lx = {.src = src, .len = len, .line = 1};
    int rc = tokenize(&lx, err);
    if (rc != 0) {
        if (rc == EDM_ENOMEM)
            tpl_lex_error(err, rc, 0, 0, "out of memory");
        edm_free(lx.toks);
        return rc;
    }
    mark_closes(lx.toks, lx.n);
    standalone(src, len, lx.toks, lx.n);
    tilde(src, lx.toks, lx.n);
    *toks = lx.toks;
    *ntok = lx.n;
    return 0;
}
