/*
 * templates/expr.c: parses the inside of a tag into an expression
 * (tpl_expr_parse): a name path (a.b.0, ../x, this, @index, @root.x), a
 * literal ("str", 'str', 12, 1.5, true, false, null), or a helper call
 * `helper arg...` whose arguments may be (subexpressions).
 *
 * Returns the expression (allocated in the arena) or NULL with *msg set to
 * a constant description of the problem (and *at to its offset in the
 * content); *msg is "out of memory" when the arena fails.
 */
#include "templates/tpl_int.h"

#include <stdlib.h>
#include <string.h>

struct xp {
    tpl_arena *a;
    const char *s;
    size_t n, i;
    const char *msg;
    char buf[96];
    int depth;
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_ws(struct xp *x)
{
    while (x->i < x->n && is_ws(x->s[x->i]))
        x->i++;
}

static struct tpl_expr *new_expr(struct xp *x, int kind)
{
    struct tpl_expr *e = tpl_arena_alloc(x->a, sizeof *e);
    if (e == NULL) {
        x->msg = "out of memory";
        return NULL;
    }
    memset(e, 0, sizeof *e);
    e->kind = (uint8_t)kind;
    return e;
}

static int is_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d)
        return 0;
    if (i < n && s[i] == '.') {
        size_t f = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f)
            return 0;
    }
    return i == n;
}

static int add_seg(struct xp *x, struct tpl_path *p, const char *s, size_t n, size_t *cap)
{
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0) {
        x->msg = "empty name segment";
        return -1;
    }
    if (p->nseg == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct tpl_seg *seg = tpl_arena_alloc(x->a, ncap * sizeof *seg);
        if (seg == NULL) {
            x->msg = "out of memory";
            return -1;
        }
        if (p->nseg)
            memcpy(seg, p->seg, p->nseg * sizeof *seg);
        p->seg = seg;
        *cap = ncap;
    }
    struct tpl_seg *g = &p->seg[p->nseg++];
    g->key = tpl_arena_strndup(x->a, s, n);
    if (g->key == NULL) {
        x->msg = "out of memory";
        return -1;
    }
    g->idx = -1;
    if (n <= 9 && strspn(g->key, "0123456789") == n)
        g->idx = atol(g->key);
    return 0;
}

/* Splits s (a.b.[c d].0) into p's segments. */
static int split_path(struct xp *x, struct tpl_path *p, const char *s, size_t n)
{
    size_t cap = 0, i = 0;
    while (i <= n) {
        size_t j = i;
        if (j < n && s[j] == '[') {
            const char *close = memchr(s + j, ']', n - j);
            j = close ? (size_t)(close - s) + 1 : n;
        } else {
            while (j < n && s[j] != '.')
                j++;
        }
        if (add_seg(x, p, s + i, j - i, &cap) != 0)
            return -1;
        if (j >= n)
            break;
        if (s[j] != '.') {
            x->msg = "unexpected character after ']'";
            return -1;
        }
        i = j + 1;
        if (i == n) {
            x->msg = "name ends with '.'";
            return -1;
        }
    }
    return 0;
}

int tpl_path_parse(tpl_arena *a, struct tpl_path *p, const char *s, size_t n, const char **msg)
{
    struct xp x = {.a = a, .s = s, .n = n};
    memset(p, 0, sizeof *p);
    p->text = tpl_arena_strndup(a, s, n);
    if (p->text == NULL) {
        *msg = "out of memory";
        return -1;
    }
    if ((n == 1 && s[0] == '.') || (n == 4 && memcmp(s, "this", 4) == 0)) {
        p->kind = TPL_PATH_THIS;
        return 0;
    }
    if (s[0] == '@') {
        static const struct {
            const char *name;
            int kind;
        } at[] = {{"index", TPL_PATH_INDEX},
                  {"key", TPL_PATH_KEY},
                  {"first", TPL_PATH_FIRST},
                  {"last", TPL_PATH_LAST},
                  {"root", TPL_PATH_ROOT}};
        const char *dot = memchr(s, '.', n);
        size_t k = dot ? (size_t)(dot - s) - 1 : n - 1;
        for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
            if (strlen(at[i].name) == k && memcmp(s + 1, at[i].name, k) == 0) {
                p->kind = (uint8_t)at[i].kind;
                if (dot == NULL)
                    return 0;
                if (p->kind != TPL_PATH_ROOT) {
                    *msg = "only @root takes a path";
                    return -1;
                }
                if (split_path(&x, p, dot + 1, n - k - 2) != 0) {
                    *msg = x.msg;
                    return -1;
                }
                return 0;
            }
        *msg = "unknown @variable (expected @index, @key, @first, @last or @root)";
        return -1;
    }
    while (n >= 3 && memcmp(s, "../", 3) == 0 && p->up < 255) {
        p->up++;
        s += 3;
        n -= 3;
    }
    if (n >= 5 && memcmp(s, "this.", 5) == 0) {
        p->kind = TPL_PATH_THIS;
        s += 5;
        n -= 5;
    } else if (n >= 2 && memcmp(s, "./", 2) == 0) {
        p->kind = TPL_PATH_THIS;
        s += 2;
        n -= 2;
    } else if (p->up && ((n == 1 && s[0] == '.') || (n == 4 && memcmp(s, "this", 4) == 0))) {
        p->kind = TPL_PATH_THIS;
        return 0;
    } else {
        p->kind = TPL_PATH_NAME;
    }
    if (n == 0) {
        *msg = "empty name";
        return -1;
    }
    if (split_path(&x, p, s, n) != 0) {
        *msg = x.msg;
        return -1;
    }
    return 0;
}

static struct tpl_expr *parse_call(struct xp *x, size_t end_char);

/* One argument: (sub expr), "string", number, literal or path. */
static struct tpl_expr *parse_atom(struct xp *x)
{
    skip_ws(x);
    const char *s = x->s;
    if (x->i >= x->n) {
        x->msg = "expected a value";
        return NULL;
    }
    char c = s[x->i];
    if (c == '(') {
        if (++x->depth > 16) {
            x->msg = "subexpressions nested too deep";
            return NULL;
        }
        x->i++;
        struct tpl_expr *e = parse_call(x, ')');
        x->depth--;
        return e;
    }
    if (c == ')') {
        x->msg = "unexpected ')'";
        return NULL;
    }
    if (c == '"' || c == '\'') {
        size_t j = ++x->i;
        char *out = tpl_arena_alloc(x->a, x->n - j + 1);
        struct tpl_expr *e = new_expr(x, TPL_E_STR);
        if (out == NULL || e == NULL) {
            x->msg = "out of memory";
            return NULL;
        }
        size_t k = 0;
        while (j < x->n && s[j] != c) {
            if (s[j] == '\\' && j + 1 < x->n)
                j++;
            out[k++] = s[j++];
        }
        if (j >= x->n) {
            x->msg = "unterminated string";
            return NULL;
        }
        out[k] = '\0';
        x->i = j + 1;
        e->str = out;
        e->len = k;
        return e;
    }
    size_t j = x->i;
    while (j < x->n && !is_ws(s[j]) && s[j] != '(' && s[j] != ')')
        j++;
    const char *w = s + x->i;
    size_t wn = j - x->i;
    x->i = j;
    struct tpl_expr *e;
    if ((wn == 4 && memcmp(w, "true", 4) == 0) || (wn == 5 && memcmp(w, "false", 5) == 0)) {
        if ((e = new_expr(x, TPL_E_BOOL)) != NULL)
            e->num = wn == 4;
        return e;
    }
    if (wn == 4 && memcmp(w, "null", 4) == 0)
        return new_expr(x, TPL_E_NULL);
    if (is_number(w, wn)) {
        char tmp[64];
        if (wn >= sizeof tmp) {
            x->msg = "number too long";
            return NULL;
        }
        memcpy(tmp, w, wn);
        tmp[wn] = '\0';
        if ((e = new_expr(x, TPL_E_NUM)) != NULL)
            e->num = strtod(tmp, NULL);
        return e;
    }
    if ((e = new_expr(x, TPL_E_PATH)) == NULL)
        return NULL;
    const char *msg = NULL;
    if (tpl_path_parse(x->a, &e->path, w, wn, &msg) != 0) {
        x->msg = msg;
        return NULL;
    }
    return e;
}

/* `helper arg...` up to end_char (')' or '\0' for the end of the tag). A
 * single atom at top level is returned as itself. */
static struct tpl_expr *parse_call(struct xp *x, size_t end_char)
{
    struct tpl_expr *args[32];
    int nargs = 0;
    size_t start = x->i;
    for (;;) {
        skip_ws(x);
        if (x->i >= x->n) {
            if (end_char == ')') {
                x->msg = "missing ')'";
                return NULL;
            }
            break;
        }
        if (x->s[x->i] == ')') {
            if (end_char != ')') {
                x->msg = "unexpected ')'";
                return NULL;
            }
            x->i++;
            break;
        }
        if (nargs == (int)(sizeof args / sizeof args[0])) {
            x->msg = "too many arguments";
            return NULL;
        }
        if ((args[nargs++] = parse_atom(x)) == NULL)
            return NULL;
    }
    if (nargs == 0) {
        x->msg = end_char == ')' ? "empty subexpression" : "expected a value";
        return NULL;
    }
    if (nargs == 1 && end_char != ')')
        return args[0];
    struct tpl_expr *h = args[0];
    if (h->kind != TPL_E_PATH || h->path.kind != TPL_PATH_NAME || h->path.nseg != 1) {
        x->msg = "expected a helper name";
        return NULL;
    }
    enum tpl_helper id = tpl_helper_lookup(h->path.text, strlen(h->path.text));
    if (id == TPL_H_NONE) {
        snprintf(x->buf, sizeof x->buf, "unknown helper \"%.40s\"", h->path.text);
        x->msg = x->buf;
        x->i = start;
        return NULL;
    }
    const char *bad = tpl_helper_check(id, nargs - 1, end_char == ')');
    if (bad) {
        snprintf(x->buf, sizeof x->buf, "helper \"%s\" %s", tpl_helper_name(id), bad);
        x->msg = x->buf;
        return NULL;
    }
    struct tpl_expr *e = new_expr(x, TPL_E_CALL);
    if (e == NULL)
        return NULL;
    e->helper = (uint8_t)id;
    e->nargs = (uint16_t)(nargs - 1);
    e->args = tpl_arena_alloc(x->a, (size_t)(nargs - 1) * sizeof *e->args + 1);
    if (e->args == NULL) {
        x->msg = "out of memory";
        return NULL;
    }
    for (int i = 1; i < nargs; i++)
        e->args[i - 1] = args[i];
    return e;
}

struct tpl_expr *tpl_expr_parse(tpl_arena *a, const char *s, size_t n, const char **msg,
                                char *msgbuf, size_t msgsize)
{
    struct xp x = {.a = a, .s = s, .n = n};
    struct tpl_expr *e = parse_call(&x, 0);
    if (e == NULL) {
        snprintf(msgbuf, msgsize, "%s", x.msg ? x.msg : "invalid expression");
        *msg = msgbuf;
    }
    return e;
}
