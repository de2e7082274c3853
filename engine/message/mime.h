/*
 * engine/message/mime.h: message composition (RFC 5322 + MIME).
 *
 * The composer turns already-rendered parts (UTF-8 subject, HTML, text),
 * envelope data and attachments into one message with CRLF line ends,
 * appended to an edm_buf: text/plain or text/html alone, or
 * multipart/alternative (text, then HTML), inside multipart/mixed when
 * there are attachments (base64, 76 columns). Attachments with a
 * content_id are inline parts: they go with the body (which must have
 * HTML) in multipart/related, itself inside multipart/mixed only when
 * there are regular attachments too. A text body goes as it is
 * (7bit) when it is ASCII with lines of at most 998 octets, 8bit when it
 * also has UTF-8 and allow_8bit is set, else quoted-printable (76
 * columns); docs/messages.md has the exact rule.
 * Non-ASCII subjects, display names and custom header values become RFC
 * 2047 encoded words; header lines fold at 78 columns and never pass 998
 * octets; no value, whatever bytes it holds, can start a header line.
 *
 * One edm_mime per thread: it keeps scratch buffers between messages, so
 * after the first few messages composition allocates nothing.
 */
#ifndef EDM_MIME_H
#define EDM_MIME_H

#include "engine/base/buf.h"

#include <stddef.h>
#include <stdint.h>

/* A custom header from the campaign: name must be an RFC 5322 field name
 * that we do not own (see edm_mime_header_name_ok); value is sanitised. */
typedef struct edm_mime_header {
    const char *name;
    const char *value;
} edm_mime_header;

typedef struct edm_mime_attachment {
    const char *filename;     /* UTF-8; "attachment" if NULL or empty */
    const char *content_type; /* "type/subtype"; application/octet-stream if NULL or invalid */
    const void *data;
    size_t len;
    /* An inline part: Content-ID <content_id>, disposition inline, in
     * multipart/related with the HTML body (edm_mime_content_id_ok); NULL
     * or empty for a regular attachment. */
    const char *content_id;
} edm_mime_attachment;

typedef struct edm_mime_msg {
    const char *from_addr;     /* required: local@domain */
    const char *from_name;     /* UTF-8 display name or NULL */
    const char *to_addr;       /* required */
    const char *to_name;       /* UTF-8 display name or NULL */
    const char *reply_to;      /* address or NULL */
    const char *reply_to_name; /* UTF-8 display name or NULL */
    const char *subject;       /* UTF-8 (NULL = empty) */
    const char *html;          /* NULL = no HTML part */
    size_t html_len;
    const char *text; /* NULL = no text part */
    size_t text_len;
    const edm_mime_header *headers;
    size_t n_headers;
    const char *unsub_mailto; /* address for <mailto:...>, or NULL */
    const char *unsub_url;    /* https URL (with its token) or NULL */
    const char *feedback_id;  /* Feedback-ID value or NULL */
    const char *message_id;   /* "local@domain" to use, or NULL to generate one */
    const char *msgid_domain; /* domain of generated Message-IDs (NULL: From's) */
    int64_t date;             /* unix seconds for Date: */
    const edm_mime_attachment *attachments;
    size_t n_attachments;
    int allow_8bit; /* 8bit bodies allowed: the message goes with BODY=8BITMIME (RFC 6152) */
} edm_mime_msg;

typedef struct edm_mime edm_mime;

/* The longest value of one header field (subject, a display name, a custom
 * header, Feedback-ID), in bytes before encoding: a template variable must
 * not make a megabyte Subject. Longer fails the message (EDM_EINVAL). */
#define EDM_MIME_MAX_FIELD 4096

edm_mime *edm_mime_new(void);
void edm_mime_free(edm_mime *m);

/* Appends the message to out. A message whose last part is a single text
 * part ends as that text ends (without CRLF if the text has no final line
 * end, which RFC 5322 allows); the SMTP layer adds the CRLF before the
 * final dot. Returns 0, EDM_EINVAL (bad address, header
 * name, URL or domain, a field value over EDM_MIME_MAX_FIELD, a bad or
 * repeated content_id, inline parts without html:
 * edm_mime_error says which), EDM_ENOMEM or
 * EDM_ETOOBIG (out's limit). On failure out keeps its previous length. */
int edm_mime_compose(edm_mime *m, const edm_mime_msg *msg, edm_buf *out);
/* Text of the last failure ("" if none). Valid until the next call. */
const char *edm_mime_error(const edm_mime *m);
/* The Message-ID of the last composed message, without <>. */
const char *edm_mime_message_id(const edm_mime *m);
/* 1 if the last composed message has an 8bit body part (only with
 * allow_8bit): it may go only to a server that offers 8BITMIME. */
int edm_mime_is_8bit(const edm_mime *m);

/* 1 if name may be a campaign's custom header: an RFC 5322 field name
 * (printable ASCII but ':', at most 76 chars) and none that the composer
 * or the signer owns (From, To, Date, Message-ID, DKIM-Signature,
 * Content-*, List-Unsubscribe, ...). */
int edm_mime_header_name_ok(const char *name);
/* 1 if t may be an attachment's content type: "type/subtype" of RFC 2045
 * tokens, at most 100 bytes, not multipart/ nor message/ (an attachment
 * is a leaf); the composer sends any other as application/octet-stream. */
int edm_mime_attachment_type_ok(const char *t);

/* The longest content_id of an inline part. */
#define EDM_MIME_MAX_CONTENT_ID 250
/* 1 if id may be an inline part's content_id: 1-250 visible ASCII bytes,
 * no '<' or '>' (written as Content-ID: <id>), a plain token or
 * id-left@id-right (at most one '@', not at either end). */
int edm_mime_content_id_ok(const char *id);
/* 1 if addr is an address the composer accepts (ASCII local@domain). */
int edm_mime_addr_ok(const char *addr);

#endif
