/*
 * engine/base/utf8.h: UTF-8 decoding and validation shared by the address checks
 * and the CSV parser (strict: no overlongs, surrogates or code points past
 * U+10FFFF).
 */
#ifndef EDM_API_UTF8_H
#define EDM_API_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one sequence at s[0..n); returns its length, 0 if invalid. */
size_t edm_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* 1 if s[0..n) is valid UTF-8. */
int edm_utf8_valid(const char *s, size_t n);

#endif
