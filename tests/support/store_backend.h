/*
 * tests/support/store_backend.h: runs a store test on either backend. The
 * same test executable is registered twice with ctest (tests/engine/
 * store/store.cmake): on SQLite, and with EDM_TEST_STORE=pg on a throwaway
 * PostgreSQL cluster (pg_cluster.h) started by the group setup and stopped
 * by its teardown. Each test gets a fresh database; raw SQL (to check or
 * to set up what the interface cannot) goes through the right client.
 */
#ifndef EDM_TEST_STORE_BACKEND_H
#define EDM_TEST_STORE_BACKEND_H

#include <stddef.h>

/* 1 when this run is on PostgreSQL (EDM_TEST_STORE=pg). */
int edm_test_store_is_pg(void);
/* cmocka group setup and teardown: start and stop the cluster when on
 * PostgreSQL (a failed start fails the group). */
int edm_test_store_group_setup(void **state);
int edm_test_store_group_teardown(void **state);
/* A fresh database: dir/edm.db on SQLite, a new database's URI on
 * PostgreSQL. Returns 0 or -1. */
int edm_test_store_where(const char *dir, char *where, size_t len);
/* Raw SQL through a second connection: exec gives 0 or -1; value gives
 * the first column of the first row (-1 on failure). */
int edm_test_store_exec(const char *where, const char *sql);
long long edm_test_store_value(const char *where, const char *sql);

#endif
