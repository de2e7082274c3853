/*
 * tests/support/store_backend.c: store tests on SQLite or PostgreSQL (see
 * store_backend.h).
 */
#include "tests/support/store_backend.h"
#include "tests/support/pg_cluster.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static edm_test_pg cluster;
static int cluster_up;

int edm_test_store_is_pg(void)
{
    const char *b = getenv("EDM_TEST_STORE");
    return b && strcmp(b, "pg") == 0;
}

int edm_test_store_group_setup(void **state)
{
    (void)state;
    if (!edm_test_store_is_pg())
        return 0;
    if (edm_test_pg_start(&cluster) != 0)
        return -1;
    cluster_up = 1;
    return 0;
}

int edm_test_store_group_teardown(void **state)
{
    (void)state;
    if (cluster_up)
        edm_test_pg_stop(&cluster);
    cluster_up = 0;
    return 0;
}

int edm_test_store_where(const char *dir, char *where, size_t len)
{
    if (!edm_test_store_is_pg()) {
        snprintf(where, len, "%s/edm.db", dir);
        return 0;
    }
    return cluster_up ? edm_test_pg_newdb(&cluster, where, len) : -1;
}

int edm_test_store_exec(const char *where, const char *sql)
{
    if (strncmp(where, "postgresql://", 13) == 0)
        return edm_test_pg_exec(where, sql);
    sqlite3 *db;
    char *msg = NULL;
    int rc = -1;
    if (sqlite3_open(where, &db) == SQLITE_OK) {
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
            rc = 0;
        else
            fprintf(stderr, "store_backend: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
    }
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
}

long long edm_test_store_value(const char *where, const char *sql)
{
    if (strncmp(where, "postgresql://", 13) == 0)
        return edm_test_pg_int(where, sql);
    sqlite3 *db;
    sqlite3_stmt *q = NULL;
    long long v = -1;
    if (sqlite3_open(where, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
        sqlite3_column_type(q, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(q, 0);
    else
        fprintf(stderr, "store_backend: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}
