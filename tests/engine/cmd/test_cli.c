/*
 * tests/engine/cmd/test_cli.c: the edm binary itself: version, --help and
 * usage errors (exit 2) on every command, `edm serve` with no config
 * (creates ./edm.db, stops cleanly on SIGTERM and SIGINT, a second start
 * reuses the database),
 * `edm migrate` (fresh, re-run, refused on a newer schema, refused on a
 * file that is not SQLite).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/store/schema.h"
#include "tests/support/testlib.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void version_and_help(void **state)
{
    (void)state;
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "%s version", edm_test_bin());
    assert_int_equal(edm_test_run(cmd, &out), 0);
    assert_memory_equal(out, "edm ", 4);
    free(out);
    static const char *const cmds[] = {"serve", "migrate", "check-config", "version",
                                       "send",  "status",  "render"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s --help", edm_test_bin(), cmds[i]);
        assert_int_equal(edm_test_run(cmd, &out), 0);
        char want[64];
        snprintf(want, sizeof want, "usage: edm %s", cmds[i]);
        assert_non_null(strstr(out, want));
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s frobnicate", edm_test_bin());
    assert_int_equal(edm_test_run(cmd, &out), 2);
    assert_non_null(strstr(out, "unknown command 'frobnicate'"));
    free(out);
    /* an argument no command takes is a usage error (exit 2), also for
     * the commands without options */
    static const char *const bogus[] = {"serve --bogus", "version --bogus",
                                        "migrate extra", "check-config extra",
                                        "status 1 2",    "render --bogus t.json d.json"};
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s", edm_test_bin(), bogus[i]);
        int rc = edm_test_run(cmd, &out);
        if (rc != 2 || strstr(out, "usage: edm ") == NULL)
            fail_msg("edm %s: exit %d, output: %s", bogus[i], rc, out);
        free(out);
    }
}

static int count_rows(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *q;
    int n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            n = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(h);
    return n;
}

/* Starts `edm serve` in dir with no config; waits for edm.db to appear. */
static pid_t start_serve(const char *dir, int run)
{
    char log[4200], db[4200];
    snprintf(log, sizeof log, "%s/serve%d.log", dir, run);
    snprintf(db, sizeof db, "%s/edm.db", dir);
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    char *argv[] = {(char *)edm_test_bin(), "serve", NULL};
    pid_t pid = edm_test_spawn(argv, log);
    assert_int_equal(chdir(cwd), 0);
    assert_true(pid > 0);
    char *text = NULL;
    for (int i = 0; i < 500; i++) {
        free(text);
        text = edm_test_read_file(log, NULL);
        if (text && strstr(text, "event=started"))
            break;
        edm_test_sleep_ms(10);
    }
    assert_non_null(text);
    assert_non_null(strstr(text, "event=started"));
    free(text);
    struct stat st;
    assert_int_equal(stat(db, &st), 0);
    return pid;
}

/* How many migrations this binary has (schema/NNNN_*.sql). */
static int migrations(void)
{
    int n = 0;
    while (edm_migrations[n].version)
        n++;
    return n;
}

static void serve_without_config_creates_db_and_stops_cleanly(void **state)
{
    (void)state;
    char *dir = edm_test_tmpdir("serve");
    char db[4200];
    snprintf(db, sizeof db, "%s/edm.db", dir);

    pid_t pid = start_serve(dir, 1);
    kill(pid, SIGTERM);
    /* Generous bound for sanitizer builds on a loaded machine; the
     * one-second figure is measured outside the tests. */
    assert_int_equal(edm_test_wait_exit(pid, 5000), 0);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM schema_version"), migrations());

    /* Data written between runs survives; the second start reuses the DB. */
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "INSERT INTO templates(name, created_at, updated_at) "
                                  "VALUES ('kept', 1, 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    pid = start_serve(dir, 2);
    kill(pid, SIGINT);
    assert_int_equal(edm_test_wait_exit(pid, 5000), 0);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM templates WHERE name = 'kept'"), 1);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM schema_version"), migrations());
    edm_test_rmtree(dir);
    free(dir);
}

static void migrate_fresh_rerun_newer_and_garbage(void **state)
{
    (void)state;
    char *dir = edm_test_tmpdir("migrate");
    char cfg[4200], db[4200], cmd[9000], *out;
    snprintf(cfg, sizeof cfg, "%s/edm.json", dir);
    snprintf(db, sizeof db, "%s/m.db", dir);
    const char *json = "{\"db\": \"m.db\"}";
    assert_int_equal(edm_test_write_file(cfg, json, strlen(json)), 0);
    snprintf(cmd, sizeof cmd, "%s migrate -c %s", edm_test_bin(), cfg);
    assert_int_equal(edm_test_run(cmd, &out), 0);
    char want[64];
    snprintf(want, sizeof want, "schema version %d", edm_test_schema_version());
    assert_non_null(strstr(out, want));
    free(out);
    assert_int_equal(edm_test_run(cmd, &out), 0); /* re-running is a no-op */
    free(out);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM schema_version"), migrations());

    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h, "INSERT INTO schema_version VALUES (42, 'future', 0)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(edm_test_run(cmd, &out), 1);
    assert_non_null(strstr(out, "database schema version 42 is newer than this edm supports"));
    free(out);

    assert_int_equal(edm_test_write_file(db,
                                         "not a database at all, just some text bytes here "
                                         "that are long enough to be read as a header......",
                                         98),
                     0);
    char wal[4300];
    snprintf(wal, sizeof wal, "%s-wal", db);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", db);
    unlink(wal);
    assert_int_equal(edm_test_run(cmd, &out), 1);
    assert_non_null(strstr(out, "m.db: not an SQLite database"));
    free(out);
    edm_test_rmtree(dir);
    free(dir);
}

/* docs/config.md's example names keys/s1.pem: check-config accepts it (and
 * warns) where the key is not there yet; serve refuses to start without it
 * and says which key. */
static void example_without_its_key(void **state)
{
    (void)state;
    char *dir = edm_test_tmpdir("example");
    const char *json =
        "{\"db\": \"edm.db\", \"api\": {\"listen\": \"127.0.0.1:1\", \"keys_env\": "
        "\"EDM_API_KEYS\"},\n"
        " \"smtp\": {\"port\": 25, \"helo\": \"mta.example.com\", \"tls\": \"opportunistic\"},\n"
        " \"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s1\", \"key\": "
        "\"keys/s1.pem\", \"algorithm\": \"rsa-sha256\"}]}\n";
    char cfg[4200], cmd[9000], *out;
    snprintf(cfg, sizeof cfg, "%s/edm.json", dir);
    assert_int_equal(edm_test_write_file(cfg, json, strlen(json)), 0);
    snprintf(cmd, sizeof cmd, "%s check-config -c %s", edm_test_bin(), cfg);
    assert_int_equal(edm_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "key=dkim[0].key"));
    assert_non_null(strstr(out, "\"selector\": \"s1\""));
    free(out);
    snprintf(cmd, sizeof cmd, "cd %s && %s serve -c %s", dir, edm_test_bin(), cfg);
    assert_int_equal(edm_test_run(cmd, &out), 1);
    assert_non_null(strstr(out, "edm serve: dkim[0].key: "));
    free(out);
    edm_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_and_help),
        cmocka_unit_test(serve_without_config_creates_db_and_stops_cleanly),
        cmocka_unit_test(migrate_fresh_rerun_newer_and_garbage),
        cmocka_unit_test(example_without_its_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
