/*
 * tests/fuzz/fuzz_template.c: libFuzzer target for the template compiler
 * and renderer. The input is split at NUL bytes into a template, a partial
 * source (available as "p" and, with the template itself, "self") and
 * JSON data; the template is compiled and rendered in every escape mode,
 * strict and not, against the fuzzed data (when it parses) and a fixed
 * data set with nested objects, arrays and control characters.
 */
#include "templates/template.h"

#include "engine/base/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char fixed[] =
    "{\"name\":\"Ann <b>\",\"n\":3,\"r\":1.5,\"t\":true,\"f\":false,\"z\":null,\"e\":\"\","
    "\"s\":\"Hi\\r\\nBcc: x@example.com\",\"p\":\"p\",\"self\":\"self\","
    "\"items\":[{\"name\":\"a\",\"price\":1},{\"name\":\"b\",\"items\":[1,2]},3,\"x\"],"
    "\"obj\":{\"a\":{\"b\":{\"c\":\"deep\"}},\"k\":[[],{}]},\"date\":\"2026-11-27T13:10:21Z\"}";

static void render_all(const edm_tpl *t, const json_t *data)
{
    edm_buf out = EDM_BUF_INIT;
    edm_tpl_error err;
    for (int mode = 0; mode < 3; mode++)
        for (int strict = 0; strict < 2; strict++) {
            edm_tpl_opts o = {
                .mode = (enum edm_tpl_mode)mode, .strict = strict, .max_output = 1 << 16};
            edm_buf_reset(&out);
            int rc = edm_tpl_render(t, data, &o, &out, &err);
            if (rc != 0 && err.msg[0] == '\0')
                abort(); /* every error carries a message */
            if (rc == 0 && mode == EDM_TPL_HEADER && out.len &&
                (memchr(out.data, '\n', out.len) || memchr(out.data, '\r', out.len)))
                abort(); /* header mode must never emit CR or LF */
            if (out.len > (1 << 16))
                abort();
        }
    edm_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *seg[3] = {"", "", ""};
    size_t len[3] = {0, 0, 0};
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= size && k < 3; i++)
        if (i == size || (data[i] == 0 && k < 2)) {
            seg[k] = (const char *)data + start;
            len[k++] = i - start;
            start = i + 1;
        }
    json_t *partials = json_object();
    json_object_set_new(partials, "p", json_stringn_nocheck(seg[1], len[1]));
    json_object_set_new(partials, "self", json_stringn_nocheck(seg[0], len[0]));
    edm_tpl *t = NULL;
    edm_tpl_error err;
    int rc = edm_tpl_compile(&t, seg[0], len[0], partials, &err);
    if (rc != 0) {
        if (err.msg[0] == '\0')
            abort();
    } else {
        json_t *fix = json_loads(fixed, 0, NULL);
        render_all(t, fix);
        json_decref(fix);
        json_t *d = len[2] ? json_loadb(seg[2], len[2], JSON_DECODE_ANY, NULL) : NULL;
        if (d) {
            render_all(t, d);
            json_decref(d);
        }
        edm_tpl_free(t);
    }
    json_decref(partials);
    return 0;
}
