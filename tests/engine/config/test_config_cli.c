/*
 * tests/engine/config/test_config_cli.c: `edm check-config` run as a real
 * process (bad files with their exact messages, docs/config.md's example,
 * a missing file, the defaults, usage), and docs/config.md documenting
 * every key of the effective config with the tests' copy of its example.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/config/config.h"
#include "tests/engine/config/config_fixture.h"
#include "tests/support/testlib.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs `edm check-config ARGS` and returns its exit status; *out gets
 * stdout, *err stderr. */
static int check_config(const char *args, char **out, char **err)
{
    char cmd[2048];
    const char *o = config_fixture_path("out.txt");
    snprintf(cmd, sizeof cmd, "%s check-config %s >%s", edm_test_bin(), args, o);
    int rc = edm_test_run(cmd, err);
    *out = edm_test_read_file(o, NULL);
    assert_non_null(*out);
    return rc;
}

static void cli(void **state)
{
    (void)state;
    static const struct {
        const char *json; /* written to bad.json */
        const char *stderr_text;
    } bad[] = {
        {"{\"smtp\": {\"port\": \"25\"}}\n", "smtp.port: expected an integer\n"},
        {"{\"smtp\": {\"tlss\": \"none\"}}\n", "smtp.tlss: unknown key\n"},
        {"{\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\"},"
         " {\"addr\": \"127.0.0.256\"}]}]}\n",
         "pools[0].ips[1].addr: not an IP address\n"},
        {"{\n  \"smtp\": {\n    \"port\": 25,\n  }\n}\n",
         "%s:4:3: string or '}' expected near '}'\n"},
    };
    char *out, *err, want[1200];
    char badpath[1024];
    snprintf(badpath, sizeof badpath, "%s", config_fixture_path("bad.json"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(edm_test_write_file(badpath, bad[i].json, strlen(bad[i].json)), 0);
        char args[1100];
        snprintf(args, sizeof args, "-c %s", badpath);
        assert_int_equal(check_config(args, &out, &err), 1);
        snprintf(want, sizeof want, bad[i].stderr_text, badpath);
        assert_string_equal(err, want);
        assert_string_equal(out, "");
        free(out);
        free(err);
    }
    /* docs/config.md's example: exit 0, the effective config on stdout. */
    char args[1100];
    snprintf(args, sizeof args, "--config %s", config_fixture_path("edm.json"));
    assert_int_equal(check_config(args, &out, &err), 0);
    assert_string_equal(err, "");
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "smtp"), "helo")),
                        "mta.example.com");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(j, "smtp"), "timeouts"), "data_block")),
                     180);
    assert_string_equal(json_string_value(json_object_get(j, "db")), config_fixture_path("edm.db"));
    /* The effective rules: the config's and edm's provider rules. */
    json_t *rules = json_object_get(j, "domains");
    int gmail = 0, google = 0, qq = 0;
    size_t ri;
    json_t *rule;
    json_array_foreach(rules, ri, rule)
    {
        const char *m = json_string_value(json_object_get(rule, "match"));
        gmail += strcmp(m, "gmail.com") == 0;
        google += strcmp(m, "mx:*.google.com") == 0;
        if (strcmp(m, "mx:*.qq.com") == 0) {
            qq++;
            assert_int_equal(json_integer_value(json_object_get(rule, "max_per_minute")), 60);
            assert_int_equal(json_integer_value(json_object_get(rule, "burst")), 1);
        }
    }
    assert_int_equal(gmail + google + qq, 3);
    json_decref(j);
    free(out);
    free(err);
    /* A missing file. */
    snprintf(args, sizeof args, "-c %s", config_fixture_path("missing.json"));
    assert_int_equal(check_config(args, &out, &err), 1);
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory\n",
             config_fixture_path("missing.json"));
    assert_string_equal(err, want);
    free(out);
    free(err);
    /* No file: the defaults. */
    assert_int_equal(check_config("", &out, &err), 0);
    j = json_loads(out, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "db")), "edm.db");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "api"), "listen")),
                        "127.0.0.1:8025");
    json_decref(j);
    free(out);
    free(err);
    /* --help, and a usage error. */
    assert_int_equal(check_config("--help", &out, &err), 0);
    assert_non_null(strstr(out, "usage: edm check-config [-c FILE]"));
    free(out);
    free(err);
    assert_int_equal(check_config("--bogus", &out, &err), 2);
    assert_non_null(strstr(err, "unexpected argument '--bogus'"));
    free(out);
    free(err);
}

/* Collects into missing every leaf key path of j ("pools[].ips[].addr")
 * that docs/config.md does not mention as `path`. */
static void check_documented(json_t *j, const char *path, const char *docs, edm_buf *missing)
{
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v)
        {
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
            check_documented(v, sub, docs, missing);
        }
        return;
    }
    if (json_is_array(j) && json_is_object(json_array_get(j, 0))) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s[]", path);
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) check_documented(v, sub, docs, missing);
        return;
    }
    char quoted[260];
    snprintf(quoted, sizeof quoted, "`%s`", path);
    if (strstr(docs, quoted) == NULL && strstr(edm_buf_cstr(missing), quoted) == NULL)
        edm_buf_appendf(missing, " %s", quoted);
}

/* docs/config.md documents every key the effective config has, and its
 * example is docs/config.md's. */
static void docs_cover_every_key(void **state)
{
    (void)state;
    char *docs = edm_test_read_file(edm_test_src("docs/config.md"), NULL);
    assert_non_null(docs);
    const char *full = "{\"routes\": [{\"match\": \"*\", \"relay\": \"r.example:587\","
                       " \"auth\": {\"username\": \"u\", \"password_env\": \"P\"}}],"
                       " \"pools\": [{\"name\": \"p\", \"ips\": [{\"addr\": \"10.0.0.1\"}]}],"
                       " \"dkim\": [{\"domain\": \"example.com\", \"selector\": \"s\", \"key\": "
                       "\"keys/s1.pem\"}]}";
    edm_config cfg;
    edm_config_errors errs;
    assert_int_equal(
        edm_config_load_string(full, strlen(full), "t", config_fixture_dir, &cfg, &errs), 0);
    char *text = edm_config_to_json(&cfg);
    edm_config_free(&cfg);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    edm_buf missing = EDM_BUF_INIT;
    edm_buf_append_str(&missing, "");
    check_documented(j, "", docs, &missing);
    if (missing.len > 0)
        fail_msg("docs/config.md does not document:%s", missing.data);
    json_decref(j);
    edm_free(text);
    edm_buf_free(&missing);

    const char *start = strstr(docs, "```json\n");
    assert_non_null(start);
    start += 8;
    const char *end = strstr(start, "```");
    assert_non_null(end);
    json_t *doc_example = json_loadb(start, (size_t)(end - start), 0, &je);
    json_t *product = json_loads(config_fixture_example, 0, &je);
    assert_non_null(doc_example);
    assert_non_null(product);
    assert_true(json_equal(doc_example, product));
    json_decref(doc_example);
    json_decref(product);
    free(docs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cli),
        cmocka_unit_test(docs_cover_every_key),
    };
    return cmocka_run_group_tests(tests, config_fixture_setup, config_fixture_teardown);
}
