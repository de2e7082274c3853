/*
 * templates/template.c: the public interface (template.h): compiling one
 * template or a message template set with its partials, and rendering
 * them. Partials are compiled once into a table sorted by name that every
 * program of the object shares (tpl_lib_find).
 *
 * Return values as template.h says; err->part names the source of a
 * compile error ("subject", "html", "text", "partial NAME").
 */
#include "templates/tpl_int.h"

#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct edm_tpl {
    struct tpl_lib lib;
    struct tpl_prog *main;
};

struct edm_tpl_set {
    struct tpl_lib lib;
    struct tpl_prog *subject, *html, *text;
};

static void clear_err(edm_tpl_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

static void set_part(edm_tpl_error *err, const char *fmt, const char *name)
{
    if (err)
        snprintf(err->part, sizeof err->part, fmt, name);
}

static int entry_cmp(const void *a, const void *b)
{
    const struct tpl_entry *x = a, *y = b;
    return strcmp(x->name, y->name);
}

const struct tpl_prog *tpl_lib_find(const struct tpl_lib *lib, const char *name, size_t n)
{
    size_t lo = 0, hi = lib->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct tpl_entry *e = &lib->e[mid];
        int c = memcmp(e->name, name, e->n < n ? e->n : n);
        if (c == 0)
            c = e->n < n ? -1 : e->n > n;
        if (c == 0)
            return e->prog;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void lib_free(struct tpl_lib *lib)
{
    for (size_t i = 0; i < lib->n; i++) {
        edm_free(lib->e[i].name);
        tpl_prog_free(lib->e[i].prog);
    }
    edm_free(lib->e);
    lib->e = NULL;
    lib->n = 0;
}

static int lib_build(struct tpl_lib *lib, const json_t *partials, edm_tpl_error *err)
{
    memset(lib, 0, sizeof *lib);
    if (partials == NULL || json_is_null(partials))
        return 0;
    if (!json_is_object(partials)) {
        set_part(err, "%s", "partials");
        return tpl_lex_error(err, EDM_EINVAL, 0, 0, "partials must be an object");
    }
    size_t n = json_object_size(partials);
    if (n == 0)
        return 0;
    lib->e = edm_calloc(n, sizeof *lib->e);
    if (lib->e == NULL)
        return tpl_lex_error(err, EDM_ENOMEM, 0, 0, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)partials, key, val)
    {
        struct tpl_entry *e = &lib->e[lib->n];
        if (!json_is_string(val)) {
            set_part(err, "partial %s", key);
            lib_free(lib);
            return tpl_lex_error(err, EDM_EINVAL, 0, 0, "partial \"%s\" must be a string", key);
        }
        e->name = edm_strdup(key);
        if (e->name == NULL) {
            lib_free(lib);
            return tpl_lex_error(err, EDM_ENOMEM, 0, 0, "out of memory");
        }
        e->n = strlen(key);
        lib->n++;
        int rc = tpl_parse(&e->prog, json_string_value(val), json_string_length(val), err);
        if (rc != 0) {
            set_part(err, "partial %s", key);
            lib_free(lib);
            return rc;
        }
    }
    qsort(lib->e, lib->n, sizeof *lib->e, entry_cmp);
    return 0;
}

/* Numbers the keys of the n programs at progs and of the partials. */
static int intern(const struct tpl_lib *lib, struct tpl_prog **progs, size_t n, edm_tpl_error *err)
{
    struct tpl_prog **all = edm_malloc((lib->n + n) * sizeof *all);
    if (all == NULL)
        return tpl_lex_error(err, EDM_ENOMEM, 0, 0, "out of memory");
    memcpy(all, progs, n * sizeof *all);
    for (size_t i = 0; i < lib->n; i++)
        all[n + i] = lib->e[i].prog;
    int rc = tpl_intern_keys(all, lib->n + n);
    edm_free(all);
    return rc ? tpl_lex_error(err, rc, 0, 0, "out of memory") : 0;
}

int edm_tpl_compile(edm_tpl **out, const char *src, size_t len, const json_t *partials,
                    edm_tpl_error *err)
{
    clear_err(err);
    *out = NULL;
    edm_tpl *t = edm_calloc(1, sizeof *t);
    if (t == NULL)
        return tpl_lex_error(err, EDM_ENOMEM, 0, 0, "out of memory");
    int rc = lib_build(&t->lib, partials, err);
    if (rc == 0)
        rc = tpl_parse(&t->main, src, len, err);
    if (rc == 0)
        rc = intern(&t->lib, &t->main, 1, err);
    if (rc != 0) {
        edm_tpl_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void edm_tpl_free(edm_tpl *t)
{
    if (t == NULL)
        return;
    lib_free(&t->lib);
    tpl_prog_free(t->main);
    edm_free(t);
}

/* "missing variables: a, b.c" into err. */
static int report_missing(const struct tpl_missing *m, edm_tpl_error *err)
{
    if (err == NULL)
        return EDM_ENOTFOUND;
    err->code = EDM_ENOTFOUND;
    size_t k =
        (size_t)snprintf(err->msg, sizeof err->msg, "missing variable%s: ", m->n > 1 ? "s" : "");
    for (int i = 0; i < m->n && k < sizeof err->msg; i++)
        k +=
            (size_t)snprintf(err->msg + k, sizeof err->msg - k, "%s%s", i ? ", " : "", m->names[i]);
    if (m->more && k < sizeof err->msg)
        snprintf(err->msg + k, sizeof err->msg - k, ", ...");
    return EDM_ENOTFOUND;
}

int edm_tpl_render(const edm_tpl *t, const json_t *data, const edm_tpl_opts *opts, edm_buf *out,
                   edm_tpl_error *err)
{
    clear_err(err);
    struct tpl_missing miss = {.n = 0};
    enum edm_tpl_mode mode = opts ? opts->mode : EDM_TPL_HTML;
    int rc = tpl_render(&t->lib, t->main, data, opts, mode, out, err, &miss, NULL);
    if (rc == 0 && miss.n > 0)
        return report_missing(&miss, err);
    return rc;
}

/* ---- message template sets ---- */

static int compile_part(const json_t *tmpl, const char *name, int required, struct tpl_prog **out,
                        edm_tpl_error *err)
{
    const json_t *v = json_object_get(tmpl, name);
    if (v == NULL || json_is_null(v)) {
        if (!required)
            return 0;
        set_part(err, "%s", name);
        return tpl_lex_error(err, EDM_EINVAL, 0, 0, "\"%s\" is required", name);
    }
    if (!json_is_string(v)) {
        set_part(err, "%s", name);
        return tpl_lex_error(err, EDM_EINVAL, 0, 0, "\"%s\" must be a string", name);
    }
    int rc = tpl_parse(out, json_string_value(v), json_string_length(v), err);
    if (rc != 0)
        set_part(err, "%s", name);
    return rc;
}

int edm_tpl_set_compile(edm_tpl_set **out, const json_t *tmpl, edm_tpl_error *err)
{
    clear_err(err);
    *out = NULL;
    if (!json_is_object(tmpl))
        return tpl_lex_error(err, EDM_EINVAL, 0, 0, "a template must be a JSON object");
    edm_tpl_set *s = edm_calloc(1, sizeof *s);
    if (s == NULL)
        return tpl_lex_error(err, EDM_ENOMEM, 0, 0, "out of memory");
    int rc = compile_part(tmpl, "subject", 1, &s->subject, err);
    if (rc == 0)
        rc = compile_part(tmpl, "html", 0, &s->html, err);
    if (rc == 0)
        rc = compile_part(tmpl, "text", 0, &s->text, err);
    if (rc == 0 && s->html == NULL && s->text == NULL)
        rc = tpl_lex_error(err, EDM_EINVAL, 0, 0, "a template needs \"html\" or \"text\"");
    if (rc == 0)
        rc = lib_build(&s->lib, json_object_get(tmpl, "partials"), err);
    struct tpl_prog *parts[3] = {s->subject, s->html, s->text};
    if (rc == 0)
        rc = intern(&s->lib, parts, 3, err);
    if (rc != 0) {
        edm_tpl_set_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void edm_tpl_set_free(edm_tpl_set *s)
{
    if (s == NULL)
        return;
    lib_free(&s->lib);
    tpl_prog_free(s->subject);
    tpl_prog_free(s->html);
    tpl_prog_free(s->text);
    edm_free(s);
}

int edm_tpl_set_has_html(const edm_tpl_set *s)
{
    return s->html != NULL;
}

int edm_tpl_set_has_text(const edm_tpl_set *s)
{
    return s->text != NULL;
}

static int expr_names(const struct tpl_expr *e, const char *key)
{
    if (e == NULL)
        return 0;
    if (e->kind == TPL_E_PATH) {
        for (uint16_t i = 0; i < e->path.nseg; i++)
            if (strcmp(e->path.seg[i].key, key) == 0)
                return 1;
        return 0;
    }
    for (int i = 0; e->kind == TPL_E_CALL && i < e->nargs; i++)
        if (expr_names(e->args[i], key))
            return 1;
    return 0;
}

static int prog_names(const struct tpl_prog *p, const char *key)
{
    for (uint32_t j = 0; p && j < p->nops; j++)
        if (expr_names(p->ops[j].expr, key))
            return 1;
    return 0;
}

int edm_tpl_set_names(const edm_tpl_set *s, const char *key)
{
    if (prog_names(s->subject, key) || prog_names(s->html, key) || prog_names(s->text, key))
        return 1;
    for (size_t i = 0; i < s->lib.n; i++)
        if (prog_names(s->lib.e[i].prog, key))
            return 1;
    return 0;
}

void tpl_memo_next(struct tpl_memo *m)
{
    if (++m->epoch == 0) {
        memset(m, 0, sizeof *m);
        m->epoch = 1;
    }
}

void edm_tpl_msg_init(edm_tpl_msg *m)
{
    m->cache = NULL;
    edm_buf_init(&m->subject);
    edm_buf_init(&m->html);
    edm_buf_init(&m->text);
}

void edm_tpl_msg_free(edm_tpl_msg *m)
{
    edm_buf_free(&m->subject);
    edm_buf_free(&m->html);
    edm_buf_free(&m->text);
    edm_free(m->cache);
    m->cache = NULL;
}

int edm_tpl_set_render(const edm_tpl_set *s, const json_t *vars, const edm_tpl_opts *opts,
                       edm_tpl_msg *out, edm_tpl_error *err)
{
    static const char *const names[3] = {"subject", "html", "text"};
    static const enum edm_tpl_mode modes[3] = {EDM_TPL_HEADER, EDM_TPL_HTML, EDM_TPL_NONE};
    const struct tpl_prog *progs[3] = {s->subject, s->html, s->text};
    edm_buf *bufs[3] = {&out->subject, &out->html, &out->text};
    struct tpl_missing miss = {.n = 0};
    clear_err(err);
    if (out->cache == NULL && (out->cache = edm_calloc(1, sizeof(struct tpl_memo))) == NULL)
        return tpl_lex_error(err, EDM_ENOMEM, 0, 0, "out of memory");
    tpl_memo_next(out->cache);
    for (int i = 0; i < 3; i++) {
        edm_buf_reset(bufs[i]);
        if (progs[i] == NULL)
            continue;
        int rc =
            tpl_render(&s->lib, progs[i], vars, opts, modes[i], bufs[i], err, &miss, out->cache);
        if (rc != 0) {
            set_part(err, "%s", names[i]);
            return rc;
        }
    }
    return miss.n > 0 ? report_missing(&miss, err) : 0;
}

/* ---- key numbering ---- */

struct seg_list {
    struct tpl_seg **v;
    size_t n, cap;
};

static int add_segs(struct seg_list *l, const struct tpl_path *p)
{
    for (uint16_t i = 0; i < p->nseg; i++) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            struct tpl_seg **v = edm_realloc(l->v, cap * sizeof *v);
            if (v == NULL)
                return EDM_ENOMEM;
            l->v = v;
            l->cap = cap;
        }
        l->v[l->n++] = &p->seg[i];
    }
    return 0;
}

static int add_expr(struct seg_list *l, const struct tpl_expr *e)
{
    if (e == NULL)
        return 0;
    if (e->kind == TPL_E_PATH)
        return add_segs(l, &e->path);
    for (int i = 0; e->kind == TPL_E_CALL && i < e->nargs; i++)
        if (add_expr(l, e->args[i]) != 0)
            return EDM_ENOMEM;
    return 0;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct tpl_seg *x = *(struct tpl_seg *const *)a, *y = *(struct tpl_seg *const *)b;
    return strcmp(x->key, y->key);
}

int tpl_intern_keys(struct tpl_prog *const *progs, size_t n)
{
    struct seg_list l = {NULL, 0, 0};
    for (size_t i = 0; i < n; i++)
        for (uint32_t j = 0; progs[i] && j < progs[i]->nops; j++)
            if (add_expr(&l, progs[i]->ops[j].expr) != 0) {
                edm_free(l.v);
                return EDM_ENOMEM;
            }
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, seg_cmp);
    uint32_t id = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (i == 0 || strcmp(l.v[i - 1]->key, l.v[i]->key) != 0)
            id++;
        l.v[i]->id = id;
    }
    edm_free(l.v);
    return 0;
}
