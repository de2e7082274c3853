/*
 * tests/templates/test_limits.c: strict mode (missing variables listed),
 * limits (output size, nesting, partial recursion), the work budget (nested
 * loops over large arrays stop at once, naming the tag, also in the
 * engine's per-recipient build), compiled sets shared by threads,
 * allocation failures during compile, and `edm render`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "templates/template.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/message/message.h"
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
    assert_string_equal(err.msg, "line 1, col 19: output larger than the limit of 4000 bytes");
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 19);
    edm_buf_reset(&out);
    assert_int_equal(render(t, "{\"a\":[1,2,3,4,5,6,7,8,9,10]}", NULL, &out, &err), 0);
    assert_int_equal(out.len, 8000);
    edm_tpl_free(t);
    edm_buf_reset(&out);
    /* Partial recursion without an end. */
    t = compile("{{>loop}}", "{\"loop\":\"x{{>loop}}\"}");
    assert_int_equal(render(t, "{}", NULL, &out, &err), EDM_ETOOBIG);
    assert_string_equal(err.msg, "line 1, col 2: partials nested deeper than the limit (in partial "
                                 "\"loop\")");
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
    assert_string_equal(err.msg,
                        "line 1, col 7: template nesting deeper than the limit (in partial "
                        "\"node\")");
    json_decref(deep);
    edm_tpl_free(t);
    /* A block overriding itself does not recurse forever. */
    t = compile("{{<p}}{{$a}}{{$a}}{{/a}}{{/a}}{{/p}}", "{\"p\":\"{{$a}}{{/a}}\"}");
    assert_int_equal(render(t, "{}", NULL, &out, &err), EDM_ETOOBIG);
    edm_tpl_free(t);
    edm_buf_free(&out);
}

/* {"a": [0, 1, ... n-1]} */
static json_t *array_data(int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(i));
    return json_pack("{s:o}", "a", a);
}

/* Four nested sections over a 300-element array are 8.1e9 iterations
 * (minutes of CPU before the budget): the render stops at the budget in
 * well under a second (3 s allowed for a loaded machine) and names the innermost loop's tag. */
static void test_work_budget(void **state)
{
    (void)state;
    edm_buf out = EDM_BUF_INIT;
    edm_tpl_error err;
    json_t *big = array_data(300);
    edm_tpl *t = compile("<p>\n{{#a}}{{#a}}{{#a}}{{#a}}{{/a}}{{/a}}{{/a}}{{/a}}", NULL);
    int64_t t0 = edm_time_now_ms();
    assert_int_equal(edm_tpl_render(t, big, NULL, &out, &err), EDM_ETOOBIG);
    int64_t took = edm_time_now_ms() - t0;
    if (took > 3000)
        fail_msg("the budget took %lld ms", (long long)took);
    assert_string_equal(err.msg, "line 2, col 19: render work over the limit of 1000000 steps "
                                 "(loops or partials run too often for this data)");
    edm_tpl_free(t);

    /* through a partial: its name is given */
    edm_buf_reset(&out);
    t = compile("{{#a}}{{>p}}{{/a}}", "{\"p\":\"{{#a}}{{#a}}{{#a}}x{{/a}}{{/a}}{{/a}}\"}");
    assert_int_equal(edm_tpl_render(t, big, NULL, &out, &err), EDM_ETOOBIG);
    assert_non_null(strstr(err.msg, "render work over the limit"));
    assert_non_null(strstr(err.msg, "(in partial \"p\")"));
    edm_tpl_free(t);

    /* a large newsletter is far below it: 1,000 rows of 40 tags */
    edm_buf src = EDM_BUF_INIT;
    edm_buf_append_str(&src, "<table>{{#rows}}<tr>");
    for (int i = 0; i < 13; i++)
        edm_buf_appendf(&src, "<td>{{name}}{{#if vip}}*{{/if}}</td>");
    edm_buf_append_str(&src, "</tr>{{/rows}}</table>");
    t = compile(edm_buf_cstr(&src), NULL);
    json_t *rows = json_array();
    for (int i = 0; i < 1000; i++)
        json_array_append_new(rows, json_pack("{s:s,s:b}", "name", "Ann", "vip", i % 2));
    json_t *news = json_pack("{s:o}", "rows", rows);
    edm_buf_reset(&out);
    assert_int_equal(edm_tpl_render(t, news, NULL, &out, &err), 0);
    assert_true(out.len > 1000 * 13 * 12);
    json_decref(news);
    edm_tpl_free(t);
    edm_buf_free(&src);

    /* a budget of its own: every op and every iteration is one step */
    t = compile("{{#a}}{{.}}{{/a}}", NULL);
    json_t *ten = array_data(10);
    edm_tpl_opts tight = {.max_steps = 20}; /* 1 + 10 x 2 = 21 steps */
    edm_buf_reset(&out);
    assert_int_equal(edm_tpl_render(t, ten, &tight, &out, &err), EDM_ETOOBIG);
    assert_string_equal(err.msg, "line 1, col 7: render work over the limit of 20 steps (loops "
                                 "or partials run too often for this data)");
    tight.max_steps = 21;
    edm_buf_reset(&out);
    assert_int_equal(edm_tpl_render(t, ten, &tight, &out, &err), 0);
    assert_string_equal(edm_buf_cstr(&out), "0123456789");
    json_decref(ten);
    edm_tpl_free(t);
    json_decref(big);
    edm_buf_free(&out);
}

/* The engine's per-recipient build has the same budget: the recipient
 * whose data runs over fails with the tag's position, the next one is
 * built as usual. */
static void test_budget_per_recipient(void **state)
{
    (void)state;
    json_t *tmpl = json_pack("{s:s,s:s}", "subject", "Hi", "html",
                             "{{#a}}{{#a}}{{#a}}{{#a}}.{{/a}}{{/a}}{{/a}}{{/a}}");
    edm_tpl_set *set = NULL;
    assert_int_equal(edm_tpl_set_compile(&set, tmpl, NULL), 0);
    static const unsigned char secret[32] = {1};
    edm_message_ctx ctx = {
        .tpl = set, .from_addr = "news@example.com", .secret = secret, .secret_len = sizeof secret};
    edm_message_worker w;
    assert_int_equal(edm_message_worker_init(&w), 0);
    json_t *big = array_data(300), *small = array_data(3);
    edm_buf out = EDM_BUF_INIT;
    char *sender = NULL, msgid[256], err[512];
    int64_t t0 = edm_time_now_ms();
    assert_int_equal(edm_message_build(&w, &ctx, 1, "a@example.net", big, edm_time_now(), 0, &out,
                                       &sender, msgid, NULL, err, sizeof err),
                     EDM_ETOOBIG);
    assert_true(edm_time_now_ms() - t0 < 1000);
    assert_string_equal(err, "template html: line 1, col 25: render work over the limit of "
                             "1000000 steps (loops or partials run too often for this data)");
    edm_free(sender);
    sender = NULL;
    edm_buf_reset(&out);
    assert_int_equal(edm_message_build(&w, &ctx, 2, "b@example.net", small, edm_time_now(), 0, &out,
                                       &sender, msgid, NULL, err, sizeof err),
                     0);
    assert_non_null(strstr(edm_buf_cstr(&out), "Subject: Hi"));
    edm_free(sender);
    edm_buf_free(&out);
    json_decref(big);
    json_decref(small);
    edm_message_worker_free(&w);
    edm_tpl_set_free(set);
    json_decref(tmpl);
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
        cmocka_unit_test(test_strict),      cmocka_unit_test(test_limits),
        cmocka_unit_test(test_work_budget), cmocka_unit_test(test_budget_per_recipient),
        cmocka_unit_test(test_threads),     cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_cmd_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
