/*
 * tests/templates/test_escape.c: escape modes. HTML escapes values (not
 * {{{raw}}} ones); none escapes nothing; header removes every control
 * character from values and template text alike, so a subject can never
 * start a new header line whatever the data holds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "templates/template.h"
#include "engine/base/err.h"

#include <string.h>

struct esc_case {
    enum edm_tpl_mode mode;
    const char *tmpl, *data, *expected;
};

static const struct esc_case cases[] = {
    {EDM_TPL_HTML, "{{v}}|{{{v}}}|{{&v}}", "{\"v\":\"<b>&\\\"'\"}",
     "&lt;b&gt;&amp;&quot;&#x27;|<b>&\"'|<b>&\"'"},
    {EDM_TPL_NONE, "{{v}}|{{{v}}}", "{\"v\":\"<b>&\\r\\n\"}", "<b>&\r\n|<b>&\r\n"},
    {EDM_TPL_HEADER, "Re: {{v}}", "{\"v\":\"Hi\\r\\nBcc: victim@example.com\"}",
     "Re: HiBcc: victim@example.com"},
    {EDM_TPL_HEADER, "{{{v}}}{{&v}}", "{\"v\":\"a\\nb\\rc\\td\\u0000e\\u007f\"}", "abcdeabcde"},
    /* C1 controls (U+0085 NEL, U+009B CSI) go too; other UTF-8 stays. */
    {EDM_TPL_HEADER, "{{v}}", "{\"v\":\"x\\u0085y\\u009bz\\u00e9\\u2028\"}",
     "xyz\xc3\xa9\xe2\x80\xa8"},
    /* Template text and partials are filtered as well. */
    {EDM_TPL_HEADER, "Hello\r\n {{v}}\n", "{\"v\":\"<you>\"}", "Hello <you>"},
    {EDM_TPL_HEADER, "{{#l}}{{.}}\n{{/l}}", "{\"l\":[\"a\",\"b\"]}", "ab"},
};

static void test_modes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct esc_case *c = &cases[i];
        edm_tpl *t = NULL;
        edm_tpl_error err;
        assert_int_equal(edm_tpl_compile(&t, c->tmpl, strlen(c->tmpl), NULL, &err), 0);
        json_t *data = json_loads(c->data, JSON_ALLOW_NUL, NULL);
        assert_non_null(data);
        edm_buf out = EDM_BUF_INIT;
        edm_tpl_opts opts = {.mode = c->mode};
        assert_int_equal(edm_tpl_render(t, data, &opts, &out, &err), 0);
        if (strcmp(edm_buf_cstr(&out), c->expected) != 0)
            fail_msg("case %zu: expected [%s] got [%s]", i, c->expected, edm_buf_cstr(&out));
        edm_buf_free(&out);
        json_decref(data);
        edm_tpl_free(t);
    }
}

/* The message set renders subject in header mode, html escaped, text raw. */
static void test_set_parts(void **state)
{
    (void)state;
    json_t *tmpl = json_pack("{s:s, s:s, s:s, s:{s:s}}", "subject", "{{subject}}\r\n{{>sig}}",
                             "html", "<p>{{subject}}</p>{{>sig}}", "text", "{{subject}} {{>sig}}",
                             "partials", "sig", "\n-- {{name}}");
    json_t *vars =
        json_pack("{s:s, s:s}", "subject", "Hi\r\nBcc: victim@example.com", "name", "<Ann>");
    edm_tpl_set *set = NULL;
    edm_tpl_error err;
    assert_int_equal(edm_tpl_set_compile(&set, tmpl, &err), 0);
    edm_tpl_msg msg;
    edm_tpl_msg_init(&msg);
    assert_int_equal(edm_tpl_set_render(set, vars, NULL, &msg, &err), 0);
    assert_string_equal(edm_buf_cstr(&msg.subject), "HiBcc: victim@example.com-- <Ann>");
    assert_null(memchr(msg.subject.data, '\r', msg.subject.len));
    assert_null(memchr(msg.subject.data, '\n', msg.subject.len));
    assert_string_equal(edm_buf_cstr(&msg.html),
                        "<p>Hi\r\nBcc: victim@example.com</p>\n-- &lt;Ann&gt;");
    assert_string_equal(edm_buf_cstr(&msg.text), "Hi\r\nBcc: victim@example.com \n-- <Ann>");
    edm_tpl_msg_free(&msg);
    edm_tpl_set_free(set);
    json_decref(tmpl);
    json_decref(vars);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_modes),
                                       cmocka_unit_test(test_set_parts)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
