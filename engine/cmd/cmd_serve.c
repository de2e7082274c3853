/*
 * engine/cmd/cmd_serve.c: `edm serve [-c FILE]`, the main job: opens the
 * database (creating it and applying migrations), starts the scheduler and
 * the delivery side on one libuv loop (with the API, and the submission,
 * public and inbound listeners the config names), and runs until SIGINT or SIGTERM,
 * then shuts down within a second: timers and listeners stop, connections
 * close, the database is closed cleanly. Work in flight at that moment
 * stays queued in the store and is sent after the next start.
 */
#include "api/api.h"
#include "api/public.h"
#include "engine/webhook/hooks.h"
#include "engine/cmd/cmd.h"
#include "engine/engine.h"
#include "engine/feedback/inbound.h"
#include "engine/smtp/submission.h"
#include "engine/base/log.h"
#include "engine/base/version.h"

#include "engine/base/err.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

static const char usage_text[] =
    "usage: edm serve [-c FILE]\n"
    "Runs the engine and the API until SIGINT or SIGTERM. With no config file\n"
    "it uses ./edm.db and listens on 127.0.0.1:8025.\n"
    "  -c, --config FILE   the configuration file (edm.json)\n";

struct serve {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    edm_engine *engine;
    edm_api *api;
    edm_public *pub;
    edm_submission *sub;
    edm_hooks *webhooks;
    edm_inbound *in;
    const edm_config *cfg;
    int stopping;
};

/* ---- what the API asks of the engine ---- */

static void api_campaign_changed(void *ctx, int64_t id, enum edm_cstate to)
{
    struct serve *sv = ctx;
    (void)id;
    (void)to;
    if (sv->engine)
        edm_engine_wake(sv->engine);
}

static void api_message_queued(void *ctx, int64_t id)
{
    struct serve *sv = ctx;
    (void)id;
    if (sv->engine)
        edm_engine_kick(sv->engine);
}

static json_t *api_pools(void *ctx)
{
    struct serve *sv = ctx;
    return sv->engine ? edm_engine_pools_json(sv->engine) : json_array();
}

static double api_campaign_rate(void *ctx, int64_t id)
{
    struct serve *sv = ctx;
    return sv->engine ? edm_engine_rate_per_minute(sv->engine, id) / 60.0 : 0.0;
}

static int api_pool_exists(void *ctx, const char *name)
{
    struct serve *sv = ctx;
    return edm_config_pool_find(sv->cfg, name) != NULL;
}

static int api_render_raw(void *ctx, json_t *tpl, json_t *vars, const char *from, const char *to,
                          char **msg, size_t *len, char *err, size_t errlen)
{
    struct serve *sv = ctx;
    if (sv->engine == NULL) {
        snprintf(err, errlen, "the engine is stopping");
        return EDM_ESTATE;
    }
    return edm_engine_render_raw(sv->engine, tpl, vars, from, to, msg, len, err, errlen);
}

/* The public listener (one-click unsubscribe) when public.listen is set. */
static int start_public(struct serve *sv, edm_store *st, char *err, size_t errlen)
{
    if (sv->cfg->public.listen == NULL)
        return 0;
    const edm_config *cfg = sv->cfg;
    edm_public_config pc = {.listen = cfg->public.listen,
                            .base_url = cfg->public.base_url,
                            .unsub_url = cfg->unsubscribe.url,
                            .machine_ips = cfg->public.machine_ips,
                            .nmachine_ips = cfg->public.nmachine_ips,
                            .machine_open_seconds = cfg->public.machine_open_seconds,
                            .db = cfg->db};
    pc.secret = edm_engine_secret(sv->engine, &pc.secret_len);
    return edm_public_start(&sv->loop, &pc, st, &sv->pub, err, errlen);
}

/* The inbound listener (bounces, complaints, unsubscribes by mail) when
 * inbound.listen names an address. */
static int start_inbound(struct serve *sv, edm_store *st, char *err, size_t errlen)
{
    if (sv->cfg->inbound.nlisten == 0)
        return 0;
    edm_inbound_opts io = {.loop = &sv->loop, .cfg = sv->cfg, .st = st};
    io.secret = edm_engine_secret(sv->engine, &io.secret_len);
    return edm_inbound_start(&io, &sv->in, err, errlen);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct serve *sv = sig->data;
    if (sv->stopping)
        return;
    sv->stopping = 1;
    edm_log(EDM_LOG_INFO, "serve", "event=stopping signal=%s", strsignal(signum));
    if (sv->api)
        edm_api_stop(sv->api, NULL, NULL);
    sv->api = NULL;
    if (sv->pub)
        edm_public_stop(sv->pub, NULL, NULL);
    sv->pub = NULL;
    if (sv->sub)
        edm_submission_stop(sv->sub, NULL, NULL);
    sv->sub = NULL;
    if (sv->webhooks)
        edm_hooks_stop(sv->webhooks, NULL, NULL);
    sv->webhooks = NULL;
    if (sv->in)
        edm_inbound_stop(sv->in, NULL, NULL);
    sv->in = NULL;
    if (sv->engine)
        edm_engine_stop(sv->engine, NULL, NULL);
    sv->engine = NULL;
    /* The handlers stay installed (a second signal is ignored while the
     * shutdown runs) but no longer keep the loop alive. */
    uv_unref((uv_handle_t *)&sv->sigint);
    uv_unref((uv_handle_t *)&sv->sigterm);
}

int edm_cmd_serve(int argc, char **argv)
{
    const char *path;
    int rc0 = edm_cmd_config_only(argc, argv, usage_text, &path);
    if (rc0 >= 0)
        return rc0;
    edm_config cfg;
    if (edm_cmd_load_config("serve", path, &cfg) != 0)
        return 1;
    edm_log_set_level(cfg.log_level);
    edm_store *st;
    if (edm_cmd_open_store("serve", &cfg, &st) != 0) {
        edm_config_free(&cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct serve sv;
    memset(&sv, 0, sizeof sv);
    uv_loop_init(&sv.loop);
    uv_signal_init(&sv.loop, &sv.sigint);
    uv_signal_init(&sv.loop, &sv.sigterm);
    sv.sigint.data = sv.sigterm.data = &sv;
    uv_signal_start(&sv.sigint, on_signal, SIGINT);
    uv_signal_start(&sv.sigterm, on_signal, SIGTERM);

    int rc = 0;
    char err[512];
    sv.cfg = &cfg;
    edm_api_engine hooks = {.ctx = &sv,
                            .campaign_changed = api_campaign_changed,
                            .pools = api_pools,
                            .campaign_rate = api_campaign_rate,
                            .pool_exists = api_pool_exists,
                            .render_raw = api_render_raw,
                            .message_queued = api_message_queued};
    edm_api_config acfg = {.listen = cfg.api.listen,
                           .keys_env = cfg.api.keys_env,
                           .max_body = (size_t)cfg.api.max_body_bytes,
                           .idle_timeout_ms = (unsigned)cfg.api.idle_timeout * 1000,
                           .header_timeout_ms = (unsigned)cfg.api.header_timeout * 1000,
                           .min_body_rate = (unsigned)cfg.api.min_body_rate,
                           .max_connections = (unsigned)cfg.api.max_connections,
                           .max_per_ip = (unsigned)cfg.api.max_connections_per_ip};
    edm_submission_opts so = {
        .loop = &sv.loop, .cfg = &cfg, .st = st, .queued = api_message_queued, .ctx = &sv};
    if (edm_engine_start(&sv.loop, &cfg, st, &sv.engine, err, sizeof err) != 0 ||
        edm_api_start(&sv.loop, &acfg, st, &hooks, &sv.api, err, sizeof err) != 0 ||
        ((cfg.submission.nlisten || cfg.submission.ntls_listen) &&
         edm_submission_start(&so, &sv.sub, err, sizeof err) != 0) ||
        start_public(&sv, st, err, sizeof err) != 0 ||
        edm_hooks_start(&(edm_hooks_opts){.loop = &sv.loop,
                                          .store = st,
                                          .retry_min_s = cfg.webhooks.retry_min,
                                          .max_age_s = cfg.webhooks.max_age,
                                          .ca_file = cfg.webhooks.ca_file},
                        &sv.webhooks) != 0 ||
        start_inbound(&sv, st, err, sizeof err) != 0) {
        fprintf(stderr, "edm serve: %s\n", err);
        rc = 1;
        on_signal(&sv.sigterm, SIGTERM);
    } else {
        edm_log(EDM_LOG_INFO, "serve", "event=started version=%s db=%s api=%s", edm_version(),
                cfg.db, cfg.api.listen);
    }
    edm_cmd_run_loop(&sv.loop);
    edm_store_close(st);
    edm_config_free(&cfg);
    edm_log(EDM_LOG_INFO, "serve", "event=stopped");
    return rc;
}
