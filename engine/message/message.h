/*
 * engine/message/message.h: one campaign message for one recipient, end to end:
 * render the template set with the recipient's variables, compose the MIME
 * message (From, To, Subject, List-Unsubscribe with a signed per-recipient
 * URL and mailto, Feedback-ID, campaign headers), sign it with the DKIM
 * keys of the From domain, and make the VERP envelope sender. Used by the
 * pipeline (on the thread pool), by `edm render --raw` and by the API's
 * preview with raw=true, so all three give the same bytes.
 *
 * An edm_message_ctx is immutable once built and shared by threads; an
 * edm_message_worker holds one thread's reusable buffers.
 */
#ifndef EDM_MESSAGE_H
#define EDM_MESSAGE_H

#include "engine/base/buf.h"
#include "engine/message/dkim.h"
#include "engine/message/mime.h"
#include "templates/template.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct edm_message_ctx {
    const edm_tpl_set *tpl;
    const char *from_addr; /* local@domain */
    const char *from_name; /* display name or NULL */
    const char *reply_to;  /* "addr", "Name <addr>" or NULL */
    const edm_mime_header *headers;
    size_t nheaders;
    const char *unsub_url;     /* https base URL or NULL */
    const char *public_url;    /* without unsub_url: "<public_url>/u/<token>" (or NULL) */
    const char *bounce_domain; /* VERP and mailto domain; NULL: From's domain */
    const char *msgid_domain;  /* NULL: From's domain */
    const char *feedback_id;   /* or NULL */
    edm_dkim_key *const *keys; /* keys of the From domain (0, 1 or 2) */
    size_t nkeys;
    const unsigned char *secret; /* HMAC secret for VERP and unsubscribe tokens */
    size_t secret_len;
    int strict;         /* a variable the recipient lacks fails the message */
    int no_unsubscribe; /* transactional: no List-Unsubscribe */
    /* Does tpl name {{unsubscribe_url}} (edm_tpl_set_names)? 1 yes, -1
     * no, 0 not known: asked for each message. The variable is only
     * added for a template that names it (a copy of the data per
     * message otherwise). */
    int names_unsub_url;
    unsigned track; /* EDM_TRACK_OPENS | EDM_TRACK_CLICKS (engine/store/rows.h); needs
                       public_url (docs/tracking.md) */
    /* Transactional: the To display name is the recipient's variable
     * EDM_MESSAGE_TO_NAME_VAR (a string), as POST /v1/messages stores
     * to[i].name there. */
    int to_name_from_vars;
    /* Transactional (POST /v1/messages): the message's attachments, the
     * same for every recipient (multipart/mixed); loaded once per message
     * and owned by whoever owns the context. */
    const edm_mime_attachment *attachments;
    size_t n_attachments;
} edm_message_ctx;

/* The variable that carries a transactional recipient's to[i].name (a
 * name no template writes by accident: "@" names are data variables). */
#define EDM_MESSAGE_TO_NAME_VAR "@to_name"

typedef struct edm_message_worker {
    edm_tpl_msg parts;
    edm_mime *mime;
    edm_dkim_signer *signer;
    edm_buf composed;
    edm_buf scratch;
    edm_buf tracked; /* the HTML part with tracked links */
} edm_message_worker;

int edm_message_worker_init(edm_message_worker *w);
/* The same with a signer kept from an earlier worker (NULL: a new one);
 * the worker owns it from here (edm_message_worker_free frees it unless
 * the caller takes it back first and sets w->signer to NULL). */
int edm_message_worker_init_with(edm_message_worker *w, edm_dkim_signer *signer);
void edm_message_worker_free(edm_message_worker *w);

/* Builds the message for delivery_id / rcpt into out (signatures first,
 * then the composed message). allow_8bit lets UTF-8 bodies go 8bit (the
 * message then needs a server offering 8BITMIME), else they go
 * quoted-printable; ASCII bodies go 7bit either way (docs/messages.md).
 * *sender gets the envelope sender (edm_free); msgid (at least 256 bytes)
 * the Message-ID without <>; *is_8bit (may be NULL) 1 if a body part went
 * 8bit. On failure returns EDM_EINVAL (template, address or header
 * problem), EDM_ENOTFOUND (strict: variables missing) or EDM_ENOMEM, with
 * the reason in err. */
int edm_message_build(edm_message_worker *w, const edm_message_ctx *c, int64_t delivery_id,
                      const char *rcpt, const json_t *vars, int64_t now, int allow_8bit,
                      edm_buf *out, char **sender, char *msgid, int *is_8bit, char *err,
                      size_t errlen);

/* A one-off message outside any campaign, as `edm render --raw` and the
 * API's preview with raw=true show it: template tpl ({subject, html, text,
 * partials}) rendered with vars (not strict), bodies in the form every
 * server takes (7bit or quoted-printable, never 8bit), From `from`
 * ("Name <addr>" or addr; NULL: preview@ the first key's domain, else
 * example.com), To `to` (NULL: vars' "email" when it is an address, else
 * recipient@example.com), signed with the keys of the From domain among
 * keys, List-Unsubscribe from cfg->unsubscribe.url, delivery id 0.
 * Appends to out; on failure returns a negative code with the reason in
 * err. */
int edm_message_preview(const json_t *tpl, const json_t *vars, const char *from, const char *to,
                        edm_dkim_key *const *keys, size_t nkeys, const char *unsub_url,
                        const char *bounce_domain, const char *msgid_domain,
                        const unsigned char *secret, size_t secret_len, edm_buf *out, char *err,
                        size_t errlen);

/* Messages that arrive whole (SMTP submission; engine/message/message_raw.c).
 * prepare appends to out the message raw[0..len) (CRLF, dot-unstuffed)
 * ready to store: Date and Message-ID (on msgid_domain, else the From
 * field's domain) added when missing, Bcc and Return-Path fields removed; *from gets the From
 * field's value, unfolded, and *subject the first Subject field's text
 * (unfolded, RFC 2047 words decoded, valid UTF-8 without control
 * characters, at most EDM_RFC2047_MAX bytes: rfc2047.h), NULL without
 * one (both edm_free; the bytes in out keep the field as received).
 * EDM_EINVAL (reason in err) when it has no header section or no From. */
int edm_message_raw_prepare(const char *raw, size_t len, const char *msgid_domain, int64_t now,
                            edm_buf *out, char **from, char **subject, char *err, size_t errlen);
/* build_raw is edm_message_build for a prepared message: DKIM signatures
 * (c->keys) then the bytes as stored; *sender the VERP envelope sender;
 * msgid its Message-ID. An 8bit message with !allow_8bit is converted
 * first (edm_mime_downgrade: 8-bit parts quoted-printable or base64) and
 * signed as converted; it fails (EDM_EINVAL, reason in err) only when it
 * cannot be (8-bit bytes in a header field need SMTPUTF8). */
int edm_message_build_raw(edm_message_worker *w, const edm_message_ctx *c, int64_t delivery_id,
                          const char *raw, size_t len, int64_t now, int allow_8bit, edm_buf *out,
                          char **sender, char *msgid, int *is_8bit, char *err, size_t errlen);
/* Splits "Name <addr>" or "addr" into its parts (malloc'd; name may be
 * NULL). Returns 0 or EDM_EINVAL. */
int edm_message_parse_from(const char *from, char **addr, char **name);
/* The domain part of an address (points into addr), or NULL. */
const char *edm_message_addr_domain(const char *addr);

#endif
