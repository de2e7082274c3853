/*
 * engine/base/header.h: the one check of custom header fields, shared by
 * the API (a campaign's "headers") and the composer (engine/message/), so
 * that a header the API accepts is one the composer writes.
 *
 * A name is an RFC 5322 field name (printable ASCII but ':', 1..76
 * characters) that edm does not write or own itself (From, To, Date,
 * Message-ID, Received, DKIM-Signature, Content-*, List-Unsubscribe, ...:
 * header.c has the list). A value is single-line UTF-8 text without NUL.
 */
#ifndef EDM_HEADER_H
#define EDM_HEADER_H

#include <stddef.h>

enum edm_header_name_verdict {
    EDM_HEADER_NAME_OK = 0,
    EDM_HEADER_NAME_INVALID,  /* not an RFC 5322 field name */
    EDM_HEADER_NAME_RESERVED, /* written or owned by edm */
};

enum edm_header_name_verdict edm_header_name_check(const char *name);

/* 0 if v[0..n) may be a header value, else EDM_EINVAL with a constant
 * reason ("must not contain NUL bytes", "must not contain line breaks",
 * "is not valid UTF-8"). */
int edm_header_value_check(const char *v, size_t n, const char **why);

#endif
