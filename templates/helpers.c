/*
 * templates/helpers.c: the Handlebars-compatible helpers (tpl_helper_*)
 * and value semantics shared by the renderer: truthiness, comparisons,
 * how scalars print, and the date helper.
 *
 * Block helpers: if unless each with. Value helpers: default upper lower
 * urlencode date. Comparisons (usable as subexpressions): eq ne gt lt and
 * or not. upper/lower map case as JavaScript does (templates/casemap.c).
 */
#include "templates/tpl_int.h"

#include "engine/base/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    const char *name;
    enum tpl_helper id;
} helpers[] = {
    {"if", TPL_H_IF},           {"unless", TPL_H_UNLESS},
    {"each", TPL_H_EACH},       {"with", TPL_H_WITH},
    {"default", TPL_H_DEFAULT}, {"upper", TPL_H_UPPER},
    {"lower", TPL_H_LOWER},     {"urlencode", TPL_H_URLENCODE},
    {"date", TPL_H_DATE},       {"eq", TPL_H_EQ},
    {"ne", TPL_H_NE},           {"gt", TPL_H_GT},
    {"lt", TPL_H_LT},           {"and", TPL_H_AND},
    {"or", TPL_H_OR},           {"not", TPL_H_NOT},
};

enum tpl_helper tpl_helper_lookup(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof helpers / sizeof helpers[0]; i++)
        if (strlen(helpers[i].name) == n && memcmp(helpers[i].name, name, n) == 0)
            return helpers[i].id;
    return TPL_H_NONE;
}

const char *tpl_helper_name(enum tpl_helper h)
{
    for (size_t i = 0; i < sizeof helpers / sizeof helpers[0]; i++)
        if (helpers[i].id == h)
            return helpers[i].name;
    return "?";
}

int tpl_helper_is_block(enum tpl_helper h)
{
    return h == TPL_H_IF || h == TPL_H_UNLESS || h == TPL_H_EACH || h == TPL_H_WITH;
}

const char *tpl_helper_check(enum tpl_helper h, int nargs, int in_subexpr)
{
    switch (h) {
    case TPL_H_IF:
    case TPL_H_UNLESS:
    case TPL_H_EACH:
    case TPL_H_WITH:
        if (in_subexpr)
            return "is a block helper and cannot be used in a subexpression";
        return nargs == 1 ? NULL : "takes exactly one argument";
    case TPL_H_UPPER:
    case TPL_H_LOWER:
    case TPL_H_URLENCODE:
        if (in_subexpr)
            return "cannot be used in a subexpression";
        return nargs == 1 ? NULL : "takes exactly one argument";
    case TPL_H_DATE:
        if (in_subexpr)
            return "cannot be used in a subexpression";
        return nargs == 1 || nargs == 2 ? NULL : "takes a value and an optional format";
    case TPL_H_DEFAULT: return nargs >= 2 ? NULL : "takes a value and a fallback";
    case TPL_H_EQ:
    case TPL_H_NE:
    case TPL_H_GT:
    case TPL_H_LT: return nargs == 2 ? NULL : "takes exactly two arguments";
    case TPL_H_AND:
    case TPL_H_OR: return nargs >= 2 ? NULL : "takes two or more arguments";
    case TPL_H_NOT: return nargs == 1 ? NULL : "takes exactly one argument";
    default: return "is unknown";
    }
}

int tpl_val_truthy(const tpl_val *v)
{
    switch (v->kind) {
    case TPL_V_BOOL:
    case TPL_V_INT: return v->i != 0;
    case TPL_V_REAL: return v->d != 0 && !isnan(v->d);
    case TPL_V_STR: return v->n > 0;
    case TPL_V_JSON: return !json_is_array(v->j) || json_array_size(v->j) > 0;
    default: return 0;
    }
}

static int is_num(const tpl_val *v, double *d)
{
    if (v->kind == TPL_V_INT) {
        *d = (double)v->i;
        return 1;
    }
    if (v->kind == TPL_V_REAL) {
        *d = v->d;
        return 1;
    }
    return 0;
}

/* -1, 0, 1, or 2 when a and b do not compare. */
static int cmp(const tpl_val *a, const tpl_val *b)
{
    double x, y;
    if (is_num(a, &x) && is_num(b, &y))
        return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
    if (a->kind != b->kind)
        return 2;
    switch (a->kind) {
    case TPL_V_STR: {
        int c = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n);
        if (c == 0)
            c = a->n < b->n ? -1 : a->n > b->n;
        return c < 0 ? -1 : c > 0;
    }
    case TPL_V_BOOL: return a->i == b->i ? 0 : 2;
    case TPL_V_JSON: return a->j == b->j ? 0 : 2;
    default: return 0; /* null == null, missing == missing */
    }
}

int tpl_helper_compare(enum tpl_helper h, const tpl_val *args, int nargs)
{
    switch (h) {
    case TPL_H_EQ: return cmp(&args[0], &args[1]) == 0;
    case TPL_H_NE: return cmp(&args[0], &args[1]) != 0;
    case TPL_H_GT: return cmp(&args[0], &args[1]) == 1;
    case TPL_H_LT: return cmp(&args[0], &args[1]) == -1;
    case TPL_H_AND:
        for (int i = 0; i < nargs; i++)
            if (!tpl_val_truthy(&args[i]))
                return 0;
        return 1;
    case TPL_H_OR:
        for (int i = 0; i < nargs; i++)
            if (tpl_val_truthy(&args[i]))
                return 1;
        return 0;
    case TPL_H_NOT: return !tpl_val_truthy(&args[0]);
    default: return 0;
    }
}

void tpl_val_text(const tpl_val *v, char *buf, size_t size, const char **s, size_t *n)
{
    int k = 0;
    switch (v->kind) {
    case TPL_V_STR:
        *s = v->s;
        *n = v->n;
        return;
    case TPL_V_BOOL:
        *s = v->i ? "true" : "false";
        *n = strlen(*s);
        return;
    case TPL_V_INT: k = snprintf(buf, size, "%lld", v->i); break;
    case TPL_V_REAL:
        /* The shortest form that reads back the same, as JavaScript prints. */
        if (v->d == 0) /* -0 prints as 0, as in JavaScript */
            return tpl_val_text(&(tpl_val){.kind = TPL_V_INT, .i = 0}, buf, size, s, n);
        k = snprintf(buf, size, "%.15g", v->d);
        if (strtod(buf, NULL) != v->d)
            k = snprintf(buf, size, "%.17g", v->d);
        break;
    default:
        *s = "";
        *n = 0;
        return;
    }
    *s = buf;
    *n = k > 0 && (size_t)k < size ? (size_t)k : 0;
}

/* "YYYY-MM-DD" (midnight UTC) or RFC 3339. */
static int parse_date(const char *s, size_t n, int64_t *t)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (n == 10) {
        if (n + 10 >= sizeof tmp)
            return -1;
        memcpy(tmp + n, "T00:00:00Z", 11);
    }
    return edm_time_parse_rfc3339(tmp, t) == 0 ? 0 : -1;
}

size_t tpl_helper_date(const tpl_val *v, const char *fmt, char *buf, size_t size)
{
    int64_t t;
    double d;
    if (is_num(v, &d)) {
        if (!(d > -1e13 && d < 1e13))
            return 0;
        t = (int64_t)d;
    } else if (v->kind == TPL_V_STR) {
        if (parse_date(v->s, v->n, &t) != 0)
            return 0;
    } else {
        return 0;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL)
        return 0;
    return strftime(buf, size, fmt && *fmt ? fmt : "%Y-%m-%d", &tm);
}
