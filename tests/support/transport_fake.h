/*
 * tests/support/transport_fake.h: a scripted transport for the relay
 * (engine/delivery/transport.h) that opens no socket. Each session takes
 * messages through the relay's next() like the SMTP client does, holds
 * each one for `delay_ms` on a uv timer, and completes it with the outcome
 * of the first rule matching its recipient: delivered (250), a 4xx
 * deferral, a 5xx bounce, a backoff-matching reply (421 4.7.0), a
 * connection failure (the message deferred for the network, then the
 * session ends with a failure), or a server without 8BITMIME (an 8bit
 * message, SMTP_MSG_8BITMIME, refused unsent with failure needs_7bit as
 * engine/smtp/smtp_msg.c does; any other delivered), or a 5xx block
 * naming the source address, or a relay refusing our credentials (535 at
 * AUTH: the message deferred, then the session ends with that reply as its
 * failure). A rule may apply to one source address only. One source
 * address may be slower than the rest (transport_fake_delay_source: a
 * receiver that tarpits it, replies late and refuses nothing). A session honours
 * max_messages and idle_ms from its options, answers kick() while idle, and
 * reports closed() from the loop, as engine/smtp/smtp_session.c does.
 *
 * Counts (sessions opened, open at once, messages per connection, outcomes,
 * deliveries per recipient) let tests assert on what the relay asked for.
 */
#ifndef EDM_TRANSPORT_FAKE_H
#define EDM_TRANSPORT_FAKE_H

#include "engine/delivery/transport.h"

#include <stddef.h>
#include <uv.h>

/* TF_BLOCK: 550 5.7.1 whose text names the source address (a block list). */
enum tf_action {
    TF_DELIVER,
    TF_DEFER,
    TF_BOUNCE,
    TF_BACKOFF,
    TF_CONNFAIL,
    TF_NO_8BITMIME,
    TF_BLOCK,
    TF_AUTHFAIL /* a relay refusing our credentials: 535 5.7.8 to AUTH, the session ends */
};

typedef struct transport_fake_rule {
    const char *rcpt;      /* substring of the recipient; NULL: every one */
    enum tf_action action; /* what the server does with it */
    int times;             /* only the first `times` matches; 0: every one */
    const char *source;    /* only from this source address; NULL: any */
} transport_fake_rule;

/* What one source address did (sessions open at once, messages
 * delivered, any outcome taken). */
typedef struct transport_fake_source {
    char addr[64];
    unsigned open, max_open, opened, messages, delivered;
} transport_fake_source;

typedef struct transport_fake_counts {
    unsigned opened;        /* sessions opened */
    unsigned open;          /* sessions open now */
    unsigned max_open;      /* most sessions open at once */
    unsigned messages;      /* messages taken */
    unsigned in_flight;     /* taken, not yet done */
    unsigned max_in_flight; /* most messages taken and not done at once */
    unsigned max_per_conn;  /* most messages on one session */
    unsigned delivered, deferred, bounced, conn_failed, aborted;
    unsigned needs_7bit;     /* 8bit messages refused for want of 8BITMIME (also deferred) */
    unsigned delivered_8bit; /* delivered with SMTP_MSG_8BITMIME */
    unsigned idle_timeouts;  /* sessions that quit after idle_ms of nothing */
    unsigned auth_refused;   /* AUTH attempts refused (TF_AUTHFAIL) */
} transport_fake_counts;

typedef struct transport_fake transport_fake;

/* rules are kept by pointer (must outlive the fake); delay_ms per message. */
transport_fake *transport_fake_new(uv_loop_t *loop, const transport_fake_rule *rules, size_t nrules,
                                   unsigned delay_ms);
/* Messages from source address addr take delay_ms instead (sessions
 * opened from now on); at most four addresses. */
void transport_fake_delay_source(transport_fake *f, const char *addr, unsigned delay_ms);
/* Fails the test if a session is still open. */
void transport_fake_free(transport_fake *f);
/* The ops table; the context is the fake. */
extern const edm_transport_ops transport_fake_ops;

const transport_fake_counts *transport_fake_counts_of(const transport_fake *f);
/* Messages delivered to rcpt (exact match). */
unsigned transport_fake_delivered_to(const transport_fake *f, const char *rcpt);
/* Where rcpt's first delivery stands in the order of first deliveries
 * (1: it was the first recipient delivered); 0 if never delivered. */
unsigned transport_fake_delivered_rank(const transport_fake *f, const char *rcpt);
/* Counts for one source address (all zero if it never opened a session). */
transport_fake_source transport_fake_source_counts(const transport_fake *f, const char *addr);
/* The source address the last session was opened with ("" for none). */
const char *transport_fake_last_source(const transport_fake *f);

#endif
