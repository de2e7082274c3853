/*
 * engine/cmd/cmd_check_config.c: `edm check-config [-c FILE]`: loads the
 * configuration (FILE, or the defaults when none is given) and prints the
 * effective configuration, every key with its default filled in, as JSON
 * on stdout (exit 0), or each error on its own line on stderr (exit 1).
 * Usage errors exit 2.
 */
#include "engine/base/alloc.h"
#include "engine/cmd/cmd.h"
#include "engine/config/config.h"

#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: edm check-config [-c FILE]\n"
    "Checks FILE (default: no file, only the built-in defaults) and prints the\n"
    "effective configuration as JSON, every key with its default filled in.\n"
    "On errors, prints one per line on stderr, each naming its key path\n"
    "(pools[0].ips[1].addr: not an IP address), and exits 1.\n"
    "  -c, --config FILE   the configuration file (edm.json)\n";

int edm_cmd_check_config(int argc, char **argv)
{
    const char *path;
    int rc0 = edm_cmd_config_only(argc, argv, usage_text, &path);
    if (rc0 >= 0)
        return rc0;
    edm_config cfg;
    edm_config_errors errs;
    if (edm_config_load(path, &cfg, &errs) != 0) {
        for (size_t i = 0; i < errs.count; i++)
            fprintf(stderr, "%s\n", errs.msg[i]);
        edm_config_errors_free(&errs);
        return 1;
    }
    char *json = edm_config_to_json(&cfg);
    puts(json);
    edm_free(json);
    edm_config_free(&cfg);
    return 0;
}
