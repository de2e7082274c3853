/*
 * tests/engine/smtp/test_submission_limits.c: the submission server's
 * defences (docs/smtp.md "Submission"), against `edm serve` with tight
 * limits and short timeouts: commands before the greeting (554), SIZE= at
 * MAIL and the real size (552), a line over 998 octets (552), recipients
 * past the limit (452), the command and DATA timeouts (421), connections
 * per IP and in all (421), AUTH failures delayed then locked out (454, then
 * 421 at connect). submission_limits.py speaks raw SMTP from chosen
 * loopback addresses and checks that only the 250s became messages.
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

static void submission_limits(void **state)
{
    (void)state;
    char *dir = edm_test_tmpdir("sublimits");
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout mail.key -out mail.crt "
             "-days 2 -subj /CN=localhost 2>&1",
             dir);
    if (edm_test_run(cmd, &out) != 0)
        fail_msg("certificate: %s", out);
    free(out);

    int sub = edm_test_free_port("127.0.0.1");
    char extra[2048];
    snprintf(extra, sizeof extra,
             "\"pools\": [{\"name\": \"default\"}], "
             "\"submission\": {\"listen\": [\"127.0.0.1:%d\"], \"cert\": \"%s/mail.crt\", "
             "\"key\": \"%s/mail.key\", \"trusted_networks\": [\"127.0.0.9\"], "
             "\"max_message_bytes\": 2048, \"max_recipients\": 3, "
             "\"max_connections_per_ip\": 2, \"max_connections\": 4, "
             "\"auth_failure_delay_ms\": 300, \"auth_max_failures\": 2, \"auth_lockout\": 600, "
             "\"command_timeout\": 1, \"data_timeout\": 1}",
             sub, dir, dir);
    apitest t;
    apitest_start_serve(&t, "EDM_TEST_SUBLIM_KEYS", "lim-key-1", 0, extra);
    assert_int_equal(edm_test_wait_port("127.0.0.1", sub, 5000), 0);

    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %d %d lim-key-1 2>&1",
             edm_test_src("tests/engine/smtp/submission_limits.py"), sub, t.port);
    int rc = edm_test_run(cmd, &out);
    if (rc != 0)
        fail_msg("submission_limits.py (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "ok"));
    free(out);
    apitest_stop(&t);
    edm_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(submission_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
