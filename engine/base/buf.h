/*
 * engine/base/buf.h: a growable byte buffer, always NUL-terminated.
 *
 * Appends return 0 or EDM_ENOMEM; after a failed append the buffer keeps its
 * previous contents. An optional limit makes appends past it fail with
 * EDM_ETOOBIG (used for output-size limits).
 */
#ifndef EDM_BUF_H
#define EDM_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct edm_buf {
    char *data;   /* NUL-terminated when cap > 0; NULL when empty and unallocated */
    size_t len;   /* bytes used, not counting the NUL */
    size_t cap;   /* bytes allocated */
    size_t limit; /* 0 = unlimited; otherwise len never exceeds it */
} edm_buf;

#define EDM_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

void edm_buf_init(edm_buf *b);
void edm_buf_free(edm_buf *b);
/* Keep the allocation, drop the contents. */
void edm_buf_reset(edm_buf *b);
int edm_buf_reserve(edm_buf *b, size_t extra);
int edm_buf_append(edm_buf *b, const void *p, size_t n);
int edm_buf_append_str(edm_buf *b, const char *s);
int edm_buf_append_char(edm_buf *b, char c);
int edm_buf_appendf(edm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int edm_buf_vappendf(edm_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Hands the data to the caller (free with edm_free) and empties the buffer.
 * Never NULL unless allocation fails. */
char *edm_buf_detach(edm_buf *b, size_t *len);
/* The contents as a C string ("" when empty). */
const char *edm_buf_cstr(const edm_buf *b);

#endif
