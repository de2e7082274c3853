/*
 * engine/message/mime_int.h: shared by engine/message/mime*.c only (and their tests).
 *
 * mime_hdr.c writes header fields: sanitising values (never a CR, LF, NUL
 * or other control on the wire, invalid UTF-8 replaced), RFC 2047 encoded
 * words, RFC 2231 parameters and folding at 78 columns. mime_enc.c writes
 * bodies: quoted-printable, base64 and 8bit with CRLF line ends.
 */
#ifndef EDM_MIME_INT_H
#define EDM_MIME_INT_H

#include "engine/base/buf.h"

#include <stddef.h>

/* Soft and hard line limits (RFC 5322 2.1.1). */
#define MIME_FOLD_COLS 78
#define MIME_LINE_MAX  998

/* A header field being written: folds between atoms at MIME_FOLD_COLS. */
typedef struct mime_fold {
    edm_buf *out;
    size_t col;   /* column of the next byte on the current line */
    size_t first; /* col right after "Name:"; no fold before the first atom */
    int rc;       /* first error (sticky) */
} mime_fold;

void mime_fold_begin(mime_fold *f, edm_buf *out, const char *name);
/* Appends " atom", folding first if the line would pass the soft limit. */
void mime_fold_atom(mime_fold *f, const char *s, size_t n);
/* Appends bytes to the current line with no separator and no fold. */
void mime_fold_raw(mime_fold *f, const char *s, size_t n);
/* Ends the field with CRLF; returns the first error or 0. */
int mime_fold_end(mime_fold *f);

/* Copies s into out as valid UTF-8 for a header: invalid sequences become
 * U+FFFD, controls (C0, DEL, C1, U+2028/9) become spaces, whitespace runs
 * collapse to one space, leading and trailing spaces go. */
int mime_hdr_sanitize(edm_buf *out, const char *s, size_t n);
/* 1 if s (sanitised) can go on the wire as is: ASCII, no "=?", no word too
 * long to fit a folded line. */
int mime_hdr_is_plain(const char *s, size_t n);
/* Writes an unstructured field (Subject, custom headers): sanitised,
 * folded, RFC 2047 B-encoded words when not plain. */
int mime_hdr_unstructured(edm_buf *out, edm_buf *scratch, const char *name, const char *v,
                          size_t n);
/* Writes "Name: display <addr>" (or just addr when display is empty). addr
 * must pass mime_addr_valid. */
int mime_hdr_address(edm_buf *out, edm_buf *scratch, const char *name, const char *display,
                     const char *addr);
/* Appends UTF-8 text s (sanitised) to a field as B-encoded words. */
void mime_hdr_encoded_words(mime_fold *f, const char *s, size_t n);
/* Appends `; key="value"` or RFC 2231 `; key*0*=utf-8''...` continuations
 * for a parameter (attachment file names). */
int mime_hdr_param(mime_fold *f, edm_buf *scratch, const char *key, const char *v, size_t n);

/* RFC 5321/5322 addr-spec we accept: dot-atom local part (<= 64) @ LDH
 * domain (<= 253). ASCII only (edm_addr_sendable, engine/base/addr.h). */
int mime_addr_valid(const char *addr);
int mime_domain_valid(const char *d, size_t n);
/* 1 if the URL is printable ASCII without spaces, '<', '>' or '"'. */
int mime_url_valid(const char *url);

/* Body transfer encodings, chosen per part. */
enum mime_cte { MIME_CTE_7BIT, MIME_CTE_8BIT, MIME_CTE_QP, MIME_CTE_BASE64 };
const char *mime_cte_name(enum mime_cte cte);
/* QP unless allow_8bit and the text has no NUL and no line over 998
 * octets, then 7bit (ASCII) or 8bit. */
enum mime_cte mime_enc_choose(const char *s, size_t n, int allow_8bit);
/* Appends s encoded as cte (7BIT/8BIT/QP) with every line end (CRLF, LF
 * or lone CR) written as CRLF. */
int mime_enc_text(edm_buf *out, enum mime_cte cte, const char *s, size_t n);
/* Quoted-printable, lines at most 76 columns. */
int mime_enc_qp(edm_buf *out, const char *s, size_t n);

#endif
