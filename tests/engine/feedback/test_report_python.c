/*
 * tests/engine/feedback/test_report_python.c: the parser on reports that
 * Python's email package builds (tests/engine/feedback/make_report.py):
 * valid MIME in forms no sample has (Python's boundaries and folding,
 * base64 and quoted-printable report parts, field names in odd case).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/feedback/report.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *build(const char *kind, size_t *len)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s",
             edm_test_src("tests/engine/feedback/make_report.py"), kind);
    char *out = NULL;
    if (edm_test_run(cmd, &out) != 0)
        fail_msg("make_report.py %s: %s", kind, out ? out : "");
    *len = strlen(out);
    return out;
}

static void python_dsn(void **state)
{
    (void)state;
    size_t len;
    char *msg = build("dsn", &len);
    fb_report r;
    assert_int_equal(fb_parse(msg, len, &r), 0);
    assert_int_equal(r.kind, FB_KIND_DSN);
    assert_string_equal(r.form, "rfc3464");
    assert_int_equal(r.nrcpts, 1);
    assert_int_equal(r.rcpts[0].action, FB_ACTION_FAILED);
    assert_string_equal(r.rcpts[0].status, "5.1.1");
    assert_int_equal(r.rcpts[0].code, 550);
    assert_string_equal(r.rcpts[0].final_rcpt, "X@Example.ORG");
    assert_string_equal(r.rcpts[0].diagnostic, "550 5.1.1 no such user, the account was closed a "
                                               "long while ago and will not come back");
    assert_string_equal(r.message_id, "m-py@example.com");
    assert_int_equal(r.nbounce, 1);
    assert_string_equal(r.bounce_tokens[0], "pytoken1");
    free(msg);
}

static void python_arf(void **state)
{
    (void)state;
    size_t len;
    char *msg = build("arf", &len);
    fb_report r;
    assert_int_equal(fb_parse(msg, len, &r), 0);
    assert_int_equal(r.kind, FB_KIND_ARF);
    assert_string_equal(r.feedback_type, "abuse");
    assert_string_equal(r.arf_rcpt, "x@example.org");
    assert_string_equal(r.message_id, "m-py@example.com");
    assert_int_equal(r.nbounce, 1); /* found in the decoded base64 headers */
    assert_string_equal(r.bounce_tokens[0], "pytoken1");
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(python_dsn),
        cmocka_unit_test(python_arf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
