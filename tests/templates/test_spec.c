/*
 * tests/templates/test_spec.c: runs every test of every Mustache
 * specification file in $EDM_MUSTACHE_SPEC (the required modules and the
 * optional ~inheritance and ~dynamic-names) through edm_tpl_compile +
 * edm_tpl_render in HTML mode, as the files are, and prints per-module
 * counts ("sections: 34/34"). Without the directory the test is reported
 * skipped (exit 77, ctest SKIP_RETURN_CODE), never passed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "templates/template.h"
#include "engine/err.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_skipped;
static int g_req_pass, g_req_total, g_opt_pass, g_opt_total;

static void test_spec_missing(void **state)
{
    (void)state;
    g_skipped = 1;
    print_message("EDM_MUSTACHE_SPEC (%s) not found: Mustache spec tests skipped\n",
                  getenv("EDM_MUSTACHE_SPEC") ? getenv("EDM_MUSTACHE_SPEC") : "unset");
    skip();
}

/* Runs one spec test; returns 1 if it passed. */
static int run_one(const char *module, json_t *t)
{
    const char *name = json_string_value(json_object_get(t, "name"));
    json_t *tmpl = json_object_get(t, "template");
    json_t *exp = json_object_get(t, "expected");
    edm_tpl *tpl = NULL;
    edm_tpl_error err;
    edm_buf out = EDM_BUF_INIT;
    int ok = 0;
    if (edm_tpl_compile(&tpl, json_string_value(tmpl), json_string_length(tmpl),
                        json_object_get(t, "partials"), &err) != 0) {
        print_message("FAIL %s / %s: compile: %s: %s\n", module, name, err.part, err.msg);
        return 0;
    }
    edm_tpl_opts opts = {.mode = EDM_TPL_HTML};
    int rc = edm_tpl_render(tpl, json_object_get(t, "data"), &opts, &out, &err);
    if (rc != 0) {
        print_message("FAIL %s / %s: render: %s\n", module, name, err.msg);
    } else if (out.len != json_string_length(exp) ||
               memcmp(edm_buf_cstr(&out), json_string_value(exp), out.len) != 0) {
        char *tj = json_dumps(tmpl, JSON_ENCODE_ANY), *ej = json_dumps(exp, JSON_ENCODE_ANY);
        json_t *got = json_stringn(edm_buf_cstr(&out), out.len);
        char *gj = json_dumps(got, JSON_ENCODE_ANY);
        print_message("FAIL %s / %s\n  template: %s\n  expected: %s\n  got:      %s\n", module,
                      name, tj, ej, gj);
        free(tj);
        free(ej);
        free(gj);
        json_decref(got);
    } else {
        ok = 1;
    }
    edm_buf_free(&out);
    edm_tpl_free(tpl);
    return ok;
}

static void test_module(void **state)
{
    const char *path = *state;
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL)
        fail_msg("%s: %s", path, jerr.text);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char module[128];
    snprintf(module, sizeof module, "%.*s", (int)(strlen(base) - 5), base);
    json_t *tests = json_object_get(doc, "tests");
    assert_true(json_is_array(tests));
    size_t i, pass = 0, n = json_array_size(tests);
    json_t *t;
    json_array_foreach(tests, i, t) pass += (size_t)run_one(module, t);
    print_message("%s: %zu/%zu\n", module, pass, n);
    if (module[0] == '~') {
        g_opt_pass += (int)pass;
        g_opt_total += (int)n;
    } else {
        g_req_pass += (int)pass;
        g_req_total += (int)n;
    }
    json_decref(doc);
    assert_true(n > 0);
    assert_int_equal(pass, n);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    const char *dir = getenv("EDM_MUSTACHE_SPEC");
    DIR *d = dir ? opendir(dir) : NULL;
    if (d == NULL) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_spec_missing)};
        int rc = cmocka_run_group_tests_name("mustache_spec", tests, NULL, NULL);
        return rc == 0 && g_skipped ? 77 : rc;
    }
    char *paths[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
            paths[n] = malloc(strlen(dir) + len + 2);
            sprintf(paths[n], "%s/%s", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    if (n == 0) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_spec_missing)};
        int rc = cmocka_run_group_tests_name("mustache_spec", tests, NULL, NULL);
        return rc == 0 && g_skipped ? 77 : rc;
    }
    qsort(paths, n, sizeof paths[0], by_name);
    struct CMUnitTest tests[64];
    for (size_t i = 0; i < n; i++) {
        struct CMUnitTest t = {strrchr(paths[i], '/') + 1, test_module, NULL, NULL, paths[i]};
        tests[i] = t;
    }
    int rc = _cmocka_run_group_tests("mustache_spec", tests, n, NULL, NULL);
    print_message("required: %d/%d, optional (~): %d/%d\n", g_req_pass, g_req_total, g_opt_pass,
                  g_opt_total);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    return rc;
}
