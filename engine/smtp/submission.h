/*
 * engine/smtp/submission.h: the SMTP submission server (config
 * "submission", docs/smtp.md "Submission"): the policy on top of the
 * server core (engine/smtp/smtp_server.c): who may send (trusted networks,
 * or AUTH as `apikey` with an API key under TLS), per-IP connection caps
 * and AUTH lock-out, and what a message becomes: a transactional message
 * committed to the store before the 250 that names its id.
 */
#ifndef EDM_SUBMISSION_H
#define EDM_SUBMISSION_H

#include "engine/config/config.h"
#include "engine/store/store.h"

#include <uv.h>

typedef struct edm_submission edm_submission;

typedef struct edm_submission_opts {
    uv_loop_t *loop;
    const edm_config *cfg; /* submission, api.keys_env, message_id_domain, smtp.helo */
    edm_store *st;
    /* A message was committed (claim it now). */
    void (*queued)(void *ctx, int64_t message_id);
    void *ctx;
} edm_submission_opts;

/* Starts listening on cfg->submission's addresses. 0, or a negative code
 * with the reason in err. */
int edm_submission_start(const edm_submission_opts *o, edm_submission **out, char *err,
                         size_t errlen);
/* Stops; done(arg) runs once every connection is closed. */
void edm_submission_stop(edm_submission *s, void (*done)(void *arg), void *arg);

#endif
