/*
 * engine/cmd/cmd_common.c: what several subcommands share: the -c/--config
 * option and loading the configuration with its errors printed, loading
 * a JSON input file with its error's position, and opening the store
 * named by the configuration.
 */
#include "engine/cmd/cmd.h"
#include "engine/config/config.h"
#include "engine/store/store.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

int edm_cmd_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int edm_cmd_config_opt(int argc, char **argv, int *i, const char **path)
{
    if ((strcmp(argv[*i], "-c") == 0 || strcmp(argv[*i], "--config") == 0) && *i + 1 < argc) {
        *path = argv[++*i];
        return 1;
    }
    if (strncmp(argv[*i], "--config=", 9) == 0) {
        *path = argv[*i] + 9;
        return 1;
    }
    return 0;
}

int edm_cmd_load_config(const char *cmd, const char *path, edm_config *cfg)
{
    edm_config_errors errs;
    if (edm_config_load(path, cfg, &errs) == 0)
        return 0;
    for (size_t i = 0; i < errs.count; i++)
        fprintf(stderr, "edm %s: %s\n", cmd, errs.msg[i]);
    edm_config_errors_free(&errs);
    return -1;
}

json_t *edm_cmd_load_json(const char *cmd, const char *what, const char *path, size_t flags)
{
    json_error_t e;
    json_t *j = json_load_file(path, flags, &e);
    if (j != NULL)
        return j;
    /* jansson gives line -1 when the file cannot be opened or read */
    if (e.line > 0)
        fprintf(stderr, "edm %s: %s%s%s: line %d, col %d: %s\n", cmd, what ? what : "",
                what ? " " : "", path, e.line, e.column, e.text);
    else
        fprintf(stderr, "edm %s: %s%s%s: %s\n", cmd, what ? what : "", what ? " " : "", path,
                e.text);
    return NULL;
}

int edm_cmd_open_store(const char *cmd, const edm_config *cfg, edm_store **st)
{
    char err[600];
    if (edm_store_open(cfg->db, st, err, sizeof err) != 0) {
        fprintf(stderr, "edm %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

int edm_cmd_config_only(int argc, char **argv, const char *usage, const char **path)
{
    *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (edm_cmd_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        }
        if (!edm_cmd_config_opt(argc, argv, &i, path)) {
            fprintf(stderr, "edm %s: unexpected argument '%s'\n%s", argv[0], argv[i], usage);
            return 2;
        }
    }
    return -1;
}

static void close_left(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void edm_cmd_run_loop(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    /* Anything still open (signal handlers, by design) is closed here. */
    uv_walk(loop, close_left, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    /* Closing the handlers restored the default action: a late second
     * signal must not turn the clean exit into a kill. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
}
