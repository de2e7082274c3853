/*
 * tests/engine/smtp/test_submission_postfix.c: submission end to end with
 * real software at both ends: swaks, Python's smtplib and nodemailer (npm,
 * installed into the build tree by nodemailer-install.sh) submit over
 * STARTTLS with AUTH to `edm serve`, which DKIM-signs and delivers through
 * a throwaway Postfix MX (tests/support/postfix_run.c) into Maildirs;
 * submission_postfix.py follows the receipts by the ids of the 250s and
 * verifies every delivered copy with dkimpy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/api/apitest.h"
#include "tests/support/postfix_run.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static postfix_run pf;

static void submission_to_postfix(void **state)
{
    (void)state;
    char node[1024], cmd[9000], *out = NULL;
    snprintf(node, sizeof node, "%s/node", getenv("EDM_BINARY_DIR"));
    snprintf(cmd, sizeof cmd, "sh %s %s 2>&1",
             edm_test_src("tests/engine/smtp/nodemailer-install.sh"), node);
    if (edm_test_run(cmd, &out) != 0)
        fail_msg("npm install nodemailer: %s", out);
    free(out);

    char *dir = edm_test_tmpdir("subpf");
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout mail.key -out mail.crt "
             "-days 2 -subj /CN=localhost 2>&1 && openssl genpkey -algorithm RSA -pkeyopt "
             "rsa_keygen_bits:2048 -out dkim.pem 2>&1 && printf 's1._domainkey.example.com "
             "v=DKIM1; k=rsa; p=%%s\\n' \"$(openssl pkey -in dkim.pem -pubout -outform DER "
             "2>/dev/null | base64 -w0)\" > dns.txt",
             dir);
    if (edm_test_run(cmd, &out) != 0)
        fail_msg("keys: %s", out);
    free(out);

    char ip[32];
    static const char *const users[] = {"alice", "bob", NULL};
    snprintf(ip, sizeof ip, "127.0.1.%d", 20 + (int)((getpid() + 100) % 200));
    assert_int_equal(postfix_run_start(&pf, ip, "pf.test", users), 0);

    int sub = edm_test_free_port("127.0.0.1");
    char extra[2048];
    snprintf(extra, sizeof extra,
             "\"pools\": [{\"name\": \"default\"}], "
             "\"routes\": [{\"match\": \"pf.test\", \"relay\": \"%s:%d\"}], "
             "\"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s1\", \"key\": "
             "\"%s/dkim.pem\"}], "
             "\"submission\": {\"listen\": [\"127.0.0.1:%d\"], \"cert\": \"%s/mail.crt\", "
             "\"key\": \"%s/mail.key\", \"auth_failure_delay_ms\": 100}",
             pf.ip, pf.port, dir, sub, dir, dir);
    apitest t;
    apitest_start_serve(&t, "EDM_TEST_SUBPF_KEYS", "subpf-key-1", 0, extra);
    assert_int_equal(edm_test_wait_port("127.0.0.1", sub, 5000), 0);

    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %d %d subpf-key-1 %s %s %s/dns.txt 2>&1",
             edm_test_src("tests/engine/smtp/submission_postfix.py"), sub, t.port, node, pf.maildir,
             dir);
    int rc = edm_test_run(cmd, &out);
    if (rc != 0)
        fail_msg("submission_postfix.py (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "ok"));
    free(out);
    apitest_stop(&t);
    postfix_run_stop(&pf);
    edm_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(submission_to_postfix),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    postfix_run_stop(&pf); /* on failure too */
    return rc;
}
