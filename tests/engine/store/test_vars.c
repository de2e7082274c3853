/*
 * tests/engine/store/test_vars.c: the compact form of a recipient's
 * variables (engine/store/vars.c, vars_cache.c): round trips (empty
 * values, UTF-8, bytes that look like JSON or varints, many columns,
 * long values), the JSON text form and no variables, which objects stay
 * JSON, and malformed bytes refused with a reason; then the store on both
 * backends: compact and JSON rows claimed back as the same objects, one
 * names row shared by every upload with the same names, and a row whose
 * names row is gone failing alone with a clear reason. Registered twice
 * (tests/engine/store/store.cmake): on SQLite and on PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/store/store.h"
#include "engine/store/vars.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Encodes the object's strings with names id 7 and decodes them back. */
static json_t *round_trip(const json_t *obj)
{
    edm_buf names = EDM_BUF_INIT, vals = EDM_BUF_INIT, bin = EDM_BUF_INIT;
    assert_int_equal(edm_vars_from_object(obj, &names, &vals), 1);
    assert_int_equal(edm_vars_encode(&bin, 7, (const unsigned char *)vals.data, vals.len), 0);
    edm_vars v = {0};
    char err[160];
    assert_int_equal(edm_var_names_parse(7, names.data, names.len, &v.names, err, sizeof err), 0);
    assert_int_equal(edm_var_names_count(v.names), json_object_size(obj));
    v.bin = (unsigned char *)edm_buf_detach(&bin, &v.binlen);
    int64_t id = 0;
    assert_int_equal(edm_vars_names_id(v.bin, v.binlen, &id), 0);
    assert_int_equal(id, 7);
    json_t *out = NULL;
    assert_int_equal(edm_vars_to_json(&v, &out, err, sizeof err), 0);
    edm_vars_clear(&v);
    edm_buf_free(&names);
    edm_buf_free(&vals);
    return out;
}

static void round_trips(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"name\":\"Ann\",\"city\":\"Paris\"}",
        "{\"a\":\"\",\"b\":\"\",\"c\":\"x\"}",                              /* empty strings */
        "{\"\u00e9t\u00e9\":\"\u5f20\u4f1f \U0001F600\",\"k\":\"\u00fc\"}", /* UTF-8 */
        "{\"j\":\"{\\\"x\\\":[1,2]}\",\"q\":\"\\\"\\\\\\t\\n\\r\"}",        /* JSON-looking */
        "{\"v\":\"\\u007f\\u0001\\u0080\\u00ff\\u0002\"}",                  /* varint-like bytes */
        "{\"weird key\\t\\\"\\\\\":\"k\",\"\":\"empty name\"}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_error_t jerr;
        json_t *obj = json_loads(cases[i], 0, &jerr);
        if (obj == NULL)
            fail_msg("case %zu: %s", i, jerr.text);
        json_t *back = round_trip(obj);
        if (!json_equal(obj, back))
            fail_msg("case %zu: %s came back as %s", i, cases[i], json_dumps(back, 0));
        json_decref(obj);
        json_decref(back);
    }
    /* many columns, values long enough for multi-byte lengths */
    json_t *obj = json_object();
    char *big = edm_malloc(70000);
    memset(big, 'x', 69999);
    big[69999] = '\0';
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof k, "col%d", i);
        json_object_set_new(obj, k, json_string(i == 150 ? big : i % 7 ? k : ""));
    }
    json_t *back = round_trip(obj);
    assert_true(json_equal(obj, back));
    json_decref(obj);
    json_decref(back);
    edm_free(big);
}

static void other_forms(void **state)
{
    (void)state;
    char err[160];
    json_t *out = NULL;
    /* none: {} */
    edm_vars v = {0};
    assert_int_equal(edm_vars_to_json(&v, &out, err, sizeof err), 0);
    assert_int_equal(json_object_size(out), 0);
    json_decref(out);
    /* JSON text, as rows written before */
    v.json = edm_strdup("{\"n\":1,\"s\":\"x\"}");
    assert_int_equal(edm_vars_to_json(&v, &out, err, sizeof err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "n")), 1);
    json_decref(out);
    edm_vars_clear(&v);
    v.json = edm_strdup("[1]");
    assert_int_equal(edm_vars_to_json(&v, &out, err, sizeof err), EDM_EINVAL);
    assert_non_null(strstr(err, "not a JSON object"));
    edm_vars_clear(&v);
    /* objects that stay JSON text: empty, or a value not a NUL-free string */
    static const char *const stay[] = {"{}",
                                       "{\"a\":\"x\",\"n\":1}",
                                       "{\"b\":true}",
                                       "{\"o\":{\"x\":\"y\"}}",
                                       "{\"a\":[\"x\"]}",
                                       "{\"z\":null}",
                                       "{\"nul\":\"a\\u0000b\"}"};
    edm_buf names = EDM_BUF_INIT, vals = EDM_BUF_INIT;
    for (size_t i = 0; i < sizeof stay / sizeof stay[0]; i++) {
        json_t *obj = json_loads(stay[i], JSON_ALLOW_NUL, NULL);
        assert_non_null(obj);
        assert_int_equal(edm_vars_from_object(obj, &names, &vals), 0);
        assert_int_equal(names.len + vals.len, 0);
        json_decref(obj);
    }
    edm_buf_free(&names);
    edm_buf_free(&vals);
}

/* Decodes bytes against names ["a","b"] (id 5): the reason, or "" when
 * they decode. */
static const char *decode(const void *bytes, size_t n, char *err, size_t errlen)
{
    edm_vars v = {0};
    assert_int_equal(edm_var_names_parse(5, "[\"a\",\"b\"]", 9, &v.names, err, errlen), 0);
    v.bin = edm_malloc(n ? n : 1);
    memcpy(v.bin, bytes, n);
    v.binlen = n;
    json_t *out = NULL;
    err[0] = '\0';
    int rc = edm_vars_to_json(&v, &out, err, errlen);
    assert_true(rc == 0 || rc == EDM_EINVAL);
    assert_true((rc == 0) == (out != NULL));
    if (rc != 0)
        assert_true(err[0] != '\0');
    json_decref(out);
    edm_vars_clear(&v);
    return err;
}

static void malformed_bytes_are_refused(void **state)
{
    (void)state;
    char err[160];
    assert_string_equal(decode("\x01\x05\x01x\x00", 5, err, sizeof err), "");
    static const struct {
        const char *bytes;
        size_t n;
        const char *why;
    } bad[] = {
        {"", 0, "bad header"},
        {"\x01", 1, "bad header"},
        {"\x02\x05\x01x\x00", 5, "bad header"},        /* wrong tag */
        {"{\"a\":1}", 7, "bad header"},                /* JSON text as bytes */
        {"\x01\x00\x00\x00", 4, "bad header"},         /* names id 0 */
        {"\x01\x85", 2, "bad header"},                 /* varint cut */
        {"\x01\x06\x01x\x00", 5, "without its names"}, /* another names id */
        {"\x01\x05\x01x", 4, "value 2 of 2"},          /* one value short */
        {"\x01\x05\x05x\x00", 5, "value 1 of 2"},      /* length past the end */
        {"\x01\x05\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 12, "value 1 of 2"},
        {"\x01\x05\x01x\x00\x00", 6, "past the last"}, /* a value too many */
        {"\x01\x05\x02\xc3\x28\x00", 6, "UTF-8"},      /* not UTF-8 */
        {"\x01\x05\x03x\x00y\x00", 7, "NUL"},          /* a NUL inside */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *e = decode(bad[i].bytes, bad[i].n, err, sizeof err);
        if (strstr(e, bad[i].why) == NULL)
            fail_msg("case %zu: wanted \"%s\", got \"%s\"", i, bad[i].why, e);
    }
    /* names rows that are not arrays of strings */
    edm_var_names *nm = NULL;
    assert_int_equal(edm_var_names_parse(3, "{\"a\":1}", 7, &nm, err, sizeof err), EDM_EINVAL);
    assert_int_equal(edm_var_names_parse(3, "[\"a\",2]", 7, &nm, err, sizeof err), EDM_EINVAL);
    assert_non_null(strstr(err, "not a string"));
    assert_null(nm);
}

/* ---- the store, on both backends ---- */

static int setup(void **state)
{
    return edm_test_store_fx_new(state, "vars", 1);
}

static int teardown(void **state)
{
    return edm_test_store_fx_free(state);
}

/* Uploads email with the variables of obj as a writer hands them:
 * compact when they can be, else JSON text. */
static void upload(edm_store *st, int64_t cid, const char *email, const char *obj_text)
{
    json_t *obj = json_loads(obj_text, 0, NULL);
    assert_non_null(obj);
    edm_buf names = EDM_BUF_INIT, vals = EDM_BUF_INIT;
    edm_recipient r = {.email = email, .domain = strchr(email, '@') + 1};
    if (edm_vars_from_object(obj, &names, &vals) == 1) {
        r.vars_names = names.data;
        r.vars_vals = (const unsigned char *)vals.data;
        r.vars_vals_len = vals.len;
    } else {
        r.vars_json = obj_text;
    }
    edm_upload *up;
    enum edm_add_outcome o;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    assert_int_equal(st->ops->upload_add(up, &r, 1, &o), 0);
    assert_int_equal(o, EDM_ADD_ACCEPTED);
    assert_int_equal(st->ops->upload_end(up, 1), 0);
    json_decref(obj);
    edm_buf_free(&names);
    edm_buf_free(&vals);
}

static void store_keeps_both_forms(void **state)
{
    struct edm_test_store_fx *f = *state;
    edm_store *st = f->st;
    int64_t c1 = edm_test_store_campaign(st, NULL, "x"),
            c2 = edm_test_store_campaign(st, NULL, "x");
    static const char *const rows[] = {
        "{\"first\":\"Ann\",\"city\":\"Z\u00fcrich\"}",
        "{\"first\":\"\",\"city\":\"\\\\\\t\\\"\"}",
        "{\"n\":3,\"first\":\"Bo\"}",
        "{}",
    };
    char email[64];
    for (int i = 0; i < 4; i++) {
        snprintf(email, sizeof email, "r%d@a.test", i);
        upload(st, c1, email, rows[i]);
    }
    /* a second campaign with the same names shares their row */
    upload(st, c2, "s@b.test", rows[0]);
    assert_int_equal(edm_test_store_value(f->path, "SELECT count(*) FROM var_names"), 1);

    int64_t cursor = 0;
    edm_job *jobs;
    size_t n;
    assert_int_equal(st->ops->claim(st, c1, edm_time_now(), 60, &cursor, 10, &jobs, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        json_t *got = NULL, *want = json_loads(rows[i], 0, NULL);
        char err[160];
        assert_int_equal(edm_vars_to_json(&jobs[i].vars, &got, err, sizeof err), 0);
        if (!json_equal(got, want))
            fail_msg("row %zu: %s came back as %s", i, rows[i], json_dumps(got, 0));
        assert_true((jobs[i].vars.bin != NULL) == (i < 2));
        json_decref(got);
        json_decref(want);
    }
    /* the click look-up reads the same */
    edm_track_target tt;
    assert_int_equal(st->ops->track_lookup(st, jobs[1].id, &tt), 0);
    json_t *got = NULL;
    char err[160];
    assert_int_equal(edm_vars_to_json(&tt.vars, &got, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(got, "city")), "\\\t\"");
    json_decref(got);
    edm_vars_clear(&tt.vars);
    edm_free(tt.unsubscribe);
    edm_store_jobs_free(jobs, n);

    /* a names row gone: that row is claimed, and its variables say why */
    edm_store_close(f->st);
    f->st = NULL;
    assert_int_equal(edm_test_store_exec(f->path, "DELETE FROM var_names"), 0);
    assert_int_equal(edm_store_open(f->path, &f->st, err, sizeof err), 0);
    st = f->st;
    cursor = 0;
    assert_int_equal(st->ops->claim(st, c2, edm_time_now(), 60, &cursor, 10, &jobs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(edm_vars_to_json(&jobs[0].vars, &got, err, sizeof err), EDM_EINVAL);
    assert_non_null(strstr(err, "without its names"));
    edm_store_jobs_free(jobs, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips),
        cmocka_unit_test(other_forms),
        cmocka_unit_test(malformed_bytes_are_refused),
        cmocka_unit_test_setup_teardown(store_keeps_both_forms, setup, teardown),
    };
    return _cmocka_run_group_tests("store_test_vars", tests, sizeof tests / sizeof tests[0],
                                   edm_test_store_group_setup, edm_test_store_group_teardown);
}
