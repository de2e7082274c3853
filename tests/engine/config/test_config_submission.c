/*
 * tests/engine/config/test_config_submission.c: the "submission" object's
 * server timeouts (engine/config/config_submission.c, docs/config.md):
 * defaults (RFC 5321 4.5.3.2: 300 s for commands, 180 s between DATA
 * blocks), values taken, and out-of-range values refused with the key
 * path; trusted networks and machine_ips checked entry by entry; the
 * section in the effective config (check-config), read back the same.
 * (test_config.c holds the general table of bad configs.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/config/config.h"

#include <jansson.h>

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
    /* by default the host itself is trusted; [] trusts nobody */
    assert_int_equal(
        load("{\"submission\": {\"listen\": [\"127.0.0.1:2587\"]}}", &cfg, errs, sizeof errs), 0);
    assert_int_equal(cfg.submission.ntrusted, 2);
    assert_string_equal(cfg.submission.trusted_networks[0], "127.0.0.0/8");
    assert_string_equal(cfg.submission.trusted_networks[1], "::1/128");
    edm_config_free(&cfg);
    assert_int_equal(load("{\"submission\": {\"trusted_networks\": []}}", &cfg, errs, sizeof errs),
                     0);
    assert_int_equal(cfg.submission.ntrusted, 0);
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

/* The effective config (`edm check-config`) shows "submission" with every
 * key, defaults filled in, and reads back as the same configuration. */
static void effective_json(void **state)
{
    (void)state;
    edm_config cfg;
    char errs[1024];
    assert_int_equal(load("{}", &cfg, errs, sizeof errs), 0);
    char *text = edm_config_to_json(&cfg);
    edm_config_free(&cfg);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    json_t *s = json_object_get(j, "submission");
    assert_true(json_is_object(s));
    static const char *const keys[] = {"listen",
                                       "tls_listen",
                                       "cert",
                                       "key",
                                       "trusted_networks",
                                       "max_message_bytes",
                                       "max_recipients",
                                       "max_connections_per_ip",
                                       "max_connections",
                                       "auth_failure_delay_ms",
                                       "auth_max_failures",
                                       "auth_lockout",
                                       "command_timeout",
                                       "data_timeout"};
    assert_int_equal(json_object_size(s), sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(s, keys[i]) == NULL)
            fail_msg("submission.%s missing from the effective config", keys[i]);
    assert_int_equal(json_integer_value(json_object_get(s, "max_message_bytes")), 26214400);
    assert_int_equal(json_integer_value(json_object_get(s, "max_recipients")), 1000);
    assert_true(json_is_null(json_object_get(s, "cert")));
    assert_int_equal(json_array_size(json_object_get(s, "listen")), 0);
    json_decref(j);
    edm_free(text);

    const char *given = "{\"submission\": {\"listen\": [\"127.0.0.1:5870\"], \"tls_listen\": "
                        "[\"127.0.0.1:4650\"], \"cert\": \"/k/mail.crt\", \"key\": \"/k/mail.key\","
                        " \"trusted_networks\": [\"127.0.0.0/8\"], \"max_message_bytes\": 2048,"
                        " \"max_recipients\": 7, \"max_connections_per_ip\": 3,"
                        " \"max_connections\": 9, \"auth_failure_delay_ms\": 0,"
                        " \"auth_max_failures\": 2, \"auth_lockout\": 60,"
                        " \"command_timeout\": 30, \"data_timeout\": 40}}";
    assert_int_equal(load(given, &cfg, errs, sizeof errs), 0);
    char *first = edm_config_to_json(&cfg);
    edm_config_free(&cfg);
    j = json_loads(first, 0, &je);
    assert_non_null(j);
    s = json_object_get(j, "submission");
    assert_string_equal(json_string_value(json_array_get(json_object_get(s, "tls_listen"), 0)),
                        "127.0.0.1:4650");
    assert_string_equal(json_string_value(json_object_get(s, "cert")), "/k/mail.crt");
    assert_int_equal(json_integer_value(json_object_get(s, "auth_lockout")), 60);
    json_decref(j);
    assert_int_equal(load(first, &cfg, errs, sizeof errs), 0);
    assert_int_equal(cfg.submission.nlisten, 1);
    assert_int_equal(cfg.submission.ntrusted, 1);
    assert_int_equal(cfg.submission.max_message_bytes, 2048);
    assert_int_equal(cfg.submission.data_timeout, 40);
    char *second = edm_config_to_json(&cfg);
    assert_string_equal(first, second);
    edm_config_free(&cfg);
    edm_free(first);
    edm_free(second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timeouts),
        cmocka_unit_test(networks),
        cmocka_unit_test(effective_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
