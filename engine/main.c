/*
 * engine/main.c: the edm command (serve, send, render, status, check-config,
 * migrate, version). Parses arguments and hands off to the modules.
 */
#include "edm_version.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: edm <command> [options]\n"
          "commands:\n"
          "  serve [-c edm.json]     run the engine and the API\n"
          "  migrate [-c edm.json]   apply schema migrations and exit\n"
          "  check-config [-c FILE]  print the effective config or its errors\n"
          "  version                 print the version\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("edm %s\n", EDM_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "edm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
