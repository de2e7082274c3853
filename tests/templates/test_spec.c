/*
 * tests/templates/test_spec.c: runs every test of every Mustache
 * specification file in $EDM_MUSTACHE_SPEC (tests/templates/spec/, the
 * specification's data vendored with its licence: the required modules and
 * the optional ~inheritance and ~dynamic-names) through edm_tpl_compile +
 * edm_tpl_render in HTML mode, as the files are, and prints per-module
 * counts ("sections: 34/34"). A missing directory or module fails, and
 * so does a .json file of the directory that is not in the list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "templates/template.h"
#include "engine/base/err.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_req_pass, g_req_total, g_opt_pass, g_opt_total;

/* The modules the templates must pass (docs/templates.md). */
static const char *const modules[] = {
    "comments.json", "delimiters.json", "interpolation.json",  "inverted.json",
    "partials.json", "sections.json",   "~dynamic-names.json", "~inheritance.json",
};

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

/* Every .json file of the directory is one of the modules above, so a
 * module added to the specification is run (or this fails), never skipped. */
static void test_no_module_left_out(void **state)
{
    const char *dir = *state;
    DIR *d = opendir(dir);
    if (d == NULL)
        fail_msg("%s: cannot open", dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        files++;
        int known = 0;
        for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++)
            known |= strcmp(modules[i], e->d_name) == 0;
        if (!known) {
            char name[256];
            snprintf(name, sizeof name, "%s", e->d_name);
            closedir(d);
            fail_msg("%s/%s is not run by this test", dir, name);
        }
    }
    closedir(d);
    assert_int_equal(files, sizeof modules / sizeof modules[0]);
}

int main(void)
{
    const char *dir = getenv("EDM_MUSTACHE_SPEC");
    if (dir == NULL) {
        fprintf(stderr, "EDM_MUSTACHE_SPEC is not set (ctest sets it to tests/templates/spec)\n");
        return 1;
    }
    enum { N = sizeof modules / sizeof modules[0] };
    char *paths[N];
    struct CMUnitTest tests[N + 1];
    for (size_t i = 0; i < N; i++) {
        paths[i] = malloc(strlen(dir) + strlen(modules[i]) + 2);
        sprintf(paths[i], "%s/%s", dir, modules[i]);
        struct CMUnitTest t = {modules[i], test_module, NULL, NULL, paths[i]};
        tests[i] = t;
    }
    struct CMUnitTest all = {"no_module_left_out", test_no_module_left_out, NULL, NULL,
                             (void *)dir};
    tests[N] = all;
    int rc = _cmocka_run_group_tests("mustache_spec", tests, N + 1, NULL, NULL);
    print_message("required: %d/%d, optional (~): %d/%d\n", g_req_pass, g_req_total, g_opt_pass,
                  g_opt_total);
    for (size_t i = 0; i < N; i++)
        free(paths[i]);
    return rc;
}
