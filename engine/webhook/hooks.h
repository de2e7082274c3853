/*
 * engine/webhook/hooks.h: delivers webhook events from the store's durable
 * outbox (docs/tracking.md, "Webhooks") with libcurl's multi interface on
 * the libuv loop: per webhook one POST at a time of up to `batch` events
 * as a JSON array, oldest first, signed with
 * "Edm-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">". A 2xx
 * answer removes the batch from the outbox; anything else (or no answer
 * within timeout_s) keeps it and retries after an exponential backoff
 * (10 s doubling, at most an hour) until its oldest event is older than
 * max_age_s, when it is dropped with a log line. Nothing here is on the
 * sending path: a slow or dead receiver only delays its own webhook.
 * HTTPS certificates are verified (the system's CA store).
 */
#ifndef EDM_WEBHOOK_HOOKS_H
#define EDM_WEBHOOK_HOOKS_H

#include "engine/store/store.h"

#include <stdint.h>
#include <uv.h>

typedef struct edm_hooks edm_hooks;

typedef struct edm_hooks_opts {
    uv_loop_t *loop;
    edm_store *store;
    unsigned tick_ms;    /* how often the outbox is looked at; 0: 500 */
    unsigned batch;      /* events per POST; 0: 100 */
    unsigned timeout_s;  /* per POST; 0: 10 */
    int64_t max_age_s;   /* 0: 86400 */
    int64_t retry_min_s; /* first retry delay, doubling; 0: 10 */
    const char *ca_file; /* PEM CAs to verify receivers against instead of
                          * the system's bundle, or NULL (webhooks.ca_file);
                          * must outlive the sender */
} edm_hooks_opts;

/* Starts the sender; returns 0 or EDM_ENOMEM / EDM_EINVAL (libcurl). */
int edm_hooks_start(const edm_hooks_opts *o, edm_hooks **out);
/* Stops: transfers in flight are abandoned (their events stay in the
 * outbox); done(arg) once every handle is closed. */
void edm_hooks_stop(edm_hooks *h, void (*done)(void *arg), void *arg);

/* "t=<t>,v1=<hex>" for body with secret into out (at least 80 bytes). */
void edm_hooks_signature(const char *secret, int64_t t, const char *body, size_t len, char *out,
                         size_t outlen);

#endif
