/*
 * tests/support/relay_fixture.h: the relay's test fixture, shared by
 * tests/engine/delivery/test_relay.c and test_relay_carry.c: a relay on
 * a table resolver (resolve_fake.c), a scripted transport
 * (transport_fake.c) and the movable clock, and what it handed back.
 */
#ifndef EDM_TEST_RELAY_FIXTURE_H
#define EDM_TEST_RELAY_FIXTURE_H

#include "engine/config/config.h"
#include "engine/delivery/pool.h"
#include "engine/delivery/relay.h"
#include "tests/support/resolve_fake.h"
#include "tests/support/transport_fake.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define MAX_GOT 128

/* What came back: the outcome's status, or DROPPED (no outcome: never
 * attempted). */
#define DROPPED (-1)

typedef struct got {
    char rcpt[64];
    int kind;       /* enum edm_dstate, or DROPPED */
    int needs_7bit; /* m->needs_7bit */
    int attempted;
    int code;
    char category[32];
    char source_ip[64];
    char mx_host[256];
    char response[EDM_OUTCOME_TEXT_MAX];
    int64_t next_attempt_at; /* the relay's lower bound for a deferral */
    uint64_t at_ms;          /* monotonic time it came back */
} got;

struct fx {
    uv_loop_t loop;
    edm_config cfg;
    edm_pools pools;
    resolve_fake *dns;
    transport_fake *tp;
    edm_relay *relay;
    got got[MAX_GOT];
    size_t ngot;
    int64_t next_id;
    int stopped;
};

/* edm_relay_stop's callback: counts in f->stopped. */
void on_stopped(void *arg);
/* cmocka setup and teardown (teardown stops the relay and frees all). */
int setup(void **state);
int teardown(void **state);
/* Config (JSON), pools, fakes and the relay; the transport answers by
 * rules (NULL: every message delivered) after delay_ms. */
void start(struct fx *f, const char *json, const transport_fake_rule *rules, size_t nrules,
           unsigned delay_ms);
/* One message to rcpt ("8bit..." recipients are marked 8BITMIME). */
void submit(struct fx *f, const char *rcpt);
/* n messages to fmt with %d from 0. */
void submit_n(struct fx *f, const char *fmt, int n);
/* n messages to each of the domains d0.test .. d<domains - 1>.test. */
void submit_domains(struct fx *f, int domains, int n);
/* Runs the loop until n outcomes are in (fails after 5 s). */
void wait_outcomes(struct fx *f, size_t n);
/* Runs the loop for ms milliseconds (to see that nothing more happens). */
void spin(struct fx *f, int ms);
/* Outcomes of kind k for recipients ending in suffix. */
size_t count_kind(const struct fx *f, const char *suffix, int k);
/* The relay's "queued" (edm_relay_json). */
json_int_t relay_queued(struct fx *f);
/* What the transport was asked to do. */
const transport_fake_counts *counts(struct fx *f);

#endif
