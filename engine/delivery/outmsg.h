/*
 * engine/delivery/outmsg.h: what the pipeline hands to the relay (one rendered,
 * composed and signed message for one recipient) and what comes back (the
 * outcome of one attempt, or of a decision not to attempt). The pipeline
 * allocates and frees outmsgs; the relay holds them between
 * edm_relay_submit and its done callback.
 */
#ifndef EDM_OUTMSG_H
#define EDM_OUTMSG_H

#include "engine/base/buf.h"

#include <stdint.h>

enum edm_outcome_kind {
    EDM_OUTCOME_DELIVERED,
    EDM_OUTCOME_DEFERRED,
    EDM_OUTCOME_BOUNCED,
    EDM_OUTCOME_DROPPED /* never attempted: campaign paused/cancelled or engine stopping */
};

typedef struct edm_outmsg {
    int64_t delivery_id;
    int64_t campaign_id;
    int attempts;      /* attempts before this one */
    int64_t queued_at; /* unix seconds */
    char *rcpt;        /* envelope recipient */
    char *domain;      /* recipient domain, lower case */
    char *sender;      /* envelope sender (VERP) */
    char *message_id;  /* without <> */
    const char *pool;  /* source IP pool name (owned by the campaign, which outlives the message) */
    edm_buf data;      /* the message, CRLF, not dot-stuffed */
    unsigned smtp_flags; /* SMTP_MSG_* (engine/smtp/smtp_session.h): 8BITMIME for an 8bit body */
    int needs_7bit;      /* given back (DROPPED) because the server lacks 8BITMIME:
                          * compose it again without 8bit (docs/messages.md) */
    struct edm_outmsg *next; /* queue link, owned by whoever queues it */
} edm_outmsg;

typedef struct edm_outcome {
    enum edm_outcome_kind kind;
    int attempted;        /* an SMTP transaction was tried for it */
    const char *category; /* bounce_category or NULL */
    int code;             /* SMTP reply code, 0 if none */
    const char *enhanced; /* "4.7.1" or NULL */
    const char *text;     /* reply text or failure description */
    const char *mx_host, *mx_ip, *source_ip;
    const char *tls; /* "TLSv1.3 TLS_AES_256_GCM_SHA384" or NULL */
    const char *remote_queue_id;
    int64_t duration_ms;
    int64_t not_before; /* deferred: do not retry before (unix s), 0 = by schedule */
} edm_outcome;

#endif
