/*
 * templates/parse.c: compiles tokens (lex.c) into a program (tpl_parse).
 *
 * Builds the flat op array: matches sections, blocks, parents and helpers
 * with their closing tags, splits {{else}} / {{else if x}}, parses tag
 * expressions (expr.c), records indentation of standalone partials, and
 * re-indents standalone blocks (their common leading whitespace is removed
 * here and the indentation of the place they expand into is added when
 * rendering, per the ~inheritance spec).
 *
 * Returns 0, EDM_EINVAL with err's line/col/msg, or EDM_ENOMEM. Limits:
 * sections nested at most TPL_MAX_NEST deep, sources up to 4 GiB.
 */
#include "templates/tpl_int.h"

#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <string.h>

#define TPL_MAX_NEST 128

struct open {
    uint32_t op;
    const struct tpl_tok *tok;
    const char *name; /* what {{/name}} must say */
    size_t namelen;
    int implicit; /* opened by {{else if}}: closed with its parent */
};

struct parser {
    const char *src;
    size_t len;
    const struct tpl_tok *toks;
    size_t ntok;
    struct tpl_prog *prog;
    uint32_t cap;
    struct open stack[TPL_MAX_NEST];
    int depth;
    edm_tpl_error *err;
    char msgbuf[128];
};

static int oom(struct parser *ps)
{
    return tpl_lex_error(ps->err, EDM_ENOMEM, 0, 0, "out of memory");
}

static struct tpl_op *emit(struct parser *ps, int kind, const struct tpl_tok *t)
{
    struct tpl_prog *p = ps->prog;
    if (p->nops == ps->cap) {
        if (ps->cap >= (1u << 28))
            return NULL;
        uint32_t cap = ps->cap ? ps->cap * 2 : 32;
        struct tpl_op *ops = edm_realloc(p->ops, cap * sizeof *ops);
        if (ops == NULL)
            return NULL;
        p->ops = ops;
        ps->cap = cap;
    }
    struct tpl_op *op = &p->ops[p->nops++];
    memset(op, 0, sizeof *op);
    op->kind = (uint8_t)kind;
    op->line = t->line;
    op->col = t->col;
    int bol = t->start == 0 || ps->src[t->start - 1] == '\n';
    if (bol && !t->standalone)
        op->flags |= TPL_F_BOL;
    if (t->standalone)
        op->flags |= TPL_F_STANDALONE;
    return op;
}

static int parse_expr(struct parser *ps, const struct tpl_tok *t, size_t cs, struct tpl_expr **e)
{
    const char *msg;
    *e = tpl_expr_parse(&ps->prog->arena, ps->src + cs, t->ce - cs, &msg, ps->msgbuf,
                        sizeof ps->msgbuf);
    if (*e)
        return 0;
    if (strcmp(msg, "out of memory") == 0)
        return oom(ps);
    return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col, "%s in tag \"%.*s\"", msg,
                         (int)(t->ce - t->cs > 60 ? 60 : t->ce - t->cs), ps->src + t->cs);
}

static int push_open(struct parser *ps, const struct tpl_tok *t, const char *name, size_t n,
                     int implicit)
{
    if (ps->depth == TPL_MAX_NEST)
        return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col, "sections nested deeper than %d",
                             TPL_MAX_NEST);
    struct open *o = &ps->stack[ps->depth++];
    o->op = ps->prog->nops - 1;
    o->tok = t;
    o->name = name;
    o->namelen = n;
    o->implicit = implicit;
    return 0;
}

static int set_indent(struct parser *ps, struct tpl_op *op, const struct tpl_tok *t)
{
    if (!t->standalone || t->ie <= t->ls)
        return 0;
    op->ind = tpl_arena_strndup(&ps->prog->arena, ps->src + t->ls, t->ie - t->ls);
    op->indn = t->ie - t->ls;
    return op->ind ? 0 : oom(ps);
}

/* Removes up to n leading blanks from every line start of a text op. */
static int dedent_text(struct parser *ps, struct tpl_op *op, size_t n)
{
    char *out = tpl_arena_alloc(&ps->prog->arena, op->n + 1);
    if (out == NULL)
        return oom(ps);
    size_t k = 0;
    int bol = (op->flags & TPL_F_BOL) != 0;
    for (size_t i = 0; i < op->n;) {
        if (bol) {
            size_t skip = 0;
            while (skip < n && i < op->n && (op->s[i] == ' ' || op->s[i] == '\t')) {
                i++;
                skip++;
            }
            bol = 0;
            continue;
        }
        out[k] = op->s[i++];
        bol = out[k++] == '\n';
    }
    out[k] = '\0';
    op->s = out;
    op->n = k;
    return 0;
}

static void strip_prefix(const char **s, size_t *len, size_t n)
{
    size_t k = 0;
    while (k < n && k < *len && ((*s)[k] == ' ' || (*s)[k] == '\t'))
        k++;
    *s += k;
    *len -= k;
}

/* A standalone block's content, source bytes [bs, be): its common leading
 * whitespace (over non-blank lines) becomes the block's intrinsic
 * indentation and is removed from the content's lines. */
static int reindent_block(struct parser *ps, uint32_t at, size_t bs, size_t be)
{
    struct tpl_op *ops = ps->prog->ops;
    const char *src = ps->src, *prefix = NULL;
    size_t plen = 0;
    for (size_t i = bs; i < be;) {
        size_t w = i;
        while (w < be && (src[w] == ' ' || src[w] == '\t'))
            w++;
        size_t eol = w;
        while (eol < be && src[eol] != '\n')
            eol++;
        int blank = w == eol || (src[w] == '\r' && w + 1 == eol);
        if (!blank) {
            if (prefix == NULL) {
                prefix = src + i;
                plen = w - i;
            } else {
                size_t k = 0;
                while (k < plen && k < w - i && src[i + k] == prefix[k])
                    k++;
                plen = k;
            }
        }
        i = eol + 1;
    }
    if (plen == 0)
        return 0;
    ops[at].ind2 = tpl_arena_strndup(&ps->prog->arena, prefix, plen);
    if (ops[at].ind2 == NULL)
        return oom(ps);
    ops[at].ind2n = plen;
    for (uint32_t j = at + 1; j < ps->prog->nops;) {
        struct tpl_op *op = &ops[j];
        if (op->kind == TPL_OP_TEXT && dedent_text(ps, op, plen) != 0)
            return EDM_ENOMEM;
        if (op->ind)
            strip_prefix(&op->ind, &op->indn, plen);
        if (op->kind == TPL_OP_BLOCK && (op->flags & TPL_F_STANDALONE)) {
            strip_prefix(&op->ind2, &op->ind2n, plen);
            j = op->end; /* its content was re-indented on its own */
            continue;
        }
        j++;
    }
    return 0;
}

static const char *open_what(int kind)
{
    switch (kind) {
    case TPL_OP_BLOCK: return "block";
    case TPL_OP_PARENT: return "parent";
    default: return "section";
    }
}

static int close_tag(struct parser *ps, const struct tpl_tok *t, size_t ti)
{
    struct tpl_prog *p = ps->prog;
    while (ps->depth > 0 && ps->stack[ps->depth - 1].implicit) {
        struct tpl_op *op = &p->ops[ps->stack[--ps->depth].op];
        op->end = p->nops;
        if (op->else_at == 0)
            op->else_at = op->end;
    }
    const char *name = ps->src + t->cs;
    size_t n = t->ce - t->cs;
    if (ps->depth == 0)
        return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col,
                             "unexpected closing tag \"%.*s\" (no open section)",
                             (int)(n > 60 ? 60 : n), name);
    struct open *o = &ps->stack[ps->depth - 1];
    struct tpl_op *op = &p->ops[o->op];
    if (o->namelen != n || memcmp(o->name, name, n) != 0)
        return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col,
                             "closing tag \"%.*s\" does not match open %s \"%.*s\" "
                             "(line %u, col %u)",
                             (int)(n > 60 ? 60 : n), name, open_what(op->kind),
                             (int)(o->namelen > 60 ? 60 : o->namelen), o->name, o->tok->line,
                             o->tok->col);
    ps->depth--;
    op->end = p->nops;
    if (op->else_at == 0)
        op->else_at = op->end;
    if (op->kind == TPL_OP_BLOCK && o->tok->standalone) {
        size_t open_i = (size_t)(o->tok - ps->toks);
        size_t bs = open_i + 1 < ps->ntok ? ps->toks[open_i + 1].start : ps->len;
        size_t be = t->standalone ? t->ls : t->start;
        (void)ti;
        if (be > bs)
            return reindent_block(ps, o->op, bs, be);
    }
    return 0;
}

static int else_tag(struct parser *ps, const struct tpl_tok *t)
{
    struct tpl_prog *p = ps->prog;
    struct open *o = ps->depth ? &ps->stack[ps->depth - 1] : NULL;
    struct tpl_op *top = o ? &p->ops[o->op] : NULL;
    if (top == NULL ||
        (top->kind != TPL_OP_SECTION && top->kind != TPL_OP_INVERTED && top->kind != TPL_OP_HELPER))
        return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col,
                             "{{else}} outside a section or block helper");
    if (top->else_at)
        return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col,
                             "second {{else}} in the same section");
    top->else_at = p->nops;
    if (emit(ps, TPL_OP_ELSE, t) == NULL)
        return oom(ps);
    if (t->ce == t->cs)
        return 0;
    /* {{else if x}}: an implicit {{#if x}} closed by the outer {{/if}}. */
    struct tpl_expr *e;
    int rc = parse_expr(ps, t, t->cs, &e);
    if (rc != 0)
        return rc;
    if (e->kind != TPL_E_CALL || (e->helper != TPL_H_IF && e->helper != TPL_H_UNLESS))
        return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col,
                             "expected {{else}}, {{else if x}} or {{else unless x}}");
    struct tpl_op *op = emit(ps, TPL_OP_HELPER, t);
    if (op == NULL)
        return oom(ps);
    op->helper = e->helper;
    op->expr = e->args[0];
    return push_open(ps, t, NULL, 0, 1);
}

static int open_tag(struct parser *ps, const struct tpl_tok *t)
{
    struct tpl_expr *e;
    int rc = parse_expr(ps, t, t->cs, &e);
    if (rc != 0)
        return rc;
    const char *name = ps->src + t->cs;
    size_t n = t->ce - t->cs;
    int kind = t->kind == TPL_T_SECTION ? TPL_OP_SECTION : TPL_OP_INVERTED;
    if (e->kind == TPL_E_CALL && tpl_helper_is_block(e->helper)) {
        if (t->kind == TPL_T_INVERTED)
            return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col,
                                 "{{^%s}} is not allowed (use {{#%s}} with {{else}})",
                                 tpl_helper_name(e->helper), tpl_helper_name(e->helper));
        kind = TPL_OP_HELPER;
        name = tpl_helper_name(e->helper);
        n = strlen(name);
    } else if (e->kind == TPL_E_CALL && e->helper < TPL_H_EQ) {
        return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col,
                             "helper \"%s\" cannot open a section", tpl_helper_name(e->helper));
    }
    struct tpl_op *op = emit(ps, kind, t);
    if (op == NULL)
        return oom(ps);
    if (kind == TPL_OP_HELPER) {
        op->helper = e->helper;
        op->expr = e->args[0];
    } else {
        op->expr = e;
    }
    return push_open(ps, t, name, n, 0);
}

static int named_tag(struct parser *ps, const struct tpl_tok *t, int kind)
{
    struct tpl_op *op = emit(ps, kind, t);
    if (op == NULL)
        return oom(ps);
    op->n = t->ce - t->cs;
    op->s = tpl_arena_strndup(&ps->prog->arena, ps->src + t->cs, op->n);
    if (op->s == NULL)
        return oom(ps);
    if (t->dynamic) {
        op->flags |= TPL_F_DYNAMIC;
        struct tpl_expr *e = tpl_arena_alloc(&ps->prog->arena, sizeof *e);
        if (e == NULL)
            return oom(ps);
        memset(e, 0, sizeof *e);
        const char *msg;
        if (tpl_path_parse(&ps->prog->arena, &e->path, op->s, op->n, &msg) != 0)
            return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col, "%s in tag \"%s\"", msg,
                                 op->s);
        op->expr = e;
    }
    if (set_indent(ps, op, t) != 0)
        return EDM_ENOMEM;
    if (kind == TPL_OP_PARTIAL)
        return 0;
    return push_open(ps, t, op->s, op->n, 0);
}

static int text(struct parser *ps, const struct tpl_tok *t)
{
    if (t->end <= t->start)
        return 0;
    if (ps->depth && ps->prog->ops[ps->stack[ps->depth - 1].op].kind == TPL_OP_PARENT)
        return 0; /* text directly inside {{<parent}} is ignored */
    struct tpl_op *op = emit(ps, TPL_OP_TEXT, t);
    if (op == NULL)
        return oom(ps);
    op->s = ps->src + t->start; /* src is the program's own copy */
    op->n = t->end - t->start;
    if (tpl_escape_has_ctl(op->s, op->n))
        op->flags |= TPL_F_CTL;
    return 0;
}

static int token(struct parser *ps, size_t i)
{
    const struct tpl_tok *t = &ps->toks[i];
    struct tpl_op *op;
    struct tpl_expr *e;
    int rc;
    switch (t->kind) {
    case TPL_T_TEXT: return text(ps, t);
    case TPL_T_COMMENT:
    case TPL_T_DELIM: return 0;
    case TPL_T_VAR:
    case TPL_T_RAW:
        if ((rc = parse_expr(ps, t, t->cs, &e)) != 0)
            return rc;
        if (e->kind == TPL_E_CALL && tpl_helper_is_block(e->helper))
            return tpl_lex_error(ps->err, EDM_EINVAL, t->line, t->col,
                                 "helper \"%s\" needs a block: {{#%s ...}}...{{/%s}}",
                                 tpl_helper_name(e->helper), tpl_helper_name(e->helper),
                                 tpl_helper_name(e->helper));
        if ((op = emit(ps, TPL_OP_VAR, t)) == NULL)
            return oom(ps);
        op->expr = e;
        if (t->kind == TPL_T_RAW)
            op->flags |= TPL_F_RAW;
        return 0;
    case TPL_T_SECTION:
    case TPL_T_INVERTED: return open_tag(ps, t);
    case TPL_T_CLOSE: return close_tag(ps, t, i);
    case TPL_T_ELSE: return else_tag(ps, t);
    case TPL_T_PARTIAL: return named_tag(ps, t, TPL_OP_PARTIAL);
    case TPL_T_PARENT: return named_tag(ps, t, TPL_OP_PARENT);
    case TPL_T_BLOCK: return named_tag(ps, t, TPL_OP_BLOCK);
    default: EDM_PANIC("token kind %d", t->kind);
    }
}

void tpl_prog_free(struct tpl_prog *p)
{
    if (p == NULL)
        return;
    edm_free(p->ops);
    tpl_arena_free(&p->arena);
    edm_free(p);
}

int tpl_parse(struct tpl_prog **out, const char *src, size_t len, edm_tpl_error *err)
{
    *out = NULL;
    if (len > 0xffffffffu)
        return tpl_lex_error(err, EDM_ETOOBIG, 0, 0, "template larger than 4 GiB");
    struct tpl_prog *p = edm_calloc(1, sizeof *p);
    if (p == NULL)
        return tpl_lex_error(err, EDM_ENOMEM, 0, 0, "out of memory");
    /* Text ops point into this copy. */
    char *copy = tpl_arena_strndup(&p->arena, src, len);
    struct tpl_tok *toks = NULL;
    size_t ntok = 0;
    int rc = copy ? tpl_lex(copy, len, &toks, &ntok, err)
                  : tpl_lex_error(err, EDM_ENOMEM, 0, 0, "out of memory");
    struct parser ps = {.src = copy, .len = len, .toks = toks, .ntok = ntok, .prog = p, .err = err};
    for (size_t i = 0; rc == 0 && i < ntok; i++)
        rc = token(&ps, i);
    if (rc == 0) {
        while (ps.depth > 0 && ps.stack[ps.depth - 1].implicit)
            ps.depth--;
        if (ps.depth > 0) {
            const struct open *o = &ps.stack[ps.depth - 1];
            rc = tpl_lex_error(err, EDM_EINVAL, o->tok->line, o->tok->col, "unclosed %s \"%.*s\"",
                               open_what(p->ops[o->op].kind),
                               (int)(o->namelen > 60 ? 60 : o->namelen), o->name);
        }
    }
    edm_free(toks);
    if (rc != 0) {
        tpl_prog_free(p);
        return rc;
    }
    *out = p;
    return 0;
}
