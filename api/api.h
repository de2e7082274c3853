/*
 * api/api.h: the JSON API (docs/api.md) as the engine sees
 * it: start it on the engine's libuv loop with a listen address, limits,
 * the name of the environment variable holding the API keys, the store,
 * and the engine's hooks for lifecycle and live state; stop it.
 *
 * Everything runs on the loop's thread (the store is used from it only).
 */
#ifndef EDM_API_H
#define EDM_API_H

#include "engine/store/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct edm_api edm_api;

/* What the API asks of the running engine. Every member may be NULL (the
 * API then answers without it: no pools, rate 0, raw preview 501). */
typedef struct edm_api_engine {
    void *ctx;
    /* A campaign changed state through the API (schedule, pause, resume,
     * cancel): wake the scheduler, stop claiming, drop queued work. */
    void (*campaign_changed)(void *ctx, int64_t campaign_id, enum edm_cstate to);
    /* A transactional message was committed (POST /v1/messages): claim it
     * now rather than at the next scheduler tick. */
    void (*message_queued)(void *ctx, int64_t message_id);
    /* GET /v1/pools: a new JSON array, one object per source IP (pool,
     * addr, sent_this_hour, rate, connections, paused_domains). */
    json_t *(*pools)(void *ctx);
    /* Current send rate of a campaign, messages per second. */
    double (*campaign_rate)(void *ctx, int64_t campaign_id);
    /* 1 if a pool of that name is configured (NULL: any name passes). */
    int (*pool_exists)(void *ctx, const char *name);
    /* POST /v1/templates/{id}/preview with raw=true: the whole message as
     * it would go on the wire (composed and DKIM-signed) for template `tpl`
     * (the stored object), `vars`, and optional from/to (NULL: the
     * engine's defaults, never a failure). Returns 0 with a
     * malloc'd *msg, or a negative EDM_E* code with a message in err. */
    int (*render_raw)(void *ctx, json_t *tpl, json_t *vars, const char *from, const char *to,
                      char **msg, size_t *len, char *err, size_t errlen);
} edm_api_engine;

typedef struct edm_api_config {
    const char *listen;         /* "127.0.0.1:8025", "[::1]:8025"; NULL: 127.0.0.1:8025 */
    const char *keys_env;       /* NULL: "EDM_API_KEYS" */
    size_t max_body;            /* any body (api.max_body_bytes); 0: 1 GiB */
    size_t max_json_body;       /* buffered (JSON) bodies, never over max_body; 0: 16 MiB */
    size_t max_header;          /* 0: 32 KiB */
    unsigned header_timeout_ms; /* accept to the end of the head; 0: 10 s */
    unsigned idle_timeout_ms;   /* 0: 60 s */
    unsigned min_body_rate;     /* bytes/s a body must keep up; 0: 1024 */
    unsigned body_window_ms;    /* the window the rate is measured over; 0: 10 s */
    unsigned max_connections;   /* 0: 1024 */
    unsigned max_per_ip;        /* connections per client address; 0: 64 */
} edm_api_config;

/* Starts listening. Reads the keys from the environment now. Refuses (with
 * EDM_EINVAL and a message in err) a non-loopback address without a key;
 * on loopback without a key it starts, answers 401 to all but /v1/health
 * and logs how to set one. The store and engine must outlive the API. */
int edm_api_start(uv_loop_t *loop, const edm_api_config *cfg, edm_store *store,
                  const edm_api_engine *engine, edm_api **out, char *err, size_t errlen);
/* The bound TCP port. */
int edm_api_port(const edm_api *api);
/* Stops listening, closes connections (aborting uploads), frees the API;
 * done(arg) runs from the loop once everything is closed. */
void edm_api_stop(edm_api *api, void (*done)(void *arg), void *arg);

#endif
