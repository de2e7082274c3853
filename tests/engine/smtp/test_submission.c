/*
 * tests/engine/smtp/test_submission.c: the submission server with real
 * clients as peers. Starts a smtp-sink (Postfix's) that dumps every message
 * edm delivers, and `edm serve` with a submission listener (STARTTLS and
 * implicit TLS, a throwaway certificate, 127.0.0.9 trusted), a DKIM key for
 * example.com and a route of *.test to the sink; then
 * submission_clients.py drives swaks and Python's smtplib through AUTH,
 * the refusals and the smuggling sequences, follows the receipts by the
 * ids of the 250 replies and verifies each delivered copy with dkimpy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/api/apitest.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pid_t sink_pid;

static void submission_real_clients(void **state)
{
    (void)state;
    char *dir = edm_test_tmpdir("submission");
    char cmd[9000], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout mail.key -out mail.crt "
             "-days 2 -subj /CN=localhost 2>&1 && openssl genpkey -algorithm RSA -pkeyopt "
             "rsa_keygen_bits:2048 -out dkim.pem 2>&1 && printf 's1._domainkey.example.com "
             "v=DKIM1; k=rsa; p=%%s\\n' \"$(openssl pkey -in dkim.pem -pubout -outform DER "
             "2>/dev/null | base64 -w0)\" > dns.txt && mkdir dump && chmod 755 . && chmod 777 dump",
             dir);
    if (edm_test_run(cmd, &out) != 0)
        fail_msg("keys: %s", out);
    free(out);

    int sink_port = edm_test_free_port("127.0.0.1");
    char addr[64], dump[4200];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sink_port);
    snprintf(dump, sizeof dump, "%s/dump/", dir);
    char *argv[] = {"smtp-sink", "-u", "nobody", "-d", dump, addr, "64", NULL};
    sink_pid = edm_test_spawn(argv, NULL);
    assert_true(sink_pid > 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", sink_port, 5000), 0);

    int sub = edm_test_free_port("127.0.0.1"), tls = edm_test_free_port("127.0.0.1");
    char extra[2048];
    snprintf(extra, sizeof extra,
             "\"pools\": [{\"name\": \"default\"}], "
             "\"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}], "
             "\"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s1\", \"key\": "
             "\"%s/dkim.pem\"}], "
             "\"submission\": {\"listen\": [\"127.0.0.1:%d\"], \"tls_listen\": "
             "[\"127.0.0.1:%d\"], \"cert\": \"%s/mail.crt\", \"key\": \"%s/mail.key\", "
             "\"trusted_networks\": [\"127.0.0.9/32\"], \"auth_failure_delay_ms\": 200}",
             sink_port, dir, sub, tls, dir, dir);
    apitest t;
    apitest_start_serve(&t, "EDM_TEST_SUB_KEYS", "sub-key-1", 0, extra);
    assert_int_equal(edm_test_wait_port("127.0.0.1", sub, 5000), 0);

    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %d %d %d sub-key-1 %s %s/dns.txt",
             edm_test_src("tests/engine/smtp/submission_clients.py"), sub, tls, t.port, dump, dir);
    int rc = edm_test_run(cmd, &out);
    if (rc != 0)
        fail_msg("submission_clients.py (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "ok"));
    free(out);
    apitest_stop(&t);
    edm_test_stop(sink_pid, 1000);
    sink_pid = 0;
    edm_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(submission_real_clients),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (sink_pid > 0)
        edm_test_stop(sink_pid, 1000);
    return rc;
}
