/*
 * tests/engine/cmd/test_cli_send.c: `edm send` and `edm status` as a user runs
 * them, against Postfix's smtp-sink: a campaign from a template file and a
 * CSV with a bad row and a duplicate, its summary and exit status; rows
 * and addresses the engine could not send refused with their lines; a
 * second engine refused on a database that `edm serve` owns; `edm status`
 * listing campaigns and one campaign's counts through the API, and its
 * errors (wrong key, unknown campaign, no server).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/testlib.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    char *dir;
    pid_t sink, serve;
    int sink_port, api_port;
    char cfg[4200];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = edm_test_tmpdir("send");
    f->sink_port = edm_test_free_port("127.0.0.1");
    f->api_port = edm_test_free_port("127.0.0.1");
    char addr[64], log[4300];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f->sink_port);
    snprintf(log, sizeof log, "%s/sink.log", f->dir);
    char *argv[] = {"smtp-sink", "-u", "nobody", "-m", "100", addr, "128", NULL};
    f->sink = edm_test_spawn(argv, log);
    if (f->sink <= 0 || edm_test_wait_port("127.0.0.1", f->sink_port, 10000) != 0)
        return -1;
    snprintf(f->cfg, sizeof f->cfg, "%s/edm.json", f->dir);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"db\": \"edm.db\", \"api\": {\"listen\": \"127.0.0.1:%d\"},"
             " \"smtp\": {\"helo\": \"edm.test\", \"tls\": \"none\"},"
             " \"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}]}",
             f->api_port, f->sink_port);
    char path[4300];
    snprintf(path, sizeof path, "%s/edm.json", f->dir);
    edm_test_write_file(path, json, strlen(json));
    const char *tpl = "{\"subject\": \"Hello {{first_name}}\", \"html\": \"<p>Hi "
                      "{{first_name}}</p>\", \"text\": \"Hi {{first_name}}\"}";
    snprintf(path, sizeof path, "%s/t.json", f->dir);
    edm_test_write_file(path, tpl, strlen(tpl));
    const char *csv = "email,first_name\r\nann@a.test,Ann\r\nnot-an-address,X\r\n"
                      "bob@b.test,\"Bob, Jr.\"\r\nANN@a.test,Dup\r\ncid@a.test,Cid\r\n";
    snprintf(path, sizeof path, "%s/r.csv", f->dir);
    edm_test_write_file(path, csv, strlen(csv));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->serve > 0)
        edm_test_stop(f->serve, 3000);
    edm_test_stop(f->sink, 2000);
    edm_test_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int run_in(struct fx *f, const char *args, char **out)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cd '%s' && EDM_API_KEYS=k1,k2 %s %s", f->dir, edm_test_bin(), args);
    return edm_test_run(cmd, out);
}

static void send_delivers_and_summarises(void **state)
{
    struct fx *f = *state;
    char *out;
    int rc = run_in(f,
                    "send -q -c edm.json --template t.json --recipients r.csv "
                    "--from 'Shop <shop@example.com>'",
                    &out);
    if (rc != 0)
        fail_msg("edm send exited %d:\n%s", rc, out);
    assert_non_null(strstr(out, "line 3: not-an-address: invalid address"));
    assert_non_null(strstr(out, "3 recipients (0 suppressed, 1 duplicates, 1 rejected)"));
    assert_non_null(strstr(out, ": completed in "));
    assert_non_null(strstr(out, "delivered   3"));
    free(out);

    /* Missing arguments and files are clear errors. */
    assert_int_equal(run_in(f, "send -c edm.json --template t.json", &out), 2);
    assert_non_null(strstr(out, "--template, --recipients and --from are required"));
    free(out);
    assert_int_equal(
        run_in(f, "send -c edm.json --template nope.json --recipients r.csv --from a@b.test", &out),
        1);
    assert_non_null(strstr(out, "nope.json: unable to open"));
    assert_null(strstr(out, "-1"));
    free(out);
    /* A template that does not compile: its part and position, exit 1,
     * and no campaign is created (nothing would be sent but failures). */
    char path[4300];
    snprintf(path, sizeof path, "%s/bad.json", f->dir);
    const char *bad = "{\"subject\": \"Hi\", \"html\": \"<p>\\n{{#items}}x</p>\", \"text\": \"t\"}";
    edm_test_write_file(path, bad, strlen(bad));
    assert_int_equal(
        run_in(f, "send -c edm.json --template bad.json --recipients r.csv --from a@b.test", &out),
        1);
    if (strstr(out, "bad.json: html: line 2, col 1: unclosed section \"items\"") == NULL)
        fail_msg("no template error with its position in:\n%s", out);
    assert_null(strstr(out, "campaign "));
    free(out);
}

/* The addresses and variables the engine could not send are refused by
 * the validator the API uses, with their lines; the rest is sent. */
static void send_refuses_what_cannot_be_sent(void **state)
{
    struct fx *f = *state;
    const char *nd = "{\"email\":\"ok@a.test\",\"first_name\":\"Ok\"}\n"
                     "{\"email\":\"\\\"q\\\"@a.test\"}\n"
                     "{\"email\":\"j\u00f6rg@a.test\"}\n"
                     "{\"email\":\"l@[127.0.0.1]\"}\n"
                     "{\"email\":\"n@a.test\",\"first_name\":\"a\\u0000b\"}\n";
    char path[4300];
    snprintf(path, sizeof path, "%s/r2.ndjson", f->dir);
    edm_test_write_file(path, nd, strlen(nd));
    char *out;
    int rc = run_in(f,
                    "send -q -c edm.json --template t.json --recipients r2.ndjson "
                    "--from shop@example.com --name unsendable",
                    &out);
    if (rc != 0)
        fail_msg("edm send exited %d:\n%s", rc, out);
    static const char *const want[] = {
        "line 2: \"q\"@a.test: invalid address: quoted local parts are not supported",
        "line 3: j\xc3\xb6rg@a.test: invalid address: non-ASCII local parts are not supported",
        "line 4: l@[127.0.0.1]: invalid address: address literals are not supported",
        "line 5: n@a.test: variables must not contain NUL characters",
        "1 recipients (0 suppressed, 0 duplicates, 4 rejected)",
        "delivered   1",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strstr(out, want[i]) == NULL)
            fail_msg("no '%s' in:\n%s", want[i], out);
    free(out);
    /* a From or Reply-To the composer could not write: nothing is created */
    assert_int_equal(run_in(f,
                            "send -c edm.json --template t.json --recipients r2.ndjson "
                            "--from 'a@x.test, b@y.test'",
                            &out),
                     2);
    assert_non_null(strstr(out, "--from: not a valid address: only one address is allowed"));
    free(out);
    assert_int_equal(run_in(f,
                            "send -c edm.json --template t.json --recipients r2.ndjson "
                            "--from a@x.test --reply-to '\"r r\"@x.test'",
                            &out),
                     2);
    assert_non_null(
        strstr(out, "--reply-to: not a valid address: quoted local parts are not supported"));
    free(out);
}

static void status_and_the_engine_lock(void **state)
{
    struct fx *f = *state;
    char *out;
    assert_int_equal(run_in(f,
                            "send -q -c edm.json --template t.json --recipients r.csv "
                            "--from shop@example.com --name spring",
                            &out),
                     0);
    free(out);
    /* No server yet. */
    assert_int_equal(run_in(f, "status -c edm.json", &out), 1);
    assert_non_null(strstr(out, "is edm serve running?"));
    free(out);

    char log[4300], cwd[4096];
    snprintf(log, sizeof log, "%s/serve.log", f->dir);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    setenv("EDM_API_KEYS", "k1,k2", 1);
    char *argv[] = {(char *)edm_test_bin(), "serve", "-c", "edm.json", NULL};
    f->serve = edm_test_spawn(argv, log);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", f->api_port, 10000), 0);

    assert_int_equal(run_in(f, "status -c edm.json", &out), 0);
    assert_non_null(strstr(out, "spring"));
    assert_non_null(strstr(out, "completed"));
    assert_non_null(strstr(out, "3/3  delivered 3"));
    free(out);
    assert_int_equal(run_in(f, "status -c edm.json 1", &out), 0);
    assert_non_null(strstr(out, "delivered   3"));
    assert_non_null(strstr(out, "progress    3/3 (100.0%)"));
    free(out);
    assert_int_equal(run_in(f, "status -c edm.json 99", &out), 1);
    assert_non_null(strstr(out, "HTTP 404"));
    free(out);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cd '%s' && EDM_API_KEYS=wrong %s status -c edm.json", f->dir,
             edm_test_bin());
    assert_int_equal(edm_test_run(cmd, &out), 1);
    assert_non_null(strstr(out, "HTTP 401"));
    free(out);

    /* A second engine on the same database is refused before it creates
     * anything. */
    assert_int_equal(run_in(f,
                            "send -q -c edm.json --template t.json --recipients r.csv "
                            "--from shop@example.com --name second",
                            &out),
                     1);
    assert_non_null(strstr(out, "is in use by another edm engine"));
    free(out);
    assert_int_equal(run_in(f, "status -c edm.json", &out), 0);
    assert_null(strstr(out, "second"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(send_delivers_and_summarises, setup, teardown),
        cmocka_unit_test_setup_teardown(send_refuses_what_cannot_be_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(status_and_the_engine_lock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
