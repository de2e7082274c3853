/*
 * tests/support/outmsg_fake.c: the relay tests' message (see
 * outmsg_fake.h).
 */
#include "tests/support/outmsg_fake.h"
#include "engine/base/alloc.h"
#include "engine/base/timeutil.h"

#include <stdlib.h>
#include <string.h>

edm_outmsg *outmsg_fake(int64_t delivery_id, const char *rcpt)
{
    edm_outmsg *m = edm_xcalloc(1, sizeof *m);
    m->delivery_id = delivery_id;
    m->campaign_id = 1;
    m->queued_at = edm_time_now();
    m->rcpt = edm_xstrdup(rcpt);
    m->domain = edm_xstrdup(strchr(rcpt, '@') + 1);
    m->sender = edm_xstrdup("bounces@example.com");
    m->message_id = edm_xstrdup("m@example.com");
    if (edm_buf_append_str(&m->data, "Subject: hi\r\n\r\nhello\r\n") != 0)
        abort();
    return m;
}
