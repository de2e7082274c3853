/*
 * engine/cmd/cmd_migrate.c: `edm migrate [-c FILE]`: opens the database named
 * by the configuration, applies the schema migrations it lacks (each in one
 * transaction) and prints the schema version. Exit 1 if the database
 * cannot be opened, is not SQLite, or is newer than this binary.
 */
#include "engine/cmd/cmd.h"

#include <stdio.h>

static const char usage_text[] = "usage: edm migrate [-c FILE]\n"
                                 "Creates or upgrades the database named by the configuration\n"
                                 "(default ./edm.db) to this edm's schema, then exits.\n"
                                 "  -c, --config FILE   the configuration file (edm.json)\n";

int edm_cmd_migrate(int argc, char **argv)
{
    const char *path;
    int rc0 = edm_cmd_config_only(argc, argv, usage_text, &path);
    if (rc0 >= 0)
        return rc0;
    edm_config cfg;
    if (edm_cmd_load_config("migrate", path, &cfg) != 0)
        return 1;
    edm_store *st;
    int rc = 1;
    if (edm_cmd_open_store("migrate", &cfg, &st) == 0) {
        int cur = 0, sup = 0;
        if (st->ops->schema_version(st, &cur, &sup) == 0) {
            printf("%s: schema version %d (this edm: %d)\n", cfg.db, cur, sup);
            rc = 0;
        } else {
            fprintf(stderr, "edm migrate: %s\n", edm_store_errmsg(st));
        }
        edm_store_close(st);
    }
    edm_config_free(&cfg);
    return rc;
}
