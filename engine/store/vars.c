/*
 * engine/store/vars.c: the compact form of a recipient's variables (see
 * vars.h): names objects, the encoder the writers use and the decoder the
 * readers use. The decoder trusts nothing in the stored bytes: every
 * length is checked against the end, every value for UTF-8 and NUL, and
 * the count against the names.
 */
#include "engine/store/vars.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/utf8.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct edm_var_names {
    atomic_int refs;
    int64_t id;
    size_t n;
    const char **name; /* into text */
    size_t *len;
    char *text; /* the names back to back, each NUL-terminated */
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return EDM_EINVAL;
}

static void names_free(edm_var_names *n)
{
    edm_free(n->name);
    edm_free(n->len);
    edm_free(n->text);
    edm_free(n);
}

int edm_var_names_parse(int64_t id, const char *text, size_t len, edm_var_names **out, char *err,
                        size_t errlen)
{
    json_error_t jerr;
    json_t *a = json_loadb(text, len, 0, &jerr);
    if (a == NULL || !json_is_array(a)) {
        json_decref(a);
        return fail(err, errlen, "var_names row %lld is not a JSON array", (long long)id);
    }
    size_t n = json_array_size(a), total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s)) {
            json_decref(a);
            return fail(err, errlen, "var_names row %lld: name %zu is not a string", (long long)id,
                        i + 1);
        }
        total += json_string_length(s) + 1;
    }
    edm_var_names *v = edm_calloc(1, sizeof *v);
    if (v == NULL || (v->name = edm_calloc(n ? n : 1, sizeof *v->name)) == NULL ||
        (v->len = edm_calloc(n ? n : 1, sizeof *v->len)) == NULL ||
        (v->text = edm_malloc(total ? total : 1)) == NULL) {
        if (v)
            names_free(v);
        json_decref(a);
        return EDM_ENOMEM;
    }
    char *p = v->text;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        size_t l = json_string_length(s);
        memcpy(p, json_string_value(s), l + 1);
        v->name[i] = p;
        v->len[i] = l;
        p += l + 1;
    }
    json_decref(a);
    atomic_init(&v->refs, 1);
    v->id = id;
    v->n = n;
    *out = v;
    return 0;
}

edm_var_names *edm_var_names_ref(edm_var_names *n)
{
    if (n)
        atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
    return n;
}

void edm_var_names_unref(edm_var_names *n)
{
    if (n && atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) == 1)
        names_free(n);
}

int64_t edm_var_names_id(const edm_var_names *n)
{
    return n->id;
}

size_t edm_var_names_count(const edm_var_names *n)
{
    return n->n;
}

void edm_vars_clear(edm_vars *v)
{
    edm_free(v->json);
    edm_free(v->bin);
    edm_var_names_unref(v->names);
    *v = (edm_vars){0};
}

/* Reads an unsigned LEB128 varint at *p (at most 9 bytes, below 2^63).
 * Returns 0 or -1 (past the end, too long). */
static int get_varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 63; shift += 7) {
        if (*p >= end)
            return -1;
        unsigned char c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int put_varint(edm_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    return edm_buf_append(b, tmp, n);
}

int edm_vars_names_id(const unsigned char *b, size_t n, int64_t *id)
{
    const unsigned char *p = b, *end = b + n;
    uint64_t v;
    if (n < 2 || *p++ != EDM_VARS_TAG || get_varint(&p, end, &v) != 0 || v == 0)
        return EDM_EINVAL;
    *id = (int64_t)v;
    return 0;
}

/* Sets the values of vals (p..end) on obj under the names given. */
static int decode_values(json_t *obj, const char *const *name, const size_t *nlen, size_t n,
                         const unsigned char *p, const unsigned char *end, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t l;
        if (get_varint(&p, end, &l) != 0 || l > (uint64_t)(end - p))
            return fail(err, errlen, "stored variables: value %zu of %zu runs past the end", i + 1,
                        n);
        const char *s = (const char *)p;
        p += l;
        if (memchr(s, '\0', l) || !edm_utf8_valid(s, l))
            return fail(err, errlen, "stored variables: value %zu is not NUL-free UTF-8", i + 1);
        json_t *js = json_stringn_nocheck(s, l);
        if (js == NULL || json_object_setn_new_nocheck(obj, name[i], nlen[i], js) != 0)
            return EDM_ENOMEM;
    }
    if (p != end)
        return fail(err, errlen, "stored variables: %zu bytes past the last of %zu values",
                    (size_t)(end - p), n);
    return 0;
}

int edm_vars_to_json(const edm_vars *v, json_t **out, char *err, size_t errlen)
{
    json_t *obj;
    if (v->bin) {
        int64_t id;
        const edm_var_names *nm = v->names;
        if (edm_vars_names_id(v->bin, v->binlen, &id) != 0)
            return fail(err, errlen, "stored variables: not the compact form (bad header)");
        if (nm == NULL || id != nm->id)
            return fail(err, errlen, "stored variables: names id %lld without its names",
                        (long long)id);
        const unsigned char *p = v->bin + 1, *end = v->bin + v->binlen;
        uint64_t skip;
        get_varint(&p, end, &skip);
        if ((obj = json_object()) == NULL)
            return EDM_ENOMEM;
        int rc = decode_values(obj, nm->name, nm->len, nm->n, p, end, err, errlen);
        if (rc != 0) {
            json_decref(obj);
            return rc;
        }
    } else if (v->json) {
        json_error_t jerr;
        obj = json_loads(v->json, 0, &jerr);
        if (obj == NULL || !json_is_object(obj)) {
            json_decref(obj);
            return fail(err, errlen, "stored variables are not a JSON object: %s",
                        obj ? "another JSON value" : jerr.text);
        }
    } else if ((obj = json_object()) == NULL) {
        return EDM_ENOMEM;
    }
    *out = obj;
    return 0;
}

int edm_vars_put_value(edm_buf *vals, const char *s, size_t n)
{
    size_t mark = vals->len;
    if (put_varint(vals, n) != 0 || edm_buf_append(vals, s, n) != 0) {
        vals->len = mark;
        return EDM_ENOMEM;
    }
    return 0;
}

int edm_vars_encode(edm_buf *out, int64_t names_id, const unsigned char *vals, size_t vals_len)
{
    size_t mark = out->len;
    if (edm_buf_append_char(out, EDM_VARS_TAG) != 0 || put_varint(out, (uint64_t)names_id) != 0 ||
        edm_buf_append(out, vals, vals_len) != 0) {
        out->len = mark;
        return EDM_ENOMEM;
    }
    return 0;
}

int edm_vars_from_object(const json_t *obj, edm_buf *names, edm_buf *vals)
{
    edm_buf_reset(names);
    edm_buf_reset(vals);
    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return 0;
    const char *k;
    json_t *v;
    json_t *a = json_array();
    if (a == NULL)
        return EDM_ENOMEM;
    json_object_foreach((json_t *)obj, k, v)
    {
        size_t l = json_string_length(v);
        if (!json_is_string(v) || memchr(json_string_value(v), '\0', l)) {
            json_decref(a);
            edm_buf_reset(vals);
            return 0;
        }
        if (json_array_append_new(a, json_string(k)) != 0 ||
            edm_vars_put_value(vals, json_string_value(v), l) != 0) {
            json_decref(a);
            return EDM_ENOMEM;
        }
    }
    char *t = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (t == NULL || edm_buf_append_str(names, t) != 0) {
        free(t);
        return EDM_ENOMEM;
    }
    free(t);
    return 1;
}

int edm_vars_parts_to_json(const char *names, size_t names_len, const unsigned char *vals,
                           size_t vals_len, json_t **out, char *err, size_t errlen)
{
    edm_var_names *nm;
    int rc = edm_var_names_parse(1, names, names_len, &nm, err, errlen);
    if (rc != 0)
        return rc;
    json_t *obj = json_object();
    if (obj == NULL) {
        edm_var_names_unref(nm);
        return EDM_ENOMEM;
    }
    rc = decode_values(obj, nm->name, nm->len, nm->n, vals, vals + vals_len, err, errlen);
    edm_var_names_unref(nm);
    if (rc != 0) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return 0;
}
