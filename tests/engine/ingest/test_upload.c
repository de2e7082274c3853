/*
 * tests/engine/ingest/test_upload.c: the streaming recipient parsers (CSV, NDJSON,
 * JSON array): every case is fed whole, in 1-byte and in 7-byte pieces and
 * must give the same rows and rejections (line, email, reason); fatal
 * errors; bounded memory for an unterminated quote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/ingest/upload.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_row(void *ctx, long line, const char *email, size_t len, const edm_upload_vars *vars)
{
    edm_buf *log = ctx;
    char *v = NULL;
    if (vars) {
        /* an object (JSON text, or the compact parts); logged with sorted keys */
        json_t *o = NULL;
        char err[128];
        assert_int_equal(edm_upload_vars_json(vars, &o, err, sizeof err), 0);
        assert_non_null(o);
        assert_true(json_is_object(o));
        v = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
    }
    edm_buf_appendf(log, "%ld|%.*s|%s\n", line, (int)len, email, v ? v : "-");
    free(v);
    return 0;
}

static int on_reject(void *ctx, long line, const char *email, const char *error)
{
    edm_buf *log = ctx;
    edm_buf_appendf(log, "R%ld|%s|%s\n", line, email ? email : "-", error);
    return 0;
}

/* Parses body in pieces of `step` bytes (0 = whole); returns the log. */
static char *parse(enum edm_upload_format fmt, const char *body, size_t len, size_t step, int *rc)
{
    edm_buf log = EDM_BUF_INIT;
    edm_upload_sink sink = {&log, on_row, on_reject};
    edm_upload_parser *p;
    assert_int_equal(edm_upload_parser_new(fmt, &sink, &p), 0);
    *rc = 0;
    size_t off = 0;
    while (off < len && *rc == 0) {
        size_t n = step == 0 || step > len - off ? len - off : step;
        *rc = edm_upload_parser_feed(p, body + off, n);
        off += n;
    }
    if (*rc == 0)
        *rc = edm_upload_parser_finish(p);
    if (*rc != 0)
        edm_buf_appendf(&log, "FATAL %s\n", edm_upload_parser_error(p));
    edm_upload_parser_free(p);
    char *s = edm_buf_detach(&log, NULL);
    return s;
}

static const struct {
    const char *name;
    enum edm_upload_format fmt;
    const char *body;
    const char *expect;
} cases[] = {
    {"csv basic", EDM_UPLOAD_CSV, "email,name\na@x.test,Ann\nb@x.test,Bob\n",
     "2|a@x.test|{\"name\":\"Ann\"}\n3|b@x.test|{\"name\":\"Bob\"}\n"},
    {"csv bom crlf no final newline", EDM_UPLOAD_CSV,
     "\xEF\xBB\xBF"
     "Email,city\r\na@x.test,Oslo",
     "2|a@x.test|{\"city\":\"Oslo\"}\n"},
    {"csv quoted comma newline quote", EDM_UPLOAD_CSV,
     "name,email\n\"Doe, \"\"J\"\"\nline2\",a@x.test\nx,b@x.test\n",
     "2|a@x.test|{\"name\":\"Doe, \\\"J\\\"\\nline2\"}\n4|b@x.test|{\"name\":\"x\"}\n"},
    {"csv bad rows kept apart", EDM_UPLOAD_CSV,
     "email,a\nok@x.test,1\ntoo,many,fields\n\"bad\"x,2\n\nfine@x.test,3\n",
     "2|ok@x.test|{\"a\":\"1\"}\nR3|-|row has 3 fields, the header has 2\n"
     "R4|-|malformed quoting: a character after a closing quote\n6|fine@x.test|{\"a\":\"3\"}\n"},
    {"csv escapes and utf-8", EDM_UPLOAD_CSV,
     "email,n,\"na\"\"me\"\na@x.test,\"tab\there \"\"q\"\" back\\slash \x01 \xc3\xa9\",1\n"
     "b@x.test,\xff,2\n",
     "2|a@x.test|{\"n\":\"tab\\there \\\"q\\\" back\\\\slash \\u0001 "
     "\xc3\xa9\",\"na\\\"me\":\"1\"}\n"
     "R3|-|invalid UTF-8 in column 2\n"},
    {"csv cr only", EDM_UPLOAD_CSV, "email\ra@x.test\rb@x.test\r", "2|a@x.test|-\n3|b@x.test|-\n"},
    {"csv unterminated quote at end", EDM_UPLOAD_CSV, "email\na@x.test\n\"b@x.test\n",
     "2|a@x.test|-\nR3|-|unterminated quoted field\n"},
    {"csv sql and nul", EDM_UPLOAD_CSV, "email,n\n\"x'); DROP TABLE t;--@x.test\",1\na@x.test,\0\n",
     "2|x'); DROP TABLE t;--@x.test|{\"n\":\"1\"}\n"},
    {"csv no email column", EDM_UPLOAD_CSV, "name,mail\nx,y\n",
     "FATAL line 1: the header row has no \"email\" column (CSV needs a header row naming "
     "email and the variables)\n"},
    {"csv empty", EDM_UPLOAD_CSV, "", "FATAL empty CSV: a header row naming \"email\" is needed\n"},
    /* duplicate column names would be duplicate JSON keys in the variables */
    {"csv duplicate column", EDM_UPLOAD_CSV, "email,name,Name, name\na@x.test,1,2,3\n",
     "FATAL line 1: column 4 repeats the name \"name\" of column 2 (column names must be "
     "unique)\n"},
    {"csv second email column", EDM_UPLOAD_CSV, "Email,x,email\na@x.test,1,b@x.test\n",
     "FATAL line 1: column 3 repeats the name \"email\" of column 1 (column names must be "
     "unique)\n"},
    {"csv bad header row", EDM_UPLOAD_CSV, "\"email\"x,name\nemail,name\na@x.test,1\n",
     "FATAL line 1: the header row is malformed: malformed quoting: a character after a "
     "closing quote\n"},
    {"ndjson", EDM_UPLOAD_NDJSON,
     "{\"email\":\"a@x.test\",\"name\":\"A\"}\n\n{\"email\":1}\n{bad\n\"b@x.test\"\n"
     "{\"email\":\"c@x.test\",\"vars\":{\"n\":2},\"n\":1}",
     "1|a@x.test|{\"name\":\"A\"}\nR3|-|email is not a string\n"
     "R4|-|malformed JSON at column 4: string or '}' expected near 'bad'\n5|b@x.test|-\n"
     "6|c@x.test|{\"n\":2}\n"},
    {"ndjson missing email", EDM_UPLOAD_NDJSON, "{\"name\":1}\r\n[1]\n",
     "R1|-|missing email\nR2|-|row is not an object or an address string\n"},
    {"json array", EDM_UPLOAD_JSON,
     " [ {\"email\":\"a@x.test\",\"t\":[1,\"]\"]}, \"b@x.test\" ,{\"email\":\"c\\\"}\"},{x}, 5 ] ",
     "1|a@x.test|{\"t\":[1,\"]\"]}\n2|b@x.test|-\n3|c\"}|-\n"
     "R4|-|malformed JSON at column 2: string or '}' expected near 'x'\n"
     "R5|-|row is not an object or an address string\n"},
    {"json empty array", EDM_UPLOAD_JSON, "[]", ""},
    {"json unclosed", EDM_UPLOAD_JSON, "[\"a@x.test\", {\"email\":",
     "1|a@x.test|-\nR2|-|the body ended before the array was closed (no ']')\n"},
    {"json trailing", EDM_UPLOAD_JSON, "[\"a@x.test\"] x",
     "1|a@x.test|-\nR2|-|data after the end of the array (ignored)\n"},
    {"json not array", EDM_UPLOAD_JSON, "  {\"email\":\"a@x.test\"}",
     "FATAL expected a JSON array of recipients ('[') at byte 2\n"},
    {"sniff array", EDM_UPLOAD_SNIFF, "\xEF\xBB\xBF\n [\"a@x.test\"]", "1|a@x.test|-\n"},
    {"sniff ndjson", EDM_UPLOAD_SNIFF, "{\"email\":\"a@x.test\"}\n", "1|a@x.test|-\n"},
    {"sniff csv", EDM_UPLOAD_SNIFF, "email\na@x.test\n", "2|a@x.test|-\n"},
};

static void table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].body);
        if (strcmp(cases[i].name, "csv sql and nul") == 0)
            len += 2; /* the NUL row: "a@x.test,\0\n" continues after the NUL */
        static const size_t steps[] = {0, 1, 7};
        for (size_t s = 0; s < 3; s++) {
            int rc;
            char *got = parse(cases[i].fmt, cases[i].body, len, steps[s], &rc);
            const char *want = cases[i].expect;
            char nulwant[256];
            if (strcmp(cases[i].name, "csv sql and nul") == 0) {
                snprintf(nulwant, sizeof nulwant, "%sR3|-|NUL byte in row\n", want);
                want = nulwant;
            }
            if (strcmp(got, want) != 0)
                fail_msg("%s (step %zu):\n--- got\n%s--- want\n%s", cases[i].name, steps[s], got,
                         want);
            free(got);
        }
    }
}

static void formats_from_type(void **state)
{
    (void)state;
    assert_int_equal(edm_upload_format_from_type("text/csv; charset=utf-8"), EDM_UPLOAD_CSV);
    assert_int_equal(edm_upload_format_from_type("application/x-ndjson"), EDM_UPLOAD_NDJSON);
    assert_int_equal(edm_upload_format_from_type("Application/JSON"), EDM_UPLOAD_SNIFF);
    assert_int_equal(edm_upload_format_from_type(NULL), EDM_UPLOAD_SNIFF);
}

/* An unterminated quote must not swallow the file: the row is rejected once
 * it passes the limit and the rows after the next line break are read. */
static void unterminated_quote_resyncs(void **state)
{
    (void)state;
    edm_buf body = EDM_BUF_INIT;
    edm_buf_append_str(&body, "email\n\"a@x.test,");
    for (int i = 0; i < EDM_UPLOAD_MAX_ROW / 32; i++)
        edm_buf_append_str(&body,
                           "0123456789012345678901234567890123456789012345678901234567890\n");
    edm_buf_append_str(&body, "z@x.test\n");
    int rc;
    char *got = parse(EDM_UPLOAD_CSV, body.data, body.len, 4096, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(got, "R2|-|row longer than 1 MiB (an unterminated quote?)\n"));
    /* every line after the resync point is read as a row; the last one is valid */
    assert_non_null(strstr(got, "|z@x.test|-\n"));
    free(got);
    edm_buf_free(&body);
}

/* A header row over the row limit is refused: the next line must not
 * become the header (its rows would be read under the wrong columns). */
static void oversized_header_refused(void **state)
{
    (void)state;
    edm_buf body = EDM_BUF_INIT;
    edm_buf_append_str(&body, "email,");
    for (int i = 0; i <= EDM_UPLOAD_MAX_ROW / 32; i++) /* 40 bytes a column */
        edm_buf_appendf(&body, "column%033d,", i);
    edm_buf_append_str(&body, "last\nemail,name\na@x.test,1\n");
    static const size_t steps[] = {0, 4096};
    for (size_t s = 0; s < 2; s++) {
        int rc;
        char *got = parse(EDM_UPLOAD_CSV, body.data, body.len, steps[s], &rc);
        assert_int_equal(rc, EDM_EINVAL);
        assert_string_equal(got, "FATAL line 1: the header row is longer than 1 MiB\n");
        free(got);
    }
    edm_buf_free(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table),
        cmocka_unit_test(formats_from_type),
        cmocka_unit_test(unterminated_quote_resyncs),
        cmocka_unit_test(oversized_header_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
