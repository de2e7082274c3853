/*
 * engine/base/buf.c: growable byte buffer (see buf.h). Grows by doubling; keeps
 * one byte for the terminating NUL.
 */
#include "engine/base/buf.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>

void edm_buf_init(edm_buf *b)
{
    memset(b, 0, sizeof *b);
}

void edm_buf_free(edm_buf *b)
{
    edm_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void edm_buf_reset(edm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int edm_buf_reserve(edm_buf *b, size_t extra)
{
    if (b->limit && (extra > b->limit || b->len > b->limit - extra))
        return EDM_ETOOBIG;
    if (extra >= (size_t)-1 - b->len - 1)
        return EDM_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    char *p = edm_realloc(b->data, cap);
    if (p == NULL)
        return EDM_ENOMEM;
    if (b->data == NULL)
        p[0] = '\0';
    b->data = p;
    b->cap = cap;
    return 0;
}

int edm_buf_append(edm_buf *b, const void *p, size_t n)
{
    int rc = edm_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int edm_buf_append_str(edm_buf *b, const char *s)
{
    return edm_buf_append(b, s, strlen(s));
}

int edm_buf_append_char(edm_buf *b, char c)
{
    if (b->len + 1 < b->cap && (!b->limit || b->len < b->limit)) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return 0;
    }
    return edm_buf_append(b, &c, 1);
}

int edm_buf_vappendf(edm_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return EDM_EINVAL;
    if ((size_t)n < sizeof small)
        return edm_buf_append(b, small, (size_t)n);
    int rc = edm_buf_reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int edm_buf_appendf(edm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = edm_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *edm_buf_detach(edm_buf *b, size_t *len)
{
    if (b->data == NULL && edm_buf_reserve(b, 0) != 0)
        return NULL;
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *edm_buf_cstr(const edm_buf *b)
{
    return b->data ? b->data : "";
}
