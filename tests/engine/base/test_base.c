/*
 * tests/engine/base/test_base.c: edm_base: buffers (growth, limits, injected
 * allocation failure), time formats, log quoting, error texts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <string.h>

static void buf_grows_and_formats(void **state)
{
    (void)state;
    edm_buf b = EDM_BUF_INIT;
    assert_string_equal(edm_buf_cstr(&b), "");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(edm_buf_appendf(&b, "%d,", i), 0);
    assert_int_equal(b.len, 3890);
    assert_memory_equal(b.data, "0,1,2,", 6);
    assert_int_equal(b.data[b.len], '\0');
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    edm_buf_reset(&b);
    assert_int_equal(edm_buf_appendf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 601);
    size_t n;
    char *d = edm_buf_detach(&b, &n);
    assert_int_equal(n, 601);
    assert_null(b.data);
    edm_free(d);
    edm_buf_free(&b);
}

static void buf_limit_and_oom(void **state)
{
    (void)state;
    edm_buf b = EDM_BUF_INIT;
    b.limit = 10;
    assert_int_equal(edm_buf_append_str(&b, "0123456789"), 0);
    assert_int_equal(edm_buf_append_char(&b, 'x'), EDM_ETOOBIG);
    assert_int_equal(b.len, 10);
    edm_buf_free(&b);

    edm_buf c = EDM_BUF_INIT;
    edm_alloc_fail_after(0);
    assert_int_equal(edm_buf_append_str(&c, "hello"), EDM_ENOMEM);
    edm_alloc_fail_after(-1);
    assert_int_equal(c.len, 0);
    assert_int_equal(edm_buf_append_str(&c, "hello"), 0);
    edm_alloc_fail_after(0);
    char big[200] = {0};
    memset(big, 'y', 199);
    assert_int_equal(edm_buf_append_str(&c, big), EDM_ENOMEM);
    edm_alloc_fail_after(-1);
    assert_string_equal(c.data, "hello");
    edm_buf_free(&c);
}

static void time_formats(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(edm_time_rfc3339(1795784761, out, sizeof out), "2026-11-27T13:06:01Z");
    assert_string_equal(edm_time_rfc5322(1795784761, out, sizeof out),
                        "Fri, 27 Nov 2026 13:06:01 +0000");
    static const struct {
        const char *in;
        int rc;
        int64_t t;
    } cases[] = {
        {"2026-11-27T13:06:01Z", 0, 1795784761},
        {"2026-11-27t13:06:01.250z", 0, 1795784761},
        {"2026-11-27T14:06:01+01:00", 0, 1795784761},
        {"2026-11-27T12:06:01-01:00", 0, 1795784761},
        {"2026-11-27T13:06:01", EDM_EINVAL, 0},
        {"2026-13-27T13:06:01Z", EDM_EINVAL, 0},
        {"2026-02-29T13:06:01Z", EDM_EINVAL, 0},
        {"2026-11-27T13:06:01Zjunk", EDM_EINVAL, 0},
        {"", EDM_EINVAL, 0},
        {"tomorrow", EDM_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = 0;
        assert_int_equal(edm_time_parse_rfc3339(cases[i].in, &t), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(t, cases[i].t);
    }
}

static void log_quote_escapes(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(edm_log_quote(out, sizeof out, "a \"b\"\r\n"), "\"a \\\"b\\\"\\x0d\\x0a\"");
    assert_int_equal(edm_log_level_parse("warn"), EDM_LOG_WARN);
    assert_int_equal(edm_log_level_parse("loud"), -1);
    assert_string_equal(edm_strerror(EDM_ENOTFOUND), "not found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_grows_and_formats),
        cmocka_unit_test(buf_limit_and_oom),
        cmocka_unit_test(time_formats),
        cmocka_unit_test(log_quote_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
