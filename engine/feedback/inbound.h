/*
 * engine/feedback/inbound.h: the inbound SMTP listener of the bounce
 * domain (config "inbound", docs/feedback.md "The inbound listener"): the
 * policy on top of the server core (engine/smtp/smtp_server.h) that takes
 * what comes back (DSNs, ARF reports, mailto unsubscribes) and hands each
 * message to edm_feedback_message (feedback.h).
 *
 *  - Who: anyone may connect (it is the bounce domain's MX), within the
 *    per-IP and total connection caps (421).
 *  - What: RCPT is accepted only for bounces+TOKEN@ and unsubscribe+TOKEN@
 *    with a token edm issued (HMAC checked at RCPT; with bounce_domain set
 *    the domain must be it) and for inbound.feedback_addresses; anything
 *    else is 550 5.1.1 at RCPT: never an open relay, and since nothing here
 *    ever sends mail, never backscatter.
 *  - When: 250 at the end of DATA only after the receipts are updated; a
 *    store failure answers 451 so the sender retries.
 */
#ifndef EDM_INBOUND_H
#define EDM_INBOUND_H

#include "engine/config/config.h"
#include "engine/store/store.h"

#include <stddef.h>
#include <uv.h>

typedef struct edm_inbound edm_inbound;

typedef struct edm_inbound_opts {
    uv_loop_t *loop;
    const edm_config *cfg; /* inbound, bounce_domain, smtp.helo */
    edm_store *st;
    const unsigned char *secret; /* the VERP and unsubscribe HMAC secret (kept by the caller) */
    size_t secret_len;
} edm_inbound_opts;

/* What an envelope recipient is to the listener. */
enum edm_inbound_rcpt {
    EDM_INBOUND_REFUSED = 0, /* not an address edm issued: 550 */
    EDM_INBOUND_BOUNCE,      /* bounces+TOKEN@ */
    EDM_INBOUND_UNSUBSCRIBE, /* unsubscribe+TOKEN@ */
    EDM_INBOUND_FEEDBACK,    /* one of inbound.feedback_addresses */
};

/* The RCPT decision for addr under o's config and secret (pure: no I/O). */
enum edm_inbound_rcpt edm_inbound_rcpt_kind(const edm_inbound_opts *o, const char *addr);

/* Starts listening on cfg->inbound.listen. 0, or a negative code with the
 * reason in err. */
int edm_inbound_start(const edm_inbound_opts *o, edm_inbound **out, char *err, size_t errlen);
/* Stops; done(arg) runs once every connection is closed. */
void edm_inbound_stop(edm_inbound *in, void (*done)(void *arg), void *arg);

#endif
