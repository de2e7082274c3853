/*
 * engine/cmd/cmd_migrate.c: `edm migrate [-c FILE] [--to URI]`: opens the
 * database named by the configuration, applies the schema migrations it
 * lacks (each in one transaction) and prints the schema version. With
 * --to postgresql://..., copies that SQLite database into an empty
 * PostgreSQL database instead (docs/postgresql.md). Exit 1 if a database
 * cannot be opened, is newer than this binary, or the copy fails (the
 * target then holds nothing of it); 2 for bad arguments.
 */
#include "engine/cmd/cmd.h"
#include "engine/store/pg/store_pg_copy.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: edm migrate [-c FILE] [--to postgresql://USER@HOST/DB]\n"
    "Creates or upgrades the database named by the configuration\n"
    "(default ./edm.db) to this edm's schema, then exits.\n"
    "  -c, --config FILE   the configuration file (edm.json)\n"
    "  --to URI            copy the configuration's SQLite database into this\n"
    "                      empty PostgreSQL database (stop edm first), then\n"
    "                      point \"db\" at it\n";

static void on_table(const char *table, int64_t rows, void *arg)
{
    (void)arg;
    printf("  %-16s %" PRId64 " rows\n", table, rows);
}

static int copy_to(const edm_config *cfg, const char *uri)
{
    if (!edm_store_is_pg(uri)) {
        fprintf(stderr, "edm migrate: --to takes a postgresql:// URI\n");
        return 2;
    }
    if (edm_store_is_pg(cfg->db)) {
        fprintf(stderr, "edm migrate: the configured db is already PostgreSQL\n");
        return 2;
    }
    printf("copying %s into PostgreSQL\n", cfg->db);
    char err[1024];
    if (edm_store_pg_copy_from_sqlite(cfg->db, uri, on_table, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "edm migrate: %s\n", err);
        return 1;
    }
    printf("done: set \"db\" to the PostgreSQL URI in the configuration\n");
    return 0;
}

int edm_cmd_migrate(int argc, char **argv)
{
    const char *path = NULL, *to = NULL;
    for (int i = 1; i < argc; i++) {
        if (edm_cmd_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
            to = argv[++i];
            continue;
        }
        if (!edm_cmd_config_opt(argc, argv, &i, &path)) {
            fprintf(stderr, "edm migrate: unexpected argument '%s'\n%s", argv[i], usage_text);
            return 2;
        }
    }
    edm_config cfg;
    if (edm_cmd_load_config("migrate", path, &cfg) != 0)
        return 1;
    int rc = 1;
    if (to) {
        rc = copy_to(&cfg, to);
        edm_config_free(&cfg);
        return rc;
    }
    edm_store *st;
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
