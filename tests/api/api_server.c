/*
 * tests/api/api_server.c: the API alone on a loop with a SQLite store, for
 * tests and scripts/bench-api until and besides `edm serve`:
 *   api_server DB LISTEN [max_body header_timeout_ms idle_timeout_ms
 *              [name=value...]]
 * where name is min_body_rate, body_window_ms, max_connections or
 * max_per_ip (edm_api_config's members; 0 = default). Keys come from EDM_API_KEYS as usual. Prints
 * "port=N" on stdout once it listens; SIGTERM/SIGINT stop it cleanly (connections closed, store
 * closed), so leak checks cover shutdown too.
 */
#include "api/api.h"
#include "engine/store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static edm_api *api;
static uv_signal_t sigterm, sigint;

static void on_stopped(void *arg)
{
    (void)arg;
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    /* closing the watchers restores the default action: a late second
     * SIGTERM (test harnesses signal the process and its group) must not
     * kill the process while it finishes */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
}

static void on_signal(uv_signal_t *s, int signum)
{
    static int stopping;
    (void)s;
    (void)signum;
    /* the watchers stay on until the API is down: a second SIGTERM (to the
     * process and to its group) must not kill us half way */
    if (!stopping++)
        edm_api_stop(api, on_stopped, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: api_server DB LISTEN [max_body header_ms idle_ms]\n");
        return 2;
    }
    char err[512];
    edm_store *st;
    if (edm_store_open(argv[1], &st, err, sizeof err) != 0) {
        fprintf(stderr, "api_server: %s\n", err);
        return 1;
    }
    edm_api_config cfg = {.listen = argv[2]};
    if (argc > 3)
        cfg.max_body = strtoull(argv[3], NULL, 10);
    if (argc > 4)
        cfg.header_timeout_ms = (unsigned)strtoul(argv[4], NULL, 10);
    if (argc > 5)
        cfg.idle_timeout_ms = (unsigned)strtoul(argv[5], NULL, 10);
    for (int i = 6; i < argc; i++) {
        static const char *const names[] = {
            "min_body_rate=", "body_window_ms=", "max_connections=", "max_per_ip="};
        unsigned *fields[] = {&cfg.min_body_rate, &cfg.body_window_ms, &cfg.max_connections,
                              &cfg.max_per_ip};
        int known = 0;
        for (int k = 0; k < 4; k++)
            if (strncmp(argv[i], names[k], strlen(names[k])) == 0) {
                *fields[k] = (unsigned)strtoul(argv[i] + strlen(names[k]), NULL, 10);
                known = 1;
            }
        if (!known) {
            fprintf(stderr, "api_server: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    /* a client that goes away mid-answer must not kill the server (as edm serve) */
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t *loop = uv_default_loop();
    if (edm_api_start(loop, &cfg, st, NULL, &api, err, sizeof err) != 0) {
        fprintf(stderr, "api_server: %s\n", err);
        edm_store_close(st);
        return 1;
    }
    printf("port=%d\n", edm_api_port(api));
    fflush(stdout);
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    edm_store_close(st);
    return 0;
}
