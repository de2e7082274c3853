/*
 * engine/message/rfc2047.h: the text of an unstructured header field
 * (Subject) as a person reads it, from the bytes a message carries:
 * unfolded, RFC 2047 encoded words decoded to UTF-8 (rfc2047.c).
 */
#ifndef EDM_RFC2047_H
#define EDM_RFC2047_H

#include <stddef.h>

/* The longest result, in bytes (RFC 5322's line limit). */
#define EDM_RFC2047_MAX 998

/* Decodes the field value v[0..n) (what follows the colon, folded or not,
 * with or without its final CRLF). Returns a NUL-terminated string
 * (edm_free) of valid UTF-8 without control characters, at most
 * EDM_RFC2047_MAX bytes cut on a character boundary; never NULL (out of
 * memory is fatal). Nothing in the input is an error: an encoded word that
 * does not decode is kept as the text it is. */
char *edm_rfc2047_decode(const char *v, size_t n);

#endif
