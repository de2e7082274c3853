/*
 * tests/support/outmsg_fake.h: a small message ready for the relay
 * (engine/delivery/outmsg.h), as the relay tests submit it: campaign 1,
 * queued now, sender bounces@example.com, a one-line body.
 */
#ifndef EDM_TEST_OUTMSG_FAKE_H
#define EDM_TEST_OUTMSG_FAKE_H

#include "engine/delivery/outmsg.h"

#include <stdint.h>

/* A message to rcpt ("user@domain") under delivery_id; the caller hands
 * it to edm_relay_submit, which takes it. */
edm_outmsg *outmsg_fake(int64_t delivery_id, const char *rcpt);

#endif
