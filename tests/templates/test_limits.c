/*
 * tests/templates/test_limits.c: strict mode (missing variables listed),
 * limits (output size, nesting, partial recursion), compiled sets shared
 * by threads, allocation failures during compile, and `edm render`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "templates/template.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "tests/support/testlib.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static edm_tpl *compile(const char *src, const char *partials)
{
    edm_tpl *t = NULL;
    edm_tpl_error err;
    json_t *p = partials ? json_loads(partials, 0, NULL) : NULL;
    int rc = edm_tpl_compile(&t, src, strlen(src), p, &err);
    json_decref(p);
    if (rc != 0)
        fail_msg("compile %s: %s", src, err.msg);
    return t;
}

static int render(edm_tpl *t, const char *data, const edm_tpl_opts *o, edm_buf *out,
                  edm_tpl_error *err)
{
    json_t *d = json_loads(data, JSON_DECODE_ANY, NULL);
    assert_non_null(d);
    int rc = edm_tpl_render(t, d, o, out, err);
    json_decref(d);
    return rc;
}

static void test_strict(void **state)
{
    (void)state;
    edm_tpl *t = compile("Hi {{first}} {{user.last}}{{#if vip}}!{{/if}}{{#items}}{{name}}"
                         "{{/items}} {{default nick \"x\"}} {{upper first}} {{first}}",
                         NULL);
    edm_buf out = EDM_BUF_INIT;
    edm_tpl_error err;
    edm_tpl_opts strict = {.strict = 1};
    /* Conditions (if, sections) and default's value may be absent. */
    assert_int_equal(render(t, "{\"first\":\"A\",\"user\":{\"last\":\"B\"}}", &strict, &out, &err),
                     0);
    assert_string_equal(edm_buf_cstr(&out), "Hi A B x A A");
    edm_buf_reset(&out);
    assert_int_equal(render(t, "{\"user\":{}}", &strict, &out, &err), EDM_ENOTFOUND);
    assert_string_equal(err.msg, "missing variables: first, user.last");
    edm_buf_reset(&out);
    assert_int_equal(render(t, "{\"first\":\"A\",\"user\":{\"last\":\"B\"},\"items\":[{}]}",
                            &strict, &out, &err),
                     EDM_ENOTFOUND);
    assert_string_equal(err.msg, "missing variable: name");
    edm_buf_reset(&out);
    assert_int_equal(render(t, "{}", NULL, &out, &err), 0); /* not strict: empty */
    edm_buf_free(&out);
    edm_tpl_free(t);
}

static void test_limits(void **state)
{
    (void)state;
    edm_buf out = EDM_BUF_INIT;
    edm_tpl_error err;
    /* Output size: 10 x 10 x 10 x 8 bytes > 4000. */
    edm_tpl *t = compile("{{#a}}{{#a}}{{#a}}12345678{{/a}}{{/a}}{{/a}}", NULL);
    edm_tpl_opts small = {.max_output = 4000};
    assert_int_equal(render(t, "{\"a\":[1,2,3,4,5,6,7,8,9,10]}", &small, &out, &err), EDM_ETOOBIG);
    assert_true(out.len <= 4000);
    assert_string_equal(err.msg, "output larger than the limit");
    edm_buf_reset(&out);
    assert_int_equal(render(t, "{\"a\":[1,2,3,4,5,6,7,8,9,10]}", NULL, &out, &err), 0);
    assert_int_equal(out.len, 8000);
    edm_tpl_free(t);
    edm_buf_reset(&out);
    /* Partial recursion without an end. */
    t = compile("{{>loop}}", "{\"loop\":\"x{{>loop}}\"}");
    assert_int_equal(render(t, "{}", NULL, &out, &err), EDM_ETOOBIG);
    assert_string_equal(err.msg, "partials nested deeper than the limit");
    edm_tpl_free(t);
    edm_buf_reset(&out);
    /* Data-driven nesting: a deep structure through a recursive partial. */
    t = compile("{{>node}}", "{\"node\":\"{{#c}}{{>node}}{{/c}}\"}");
    json_t *deep = json_object(), *cur = deep;
    for (int i = 0; i < 100; i++) {
        json_t *n = json_object();
        json_object_set_new(cur, "c", n);
        cur = n;
    }
    edm_tpl_opts deep_ok = {.max_partial_depth = 1000, .max_depth = 200};
    assert_int_equal(edm_tpl_render(t, deep, &deep_ok, &out, &err), EDM_ETOOBIG);
    assert_string_equal(err.msg, "template nesting deeper than the limit");
    json_decref(deep);
    edm_tpl_free(t);
    /* A block overriding itself does not recurse forever. */
    t = compile("{{<p}}{{$a}}{{$a}}{{/a}}{{/a}}{{/p}}", "{\"p\":\"{{$a}}{{/a}}\"}");
    assert_int_equal(render(t, "{}", NULL, &out, &err), EDM_ETOOBIG);
    edm_tpl_free(t);
    edm_buf_free(&out);
}

struct worker {
    const edm_tpl_set *set;
    int bad;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    edm_tpl_msg m;
    edm_tpl_msg_init(&m);
    for (int i = 0; i < 2000; i++) {
        json_t *v = json_pack("{s:i, s:[i,i]}", "n", i, "l", i, i + 1);
        char want[128];
        snprintf(want, sizeof want, "<b>%d</b>%d,%d,", i, i, i + 1);
        if (edm_tpl_set_render(w->set, v, NULL, &m, NULL) != 0 ||
            strcmp(edm_buf_cstr(&m.html), want) != 0)
            w->bad++;
        json_decref(v);
    }
    edm_tpl_msg_free(&m);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    json_t *tmpl = json_pack("{s:s, s:s, s:{s:s}}", "subject", "n={{n}}", "html",
                             "<b>{{n}}</b>{{#l}}{{>item}}{{/l}}", "partials", "item", "{{.}},");
    edm_tpl_set *set;
    assert_int_equal(edm_tpl_set_compile(&set, tmpl, NULL), 0);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){set, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    edm_tpl_set_free(set);
    json_decref(tmpl);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    const char *src = "{{#items}}{{>row}}{{/items}}{{<layout}}{{$body}}\n  x {{name}}\n"
                      "{{/body}}{{/layout}}{{#if (eq a \"b\")}}y{{else}}z{{/if}}";
    json_t *parts = json_pack("{s:s, s:s}", "row", "<li>{{name}}</li>\n", "layout",
                              "<html>{{$body}}{{/body}}</html>");
    int ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
        edm_tpl *t = NULL;
        edm_tpl_error err;
        edm_alloc_fail_after(n);
        int rc = edm_tpl_compile(&t, src, strlen(src), parts, &err);
        edm_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            edm_tpl_free(t);
        } else {
            assert_int_equal(rc, EDM_ENOMEM);
            assert_string_equal(err.msg, "out of memory");
            assert_null(t);
        }
    }
    assert_true(ok);
    json_decref(parts);
}

static void test_cmd_render(void **state)
{
    (void)state;
    char *dir = edm_test_tmpdir("render");
    char tp[512], dp[512], bp[512], cmd[2048];
    snprintf(tp, sizeof tp, "%s/t.json", dir);
    snprintf(dp, sizeof dp, "%s/d.json", dir);
    snprintf(bp, sizeof bp, "%s/bad.json", dir);
    const char *t = "{\"subject\":\"Hi {{name}}\",\"html\":\"<p>{{name}}</p>\","
                    "\"text\":\"{{>sig}}\",\"partials\":{\"sig\":\"-- {{name}}\"}}";
    const char *d = "{\"name\":\"A&B\\r\\nBcc: v@example.com\"}";
    const char *bad = "{\"subject\":\"s\",\"html\":\"\\n\\n  {{#items}}\"}";
    assert_int_equal(edm_test_write_file(tp, t, strlen(t)), 0);
    assert_int_equal(edm_test_write_file(dp, d, strlen(d)), 0);
    assert_int_equal(edm_test_write_file(bp, bad, strlen(bad)), 0);
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "%s render %s %s 2>&1", edm_test_bin(), tp, dp);
    assert_int_equal(edm_test_run(cmd, &out), 0);
    json_t *res = json_loads(out, 0, NULL);
    assert_non_null(res);
    assert_string_equal(json_string_value(json_object_get(res, "subject")),
                        "Hi A&BBcc: v@example.com");
    assert_string_equal(json_string_value(json_object_get(res, "html")),
                        "<p>A&amp;B\r\nBcc: v@example.com</p>");
    assert_string_equal(json_string_value(json_object_get(res, "text")),
                        "-- A&B\r\nBcc: v@example.com");
    json_decref(res);
    free(out);
    snprintf(cmd, sizeof cmd, "%s render %s %s 2>&1", edm_test_bin(), bp, dp);
    assert_int_equal(edm_test_run(cmd, &out), 1);
    assert_non_null(strstr(out, "html: line 3, col 3: unclosed section \"items\""));
    free(out);
    snprintf(cmd, sizeof cmd, "%s render --raw -c x.json --from a@b --to c@d %s %s 2>&1",
             edm_test_bin(), tp, dp);
    assert_int_equal(edm_test_run(cmd, &out), 1); /* --raw reads the config: none here */
    assert_non_null(strstr(out, "x.json: cannot read"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s render --strict %s %s/none.json 2>&1", edm_test_bin(), tp, dir);
    assert_int_equal(edm_test_run(cmd, &out), 1); /* unreadable data file */
    free(out);
    snprintf(cmd, sizeof cmd, "echo '{}' > %s && %s render --strict %s %s 2>&1", dp, edm_test_bin(),
             tp, dp);
    assert_int_equal(edm_test_run(cmd, &out), 1);
    assert_non_null(strstr(out, "missing variable: name"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s render --help", edm_test_bin());
    assert_int_equal(edm_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "--raw"));
    free(out);
    edm_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict),     cmocka_unit_test(test_limits),
        cmocka_unit_test(test_threads),    cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_cmd_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
