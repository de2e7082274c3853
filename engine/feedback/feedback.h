/*
 * engine/feedback/feedback.h: applies what comes back to the receipts
 * (docs/feedback.md): an inbound message delivered to a bounce,
 * unsubscribe or feedback address, or a one-click unsubscribe token.
 *
 *  - mail to unsubscribe+TOKEN@ unsubscribes the delivery of TOKEN;
 *  - a DSN (report.h) is matched by the envelope's bounces+TOKEN@, else
 *    by a VERP token in the report or the message it returns, else by
 *    that message's Message-ID; "failed" bounces a delivered or deferred
 *    receipt (status, diagnostic, category by engine/delivery/classify.c)
 *    and suppresses the address when the mailbox or domain does not exist
 *    (categories bad_mailbox, bad_domain; reason "bounce"); "delayed" only
 *    adds an event;
 *  - an ARF report (any Feedback-Type but not-spam) is matched the same
 *    way (tokens, then Message-ID): the receipt gets feedback complained,
 *    the address is suppressed (reason "complaint").
 *
 * Tokens are checked with the HMAC secret (engine/message/verp.h): a
 * forged or altered token matches nothing and changes nothing.
 * Returns 0 with *out saying what happened (EDM_FB_IGNORED and
 * EDM_FB_UNMATCHED change nothing), or a negative EDM_E* code from the
 * store.
 */
#ifndef EDM_FEEDBACK_H
#define EDM_FEEDBACK_H

#include "engine/store/store.h"

#include <stddef.h>
#include <stdint.h>

enum edm_fb_what {
    EDM_FB_IGNORED = 0, /* neither a bounce nor a complaint (an auto-reply...) */
    EDM_FB_UNMATCHED,   /* a report, but about no delivery of ours */
    EDM_FB_BOUNCED,
    EDM_FB_DELAYED,
    EDM_FB_COMPLAINED,
    EDM_FB_UNSUBSCRIBED,
};
/* "ignored", "unmatched", "bounced", ... for logs. */
const char *edm_fb_what_name(enum edm_fb_what w);

typedef struct edm_fb_result {
    enum edm_fb_what what;
    int64_t delivery_id; /* 0 unless matched */
    const char *form;    /* the report's form ("rfc3464", "exim", "arf", ...) or "" */
    edm_feedback_done done;
} edm_fb_result;

typedef struct edm_fb_ctx {
    edm_store *st;
    const unsigned char *secret; /* the VERP and unsubscribe HMAC secret */
    size_t secret_len;
} edm_fb_ctx;

/* A message delivered to rcpt (the envelope recipient, or NULL). */
int edm_feedback_message(const edm_fb_ctx *c, const char *rcpt, const char *msg, size_t len,
                         int64_t now, edm_fb_result *out);
/* A one-click unsubscribe (RFC 8058) with tok[0..n). EDM_ENOTFOUND if the
 * token is not one edm issued (or names no delivery): nothing changed. */
int edm_feedback_unsubscribe(const edm_fb_ctx *c, const char *tok, size_t n, int64_t now,
                             edm_fb_result *out);
/* The delivery an unsubscribe token names, if it is one edm issued:
 * 0 with *id, or EDM_EINVAL. */
int edm_feedback_unsub_token(const edm_fb_ctx *c, const char *tok, size_t n, int64_t *id);

#endif
