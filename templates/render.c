/*
 * templates/render.c: runs a compiled program against a jansson value
 * (tpl_render).
 *
 * State lives on the stack (context frames, inheritance overrides,
 * indentation); output is appended to the caller's edm_buf, so a render
 * with a warm buffer does not allocate. Object lookups go through the
 * caller's struct tpl_memo when given (a name used in the subject, html and
 * text of one recipient is looked up once). Only what the data holds is
 * read: JSON values are reached through jansson's accessors, never by
 * pointer arithmetic.
 *
 * Work is bounded: every op run and every loop iteration is one step, and
 * a render stops past max_steps (docs/templates.md "Limits"), so a few
 * nested loops over a large array cannot run for minutes.
 *
 * Returns 0, EDM_ETOOBIG (work budget, output limit, nesting, partial
 * recursion, indentation), or EDM_ENOMEM; err->msg says which and where
 * ("line 3, col 14: ...", the tag being run, with the partial's name when
 * it is in one). Missing variables in strict mode are collected by the
 * caller through struct tpl_missing.
 */
#include "templates/tpl_int.h"

#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>

#define MAX_OVERRIDES 32
#define MAX_INDENT    1024

struct frame {
    tpl_val v;
    long idx, count; /* idx >= 0 inside an iteration */
    const char *key; /* iteration over an object */
};

struct rs {
    const struct tpl_lib *lib;
    edm_buf *out;
    enum edm_tpl_mode mode;
    int strict;
    struct tpl_missing *miss;
    struct tpl_memo *memo;
    edm_tpl_error *err;
    int depth, max_depth, pdepth, max_pdepth;
    unsigned long steps, max_steps;
    size_t max_out;
    const struct tpl_op *cur; /* the op being run: errors name its position */
    const char *pname;        /* the partial being run (NULL: the part itself) */
    size_t pnamen;
    int nframes;
    int novr;
    size_t indn;
    struct {
        const struct tpl_op *ops;
        uint32_t at;
    } ovr[MAX_OVERRIDES];
    struct frame frames[EDM_TPL_MAX_DEPTH + 2];
    char indent[MAX_INDENT];
};

/* Fills err with what went wrong at the op being run. */
static int fail(struct rs *r, int code, const char *what)
{
    char in[96] = "";
    if (r->pname)
        snprintf(in, sizeof in, " (in partial \"%.*s\")", (int)(r->pnamen > 64 ? 64 : r->pnamen),
                 r->pname);
    uint32_t line = r->cur ? r->cur->line : 0, col = r->cur ? r->cur->col : 0;
    return tpl_lex_error(r->err, code, line, col, "%s%s", what, in);
}

/* One unit of work (an op run, a loop iteration); fails past the budget. */
static int spend(struct rs *r)
{
    if (++r->steps <= r->max_steps)
        return 0;
    char msg[160];
    snprintf(msg, sizeof msg,
             "render work over the limit of %lu steps (loops or partials run too often for "
             "this data)",
             r->max_steps);
    return fail(r, EDM_ETOOBIG, msg);
}

static void from_json(const json_t *j, tpl_val *v)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        v->kind = TPL_V_JSON;
        v->j = j;
        break;
    case JSON_STRING:
        v->kind = TPL_V_STR;
        v->s = json_string_value(j);
        v->n = json_string_length(j);
        break;
    case JSON_INTEGER:
        v->kind = TPL_V_INT;
        v->i = json_integer_value(j);
        break;
    case JSON_REAL:
        v->kind = TPL_V_REAL;
        v->d = json_real_value(j);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v->kind = TPL_V_BOOL;
        v->i = json_is_true(j);
        break;
    default: v->kind = TPL_V_NULL;
    }
}

/* *v = obj[seg] (remembered in the memo); 0 if found, -1 if not. */
static int oget(struct rs *r, const json_t *obj, const struct tpl_seg *seg, tpl_val *v)
{
    struct tpl_memo *m = r->memo;
    if (m == NULL || seg->id == 0) {
        const json_t *j = json_object_getn(obj, seg->key, seg->len);
        if (j == NULL)
            return -1;
        from_json(j, v);
        return 0;
    }
    size_t h = ((uintptr_t)obj >> 4 ^ seg->id * 0x9e3779b1u) & (TPL_MEMO_SIZE - 1);
    if (m->e[h].epoch == m->epoch && m->e[h].obj == obj && m->e[h].id == seg->id) {
        if (m->e[h].v.kind == TPL_V_MISSING)
            return -1;
        *v = m->e[h].v;
        return 0;
    }
    const json_t *j = json_object_getn(obj, seg->key, seg->len);
    m->e[h].epoch = m->epoch;
    m->e[h].obj = obj;
    m->e[h].id = seg->id;
    if (j == NULL) {
        m->e[h].v.kind = TPL_V_MISSING;
        return -1;
    }
    from_json(j, v);
    m->e[h].v = *v;
    return 0;
}

/* v = v[seg]; 0 if found. */
static int step(struct rs *r, tpl_val *v, const struct tpl_seg *seg)
{
    const json_t *j = NULL;
    if (v->kind == TPL_V_JSON && json_is_object(v->j))
        return oget(r, v->j, seg, v);
    if (v->kind == TPL_V_JSON) {
        if (seg->idx >= 0) {
            j = json_array_get(v->j, (size_t)seg->idx);
        } else if (strcmp(seg->key, "length") == 0) {
            long long n = (long long)json_array_size(v->j);
            memset(v, 0, sizeof *v);
            v->kind = TPL_V_INT;
            v->i = n;
            return 0;
        }
    }
    if (j == NULL)
        return -1;
    from_json(j, v);
    return 0;
}

static void missing(struct rs *r, const struct tpl_path *p)
{
    if (!r->strict || r->miss == NULL)
        return;
    struct tpl_missing *m = r->miss;
    for (int i = 0; i < m->n; i++)
        if (m->names[i] == p->text || strcmp(m->names[i], p->text) == 0)
            return;
    if (m->n < TPL_MAX_MISSING)
        m->names[m->n++] = p->text;
    else
        m->more = 1;
}

static const struct frame *loop_frame(const struct rs *r)
{
    for (int f = r->nframes - 1; f >= 0; f--)
        if (r->frames[f].idx >= 0)
            return &r->frames[f];
    return NULL;
}

static void lookup(struct rs *r, const struct tpl_path *p, tpl_val *out, int track)
{
    out->kind = TPL_V_MISSING;
    const struct frame *lf;
    uint16_t first = 0;
    switch (p->kind) {
    case TPL_PATH_INDEX:
    case TPL_PATH_KEY:
    case TPL_PATH_FIRST:
    case TPL_PATH_LAST:
        if ((lf = loop_frame(r)) == NULL)
            break;
        if (p->kind == TPL_PATH_KEY && lf->key) {
            out->kind = TPL_V_STR;
            out->s = lf->key;
            out->n = strlen(lf->key);
        } else if (p->kind == TPL_PATH_INDEX || p->kind == TPL_PATH_KEY) {
            out->kind = TPL_V_INT;
            out->i = lf->idx;
        } else {
            out->kind = TPL_V_BOOL;
            out->i = p->kind == TPL_PATH_FIRST ? lf->idx == 0 : lf->idx == lf->count - 1;
        }
        return;
    case TPL_PATH_ROOT: *out = r->frames[0].v; break;
    case TPL_PATH_THIS:
        if (r->nframes - 1 - p->up >= 0)
            *out = r->frames[r->nframes - 1 - p->up].v;
        break;
    default:
        for (int f = r->nframes - 1 - p->up; f >= 0; f--) {
            const tpl_val *fv = &r->frames[f].v;
            if (fv->kind != TPL_V_JSON || !json_is_object(fv->j))
                continue;
            if (oget(r, fv->j, &p->seg[0], out) == 0) {
                first = 1;
                break;
            }
        }
        if (first == 0) {
            out->kind = TPL_V_MISSING;
            if (track)
                missing(r, p);
            return;
        }
    }
    if (out->kind == TPL_V_MISSING && track) {
        missing(r, p);
        return;
    }
    for (uint16_t i = first; i < p->nseg; i++)
        if (step(r, out, &p->seg[i]) != 0) {
            out->kind = TPL_V_MISSING;
            if (track)
                missing(r, p);
            return;
        }
}

static void eval(struct rs *r, const struct tpl_expr *e, tpl_val *out, int track)
{
    switch (e->kind) {
    case TPL_E_PATH: lookup(r, &e->path, out, track); return;
    case TPL_E_STR:
        out->kind = TPL_V_STR;
        out->s = e->str;
        out->n = e->len;
        return;
    case TPL_E_NUM:
        if (e->num > -9e18 && e->num < 9e18 && e->num == (double)(long long)e->num) {
            out->kind = TPL_V_INT;
            out->i = (long long)e->num;
        } else {
            out->kind = TPL_V_REAL;
            out->d = e->num;
        }
        return;
    case TPL_E_BOOL:
        out->kind = TPL_V_BOOL;
        out->i = e->num != 0;
        return;
    case TPL_E_NULL: out->kind = TPL_V_NULL; return;
    default: break;
    }
    if (e->helper == TPL_H_DEFAULT) {
        for (int i = 0; i < e->nargs; i++) {
            eval(r, e->args[i], out, 0);
            if (out->kind != TPL_V_MISSING && out->kind != TPL_V_NULL &&
                !(out->kind == TPL_V_STR && out->n == 0))
                return;
        }
        return;
    }
    tpl_val args[32];
    for (int i = 0; i < e->nargs && i < 32; i++)
        eval(r, e->args[i], &args[i], track);
    out->kind = TPL_V_BOOL;
    out->i = tpl_helper_compare(e->helper, args, e->nargs);
}

/* ---- output ---- */

static int put(struct rs *r, const char *s, size_t n)
{
    if (r->mode == EDM_TPL_HEADER)
        return tpl_escape_header(r->out, s, n);
    return tpl_put(r->out, s, n);
}

static int put_val(struct rs *r, const char *s, size_t n, int raw)
{
    if (r->mode == EDM_TPL_HTML && !raw)
        return tpl_escape_html(r->out, s, n);
    return put(r, s, n);
}

static int text(struct rs *r, const struct tpl_op *op)
{
    if (r->indn == 0) {
        if (r->mode == EDM_TPL_HEADER && (op->flags & TPL_F_CTL))
            return tpl_escape_header(r->out, op->s, op->n);
        return tpl_put(r->out, op->s, op->n);
    }
    int rc = 0;
    if (op->flags & TPL_F_BOL)
        rc = put(r, r->indent, r->indn);
    size_t from = 0;
    for (size_t i = 0; rc == 0 && i + 1 < op->n; i++)
        if (op->s[i] == '\n') {
            rc = put(r, op->s + from, i + 1 - from);
            if (rc == 0)
                rc = put(r, r->indent, r->indn);
            from = i + 1;
        }
    return rc ? rc : put(r, op->s + from, op->n - from);
}

/* upper / lower / urlencode, through a small buffer. */
static int transform(struct rs *r, enum tpl_helper h, const char *s, size_t n, int raw)
{
    static const char hex[] = "0123456789ABCDEF";
    char buf[256];
    size_t k = 0;
    int prev_cased = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (h == TPL_H_UPPER || h == TPL_H_LOWER) {
            size_t used;
            k += tpl_case_step(h == TPL_H_UPPER, s, n, i, &prev_cased, buf + k, &used);
            i += used - 1;
        } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_' || c == '.' || c == '~') {
            buf[k++] = (char)c;
        } else {
            buf[k++] = '%';
            buf[k++] = hex[c >> 4];
            buf[k++] = hex[c & 15];
        }
        if (k > sizeof buf - 16) {
            int rc = put_val(r, buf, k, raw);
            if (rc != 0)
                return rc;
            k = 0;
        }
    }
    return put_val(r, buf, k, raw);
}

static int var(struct rs *r, const struct tpl_op *op)
{
    const struct tpl_expr *e = op->expr;
    int raw = (op->flags & TPL_F_RAW) != 0;
    tpl_val v;
    char num[64];
    const char *s;
    size_t n;
    if (e->kind == TPL_E_CALL && (e->helper == TPL_H_UPPER || e->helper == TPL_H_LOWER ||
                                  e->helper == TPL_H_URLENCODE || e->helper == TPL_H_DATE)) {
        eval(r, e->args[0], &v, 1);
        if (e->helper == TPL_H_DATE) {
            tpl_val f = {.kind = TPL_V_MISSING};
            char fmt[128] = "", out[256];
            if (e->nargs > 1)
                eval(r, e->args[1], &f, 1);
            if (f.kind == TPL_V_STR && f.n < sizeof fmt) {
                memcpy(fmt, f.s, f.n);
                fmt[f.n] = '\0';
            }
            n = tpl_helper_date(&v, fmt, out, sizeof out);
            return put_val(r, out, n, raw);
        }
        tpl_val_text(&v, num, sizeof num, &s, &n);
        return transform(r, e->helper, s, n, raw);
    }
    eval(r, e, &v, 1);
    tpl_val_text(&v, num, sizeof num, &s, &n);
    return n ? put_val(r, s, n, raw) : 0;
}

/* ---- structure ---- */

static int run(struct rs *r, const struct tpl_op *ops, uint32_t from, uint32_t to);

static int enter(struct rs *r)
{
    if (++r->depth > r->max_depth)
        return fail(r, EDM_ETOOBIG, "template nesting deeper than the limit");
    return 0;
}

/* Runs ops[from, to) with v pushed as the context (if push). */
static int scope(struct rs *r, const struct tpl_op *ops, uint32_t from, uint32_t to,
                 const tpl_val *v, long idx, long count, const char *key)
{
    int rc = enter(r);
    if (rc == 0) {
        struct frame *f = &r->frames[r->nframes++];
        f->v = *v;
        f->idx = idx;
        f->count = count;
        f->key = key;
        rc = run(r, ops, from, to);
        r->nframes--;
    }
    r->depth--;
    return rc;
}

static int iterate(struct rs *r, const struct tpl_op *ops, uint32_t at, const json_t *j)
{
    const struct tpl_op *op = &ops[at];
    tpl_val v;
    int rc = 0;
    if (json_is_array(j)) {
        size_t n = json_array_size(j);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            r->cur = op;
            if ((rc = spend(r)) != 0)
                break;
            from_json(json_array_get(j, i), &v);
            rc = scope(r, ops, at + 1, op->else_at, &v, (long)i, (long)n, NULL);
        }
        return rc;
    }
    long i = 0, n = (long)json_object_size(j);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)j, key, val)
    {
        r->cur = op;
        if ((rc = spend(r)) != 0)
            break;
        from_json(val, &v);
        if ((rc = scope(r, ops, at + 1, op->else_at, &v, i++, n, key)) != 0)
            break;
    }
    return rc;
}

static int is_empty_coll(const tpl_val *v)
{
    return v->kind == TPL_V_JSON &&
           (json_is_array(v->j) ? json_array_size(v->j) == 0 : json_object_size(v->j) == 0);
}

static int mustache_falsy(const tpl_val *v)
{
    return v->kind == TPL_V_MISSING || v->kind == TPL_V_NULL || (v->kind == TPL_V_BOOL && !v->i) ||
           (v->kind == TPL_V_JSON && json_is_array(v->j) && json_array_size(v->j) == 0);
}

static int branch(struct rs *r, const struct tpl_op *ops, uint32_t at, int body)
{
    const struct tpl_op *op = &ops[at];
    int rc = enter(r);
    if (rc == 0)
        rc = body ? run(r, ops, at + 1, op->else_at) : run(r, ops, op->else_at + 1, op->end);
    r->depth--;
    return rc;
}

static int section(struct rs *r, const struct tpl_op *ops, uint32_t at)
{
    const struct tpl_op *op = &ops[at];
    tpl_val v;
    eval(r, op->expr, &v, 0);
    if (op->kind == TPL_OP_INVERTED)
        return branch(r, ops, at, mustache_falsy(&v));
    if (op->kind == TPL_OP_SECTION) {
        if (mustache_falsy(&v))
            return branch(r, ops, at, 0);
        if (v.kind == TPL_V_JSON && json_is_array(v.j))
            return iterate(r, ops, at, v.j);
        if (v.kind == TPL_V_BOOL)
            return branch(r, ops, at, 1);
        return scope(r, ops, at + 1, op->else_at, &v, -1, 0, NULL);
    }
    switch (op->helper) {
    case TPL_H_IF: return branch(r, ops, at, tpl_val_truthy(&v));
    case TPL_H_UNLESS: return branch(r, ops, at, !tpl_val_truthy(&v));
    case TPL_H_WITH:
        /* Handlebars' isEmpty: 0 is a value for with, not an empty one. */
        if (!tpl_val_truthy(&v) &&
            !((v.kind == TPL_V_INT && v.i == 0) || (v.kind == TPL_V_REAL && v.d == 0)))
            return branch(r, ops, at, 0);
        return scope(r, ops, at + 1, op->else_at, &v, -1, 0, NULL);
    case TPL_H_EACH:
        if (v.kind != TPL_V_JSON || is_empty_coll(&v))
            return branch(r, ops, at, 0);
        return iterate(r, ops, at, v.j);
    default: EDM_PANIC("helper %d opens a section", op->helper);
    }
}

/* The partial op calls (NULL if none), and its name. */
static const struct tpl_prog *find_partial(struct rs *r, const struct tpl_op *op, const char **name,
                                           size_t *n)
{
    if (!(op->flags & TPL_F_DYNAMIC)) {
        *name = op->s;
        *n = op->n;
        return tpl_lib_find(r->lib, op->s, op->n);
    }
    tpl_val v;
    lookup(r, &op->expr->path, &v, 0);
    if (v.kind != TPL_V_STR)
        return NULL;
    *name = v.s;
    *n = v.n;
    return tpl_lib_find(r->lib, v.s, v.n);
}

/* Runs ops[from, to) with extra indentation (ind, n). */
static int indented(struct rs *r, const char *ind, size_t n, const struct tpl_op *ops,
                    uint32_t from, uint32_t to)
{
    size_t old = r->indn;
    if (n > sizeof r->indent - old)
        return fail(r, EDM_ETOOBIG, "indentation deeper than the limit");
    if (n)
        memcpy(r->indent + old, ind, n);
    r->indn = old + n;
    int rc = enter(r);
    if (rc == 0)
        rc = run(r, ops, from, to);
    r->depth--;
    r->indn = old;
    return rc;
}

static int partial(struct rs *r, const struct tpl_op *ops, uint32_t at)
{
    const struct tpl_op *op = &ops[at];
    int rc = 0;
    if (op->kind == TPL_OP_PARENT) {
        if (r->novr == MAX_OVERRIDES)
            return fail(r, EDM_ETOOBIG, "parents nested deeper than the limit");
        r->ovr[r->novr].ops = ops;
        r->ovr[r->novr].at = at;
        r->novr++;
    }
    const char *name = NULL;
    size_t namen = 0;
    const struct tpl_prog *p = find_partial(r, op, &name, &namen);
    if (p) {
        const char *oldname = r->pname;
        size_t oldn = r->pnamen;
        if (++r->pdepth > r->max_pdepth) {
            rc = fail(r, EDM_ETOOBIG, "partials nested deeper than the limit");
        } else {
            r->pname = name;
            r->pnamen = namen;
            rc = indented(r, op->ind, op->indn, p->ops, 0, p->nops);
            if (rc == 0) {
                r->pname = oldname;
                r->pnamen = oldn;
            }
        }
        r->pdepth--;
    }
    if (op->kind == TPL_OP_PARENT)
        r->novr--;
    return rc;
}

static int has_end(int kind)
{
    return kind == TPL_OP_SECTION || kind == TPL_OP_INVERTED || kind == TPL_OP_HELPER ||
           kind == TPL_OP_PARENT || kind == TPL_OP_BLOCK;
}

static int block(struct rs *r, const struct tpl_op *ops, uint32_t at)
{
    const struct tpl_op *op = &ops[at], *src = ops;
    uint32_t from = at;
    for (int f = 0; f < r->novr && src == ops; f++) {
        const struct tpl_op *po = r->ovr[f].ops;
        uint32_t pa = r->ovr[f].at;
        for (uint32_t j = pa + 1; j < po[pa].end; j = has_end(po[j].kind) ? po[j].end : j + 1)
            if (po[j].kind == TPL_OP_BLOCK && po[j].n == op->n &&
                memcmp(po[j].s, op->s, op->n) == 0) {
                src = po;
                from = j;
                break;
            }
    }
    const char *ind = NULL;
    size_t indn = 0;
    if (op->flags & TPL_F_STANDALONE) {
        ind = op->ind2n ? op->ind2 : op->ind;
        indn = op->ind2n ? op->ind2n : op->indn;
    }
    return indented(r, ind, indn, src, from + 1, src[from].end);
}

static int run(struct rs *r, const struct tpl_op *ops, uint32_t from, uint32_t to)
{
    int rc = 0;
    for (uint32_t i = from; i < to && rc == 0;) {
        const struct tpl_op *op = &ops[i];
        r->cur = op;
        if ((rc = spend(r)) != 0)
            break;
        if (op->kind != TPL_OP_TEXT && (op->flags & TPL_F_BOL) && r->indn)
            if ((rc = put(r, r->indent, r->indn)) != 0)
                break;
        switch (op->kind) {
        case TPL_OP_TEXT:
            if (r->indn == 0 && !(op->flags & TPL_F_CTL))
                rc = tpl_put(r->out, op->s, op->n);
            else
                rc = text(r, op);
            break;
        case TPL_OP_VAR: rc = var(r, op); break;
        case TPL_OP_SECTION:
        case TPL_OP_INVERTED:
        case TPL_OP_HELPER: rc = section(r, ops, i); break;
        case TPL_OP_PARTIAL:
        case TPL_OP_PARENT: rc = partial(r, ops, i); break;
        case TPL_OP_BLOCK: rc = block(r, ops, i); break;
        case TPL_OP_ELSE: break;
        default: EDM_PANIC("op kind %d", op->kind);
        }
        i = has_end(op->kind) ? op->end : i + 1;
    }
    if (rc == EDM_ETOOBIG && (r->err == NULL || r->err->code == 0)) {
        char msg[96];
        snprintf(msg, sizeof msg, "output larger than the limit of %zu bytes", r->max_out);
        return fail(r, rc, msg);
    }
    if (rc == EDM_ENOMEM && (r->err == NULL || r->err->code == 0))
        return fail(r, rc, "out of memory");
    return rc;
}

int tpl_render(const struct tpl_lib *lib, const struct tpl_prog *p, const json_t *data,
               const edm_tpl_opts *opts, enum edm_tpl_mode mode, edm_buf *out, edm_tpl_error *err,
               struct tpl_missing *miss, struct tpl_memo *memo)
{
    struct rs r;
    r.memo = memo;
    r.lib = lib;
    r.out = out;
    r.mode = mode;
    r.strict = opts && opts->strict;
    r.miss = miss;
    r.err = err;
    r.depth = r.pdepth = r.novr = 0;
    r.steps = 0;
    r.max_steps = opts && opts->max_steps ? opts->max_steps : EDM_TPL_DEFAULT_MAX_STEPS;
    r.cur = NULL;
    r.pname = NULL;
    r.pnamen = 0;
    r.indn = 0;
    r.max_depth = opts && opts->max_depth ? opts->max_depth : EDM_TPL_DEFAULT_MAX_DEPTH;
    if (r.max_depth > EDM_TPL_MAX_DEPTH)
        r.max_depth = EDM_TPL_MAX_DEPTH;
    r.max_pdepth =
        opts && opts->max_partial_depth ? opts->max_partial_depth : EDM_TPL_DEFAULT_MAX_PARTIAL;
    size_t max_out = opts && opts->max_output ? opts->max_output : EDM_TPL_DEFAULT_MAX_OUTPUT;
    r.max_out = max_out;
    size_t old_limit = out->limit;
    if (out->limit == 0 || out->limit - out->len > max_out)
        out->limit = out->len + max_out;
    r.nframes = 1;
    memset(&r.frames[0], 0, sizeof r.frames[0]);
    r.frames[0].idx = -1;
    if (data)
        from_json(data, &r.frames[0].v);
    else
        r.frames[0].v.kind = TPL_V_MISSING;
    int rc = run(&r, p->ops, 0, p->nops);
    if (out->data)
        out->data[out->len] = '\0';
    out->limit = old_limit;
    return rc;
}
