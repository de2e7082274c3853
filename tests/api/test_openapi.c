/*
 * tests/api/test_openapi.c: api/openapi.json is true: every route of the
 * router's table is documented (path and method) and every documented
 * operation is a route; the live server serves the same document, and
 * each documented operation exists there (never "no such route" or 405).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api_int.h"
#include "tests/api/apitest.h"
#include "tests/support/testlib.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *load_doc(void)
{
    json_error_t e;
    json_t *doc = json_load_file(edm_test_src("api/openapi.json"), 0, &e);
    if (doc == NULL)
        fail_msg("api/openapi.json: line %d: %s", e.line, e.text);
    return doc;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void table_and_document_agree(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.0.3");
    json_t *paths = json_object_get(doc, "paths");
    /* every route is documented */
    for (size_t i = 0; i < api_nroutes; i++) {
        char m[16];
        snprintf(m, sizeof m, "%s", http_method_str(api_routes[i].method));
        lower(m);
        json_t *op = json_object_get(json_object_get(paths, api_routes[i].pattern), m);
        if (op == NULL)
            fail_msg("route %s %s is not in api/openapi.json", m, api_routes[i].pattern);
        json_t *resp = json_object_get(op, "responses");
        assert_true(json_object_size(resp) > 0);
        if (!(api_routes[i].flags & API_NOAUTH) && json_object_get(resp, "401") == NULL)
            fail_msg("%s %s: 401 not documented", m, api_routes[i].pattern);
        if ((api_routes[i].flags & API_IDEMPOTENT)) {
            int has = 0;
            size_t k;
            json_t *p;
            json_array_foreach(json_object_get(op, "parameters"), k, p) has |=
                strcmp(json_string_value(json_object_get(p, "name")), "Idempotency-Key") == 0;
            if (!has)
                fail_msg("%s %s: Idempotency-Key not documented", m, api_routes[i].pattern);
        }
    }
    /* every documented operation is a route */
    const char *path;
    json_t *ops;
    size_t documented = 0;
    json_object_foreach(paths, path, ops)
    {
        const char *method;
        json_t *op;
        json_object_foreach(ops, method, op)
        {
            documented++;
            int found = 0;
            for (size_t i = 0; i < api_nroutes && !found; i++) {
                char m[16];
                snprintf(m, sizeof m, "%s", http_method_str(api_routes[i].method));
                lower(m);
                found = strcmp(api_routes[i].pattern, path) == 0 && strcmp(m, method) == 0;
            }
            if (!found)
                fail_msg("documented %s %s is not a route", method, path);
        }
    }
    assert_int_equal(documented, api_nroutes);
    json_decref(doc);
}

static void served_and_every_operation_exists(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, "k", 0, 0, 0);
    char *out = NULL;
    assert_int_equal(
        apitest_req(&t, "GET", "/v1/openapi.json", NULL, 0, NULL, NULL, NULL, &out, NULL), 200);
    size_t len;
    char *file = edm_test_read_file(edm_test_src("api/openapi.json"), &len);
    assert_int_equal(strlen(out), len);
    assert_string_equal(out, file);
    free(out);
    free(file);
    json_t *doc = load_doc();
    const char *path;
    json_t *ops;
    json_object_foreach(json_object_get(doc, "paths"), path, ops)
    {
        const char *method;
        json_t *op;
        json_object_foreach(ops, method, op)
        {
            char real[128], m[16];
            const char *brace = strstr(path, "{id}");
            if (brace)
                snprintf(real, sizeof real, "%.*s1%s", (int)(brace - path), path, brace + 4);
            else
                snprintf(real, sizeof real, "%s", path);
            snprintf(m, sizeof m, "%s", method);
            for (char *p = m; *p; p++)
                *p = (char)toupper((unsigned char)*p);
            int st = apitest_req(&t, m, real, NULL, 0, NULL, NULL, NULL, &out, NULL);
            if (st == 405 || (st == 404 && strstr(out, "no such route")))
                fail_msg("%s %s: %d %s", m, real, st, out);
            free(out);
        }
    }
    json_decref(doc);
    apitest_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_and_document_agree),
        cmocka_unit_test(served_and_every_operation_exists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
