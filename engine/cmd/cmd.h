/*
 * engine/cmd/cmd.h: the edm subcommands, one file each (engine/cmd_NAME.c
 * defines edm_cmd_NAME). Each takes main's argc/argv shifted so that
 * argv[0] is the subcommand name, prints its own --help, and returns the
 * process exit status (0 ok, 1 failure, 2 usage error).
 */
#ifndef EDM_CMD_H
#define EDM_CMD_H

#include "engine/config/config.h"
#include "engine/store/store.h"

#include <jansson.h>
#include <uv.h>

int edm_cmd_version(int argc, char **argv);
int edm_cmd_check_config(int argc, char **argv);
int edm_cmd_migrate(int argc, char **argv);
int edm_cmd_serve(int argc, char **argv);
int edm_cmd_send(int argc, char **argv);
int edm_cmd_status(int argc, char **argv);
int edm_cmd_render(int argc, char **argv);

/* Shared by the subcommands (cmd_common.c). */
int edm_cmd_is_help(const char *arg);
/* If argv[*i] is -c FILE / --config FILE / --config=FILE, sets *path,
 * advances *i past it and returns 1; otherwise 0. */
int edm_cmd_config_opt(int argc, char **argv, int *i, const char **path);
/* Parses the arguments of a command whose only option is -c FILE: returns
 * -1 to go on (with *path set or NULL), or the exit status (0 after
 * --help, 2 on a usage error, both printed). */
int edm_cmd_config_only(int argc, char **argv, const char *usage, const char **path);
/* Loads the config (path NULL: defaults); prints each error as
 * "edm CMD: error" on stderr and returns -1 on failure. */
int edm_cmd_load_config(const char *cmd, const char *path, edm_config *cfg);
/* Loads the JSON file path (jansson flags: JSON_DECODE_ANY...); on failure
 * prints "edm CMD: WHAT PATH: line L, col C: reason" on stderr (without
 * the position when the file could not be read; what may be NULL) and
 * returns NULL. */
json_t *edm_cmd_load_json(const char *cmd, const char *what, const char *path, size_t flags);
/* Runs loop until nothing keeps it alive, closes what is left and the
 * loop; from then on SIGINT and SIGTERM are ignored (the command is
 * finishing cleanly). */
void edm_cmd_run_loop(uv_loop_t *loop);
/* Opens cfg->db (applying migrations); prints the error and returns -1. */
int edm_cmd_open_store(const char *cmd, const edm_config *cfg, edm_store **st);

#endif
