/*
 * tests/fuzz/fuzz_vars.c: the decoder of stored variables
 * (engine/store/vars.c), on bytes as a database could hold them. The
 * first input byte picks how many names (0..15) the names row has; the
 * rest is the stored value, decoded against names of the id its header
 * gives (or 1). Decoding must give an object of strings or EDM_EINVAL
 * with a reason, never a crash or a leak; what decodes, encoded again,
 * decodes to the same object. The whole input is also tried as a names
 * row's text and as a JSON-text row.
 */
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/store/vars.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[160];
    edm_var_names *nm = NULL;
    if (edm_var_names_parse(9, (const char *)data, size, &nm, err, sizeof err) == 0)
        edm_var_names_unref(nm);
    if (size == 0)
        return 0;
    size_t n = data[0] & 15;
    char names[128] = "[";
    for (size_t i = 0; i < n; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s\"n%zu\"", i ? "," : "",
                 i % 12); /* some names repeat: the last value wins */
    strcat(names, "]");
    int64_t id = 1;
    edm_vars_names_id(data + 1, size - 1, &id);
    edm_vars v = {0};
    EDM_ASSERT(edm_var_names_parse(id, names, strlen(names), &v.names, err, sizeof err) == 0);
    v.bin = edm_malloc(size);
    EDM_ASSERT(v.bin != NULL);
    memcpy(v.bin, data + 1, size - 1);
    v.binlen = size - 1;
    json_t *obj = NULL;
    err[0] = '\0';
    int rc = edm_vars_to_json(&v, &obj, err, sizeof err);
    EDM_ASSERT(rc == 0 || rc == EDM_EINVAL);
    if (rc != 0) {
        EDM_ASSERT(obj == NULL && err[0] != '\0');
    } else {
        EDM_ASSERT(json_is_object(obj) && json_object_size(obj) <= n);
        edm_buf nb = EDM_BUF_INIT, vb = EDM_BUF_INIT, bin = EDM_BUF_INIT;
        int c = edm_vars_from_object(obj, &nb, &vb);
        EDM_ASSERT(c == (json_object_size(obj) > 0));
        if (c == 1) {
            edm_vars w = {0};
            EDM_ASSERT(edm_vars_encode(&bin, 3, (const unsigned char *)vb.data, vb.len) == 0);
            EDM_ASSERT(edm_var_names_parse(3, nb.data, nb.len, &w.names, err, sizeof err) == 0);
            w.bin = (unsigned char *)edm_buf_detach(&bin, &w.binlen);
            json_t *again = NULL;
            EDM_ASSERT(edm_vars_to_json(&w, &again, err, sizeof err) == 0);
            EDM_ASSERT(json_equal(obj, again));
            json_decref(again);
            edm_vars_clear(&w);
        }
        edm_buf_free(&nb);
        edm_buf_free(&vb);
        edm_buf_free(&bin);
        json_decref(obj);
    }
    edm_vars_clear(&v);
    /* the same bytes as a row's JSON text */
    v.json = edm_strndup((const char *)data, size);
    if (v.json && edm_vars_to_json(&v, &obj, err, sizeof err) == 0)
        json_decref(obj);
    edm_vars_clear(&v);
    return 0;
}
