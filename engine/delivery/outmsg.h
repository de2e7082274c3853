/*
 * engine/delivery/outmsg.h: what the pipeline hands to the relay (one rendered,
 * composed and signed message for one recipient). What comes back is an
 * edm_outcome (engine/store/outcome.h), classified, or NULL when the
 * message was never attempted. The pipeline allocates and frees outmsgs;
 * the relay holds them between edm_relay_submit and its done callback.
 */
#ifndef EDM_OUTMSG_H
#define EDM_OUTMSG_H

#include "engine/base/buf.h"
#include "engine/store/outcome.h"

#include <stdint.h>

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
    int priority;        /* transactional: queued ahead of campaign mail (relay.c) */
    int needs_7bit;      /* given back (dropped: NULL outcome) because the server lacks 8BITMIME:
                          * compose it again without 8bit (docs/messages.md) */
    struct edm_outmsg *next; /* queue link, owned by whoever queues it */
} edm_outmsg;

#endif
