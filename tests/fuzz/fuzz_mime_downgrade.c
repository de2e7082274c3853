/*
 * tests/fuzz/fuzz_mime_downgrade.c: edm_mime_downgrade
 * (engine/message/mime_downgrade.c) on arbitrary bytes taken as a whole
 * message. It must return 0 or EDM_EINVAL with a reason, never crash; what
 * it appends on success has no byte over 127; on failure it appends
 * nothing; an input without 8-bit bytes comes back unchanged.
 */
#include "engine/base/err.h"
#include "engine/message/mime_downgrade.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    edm_buf out = EDM_BUF_INIT;
    char err[160] = "";
    int rc = edm_mime_downgrade(&out, s, size, err, sizeof err);
    EDM_ASSERT(rc == 0 || rc == EDM_EINVAL);
    int eight = 0;
    for (size_t i = 0; i < size && !eight; i++)
        eight = data[i] >= 0x80;
    if (rc == 0) {
        for (size_t i = 0; i < out.len; i++)
            EDM_ASSERT((unsigned char)out.data[i] < 0x80);
        if (!eight)
            EDM_ASSERT(out.len == size && (size == 0 || memcmp(out.data, s, size) == 0));
    } else {
        EDM_ASSERT(eight && out.len == 0 && err[0] != '\0');
    }
    edm_buf_free(&out);
    return 0;
}
