/*
 * tests/support/pg_cluster.c: the throwaway PostgreSQL cluster of tests
 * (see pg_cluster.h). Binaries from Debian's postgresql package under
 * /usr/lib/postgresql/15/bin/, run as the postgres user with runuser
 * (PostgreSQL refuses to run as root).
 */
#include "tests/support/pg_cluster.h"
#include "tests/support/testlib.h"

#include <libpq-fe.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_BIN "/usr/lib/postgresql/15/bin"

static int pg_ctl_stop(const char *dir, const char *mode)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd,
             "runuser -u postgres -- " PG_BIN "/pg_ctl -D '%s/data' -m %s -w stop >/dev/null 2>&1",
             dir, mode);
    return system(cmd);
}

/* A child that outlives nothing: when the test process is gone (crash,
 * abort), it stops the cluster and removes its directory. */
static pid_t start_watchdog(const char *dir)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setsid();
    int fd = open("/dev/null", 0);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
    }
    while (getppid() == parent)
        sleep(1);
    pg_ctl_stop(dir, "immediate");
    edm_test_rmtree(dir);
    _exit(0);
}

int edm_test_pg_start(edm_test_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    struct passwd *pw = getpwnam("postgres");
    if (pw == NULL || access(PG_BIN "/initdb", X_OK) != 0) {
        fprintf(stderr, "pg_cluster: PostgreSQL 15 is not installed (run scripts/setup)\n");
        return -1;
    }
    pg->dir = edm_test_tmpdir("pg");
    pg->port = edm_test_free_port("127.0.0.1");
    if (chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0 || chmod(pg->dir, 0755) != 0) {
        fprintf(stderr, "pg_cluster: chown %s failed\n", pg->dir);
        return -1;
    }
    char cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "runuser -u postgres -- " PG_BIN "/initdb -D '%s/data' -U postgres --auth=trust "
             "--no-sync -E UTF8 --locale=C.UTF-8",
             pg->dir);
    if (edm_test_run(cmd, &out) != 0) {
        fprintf(stderr, "pg_cluster: initdb failed:\n%s\n", out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    pg->watchdog = start_watchdog(pg->dir);
    snprintf(cmd, sizeof cmd,
             "runuser -u postgres -- " PG_BIN "/pg_ctl -D '%s/data' -l '%s/server.log' -w -o "
             "\"-k %s -p %d -c listen_addresses='' -c fsync=off -c max_connections=60\" start",
             pg->dir, pg->dir, pg->dir, pg->port);
    if (edm_test_run(cmd, &out) != 0) {
        fprintf(stderr, "pg_cluster: pg_ctl start failed:\n%s\n", out ? out : "");
        free(out);
        snprintf(cmd, sizeof cmd, "cat '%s/server.log' >&2", pg->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "pg_cluster: no server log\n");
        edm_test_pg_stop(pg);
        return -1;
    }
    free(out);
    return 0;
}

void edm_test_pg_stop(edm_test_pg *pg)
{
    if (pg->dir == NULL)
        return;
    pg_ctl_stop(pg->dir, "fast");
    if (pg->watchdog > 0) {
        kill(pg->watchdog, SIGKILL);
        waitpid(pg->watchdog, NULL, 0);
        pg->watchdog = 0;
    }
    edm_test_rmtree(pg->dir);
    free(pg->dir);
    pg->dir = NULL;
}

static void uri_of(const edm_test_pg *pg, const char *db, char *uri, size_t len)
{
    snprintf(uri, len, "postgresql://postgres@/%s?host=%s&port=%d", db, pg->dir, pg->port);
}

int edm_test_pg_exec(const char *uri, const char *sql)
{
    PGconn *c = PQconnectdb(uri);
    int rc = -1;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pg_cluster: connect %s: %s\n", uri, PQerrorMessage(c));
    } else {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
            rc = 0;
        else
            fprintf(stderr, "pg_cluster: %s: %s\n", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

long long edm_test_pg_int(const char *uri, const char *sql)
{
    PGconn *c = PQconnectdb(uri);
    long long v = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
            v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        else
            fprintf(stderr, "pg_cluster: %s: %s\n", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return v;
}

int edm_test_pg_newdb(edm_test_pg *pg, char *uri, size_t len)
{
    char admin[4400], sql[64], name[32];
    uri_of(pg, "postgres", admin, sizeof admin);
    snprintf(name, sizeof name, "edm%d", ++pg->ndb);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (edm_test_pg_exec(admin, sql) != 0)
        return -1;
    uri_of(pg, name, uri, len);
    return 0;
}
