/*
 * engine/delivery/classify.h: the one place that decides what an outcome
 * means. It turns the facts of an attempt (engine/store/outcome.h: an SMTP
 * reply at a step, or a failure without a reply: network, timeout, TLS,
 * protocol, AUTH, a local refusal, DNS, a paused destination) into a
 * delivery status (delivered, deferred, bounced) and a bounce category,
 * and ends a deferral kept too long as expired (docs/smtp.md,
 * "Classification"). Nothing else names a category.
 */
#ifndef EDM_CLASSIFY_H
#define EDM_CLASSIFY_H

#include "engine/store/outcome.h"

typedef struct classify_result {
    enum edm_dstate status; /* EDM_DSTATE_DELIVERED, _DEFERRED or _BOUNCED */
    enum edm_category category;
} classify_result;

/* A server's reply to the command of `step`. */
classify_result classify_reply(enum edm_smtp_step step, int code, const char *enhanced,
                               const char *text);
/* A failure without a reply (kind != EDM_FAIL_NONE). */
classify_result classify_failure(enum edm_failure kind);

/* Sets o->status and o->category from o's facts (failure, step, code,
 * enhanced, text). */
void classify_outcome(edm_outcome *o);
/* A deferral past retry.max_age (docs/config.md): bounced, category
 * expired; the facts of the last attempt stay. */
void classify_expire(edm_outcome *o);
/* A delivery status notification (engine/feedback/): the recipient's
 * Status (RFC 3463, or NULL), the reply code of its Diagnostic-Code (0:
 * none; then the Status class stands for it) and its text, judged as a
 * reply to RCPT TO would be. failed gives bounced (a temporary status
 * that failed means the reporting MTA gave up: category expired);
 * otherwise (delayed) deferred. */
classify_result classify_dsn(int failed, int code, const char *status, const char *text);

#endif
