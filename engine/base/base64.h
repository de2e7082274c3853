/*
 * engine/base/base64.h: RFC 4648 base64 encoding (MIME bodies, encoded words,
 * DKIM tags) and decoding (tests, key material).
 */
#ifndef EDM_BASE64_H
#define EDM_BASE64_H

#include "engine/base/buf.h"

#include <stddef.h>

/* Length of the encoding of n bytes, without line breaks. */
#define EDM_BASE64_LEN(n) ((((n) + 2) / 3) * 4)

/* Appends the base64 of p[0..n). line_cols 0: one run with no breaks;
 * otherwise lines of line_cols characters (a multiple of 4), each ended by
 * CRLF, the last one too. Returns 0 or EDM_ENOMEM/EDM_ETOOBIG. */
int edm_base64_encode(edm_buf *out, const void *p, size_t n, size_t line_cols);
/* Writes the base64 of p[0..n) to dst (EDM_BASE64_LEN(n) bytes, no NUL). */
void edm_base64_encode_raw(char *dst, const void *p, size_t n);
/* Appends the decoding of s[0..n) to out, skipping whitespace. Returns 0,
 * EDM_EINVAL on a bad character or padding, or EDM_ENOMEM. */
int edm_base64_decode(edm_buf *out, const char *s, size_t n);

#endif
