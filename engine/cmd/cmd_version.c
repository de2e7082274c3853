/*
 * engine/cmd/cmd_version.c: `edm version`: prints "edm VERSION" and exits 0;
 * any argument but --help is a usage error (exit 2), as in every command.
 */
#include "engine/cmd/cmd.h"
#include "engine/base/version.h"

#include <stdio.h>
#include <string.h>

int edm_cmd_version(int argc, char **argv)
{
    static const char usage[] = "usage: edm version\nPrints edm's version.\n";
    if (argc > 1 && edm_cmd_is_help(argv[1])) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "edm version: unexpected argument '%s'\n%s", argv[1], usage);
        return 2;
    }
    printf("edm %s\n", edm_version());
    return 0;
}
