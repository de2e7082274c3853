/*
 * api/public.h: the public listener (docs/feedback.md, `public` in the
 * config): served without an API key on its own address, with the API's
 * HTTP core (api/http.c) and its limits.
 *
 *   GET  /u/{token}   a small confirmation page with a button; changes nothing
 *                     (link scanners must not unsubscribe anyone)
 *   POST /u/{token}   RFC 8058 one-click (body List-Unsubscribe=One-Click):
 *                     unsubscribes at once (engine/feedback/feedback.c), 200
 *   GET  /c/{token}   a tracked click: 302 to the link as sent, click event
 *   GET  /o/{token}.gif  a tracked open: 1x1 GIF, no-cache, open event
 *                     (engine/feedback/engagement.c, docs/tracking.md)
 *
 * A token edm did not issue (forged, altered, a bounce token) answers 404
 * and changes nothing. Everything runs on the loop's thread.
 */
#ifndef EDM_API_PUBLIC_H
#define EDM_API_PUBLIC_H

#include "engine/store/store.h"

#include <stddef.h>
#include <uv.h>

typedef struct edm_public edm_public;

typedef struct edm_public_config {
    const char *listen;          /* "127.0.0.1:8080" */
    const unsigned char *secret; /* the unsubscribe token secret (kept by the caller) */
    size_t secret_len;
    /* tracking (docs/tracking.md): off without base_url */
    const char *base_url;  /* public.base_url */
    const char *unsub_url; /* unsubscribe.url */
    char *const *machine_ips;
    size_t nmachine_ips;
    int64_t machine_open_seconds;
    const char *db; /* the store's location, for the engagement writer's own connection */
} edm_public_config;

/* Starts listening; returns 0 or a negative EDM_E* code with a message in
 * err. The store and the secret must outlive the listener. */
int edm_public_start(uv_loop_t *loop, const edm_public_config *cfg, edm_store *store,
                     edm_public **out, char *err, size_t errlen);
int edm_public_port(const edm_public *p);
/* Stops listening and closes connections; done(arg) runs once all is freed. */
void edm_public_stop(edm_public *p, void (*done)(void *arg), void *arg);

#endif
