/*
 * tests/support/pg_cluster.h: a throwaway PostgreSQL cluster for tests
 * (docs/postgresql.md, "Tests"): initdb in a temporary directory as the
 * postgres user, the server on a Unix socket in that directory only (no
 * TCP), one fresh database per test, stopped (pg_ctl stop -m fast) and
 * removed at the end. A watchdog process stops it too if the test process
 * dies first (a crash, an abort), so no cluster outlives its test.
 */
#ifndef EDM_TEST_PG_CLUSTER_H
#define EDM_TEST_PG_CLUSTER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct edm_test_pg {
    char *dir; /* data in dir/data, the socket in dir */
    int port;  /* names the socket file: dir/.s.PGSQL.<port> */
    pid_t watchdog;
    int ndb;
} edm_test_pg;

/* Starts a cluster; 0, or -1 with the reason on stderr (the caller fails
 * the test: a missing server is an error, never a skip). */
int edm_test_pg_start(edm_test_pg *pg);
/* Stops and removes it (safe to call twice). */
void edm_test_pg_stop(edm_test_pg *pg);
/* Creates a fresh database and writes its URI (postgresql://...) into uri;
 * 0 or -1. */
int edm_test_pg_newdb(edm_test_pg *pg, char *uri, size_t len);
/* Runs one SQL statement on the database of uri; 0 or -1 (message on
 * stderr). */
int edm_test_pg_exec(const char *uri, const char *sql);
/* The first column of the first row of a query as an integer (-1 on
 * failure). */
long long edm_test_pg_int(const char *uri, const char *sql);

#endif
