/*
 * engine/cmd_serve.c: `edm serve [-c FILE]`, the main job: opens the
 * database (creating it and applying migrations), starts the scheduler and
 * the delivery side on one libuv loop, and runs until SIGINT or SIGTERM,
 * then shuts down within a second: timers and listeners stop, connections
 * close, the database is closed cleanly. Work in flight at that moment
 * stays queued in the store and is sent after the next start.
 */
#include "engine/cmd.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/version.h"

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
    int stopping;
};

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct serve *sv = sig->data;
    if (sv->stopping)
        return;
    sv->stopping = 1;
    edm_log(EDM_LOG_INFO, "serve", "event=stopping signal=%s", strsignal(signum));
    if (sv->engine)
        edm_engine_stop(sv->engine, NULL, NULL);
    sv->engine = NULL;
    uv_close((uv_handle_t *)&sv->sigint, NULL);
    uv_close((uv_handle_t *)&sv->sigterm, NULL);
}

int edm_cmd_serve(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (edm_cmd_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!edm_cmd_config_opt(argc, argv, &i, &path)) {
            fprintf(stderr, "edm serve: unexpected argument '%s'\n%s", argv[i], usage_text);
            return 2;
        }
    }
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
    if (edm_engine_start(&sv.loop, &cfg, st, &sv.engine, err, sizeof err) != 0) {
        fprintf(stderr, "edm serve: %s\n", err);
        rc = 1;
        on_signal(&sv.sigterm, SIGTERM);
    } else {
        edm_log(EDM_LOG_INFO, "serve", "event=started version=%s db=%s", edm_version(), cfg.db);
    }
    uv_run(&sv.loop, UV_RUN_DEFAULT);
    /* Anything still open (there should be nothing) is closed here. */
    uv_walk(&sv.loop, close_any, NULL);
    uv_run(&sv.loop, UV_RUN_DEFAULT);
    uv_loop_close(&sv.loop);
    edm_store_close(st);
    edm_config_free(&cfg);
    edm_log(EDM_LOG_INFO, "serve", "event=stopped");
    return rc;
}
