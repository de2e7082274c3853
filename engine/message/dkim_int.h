/*
 * engine/message/dkim_int.h: shared by engine/message/dkim*.c only (and their tests):
 * the header block splitter and relaxed canonicalisation (RFC 6376 3.4.2,
 * 3.4.4) in dkim_canon.c.
 */
#ifndef EDM_DKIM_INT_H
#define EDM_DKIM_INT_H

#include "engine/base/buf.h"

#include <openssl/evp.h>
#include <stddef.h>

/* One header field: p[0..len) is the whole field with its continuation
 * lines, without the final CRLF; p[0..name_len) its name. */
typedef struct dkim_field {
    const char *p;
    size_t len;
    size_t name_len;
} dkim_field;

/* Splits the header block of msg. Fields go to *fields (grown with
 * edm_realloc; *cap is its capacity), their count to *n; *body is the
 * offset of the body (len when there is no body). Returns 0, EDM_EINVAL
 * (a line that is neither a field nor a continuation) or EDM_ENOMEM. */
int dkim_canon_split(const char *msg, size_t len, dkim_field **fields, size_t *cap, size_t *n,
                     size_t *body);
/* Appends the relaxed form of one field ("name:value"), plus CRLF if crlf. */
int dkim_canon_header(edm_buf *out, const char *p, size_t len, int crlf);
/* Feeds the relaxed form of a body to ctx, built in scratch. Returns 0,
 * EDM_ENOMEM or EDM_EIO. */
int dkim_canon_body(EVP_MD_CTX *ctx, edm_buf *scratch, const char *p, size_t len);

#endif
