/*
 * engine/delivery/transport.h: how the relay talks to a destination. A
 * transport opens sessions; a session connects to its targets (MX hosts in
 * order) from one source address, asks the relay for each message through
 * next(), reports each message's result through done(), and reports its
 * own end through closed(). The relay holds an ops table and a context
 * (relay.h's options): engine/engine.c plugs in edm_transport_smtp (the
 * ESMTP client, engine/smtp/smtp_session.h), tests a scripted fake
 * (tests/support/transport_fake.c).
 *
 * The contract is smtp_session.h's, which the SMTP transport forwards as
 * it is:
 *  - next() returns a message, NULL (no more: the session ends), or
 *    SMTP_LATER (none now: the session waits idle, at most idle_ms, for
 *    kick());
 *  - done() runs once per message taken, with its result (valid only during
 *    the call): facts only (engine/store/outcome.h), which the relay has
 *    engine/delivery/classify.c judge;
 *  - closed() runs once, from the loop, after start() succeeded: fail is
 *    NULL after a clean end, else the facts of what ended the session; the
 *    session may be freed (free()) inside closed();
 *  - abort() ends the session early: messages in hand are reported (with
 *    a network failure) and closed() follows.
 */
#ifndef EDM_TRANSPORT_H
#define EDM_TRANSPORT_H

#include "engine/smtp/smtp_session.h"

#include <uv.h>

typedef struct edm_transport_cbs {
    const smtp_message *(*next)(void *arg);
    void (*done)(const smtp_result *r, void *arg);
    void (*closed)(const edm_outcome *fail, void *arg);
} edm_transport_cbs;

/* Sessions are opaque handles (void *) owned by the caller from open() to
 * free(). */
typedef struct edm_transport_ops {
    const char *name;
    /* A session for o's targets from o->source_ip, with at most
     * o->max_messages messages per connection; o's strings and targets are
     * copied. NULL on allocation failure. cb must outlive the session. */
    void *(*open)(void *ctx, uv_loop_t *loop, const smtp_options *o, const edm_transport_cbs *cb,
                  void *arg);
    /* Takes the first message and connects: 0, or EDM_EINVAL with nothing
     * started (closed() is then never called). */
    int (*start)(void *s);
    void (*abort)(void *s);
    /* A session waiting idle asks next() again; no-op otherwise. */
    void (*kick)(void *s);
    int (*idle)(const void *s);
    /* Messages completed on the session (any outcome). */
    unsigned (*count)(const void *s);
    /* Frees a session that never started or has called closed(). */
    void (*free)(void *s);
} edm_transport_ops;

/* The ESMTP client (ctx unused). */
extern const edm_transport_ops edm_transport_smtp;

#endif
