/*
 * tests/templates/test_errors.c: syntax errors report the part, line and
 * column and what was expected; the message set names the part.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "templates/template.h"
#include "engine/base/err.h"

#include <string.h>

struct err_case {
    const char *tmpl;
    int line, col;
    const char *msg;
};

static const struct err_case cases[] = {
    {"<ul>\n  <li>\n  x {{#items}}\n", 3, 5, "line 3, col 5: unclosed section \"items\""},
    {"a\nb {{#a}}{{/b}}", 2, 9,
     "line 2, col 9: closing tag \"b\" does not match open section \"a\" (line 2, col 3)"},
    {"{{/a}}", 1, 1, "line 1, col 1: unexpected closing tag \"a\" (no open section)"},
    {"hi {{name", 1, 4, "line 1, col 4: unclosed tag (expected \"}}\")"},
    {"{{{name}}", 1, 1, "line 1, col 1: unclosed tag (expected \"}}}\")"},
    {"x\n\n  {{ }}", 3, 3, "line 3, col 3: empty tag"},
    {"{{=<% %>=}}\n<%name}}", 2, 1, "line 2, col 1: unclosed tag (expected \"%>\")"},
    {"{{= a =}}", 1, 1,
     "line 1, col 1: invalid delimiter tag (expected two delimiters without spaces or '=')"},
    {"{{$b}}x", 1, 1, "line 1, col 1: unclosed block \"b\""},
    {"{{<p}}x", 1, 1, "line 1, col 1: unclosed parent \"p\""},
    {"{{else}}", 1, 1, "line 1, col 1: {{else}} outside a section or block helper"},
    {"{{#if a}}{{else}}{{else}}{{/if}}", 1, 18,
     "line 1, col 18: second {{else}} in the same section"},
    {"{{foo bar}}", 1, 1, "line 1, col 1: unknown helper \"foo\" in tag \"foo bar\""},
    {"{{#if}}{{/if}}x{{#if a b}}", 1, 16,
     "line 1, col 16: helper \"if\" takes exactly one argument in tag \"if a b\""},
    {"{{upper}}{{upper a b}}", 1, 10,
     "line 1, col 10: helper \"upper\" takes exactly one argument in tag \"upper a b\""},
    {"{{#if (eq a)}}{{/if}}", 1, 1,
     "line 1, col 1: helper \"eq\" takes exactly two arguments in tag \"if (eq a)\""},
    {"{{#if (eq a b}}{{/if}}", 1, 1, "line 1, col 1: missing ')' in tag \"if (eq a b\""},
    {"{{default a \"x}}", 1, 1, "line 1, col 1: unterminated string in tag \"default a \"x\""},
    {"{{#each items}}", 1, 1, "line 1, col 1: unclosed section \"each\""},
    {"{{#each items}}{{/items}}", 1, 16,
     "line 1, col 16: closing tag \"items\" does not match open section \"each\" (line 1, col 1)"},
    {"{{if a}}", 1, 1, "line 1, col 1: helper \"if\" needs a block: {{#if ...}}...{{/if}}"},
    {"{{#upper a}}{{/upper}}", 1, 1, "line 1, col 1: helper \"upper\" cannot open a section"},
    {"{{a..b}}", 1, 1, "line 1, col 1: empty name segment in tag \"a..b\""},
    {"{{@foo}}", 1, 1,
     "line 1, col 1: unknown @variable (expected @index, @key, @first, @last or @root) in tag "
     "\"@foo\""},
};

static void test_positions(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct err_case *c = &cases[i];
        edm_tpl *t = NULL;
        edm_tpl_error err;
        int rc = edm_tpl_compile(&t, c->tmpl, strlen(c->tmpl), NULL, &err);
        if (rc != EDM_EINVAL || strcmp(err.msg, c->msg) != 0 || err.line != c->line ||
            err.col != c->col)
            fail_msg("case %zu %s: rc %d, got \"%s\" (%d:%d), expected \"%s\"", i, c->tmpl, rc,
                     err.msg, err.line, err.col, c->msg);
        assert_null(t);
    }
}

static void test_set_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *part, *msg;
    } sets[] = {
        {"{\"subject\":\"x\",\"html\":\"a\\n\\n  {{#items}}\\n  {{/item}}\"}", "html",
         "line 4, col 3: closing tag \"item\" does not match open section \"items\" (line 3, "
         "col 3)"},
        {"{\"subject\":\"{{#a}}\",\"text\":\"t\"}", "subject",
         "line 1, col 1: unclosed section \"a\""},
        {"{\"subject\":\"s\",\"text\":\"{{>p}}\",\"partials\":{\"p\":\"\\n{{x\"}}", "partial p",
         "line 2, col 1: unclosed tag (expected \"}}\")"},
        {"{\"html\":\"h\"}", "subject", "\"subject\" is required"},
        {"{\"subject\":\"s\"}", "", "a template needs \"html\" or \"text\""},
        {"{\"subject\":\"s\",\"text\":1}", "text", "\"text\" must be a string"},
        {"{\"subject\":\"s\",\"text\":\"t\",\"partials\":[]}", "partials",
         "partials must be an object"},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        json_t *j = json_loads(sets[i].json, 0, NULL);
        assert_non_null(j);
        edm_tpl_set *s = NULL;
        edm_tpl_error err;
        assert_int_equal(edm_tpl_set_compile(&s, j, &err), EDM_EINVAL);
        assert_null(s);
        if (strcmp(err.part, sets[i].part) != 0 || strcmp(err.msg, sets[i].msg) != 0)
            fail_msg("set %zu: got %s: %s", i, err.part, err.msg);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_positions),
                                       cmocka_unit_test(test_set_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
