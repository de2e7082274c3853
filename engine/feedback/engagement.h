/*
 * engine/feedback/engagement.h: opens and clicks as the public listener
 * receives them (docs/tracking.md). A click token names a delivery and a
 * link index; the URL is found again by rendering that delivery's HTML
 * part from the stored source and variables (engine/message/track.h), so
 * no URL is stored per recipient and a token can never redirect anywhere
 * edm did not send. Both record an event (open, or click with its URL)
 * flagged machine by the heuristics of edm_engagement_is_machine.
 *
 * Speed (docs/tracking.md, "Speed"): what a token resolves to (and the
 * recipient's link URLs) is cached (engagement_cache.h), and events are
 * queued (engagement_queue.h) and written in one transaction per
 * ENGAGEMENT_FLUSH_MS or per ENGAGEMENT_FLUSH_AT events, whichever comes
 * first, by a writer thread with its own store connection; close writes
 * what is left. A crash loses at most the events of
 * the last interval, never a redirect's target.
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
#include <uv.h>

#define ENGAGEMENT_FLUSH_MS    50
#define ENGAGEMENT_FLUSH_AT    1000
#define ENGAGEMENT_QUEUE_MAX   8192
#define ENGAGEMENT_QUEUE_BYTES (8u << 20)
#define ENGAGEMENT_CACHE_SLOTS 65536

typedef struct edm_engagement edm_engagement;

typedef struct edm_engagement_opts {
    uv_loop_t *loop; /* the flush timer's; NULL: flushed only when full or by flush */
    edm_store *store;
    /* The database (the config's "db"): events are written on a thread of
     * their own through a second connection to it; NULL, or one a second
     * connection cannot reach (in memory): written on the loop. */
    const char *db;
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
/* Writes what is queued, then frees e (once its timer is closed) and calls
 * done(arg) (may be NULL). Events that cannot be written are logged as
 * lost. */
void edm_engagement_close(edm_engagement *e, void (*done)(void *arg), void *arg);
/* Hands what is queued to the writer (waiting for it to be idle), or
 * without one writes it now: 0 or an EDM_E* code. */
int edm_engagement_flush(edm_engagement *e);

/* GET /c/<token>: appends the redirect target to url and queues a click
 * (record 0: HEAD, the target only). */
int edm_engagement_click(edm_engagement *e, const char *tok, size_t n, const char *user_agent,
                         const char *ip, int64_t now, edm_buf *url, int record);
/* GET /o/<token>.gif (tok without ".gif"): queues an open (record 0:
 * HEAD, the token is only checked). */
int edm_engagement_open(edm_engagement *e, const char *tok, size_t n, const char *user_agent,
                        const char *ip, int64_t now, int record);

/* 1 when a request looks like a machine's rather than a reader's: a user
 * agent of an image proxy, a privacy prefetcher or a link scanner, an
 * address in machine_ips, or within machine_open_seconds of delivery. */
int edm_engagement_is_machine(const edm_engagement *e, const char *user_agent, const char *ip,
                              int64_t delivered_at, int64_t now);

#endif
