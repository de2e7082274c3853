/*
 * tests/templates/test_handlebars.c: the Handlebars-compatible subset
 * (if/else/unless/each/with, @index/@key/@first/@last, this, ../, helpers,
 * comparison subexpressions, whitespace control), table-driven. Expected
 * outputs are what handlebars.js 4 prints for the same template and data
 * (with our upper/lower/default/urlencode/date helpers registered).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "templates/template.h"
#include "engine/base/err.h"

#include <string.h>

struct hb_case {
    const char *tmpl, *data, *expected;
};

static const struct hb_case cases[] = {
    /* if / else / unless */
    {"{{#if a}}yes{{else}}no{{/if}}", "{\"a\":1}", "yes"},
    {"{{#if a}}yes{{else}}no{{/if}}", "{\"a\":0}", "no"},
    {"{{#if a}}yes{{else}}no{{/if}}", "{\"a\":\"\"}", "no"},
    {"{{#if a}}yes{{else}}no{{/if}}", "{\"a\":[]}", "no"},
    {"{{#if a}}yes{{else}}no{{/if}}", "{\"a\":{}}", "yes"},
    {"{{#if a}}yes{{else}}no{{/if}}", "{}", "no"},
    {"{{#if a}}A{{else if b}}B{{else}}C{{/if}}", "{\"b\":true}", "B"},
    {"{{#if a}}A{{else if b}}B{{else}}C{{/if}}", "{}", "C"},
    {"{{#if a}}A{{else if b}}B{{else if c}}C{{/if}}|", "{\"c\":1}", "C|"},
    {"{{#unless a}}none{{else}}some{{/unless}}", "{\"a\":null}", "none"},
    {"{{#unless a}}none{{else}}some{{/unless}}", "{\"a\":\"x\"}", "some"},
    /* each over arrays and objects */
    {"{{#each items}}{{@index}}={{this}}{{#unless @last}},{{/unless}}{{/each}}",
     "{\"items\":[\"a\",\"b\",\"c\"]}", "0=a,1=b,2=c"},
    {"{{#each items}}{{#if @first}}[{{/if}}{{name}}{{#if @last}}]{{/if}}{{/each}}",
     "{\"items\":[{\"name\":\"x\"},{\"name\":\"y\"}]}", "[xy]"},
    {"{{#each o}}{{@key}}:{{.}};{{/each}}", "{\"o\":{\"a\":1,\"b\":\"two\"}}", "a:1;b:two;"},
    {"{{#each items}}x{{else}}empty{{/each}}", "{\"items\":[]}", "empty"},
    {"{{#each items}}x{{else}}empty{{/each}}", "{}", "empty"},
    {"{{#each items}}{{../title}}-{{name}} {{/each}}",
     "{\"title\":\"T\",\"items\":[{\"name\":\"a\"},{\"name\":\"b\"}]}", "T-a T-b "},
    /* with, this, paths */
    {"{{#with user}}{{first}} {{last}}{{/with}}", "{\"user\":{\"first\":\"Ann\",\"last\":\"Lee\"}}",
     "Ann Lee"},
    {"{{#with user}}x{{else}}no user{{/with}}", "{}", "no user"},
    /* with uses Handlebars' isEmpty: 0 is a value, false and [] are not */
    {"{{#with u}}[{{this}}]{{else}}none{{/with}}", "{\"u\":0}", "[0]"},
    {"{{#with u}}[{{this}}]{{else}}none{{/with}}", "{\"u\":false}", "none"},
    {"{{#with u}}[{{this}}]{{else}}none{{/with}}", "{\"u\":[]}", "none"},
    {"{{this.a}} {{./a}} {{a}}", "{\"a\":\"v\"}", "v v v"},
    {"{{items.1.name}} {{items.[0].name}} {{items.length}}",
     "{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"}]}", "b a 2"},
    {"{{#with a}}{{@root.top}}{{/with}}", "{\"top\":\"R\",\"a\":{}}", "R"},
    /* helpers */
    {"Hi {{default name \"friend\"}}!", "{}", "Hi friend!"},
    {"Hi {{default name \"friend\"}}!", "{\"name\":\"\"}", "Hi friend!"},
    {"Hi {{default name \"friend\"}}!", "{\"name\":\"Bo\"}", "Hi Bo!"},
    {"{{default a b \"c\"}}", "{\"b\":\"B\"}", "B"},
    {"{{upper name}} {{lower name}}", "{\"name\":\"Ann <X>\"}", "ANN &lt;X&gt; ann &lt;x&gt;"},
    {"{{{upper name}}}", "{\"name\":\"a<b\"}", "A<B"},
    /* upper/lower map every script as JavaScript's toUpperCase/toLowerCase
     * (full mappings such as ß -> SS, the final sigma), and then escape */
    {"{{upper x}}|{{lower x}}", "{\"x\":\"Émile straße ﬁn Σίσυφος ΟΔΟΣ Привет ǅ İ <é>\"}",
     "ÉMILE STRASSE FIN ΣΊΣΥΦΟΣ ΟΔΟΣ ПРИВЕТ Ǆ İ &lt;É&gt;|"
     "émile straße ﬁn σίσυφος οδος привет ǆ i̇ &lt;é&gt;"},
    {"{{{upper x}}}", "{\"x\":\"ça <va>\"}", "ÇA <VA>"},
    {"{{upper x}}", "{\"x\":\"a\\u00ff\\u0101\"}", "AŸĀ"},
    {"{{urlencode q}}", "{\"q\":\"a b&c=d/é\"}", "a%20b%26c%3Dd%2F%C3%A9"},
    {"{{date d \"%Y-%m-%d\"}}", "{\"d\":\"2026-11-27T13:10:21Z\"}", "2026-11-27"},
    {"{{date d \"%d/%m/%Y %H:%M\"}}", "{\"d\":1795784400}", "27/11/2026 13:00"},
    {"{{date d}}", "{\"d\":\"2026-02-03\"}", "2026-02-03"},
    {"{{date d}}", "{\"d\":\"not a date\"}", ""},
    /* comparison subexpressions */
    {"{{#if (eq a b)}}eq{{else}}ne{{/if}}", "{\"a\":1,\"b\":1.0}", "eq"},
    {"{{#if (eq a \"x\")}}eq{{else}}ne{{/if}}", "{\"a\":\"x\"}", "eq"},
    {"{{#if (ne a \"x\")}}ne{{else}}eq{{/if}}", "{\"a\":\"y\"}", "ne"},
    {"{{#if (gt n 3)}}big{{else}}small{{/if}}", "{\"n\":5}", "big"},
    {"{{#if (lt n 3)}}small{{else}}big{{/if}}", "{\"n\":5}", "big"},
    {"{{#if (and a (not b))}}ok{{/if}}", "{\"a\":true,\"b\":false}", "ok"},
    {"{{#if (or a b)}}ok{{else}}none{{/if}}", "{\"a\":0,\"b\":\"\"}", "none"},
    {"{{#if (and (gt n 1) (lt n 10) (eq t \"vip\"))}}vip{{/if}}", "{\"n\":5,\"t\":\"vip\"}", "vip"},
    {"{{#unless (eq status \"active\")}}inactive{{/unless}}", "{\"status\":\"gone\"}", "inactive"},
    {"{{eq a 1}}", "{\"a\":1}", "true"},
    /* values (objects and arrays print nothing; Handlebars prints
     * "[object Object]" and "1,2") */
    {"{{t}} {{f}} {{n}} {{r}} {{z}}", "{\"t\":true,\"f\":false,\"n\":-3,\"r\":0.5,\"z\":null}",
     "true false -3 0.5 "},
    {"{{n}}", "{\"n\":-0.0}", "0"},
    {"{{o}}|{{a}}", "{\"o\":{\"x\":1},\"a\":[1]}", "|"},
    /* HTML escaping matches Handlebars */
    {"{{s}}", "{\"s\":\"<a href='x'>&\\\"`=</a>\"}",
     "&lt;a href&#x3D;&#x27;x&#x27;&gt;&amp;&quot;&#x60;&#x3D;&lt;/a&gt;"},
    /* comments and whitespace control */
    {"a{{!-- has }} inside --}}b", "{}", "ab"},
    {"a  {{~x~}}  b", "{\"x\":\"X\"}", "aXb"},
    {"<ul>\n  {{#each i~}}\n  <li>{{.}}</li>\n  {{~/each}}\n</ul>", "{\"i\":[1,2]}",
     "<ul>\n<li>1</li><li>2</li></ul>"},
    /* Mustache sections still work next to helpers */
    {"{{#items}}{{name}}{{else}}none{{/items}}", "{\"items\":[]}", "none"},
    {"{{#items}}{{@index}}{{/items}}", "{\"items\":[\"a\",\"b\"]}", "01"},
};

static void test_cases(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct hb_case *c = &cases[i];
        edm_tpl *t = NULL;
        edm_tpl_error err;
        json_error_t jerr;
        json_t *data = json_loads(c->data, JSON_DECODE_ANY, &jerr);
        assert_non_null(data);
        if (edm_tpl_compile(&t, c->tmpl, strlen(c->tmpl), NULL, &err) != 0) {
            print_message("case %zu %s: compile: %s\n", i, c->tmpl, err.msg);
            failed++;
            json_decref(data);
            continue;
        }
        edm_buf out = EDM_BUF_INIT;
        edm_tpl_opts opts = {.mode = EDM_TPL_HTML};
        int rc = edm_tpl_render(t, data, &opts, &out, &err);
        if (rc != 0 || strcmp(edm_buf_cstr(&out), c->expected) != 0) {
            print_message("case %zu %s\n  expected [%s]\n  got      [%s] (rc %d %s)\n", i, c->tmpl,
                          c->expected, edm_buf_cstr(&out), rc, err.msg);
            failed++;
        }
        edm_buf_free(&out);
        edm_tpl_free(t);
        json_decref(data);
    }
    print_message("handlebars subset: %zu/%zu\n", sizeof cases / sizeof cases[0] - (size_t)failed,
                  sizeof cases / sizeof cases[0]);
    assert_int_equal(failed, 0);
}

/* edm_tpl_set_names: a key named by any tag of any part or partial, as a
 * variable, a section, a path segment or a helper's argument; text that
 * merely contains the word does not count. */
static void test_set_names(void **state)
{
    (void)state;
    static const struct {
        const char *tmpl;
        int named;
    } t[] = {
        {"{\"subject\":\"s\",\"text\":\"{{u}}\"}", 1},
        {"{\"subject\":\"{{#u}}x{{/u}}\",\"text\":\"t\"}", 1},
        {"{\"subject\":\"s\",\"html\":\"{{^u}}x{{/u}}\"}", 1},
        {"{\"subject\":\"s\",\"text\":\"{{a.u}}\"}", 1},
        {"{\"subject\":\"s\",\"text\":\"{{upper (default u 'x')}}\"}", 1},
        {"{\"subject\":\"s\",\"text\":\"{{#if u}}y{{/if}}\"}", 1},
        {"{\"subject\":\"s\",\"text\":\"{{>p}}\",\"partials\":{\"p\":\"{{{u}}}\"}}", 1},
        {"{\"subject\":\"s\",\"text\":\"u {{uu}} {{x.uv}}\"}", 0},
        {"{\"subject\":\"s\",\"text\":\"{{!u}}\"}", 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        json_error_t je;
        json_t *j = json_loads(t[i].tmpl, 0, &je);
        assert_non_null(j);
        edm_tpl_set *set = NULL;
        edm_tpl_error err;
        if (edm_tpl_set_compile(&set, j, &err) != 0)
            fail_msg("%s: %s", t[i].tmpl, err.msg);
        if (edm_tpl_set_names(set, "u") != t[i].named)
            fail_msg("%s: names u is %d, expected %d", t[i].tmpl, !t[i].named, t[i].named);
        edm_tpl_set_free(set);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases),
                                       cmocka_unit_test(test_set_names)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
