/*
 * tests/engine/config/test_config_submission.c: the "submission" object's
 * server timeouts (engine/config/config_submission.c, docs/config.md):
 * defaults (RFC 5321 4.5.3.2: 300 s for commands, 180 s between DATA
 * blocks), values taken, and out-of-range values refused with the key
 * path; trusted networks and machine_ips checked entry by entry.
 * (test_config.c holds the general table of bad configs.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/config/config.h"

#include <stdio.h>
#include <string.h>

static int load(const char *json, edm_config *cfg, char *errs, size_t n)
{
    edm_config_errors e;
    int rc = edm_config_load_string(json, strlen(json), "test", NULL, cfg, &e);
    errs[0] = '\0';
    for (size_t i = 0; i < e.count; i++) {
        size_t len = strlen(errs);
        snprintf(errs + len, n - len, "%s%s", i ? "\n" : "", e.msg[i]);
    }
    edm_config_errors_free(&e);
    return rc;
}

static void timeouts(void **state)
{
    (void)state;
    edm_config cfg;
    char errs[1024];
    assert_int_equal(load("{}", &cfg, errs, sizeof errs), 0);
    assert_int_equal(cfg.submission.command_timeout, 300);
    assert_int_equal(cfg.submission.data_timeout, 180);
    edm_config_free(&cfg);

    assert_int_equal(load("{\"submission\": {\"command_timeout\": 1, \"data_timeout\": 3600}}",
                          &cfg, errs, sizeof errs),
                     0);
    assert_int_equal(cfg.submission.command_timeout, 1);
    assert_int_equal(cfg.submission.data_timeout, 3600);
    edm_config_free(&cfg);

    assert_int_not_equal(load("{\"submission\": {\"command_timeout\": 0, \"data_timeout\": 3601}}",
                              &cfg, errs, sizeof errs),
                         0);
    assert_string_equal(errs, "submission.command_timeout: expected an integer from 1 to 3600\n"
                              "submission.data_timeout: expected an integer from 1 to 3600");
}

/* trusted_networks and public.machine_ips: every entry a network, its
 * prefix within the family's width; the one refused is named by index. */
static void networks(void **state)
{
    (void)state;
    edm_config cfg;
    char errs[1024];
    assert_int_equal(load("{\"submission\": {\"trusted_networks\": [\"10.0.0.0/8\", \"::1\", "
                          "\"2001:db8::/128\"]}, \"public\": {\"machine_ips\": [\"0.0.0.0/0\"]}}",
                          &cfg, errs, sizeof errs),
                     0);
    assert_int_equal(cfg.submission.ntrusted, 3);
    edm_config_free(&cfg);
    static const char *const bad[] = {"10.0.0.0/33", "2001:db8::/129", "10.0.0.0/", "10.0.0.0/8x",
                                      "example.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"submission\": {\"trusted_networks\": [\"127.0.0.1\", \"%s\"]}}", bad[i]);
        assert_int_not_equal(load(json, &cfg, errs, sizeof errs), 0);
        assert_non_null(strstr(errs, "submission.trusted_networks[1]: not a network"));
        snprintf(json, sizeof json, "{\"public\": {\"machine_ips\": [\"%s\"]}}", bad[i]);
        assert_int_not_equal(load(json, &cfg, errs, sizeof errs), 0);
        assert_non_null(strstr(errs, "public.machine_ips[0]: not a network"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timeouts),
        cmocka_unit_test(networks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
