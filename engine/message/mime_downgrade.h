/*
 * engine/message/mime_downgrade.h: an 8bit message made 7bit for a server
 * without 8BITMIME (RFC 6152), as Postfix's smtp MIME downgrade does
 * (engine/message/mime_downgrade.c; docs/messages.md "8bit").
 */
#ifndef EDM_MIME_DOWNGRADE_H
#define EDM_MIME_DOWNGRADE_H

#include "engine/base/buf.h"

#include <stddef.h>

/* Deepest nesting of multiparts and message/rfc822 parts converted. */
#define EDM_MIME_DOWNGRADE_DEPTH 32

/* Appends to out the whole RFC 5322 message msg[0..len) (CRLF lines) with
 * every part that has 8-bit bytes re-encoded: text types as quoted-printable,
 * anything else as base64; multiparts and message/rfc822 parts walked
 * (their Content-Transfer-Encoding 8bit or binary becomes 7bit); every
 * other byte (header fields, preambles, epilogues, delimiters, 7bit parts)
 * as it was. A message without 8-bit bytes is appended unchanged. What is
 * appended never has a byte over 127.
 *
 * Returns 0; EDM_EINVAL with the reason in err (nothing appended) when the
 * message cannot be made 7bit: 8-bit bytes in a header field (they would
 * need SMTPUTF8), in a preamble or epilogue, in a body declared base64 or
 * quoted-printable, in a multipart without its boundary, in
 * message/partial or message/external-body, or parts nested deeper than
 * EDM_MIME_DOWNGRADE_DEPTH; EDM_ENOMEM or EDM_ETOOBIG. */
int edm_mime_downgrade(edm_buf *out, const char *msg, size_t len, char *err, size_t errlen);

#endif
