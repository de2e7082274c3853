/*
 * tests/engine/test_crash.c: the crash promise (docs/api.md, "Per-recipient delivery states"). `edm
 * send` is killed with SIGKILL in the middle of a campaign; `edm serve` on the same database then
 * finishes it. Every recipient ends delivered exactly once in the store, and the MX (smtp-sink,
 * dumping one file per message) received every message at least once and at most once more per
 * message that was in flight at the kill.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECIPIENTS    3000
#define MAX_IN_FLIGHT 4000 /* the pipeline's default max_pending */

static void kill9_mid_campaign_loses_nothing(void **state)
{
    (void)state;
    char *dir = edm_test_tmpdir("crash");
    assert_int_equal(chmod(dir, 0755), 0); /* smtp-sink writes as nobody */
    char dump[4200], path[4300], db[4300], log[4300], addr[64], tmpl[4300];
    snprintf(dump, sizeof dump, "%s/dump", dir);
    assert_int_equal(mkdir(dump, 0777), 0);
    assert_int_equal(chmod(dump, 0777), 0);
    int port = edm_test_free_port("127.0.0.1"), api = edm_test_free_port("127.0.0.1");
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    snprintf(tmpl, sizeof tmpl, "%s/%%H%%M%%S.", dump);
    snprintf(log, sizeof log, "%s/sink.log", dir);
    char *sargv[] = {"smtp-sink", "-u", "nobody", "-m", "200", "-d", tmpl, addr, "256", NULL};
    pid_t sink = edm_test_spawn(sargv, log);
    assert_int_equal(edm_test_wait_port("127.0.0.1", port, 10000), 0);

    char json[1024];
    snprintf(json, sizeof json,
             "{\"db\": \"edm.db\", \"api\": {\"listen\": \"127.0.0.1:%d\"},"
             " \"smtp\": {\"helo\": \"edm.test\", \"tls\": \"none\"},"
             " \"domains\": [{\"match\": \"*\", \"max_connections\": 2}],"
             " \"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}]}",
             api, port);
    snprintf(path, sizeof path, "%s/edm.json", dir);
    assert_int_equal(edm_test_write_file(path, json, strlen(json)), 0);
    const char *tpl = "{\"subject\": \"n{{n}}\", \"text\": \"message {{n}}\"}";
    snprintf(path, sizeof path, "%s/t.json", dir);
    assert_int_equal(edm_test_write_file(path, tpl, strlen(tpl)), 0);
    snprintf(path, sizeof path, "%s/r.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "email,n\n");
    for (int i = 0; i < RECIPIENTS; i++)
        fprintf(f, "r%d@d%d.test,%d\n", i, i % 7, i);
    fclose(f);
    snprintf(db, sizeof db, "%s/edm.db", dir);

    /* edm send, killed once part of the campaign went out. */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    char *argv[] = {(char *)edm_test_bin(), "send",   "-q",           "-c",    "edm.json",
                    "--template",           "t.json", "--recipients", "r.csv", "--from",
                    "a@example.com",        NULL};
    snprintf(log, sizeof log, "%s/send.log", dir);
    pid_t send = edm_test_spawn(argv, log);
    assert_true(send > 0);
    long seen = 0;
    for (int i = 0; i < 3000 && seen < RECIPIENTS / 5; i++) {
        edm_test_sleep_ms(10);
        seen = edm_test_count_files(dump);
    }
    kill(send, SIGKILL);
    assert_int_equal(edm_test_wait_exit(send, 5000), 128 + SIGKILL);
    long at_kill = edm_test_count_files(dump);
    assert_true(at_kill > 0);
    assert_true(at_kill < RECIPIENTS); /* it really was killed mid-way */

    /* edm serve picks the running campaign up and finishes it. */
    snprintf(log, sizeof log, "%s/serve.log", dir);
    char *vargv[] = {(char *)edm_test_bin(), "serve", "-c", "edm.json", NULL};
    setenv("EDM_API_KEYS", "k", 1);
    pid_t serve = edm_test_spawn(vargv, log);
    assert_int_equal(chdir(cwd), 0);
    int status = 0;
    for (int i = 0; i < 1200; i++) {
        status = edm_test_store_value(db, "SELECT status FROM campaigns WHERE id = 1");
        if (status == 4) /* completed */
            break;
        edm_test_sleep_ms(50);
    }
    assert_int_equal(edm_test_stop(serve, 5000), 0);
    edm_test_sleep_ms(200); /* smtp-sink finishes writing its last files */
    long received = edm_test_count_files(dump);
    edm_test_stop(sink, 2000);
    assert_int_equal(status, 4);
    assert_int_equal(edm_test_store_value(db, "SELECT count(*) FROM deliveries"), RECIPIENTS);
    assert_int_equal(edm_test_store_value(db, "SELECT count(*) FROM deliveries WHERE status = 2"),
                     RECIPIENTS);
    assert_int_equal(edm_test_store_value(db, "SELECT count(DISTINCT email) FROM deliveries"),
                     RECIPIENTS);
    assert_true(received >= RECIPIENTS);
    assert_true(received <= RECIPIENTS + MAX_IN_FLIGHT);
    printf("killed after %ld messages; %ld received in all for %d recipients\n", at_kill, received,
           RECIPIENTS);
    edm_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill9_mid_campaign_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
