/*
 * tests/api/test_under_load.c: /v1/health stays fast while the API is
 * abused at once (issue "hold under abuse and faults", acceptance):
 * hostile previews in a loop (four nested sections over 300 elements, each
 * ending at the render budget off the loop), a 1,000,000-row CSV upload
 * (generated here), ten clients streaming receipts.ndjson of a 50,000-row
 * campaign, and then the same with another process holding the
 * database's write lock (the upload cannot go on while the lock is held:
 * it answers 503 busy, which is what it must do; the streams and the
 * previews go on). Health is timed from this process over a raw socket
 * (no curl start-up in the figure); the largest latency of each phase is
 * printed and must stay under HEALTH_MAX_MS, a margin for a sanitizer
 * build on a busy 2-core machine (the target is 100 ms on a release
 * build; the old loop took 5 s with a lock and seconds with the streams).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/timeutil.h"
#include "tests/api/apitest.h"
#include "tests/support/testlib.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A bound that only a stalled loop breaks, whatever else runs on the
 * machine (the figure itself is printed; the 100 ms target is checked on a
 * quiet machine with the Release build: `cd build-bench && ctest -R
 * api_test_under_load -V`). Sanitizer build with other jobs on the 2
 * cores: 170-620 ms measured; the old loop stalled 3-5 s. */
#define HEALTH_MAX_MS 2000
#define STREAMS       10
#define SEED_ROWS     50000
#define UPLOAD_ROWS   1000000

/* One GET /v1/health on a fresh connection: its latency in ms, or fails. */
static uint64_t health_ms(apitest *t)
{
    uint64_t t0 = edm_time_mono_ms();
    int fd = apitest_connect(t);
    static const char req[] = "GET /v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    size_t len;
    char *resp = apitest_read_all(fd, 5000, &len);
    close(fd);
    uint64_t took = edm_time_mono_ms() - t0;
    if (resp == NULL || strncmp(resp, "HTTP/1.1 200", 12) != 0)
        fail_msg("health answered: %.80s", resp ? resp : "(nothing)");
    free(resp);
    return took;
}

/* Samples health every 20 ms for ms milliseconds; returns the largest. */
static uint64_t sample_health(apitest *t, int ms, int *n)
{
    uint64_t worst = 0, until = edm_time_mono_ms() + (uint64_t)ms;
    *n = 0;
    while (edm_time_mono_ms() < until) {
        uint64_t h = health_ms(t);
        if (h > worst)
            worst = h;
        (*n)++;
        edm_test_sleep_ms(20);
    }
    return worst;
}

static pid_t spawn_sh(const char *script, const char *log)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    pid_t pid = edm_test_spawn(argv, log);
    assert_true(pid > 0);
    return pid;
}

/* A child holding the write lock (taken between two upload batches);
 * returns its pid, or -1 (no assertion here: the loads must be stopped
 * first). */
static pid_t hold_write_lock(const char *db)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        sqlite3 *h;
        char ok = 'n';
        if (sqlite3_open(db, &h) == SQLITE_OK && sqlite3_busy_timeout(h, 10000) == SQLITE_OK &&
            sqlite3_exec(h, "BEGIN IMMEDIATE; UPDATE settings SET name = name WHERE 0", NULL, NULL,
                         NULL) == SQLITE_OK)
            ok = 'y';
        if (write(fds[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    char ok = 0;
    if (pid < 0 || read(fds[0], &ok, 1) != 1 || ok != 'y') {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        pid = -1;
    }
    close(fds[0]);
    return pid;
}

static void write_csv(const char *path, int rows, const char *prefix)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "email,name\n");
    for (int i = 0; i < rows; i++)
        fprintf(f, "%s%07d@d%d.test,N%d\n", prefix, i, i % 97, i);
    assert_int_equal(fclose(f), 0);
}

/* Rows of campaign id in the database (read by this process). */
static long long count_rows(const char *db, int64_t id)
{
    sqlite3 *h;
    sqlite3_stmt *q;
    long long n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT count(*) FROM deliveries WHERE campaign_id = ?", -1, &q,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, id);
        if (sqlite3_step(q) == SQLITE_ROW)
            n = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(h);
    return n;
}

static int64_t make_campaign(apitest *t)
{
    json_t *c =
        apitest_expect(t, "POST", "/v1/campaigns",
                       "{\"name\":\"c\",\"template_id\":null,\"from\":\"a@example.com\"}", 201);
    int64_t id = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    return id;
}

static void health_fast_under_abuse(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, "k", 0, 0, 0);
    char path[4400], script[8192], log[4400], url[256];

    /* A campaign with SEED_ROWS receipts for the streams. */
    int64_t seeded = make_campaign(&t);
    snprintf(path, sizeof path, "%s/seed.csv", t.dir);
    write_csv(path, SEED_ROWS, "s");
    snprintf(script, sizeof script,
             "curl -s -S -o /dev/null -w '%%{http_code}' -H 'Authorization: Bearer k' -H "
             "'Content-Type: text/csv' --data-binary @%s "
             "http://127.0.0.1:%d/v1/campaigns/%lld/recipients | grep -q 200",
             path, t.port, (long long)seeded);
    snprintf(log, sizeof log, "%s/seed.log", t.dir);
    assert_int_equal(edm_test_wait_exit(spawn_sh(script, log), 120000), 0);

    /* The hostile template. */
    json_t *tpl = apitest_expect(&t, "POST", "/v1/templates",
                                 "{\"name\":\"h\",\"subject\":\"s\",\"html\":\"{{#a}}{{#a}}"
                                 "{{#a}}{{#a}}.{{/a}}{{/a}}{{/a}}{{/a}}\"}",
                                 201);
    int64_t tid = json_integer_value(json_object_get(tpl, "id"));
    json_decref(tpl);
    snprintf(path, sizeof path, "%s/hostile.json", t.dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"vars\":{\"a\":[0");
    for (int i = 1; i < 300; i++)
        fprintf(f, ",%d", i);
    fprintf(f, "]}}");
    fclose(f);

    /* The 1M-row upload. */
    int64_t big = make_campaign(&t);
    char big_csv[4400];
    snprintf(big_csv, sizeof big_csv, "%s/big.csv", t.dir);
    write_csv(big_csv, UPLOAD_ROWS, "u");

    uint64_t base_worst;
    int n;
    base_worst = sample_health(&t, 300, &n);

    /* Phase 1: previews, the upload and ten streams, all at once. */
    pid_t loads[STREAMS + 2];
    snprintf(script, sizeof script,
             "while :; do curl -s -o /dev/null -H 'Authorization: Bearer k' -H "
             "'Content-Type: application/json' --data-binary @%s "
             "http://127.0.0.1:%d/v1/templates/%lld/preview; done",
             path, t.port, (long long)tid);
    snprintf(log, sizeof log, "%s/preview.log", t.dir);
    loads[0] = spawn_sh(script, log);
    snprintf(script, sizeof script,
             "curl -s -S -o %s/upload.out -H 'Authorization: Bearer k' -H "
             "'Content-Type: text/csv' --data-binary @%s "
             "http://127.0.0.1:%d/v1/campaigns/%lld/recipients",
             t.dir, big_csv, t.port, (long long)big);
    snprintf(log, sizeof log, "%s/upload.log", t.dir);
    loads[1] = spawn_sh(script, log);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/campaigns/%lld/receipts.ndjson", t.port,
             (long long)seeded);
    for (int i = 0; i < STREAMS; i++) {
        snprintf(script, sizeof script,
                 "while :; do curl -s -S -H 'Authorization: Bearer k' %s > %s/stream%d.out; done",
                 url, t.dir, i);
        snprintf(log, sizeof log, "%s/stream%d.log", t.dir, i);
        loads[2 + i] = spawn_sh(script, log);
    }
    edm_test_sleep_ms(500); /* all of them under way */
    int n1;
    uint64_t worst1 = sample_health(&t, 4000, &n1);
    long long uploaded = count_rows(t.db, big); /* the upload goes on meanwhile */

    /* Phase 2: the same with the write lock held by another process. */
    pid_t locker = hold_write_lock(t.db);
    int n2 = 0;
    uint64_t worst2 = 0, locked_write_ms = 0;
    int locked_write = 0;
    if (locker > 0) {
        worst2 = sample_health(&t, 2000, &n2);
        uint64_t t0 = edm_time_mono_ms();
        static const char tj[] = "{\"name\":\"t\",\"subject\":\"s\",\"text\":\"x\"}";
        locked_write = apitest_req(&t, "POST", "/v1/templates", tj, sizeof tj - 1, NULL, NULL, NULL,
                                   NULL, NULL);
        locked_write_ms = edm_time_mono_ms() - t0;
        kill(locker, SIGKILL);
        waitpid(locker, NULL, 0);
    }

    for (int i = 0; i < STREAMS + 2; i++)
        edm_test_stop(loads[i], 2000);
    printf("health: %llu ms at rest; worst %llu ms of %d with previews + 1M upload + %d "
           "streams (%lld rows uploaded by then); worst %llu ms of %d with the database locked "
           "too (a write then: %d in %llu ms)\n",
           (unsigned long long)base_worst, (unsigned long long)worst1, n1, STREAMS, uploaded,
           (unsigned long long)worst2, n2, locked_write, (unsigned long long)locked_write_ms);
    /* the upload was under way, not starved (how far it got depends on
     * how busy the machine is: a rate belongs in a benchmark) */
    assert_true(uploaded > 0);
    assert_true(locker > 0);
    assert_int_equal(locked_write, 503);
    assert_true(n1 > 10 && n2 > 5);
    assert_true(worst1 < HEALTH_MAX_MS);
    assert_true(worst2 < HEALTH_MAX_MS);
    apitest_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(health_fast_under_abuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
