/*
 * engine/cmd/cmd_version.c: `edm version`: prints "edm VERSION" and exits 0.
 */
#include "engine/cmd/cmd.h"
#include "engine/base/version.h"

#include <stdio.h>
#include <string.h>

int edm_cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: edm version\nPrints edm's version.");
        return 0;
    }
    printf("edm %s\n", edm_version());
    return 0;
}
