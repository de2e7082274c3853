/*
 * engine/cmd/main.c: the edm command. Dispatches to one engine/cmd_NAME.c per
 * subcommand (see cmd.h); adding a subcommand is one line in `commands`.
 */
#include "engine/cmd/cmd.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"version", edm_cmd_version, "print the version"},
    {"serve", edm_cmd_serve, "run the engine and the API"},
    {"send", edm_cmd_send, "send one campaign from files, with a progress bar"},
    {"status", edm_cmd_status, "show campaigns and their progress (from the API)"},
    {"migrate", edm_cmd_migrate, "create or upgrade the database, then exit"},
    {"check-config", edm_cmd_check_config, "check a config file, print the effective config"},
    {"render", edm_cmd_render, "render a template with one recipient's data"},
};

static void usage(FILE *f)
{
    fputs("usage: edm <command> [options]   (edm <command> --help for each)\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return edm_cmd_version(1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "edm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
