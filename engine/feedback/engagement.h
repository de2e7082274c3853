/*
 * engine/feedback/engagement.h: opens and clicks as the public listener
 * receives them (docs/tracking.md). A click token names a delivery and a
 * link index; the URL is found again by rendering that delivery's HTML
 * part from the stored source and variables (engine/message/track.h), so
 * no URL is stored per recipient and a token can never redirect anywhere
 * edm did not send. Both record an event (open, or click with its URL)
 * flagged machine by the heuristics of edm_engagement_is_machine.
 *
 * Returns 0; EDM_ENOTFOUND when the token is forged or altered, names an
 * unknown delivery, a delivery without that tracking, or a link that is
 * not there (nothing is recorded); another negative EDM_E* code from the
 * store or the renderer. Loop thread only.
 */
#ifndef EDM_ENGAGEMENT_H
#define EDM_ENGAGEMENT_H

#include "engine/base/buf.h"
#include "engine/store/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct edm_engagement edm_engagement;

typedef struct edm_engagement_opts {
    edm_store *store;
    const unsigned char *secret; /* the token secret (kept by the caller) */
    size_t secret_len;
    const char *base_url;  /* public.base_url */
    const char *unsub_url; /* unsubscribe.url, or NULL */
    char *const *machine_ips;
    size_t nmachine_ips;
    int64_t machine_open_seconds;
} edm_engagement_opts;

/* The strings of o are copied. */
edm_engagement *edm_engagement_new(const edm_engagement_opts *o);
void edm_engagement_free(edm_engagement *e);

/* GET /c/<token>: appends the redirect target to url and records a click. */
int edm_engagement_click(edm_engagement *e, const char *tok, size_t n, const char *user_agent,
                         const char *ip, int64_t now, edm_buf *url);
/* GET /o/<token>.gif (tok without ".gif"): records an open. */
int edm_engagement_open(edm_engagement *e, const char *tok, size_t n, const char *user_agent,
                        const char *ip, int64_t now);

/* 1 when a request looks like a machine's rather than a reader's: a user
 * agent of an image proxy, a privacy prefetcher or a link scanner, an
 * address in machine_ips, or within machine_open_seconds of delivery. */
int edm_engagement_is_machine(const edm_engagement *e, const char *user_agent, const char *ip,
                              int64_t delivered_at, int64_t now);

#endif
