/*
 * tests/engine/delivery/test_shaping_wire.c: shaping measured at the
 * receiving end. The relay (engine/delivery/relay.c) sends through the
 * real ESMTP client (edm_transport_smtp) from loopback source addresses
 * 127.0.0.2-5 to the project's fake SMTP server on 127.0.1.1
 * (tests/support/smtp_fake.c), which records the client address and the
 * arrival time of every message and the connections open at once from
 * each address. MX answers come from the table resolver, so two domains
 * can share one MX host. Cases: weights split within 5 points and weight
 * 0 sends nothing, also with every address at its connection cap;
 * per-address connections and rate hold (rate within 10% of the limit,
 * no more than `burst` back to back); two domains sharing an MX share
 * limits; a backoff reply pauses only the address that got it. A restart
 * keeping counters is tests/engine/delivery/test_shaping.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "engine/config/config.h"
#include "engine/delivery/relay.h"
#include "tests/support/outmsg_fake.h"
#include "tests/support/resolve_fake.h"
#include "tests/support/smtp_fake.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GOT 512

typedef struct got {
    char rcpt[64];
    int status;
    int code;
    char source_ip[64];
    uint64_t at_ms;
} got;

struct fx {
    uv_loop_t loop;
    edm_config cfg;
    edm_pools pools;
    resolve_fake *dns;
    smtp_fake *mx;
    edm_relay *relay;
    got got[MAX_GOT];
    size_t ngot;
    int64_t next_id;
    int stopped;
};

static const resolve_fake_entry dns_table[] = {
    {"a.test", 0, "mx.a.test", "127.0.1.1"},
    {"s1.test", 0, "mx.shared.test", "127.0.1.1"},
    {"s2.test", 0, "mx.shared.test", "127.0.1.1"},
};

static void on_done(void *ctx, edm_outmsg *m, const edm_outcome *o)
{
    struct fx *f = ctx;
    assert_non_null(o);
    assert_true(f->ngot < MAX_GOT);
    got *g = &f->got[f->ngot++];
    snprintf(g->rcpt, sizeof g->rcpt, "%s", m->rcpt);
    g->status = (int)o->status;
    g->code = o->code;
    snprintf(g->source_ip, sizeof g->source_ip, "%s", o->source_ip);
    g->at_ms = edm_time_mono_ms();
    edm_free(m->rcpt);
    edm_free(m->domain);
    edm_free(m->sender);
    edm_free(m->message_id);
    edm_buf_free(&m->data);
    edm_free(m);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    uv_loop_init(&f->loop);
    *state = f;
    return 0;
}

/* The MX (with rules), the config (its rules around the MX's port), the
 * relay on the real SMTP client. */
static void start(struct fx *f, const char *rules_json, const smtp_fake_rule *rules, size_t n)
{
    smtp_fake_config fc = {.ip = "127.0.1.1", .port = 0, .rules = rules, .nrules = n};
    f->mx = smtp_fake_start(&f->loop, &fc);
    assert_non_null(f->mx);
    char json[2048];
    snprintf(json, sizeof json,
             "{\"smtp\": {\"helo\": \"edm.test\", \"tls\": \"none\", \"port\": %d}, %s}",
             smtp_fake_port(f->mx), rules_json);
    edm_config_errors errs;
    int rc = edm_config_load_string(json, strlen(json), "test", ".", &f->cfg, &errs);
    for (size_t i = 0; rc && i < errs.count; i++)
        fprintf(stderr, "config: %s\n", errs.msg[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(edm_pools_init(&f->pools, &f->cfg, NULL), 0);
    f->dns = resolve_fake_new(&f->loop, dns_table, sizeof dns_table / sizeof dns_table[0]);
    edm_relay_opts o = {.loop = &f->loop,
                        .cfg = &f->cfg,
                        .pools = &f->pools,
                        .resolve = resolve_fake_resolve,
                        .resolve_ctx = f->dns,
                        .transport = &edm_transport_smtp,
                        .done = on_done,
                        .ctx = f};
    assert_int_equal(edm_relay_new(&o, &f->relay), 0);
}

static void on_stopped(void *arg)
{
    ((struct fx *)arg)->stopped++;
}

/* Stops everything this test started, also after a failure. */
static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->relay) {
        edm_relay_stop(f->relay, on_stopped, f);
        while (!f->stopped)
            uv_run(&f->loop, UV_RUN_ONCE);
        edm_relay_free(f->relay);
        resolve_fake_free(f->dns);
        edm_pools_free(&f->pools);
        edm_config_free(&f->cfg);
    }
    if (f->mx) {
        smtp_fake_close(f->mx);
        while (!smtp_fake_closed(f->mx))
            uv_run(&f->loop, UV_RUN_ONCE);
        smtp_fake_free(f->mx);
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    edm_time_reset_offset();
    free(f);
    return 0;
}

static void submit(struct fx *f, const char *rcpt)
{
    edm_outmsg *m = outmsg_fake(++f->next_id, rcpt);
    edm_relay_submit(f->relay, m);
}

static void submit_n(struct fx *f, const char *fmt, int n)
{
    for (int i = 0; i < n; i++) {
        char rcpt[64];
        snprintf(rcpt, sizeof rcpt, fmt, i);
        submit(f, rcpt);
    }
}

static void wait_outcomes(struct fx *f, size_t n, int seconds)
{
    uint64_t deadline = edm_time_mono_ms() + (uint64_t)seconds * 1000;
    while (f->ngot < n) {
        if (edm_time_mono_ms() > deadline)
            fail_msg("%zu outcomes, want %zu", f->ngot, n);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        edm_test_sleep_ms(1);
    }
}

/* Messages that arrived from peer. */
static size_t arrived_from(const struct fx *f, const char *peer)
{
    size_t n = 0;
    for (size_t i = 0; i < smtp_fake_messages(f->mx); i++)
        n += strcmp(smtp_fake_arrival_of(f->mx, i)->peer, peer) == 0;
    return n;
}

#define POOL4                                                                                      \
    "\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\"},"                     \
    " {\"addr\": \"127.0.0.3\"}, {\"addr\": \"127.0.0.4\", \"weight\": 2},"                        \
    " {\"addr\": \"127.0.0.5\", \"weight\": 0}]}]"

/* Weights 1, 1, 2, 0 with limits above the load: the receiver sees 25%,
 * 25%, 50% (within 5 points) and nothing from the weight-0 address. */
static void weights_split_at_the_receiver(void **state)
{
    struct fx *f = *state;
    start(f,
          POOL4 ", \"domains\": [{\"match\": \"*\", \"max_connections\": 100,"
                " \"max_messages_per_connection\": 5}]",
          NULL, 0);
    submit_n(f, "r%d@a.test", 200);
    wait_outcomes(f, 200, 60);
    assert_int_equal(smtp_fake_messages(f->mx), 200);
    const char *peers[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
    const double want[] = {25, 25, 50};
    for (size_t i = 0; i < 3; i++) {
        double share = 100.0 * (double)arrived_from(f, peers[i]) / 200;
        if (share < want[i] - 5 || share > want[i] + 5)
            fail_msg("%s: %.1f%% of the messages, want %.0f%% +-5", peers[i], share, want[i]);
    }
    assert_int_equal(arrived_from(f, "127.0.0.5"), 0);
    assert_int_equal(smtp_fake_max_open_from(f->mx, "127.0.0.5"), 0);
}

/* Weights split the messages even when every address is at its
 * max_connections (one connection each): 3 and 1 give 75% and 25%
 * at the receiver (within 5 points). */
static void weights_split_at_the_connection_cap(void **state)
{
    struct fx *f = *state;
    start(f,
          "\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\", \"weight\": 3},"
          " {\"addr\": \"127.0.0.3\"}]}], \"domains\": [{\"match\": \"*\", \"max_connections\": 1,"
          " \"max_messages_per_connection\": 100}]",
          NULL, 0);
    submit_n(f, "r%d@a.test", 200);
    wait_outcomes(f, 200, 60);
    assert_int_equal(smtp_fake_messages(f->mx), 200);
    double share = 100.0 * (double)arrived_from(f, "127.0.0.2") / 200;
    if (share < 70 || share > 80)
        fail_msg("127.0.0.2: %.1f%% of the messages, want 75%% +-5", share);
}

/* Per address: at most max_connections open, messages at max_per_minute
 * (within 10%), never more than burst back to back. */
static void per_ip_connections_and_rate_hold(void **state)
{
    struct fx *f = *state;
    start(f,
          "\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\"},"
          " {\"addr\": \"127.0.0.3\"}]}],"
          " \"domains\": [{\"match\": \"*\", \"max_connections\": 2,"
          " \"max_messages_per_connection\": 100, \"max_per_minute\": 600, \"burst\": 2}]",
          NULL, 0);
    submit_n(f, "r%d@a.test", 44);
    wait_outcomes(f, 44, 60);
    const char *peers[] = {"127.0.0.2", "127.0.0.3"};
    for (size_t p = 0; p < 2; p++) {
        assert_true(smtp_fake_max_open_from(f->mx, peers[p]) <= 2);
        uint64_t at[64];
        size_t n = 0;
        for (size_t i = 0; i < smtp_fake_messages(f->mx) && n < 64; i++)
            if (strcmp(smtp_fake_arrival_of(f->mx, i)->peer, peers[p]) == 0)
                at[n++] = smtp_fake_arrival_of(f->mx, i)->at_ms;
        assert_true(n >= 15);
        /* After the first burst, one every 100 ms. */
        double rate = 60000.0 * (double)(n - 2) / (double)(at[n - 1] - at[1]);
        if (rate < 540 || rate > 660)
            fail_msg("%s: %.0f messages a minute, want 600 +-10%%", peers[p], rate);
        /* Back to back: gaps under a quarter of the spacing. */
        size_t run = 1, longest = 1;
        for (size_t i = 1; i < n; i++) {
            run = at[i] - at[i - 1] < 25 ? run + 1 : 1;
            if (run > longest)
                longest = run;
        }
        if (longest > 2)
            fail_msg("%s: %zu messages back to back, burst is 2", peers[p], longest);
    }
}

/* s1.test and s2.test share MX host mx.shared.test: under an "mx:" rule of
 * one connection they never have two open from the same address. */
static void domains_sharing_an_mx_share_limits(void **state)
{
    struct fx *f = *state;
    start(f,
          "\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\"}]}],"
          " \"domains\": [{\"match\": \"mx:*.shared.test\", \"max_connections\": 1,"
          " \"max_messages_per_connection\": 4}, {\"match\": \"*\", \"max_connections\": 5}]",
          NULL, 0);
    submit_n(f, "r%d@s1.test", 12);
    submit_n(f, "r%d@s2.test", 12);
    wait_outcomes(f, 24, 60);
    assert_int_equal(smtp_fake_messages(f->mx), 24);
    assert_int_equal(smtp_fake_max_open_from(f->mx, "127.0.0.2"), 1);
}

/* A 421 4.7.0 to one address pauses that address only: nothing more
 * arrives from it, the other carries the rest. */
static void backoff_pauses_only_the_ip_that_got_the_reply(void **state)
{
    struct fx *f = *state;
    static const smtp_fake_rule rules[] = {
        {FAKE_RCPT, "slow@", "421 4.7.0 Try again later, too many messages\r\n", 0, FAKE_REPLY, 1},
    };
    start(f,
          "\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\"},"
          " {\"addr\": \"127.0.0.3\"}]}],"
          " \"domains\": [{\"match\": \"*\", \"max_connections\": 1,"
          " \"max_messages_per_connection\": 100, \"max_per_minute\": 1200,"
          " \"backoff\": {\"on\": [\"421\", \"4.7.\"], \"pause\": 30}}]",
          rules, 1);
    submit_n(f, "a%d@a.test", 6);
    submit(f, "slow@a.test");
    submit_n(f, "b%d@a.test", 30);
    wait_outcomes(f, 37, 60);
    const got *hit = NULL;
    for (size_t i = 0; i < f->ngot; i++)
        if (f->got[i].code == 421)
            hit = &f->got[i];
    assert_non_null(hit);
    assert_int_equal(hit->status, EDM_DSTATE_DEFERRED);
    const char *other = strcmp(hit->source_ip, "127.0.0.2") == 0 ? "127.0.0.3" : "127.0.0.2";
    size_t after_paused = 0, after_other = 0;
    for (size_t i = 0; i < smtp_fake_messages(f->mx); i++) {
        const smtp_fake_arrival *a = smtp_fake_arrival_of(f->mx, i);
        if (a->at_ms <= hit->at_ms)
            continue;
        after_paused += strcmp(a->peer, hit->source_ip) == 0;
        after_other += strcmp(a->peer, other) == 0;
    }
    assert_int_equal(after_paused, 0);
    assert_true(after_other >= 20);
    assert_int_equal(smtp_fake_messages(f->mx), 36);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(weights_split_at_the_receiver, setup, teardown),
        cmocka_unit_test_setup_teardown(weights_split_at_the_connection_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(per_ip_connections_and_rate_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(domains_sharing_an_mx_share_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(backoff_pauses_only_the_ip_that_got_the_reply, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
