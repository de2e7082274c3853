/*
 * tests/fuzz/fuzz_smtp_reply.c: libFuzzer target for the SMTP reply parser
 * and the queue id extractor. Feeds the input as a stream of pipelined
 * replies, also split at every 7th byte to exercise partial input.
 */
#include "engine/base/err.h"
#include "engine/smtp/smtp_reply.h"

#include <stdint.h>
#include <string.h>

static void feed(const char *d, size_t n, size_t step)
{
    smtp_reply r;
    smtp_reply_init(&r);
    size_t have = step ? (step < n ? step : n) : n, pos = 0;
    while (pos < n) {
        long used = smtp_reply_parse(&r, d + pos, have - pos);
        if (used < 0)
            break;
        if (used == 0) {
            if (have == n)
                break;
            have = have + step < n ? have + step : n;
            continue;
        }
        EDM_ASSERT((size_t)used <= have - pos);
        EDM_ASSERT(r.code >= 200 && r.code <= 599);
        char id[72];
        smtp_reply_queue_id(edm_buf_cstr(&r.text), id, sizeof id);
        EDM_ASSERT(strlen(id) <= 64);
        pos += (size_t)used;
        if (have < pos)
            have = pos;
    }
    smtp_reply_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    feed((const char *)data, size, 0);
    feed((const char *)data, size, 7);
    return 0;
}
