/*
 * engine/smtp/smtp_reply.h: SMTP reply parser (RFC 5321 4.2, RFC 3463 enhanced
 * status codes, RFC 2034).
 *
 * A reply is one or more lines "ddd-text" ending with "ddd text" (or a bare
 * "ddd"). The parser takes bytes from the front of a receive buffer and
 * yields one whole reply at a time, so pipelined replies are taken in order.
 */
#ifndef EDM_SMTP_REPLY_H
#define EDM_SMTP_REPLY_H

#include "engine/base/buf.h"

#include <stddef.h>

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its CRLF. */
#define SMTP_REPLY_LINE_MAX 512
/* More lines than this in one reply is a protocol error (EHLO replies of
 * real servers have about 10-15). */
#define SMTP_REPLY_LINES_MAX 100

typedef struct smtp_reply {
    int code;          /* 200..599 */
    char enhanced[16]; /* "5.1.1", or "" when the reply carries none */
    int nlines;
    /* Text of every line after the code (and the enhanced code, stripped
     * from each line that repeats it), lines joined with '\n'. */
    edm_buf text;
} smtp_reply;

void smtp_reply_init(smtp_reply *r);
void smtp_reply_free(smtp_reply *r);

/* Parses one complete reply from the front of data[0..len). Returns the
 * number of bytes it used (> 0) with *r filled; 0 when the reply is not
 * complete yet (nothing in *r is meaningful); EDM_EPROTO for a malformed
 * line (not "ddd", "ddd-" or "ddd ", mixed codes, NUL bytes), EDM_ETOOBIG
 * for a line over SMTP_REPLY_LINE_MAX or more than SMTP_REPLY_LINES_MAX
 * lines, EDM_ENOMEM. Lines end in CRLF; a bare LF is accepted. */
long smtp_reply_parse(smtp_reply *r, const char *data, size_t len);

/* Parses an RFC 3463 enhanced status code "c.sss.ddd" at the start of s
 * (class 2, 4 or 5, followed by a space or the end). Returns its length
 * and copies it into out (at least 16 bytes), or 0 if s has none. */
size_t smtp_reply_enhanced(const char *s, size_t len, char *out);

/* The remote queue id in a 250 reply to the end of DATA ("queued as
 * 4Xk2", "id=1abc-00", Gmail's "OK 1700000000 a1b2c3 - gsmtp"), copied
 * into out (size n, at most 64 useful bytes); "" when there is none.
 * Returns out. */
char *smtp_reply_queue_id(const char *text, char *out, size_t n);

#endif
