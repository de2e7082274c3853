/*
 * engine/store/outcome.h: the outcome of one delivery attempt, one struct
 * from the SMTP session to the store's record op, and the enums it
 * carries (docs/smtp.md, "Outcomes and classification").
 *
 * Who fills what:
 *  - the facts: the SMTP session (engine/smtp/), or the relay for what it
 *    decides without a session (DNS, a paused destination): the step, the
 *    reply (code, enhanced code, text) or a failure kind without a reply,
 *    where it went (MX, addresses, TLS) and how long it took;
 *  - the judgement: engine/delivery/classify.c turns the facts into a
 *    status (delivered, deferred, bounced) and a category; nothing else
 *    decides a category;
 *  - the rest: the relay (attempted, a lower bound for the next attempt),
 *    the pipeline (delivery id, times, message id, retry and expiry);
 *  - the store writes it (store.h record), names included.
 *
 * Strings live inline, sized by the protocol's limits, so an outcome owns
 * everything it says, is copied with `=` and is recorded without any
 * allocation. An empty string means "none" (stored as NULL), except for
 * text, which is stored as it is.
 */
#ifndef EDM_OUTCOME_H
#define EDM_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

/* Per-recipient delivery states (the API's receipt "status"). Being in flight
 * is not a stored state: a claimed row stays queued (or deferred) in the
 * store until its outcome is recorded, so a crash loses nothing and at most
 * re-sends what was in flight. */
enum edm_dstate {
    EDM_DSTATE_QUEUED = 0,
    EDM_DSTATE_DEFERRED = 1,
    EDM_DSTATE_DELIVERED = 2,
    EDM_DSTATE_BOUNCED = 3,
    EDM_DSTATE_SUPPRESSED = 4,
    EDM_DSTATE_FAILED = 5,
    EDM_DSTATE_CANCELLED = 6,
};
#define EDM_DSTATE_COUNT 7

/* Bounce categories (the receipts' bounce_category; docs/smtp.md);
 * decided only by engine/delivery/classify.c. */
enum edm_category {
    EDM_CATEGORY_NONE = 0, /* delivered, or not a remote outcome (failed, suppressed) */
    EDM_CATEGORY_BAD_MAILBOX,
    EDM_CATEGORY_BAD_DOMAIN,
    EDM_CATEGORY_MAILBOX_FULL,
    EDM_CATEGORY_POLICY,
    EDM_CATEGORY_SPAM_BLOCK,
    EDM_CATEGORY_RATE_LIMITED,
    EDM_CATEGORY_DNS,
    EDM_CATEGORY_NETWORK,
    EDM_CATEGORY_TLS,
    EDM_CATEGORY_AUTH, /* a relay refused our credentials */
    EDM_CATEGORY_PROTOCOL,
    EDM_CATEGORY_EXPIRED,
    EDM_CATEGORY_OTHER,
};
#define EDM_CATEGORY_COUNT 14
/* The stored name ("bad_mailbox", ...); "" for EDM_CATEGORY_NONE. */
const char *edm_category_name(enum edm_category c);
/* 1 for a hard bounce's category (the mailbox or the domain does not
 * exist): such a bounce, at SMTP time or in a later DSN, puts the address
 * on the suppression list with reason "bounce" (docs/api.md, "Receipts"). */
int edm_category_hard(enum edm_category c);

/* The SMTP step a reply answers (or a failure happened at): some codes
 * mean more at some steps (a bare 550 to RCPT TO is an unknown mailbox; at
 * MAIL FROM it is not). Ordered: every step up to AUTH is before a
 * message transaction. */
enum edm_smtp_step {
    EDM_STEP_NONE = 0, /* no SMTP conversation (DNS, the relay) */
    EDM_STEP_GREETING,
    EDM_STEP_HELO,
    EDM_STEP_TLS,
    EDM_STEP_AUTH,
    EDM_STEP_MAIL,
    EDM_STEP_RCPT,
    EDM_STEP_DATA,
    EDM_STEP_DATA_END,
};

/* What happened when there is no reply to judge. */
enum edm_failure {
    EDM_FAIL_NONE = 0,   /* code (with enhanced and text) is the server's reply */
    EDM_FAIL_NETWORK,    /* connect refused, reset, lost connection, aborted */
    EDM_FAIL_TIMEOUT,    /* a step timed out */
    EDM_FAIL_TLS,        /* handshake failed, or TLS required and not offered */
    EDM_FAIL_PROTOCOL,   /* malformed or over-long reply, data after STARTTLS */
    EDM_FAIL_AUTH,       /* the relay offers no AUTH mechanism we speak */
    EDM_FAIL_LOCAL,      /* refused before sending: too big, needs SMTPUTF8 */
    EDM_FAIL_DNS_TEMP,   /* SERVFAIL, DNS timeout, resolver unavailable */
    EDM_FAIL_NXDOMAIN,   /* the domain does not exist */
    EDM_FAIL_NULL_MX,    /* RFC 7505: the domain accepts no mail */
    EDM_FAIL_NO_ADDRESS, /* no MX host has an address */
    EDM_FAIL_BACKOFF,    /* the relay paused the destination after a backoff reply */
    EDM_FAIL_NO_POOL,    /* no source IP pool of that name (configuration) */
    EDM_FAIL_NEEDS_7BIT, /* not sent: 8bit body and the server lacks 8BITMIME;
                          * the relay gives it back to be composed again */
};
/* For logs: "reply", "network", ... */
const char *edm_failure_name(enum edm_failure f);

/* Reply text kept: two full reply lines (RFC 5321 4.5.3.1.5: 512 octets a
 * line); a longer text is cut on a UTF-8 character boundary. */
#define EDM_OUTCOME_TEXT_MAX 1024

typedef struct edm_outcome {
    /* The facts (the SMTP session, or the relay). */
    enum edm_failure failure;        /* EDM_FAIL_NONE: code is a reply */
    enum edm_smtp_step step;         /* where it happened */
    int code;                        /* SMTP reply code, 0 when there was none */
    char enhanced[16];               /* RFC 3463 "5.1.1", or "" */
    char text[EDM_OUTCOME_TEXT_MAX]; /* the reply's text or the failure's description */
    char mx_host[256];
    char mx_ip[64];
    char source_ip[64];
    char tls[96];             /* "TLSv1.3 TLS_AES_256_GCM_SHA384", or "" */
    char remote_queue_id[72]; /* delivered: the id in the 250 reply, or "" */
    int64_t duration_ms;
    /* The judgement (engine/delivery/classify.c; the pipeline may end a
     * deferral as expired or cancelled, through classify for expiry). */
    enum edm_dstate status;
    enum edm_category category;
    /* The relay. */
    int attempted; /* an SMTP transaction (or DNS look-up) was tried for it:
                    * counts an attempt and adds an event */
    /* The pipeline (the relay may set next_attempt_at first: a lower bound). */
    int64_t id;              /* delivery id */
    int64_t attempted_at;    /* unix seconds */
    int64_t next_attempt_at; /* deferred: unix seconds */
    char message_id[256];    /* without <>, or "" */
} edm_outcome;

/* Copies src (NULL = "") into dst[size], cut on a UTF-8 boundary when it is
 * too long. Use with the fields above: EDM_OUTCOME_PUT(o->text, why). */
void edm_outcome_put(char *dst, size_t size, const char *src);
#define EDM_OUTCOME_PUT(field, src) edm_outcome_put((field), sizeof(field), (src))

/* Pointers to results[0..n) in delivery id order (stable for equal ids),
 * for writing a batch with neighbouring rows together; edm_free it. NULL
 * when out of memory. */
const edm_outcome **edm_outcomes_by_id(const edm_outcome *results, size_t n);

#endif
