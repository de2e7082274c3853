/*
 * tests/engine/delivery/test_relay.c: the relay (engine/delivery/relay.c)
 * through its seams, without sockets: a table resolver
 * (tests/support/resolve_fake.c), a scripted transport
 * (tests/support/transport_fake.c) and the movable clock of
 * engine/base/timeutil.h. Cases: session reuse and
 * max_messages_per_connection, max_connections holding the queue back,
 * the domain's max_per_minute, a backoff reply pausing one domain until
 * the pause is over, a source address's max_per_hour and warm-up caps,
 * DNS and connection failures, an 8bit message refused for want of
 * 8BITMIME given back unsent, stop giving every message back, weights
 * splitting connections and messages, and a slow address holding the
 * other by weight only briefly.
 * Each case asserts on the outcomes the relay hands back and on what the
 * fake transport was asked to do. The fixture: tests/support/
 * relay_fixture.c; connections carrying on across domains:
 * test_relay_carry.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "tests/support/relay_fixture.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A session carries up to max_messages_per_connection messages, then the
 * relay opens the next; an idle session takes later work on its kept
 * connection. */
static void sessions_are_reused_up_to_max_messages(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"domains\": [{\"match\": \"*\", \"max_connections\": 1,"
          " \"max_messages_per_connection\": 3}]}",
          NULL, 0, 1);
    submit_n(f, "r%d@a.test", 7);
    wait_outcomes(f, 7);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 7);
    assert_int_equal(counts(f)->opened, 3);
    assert_int_equal(counts(f)->max_per_conn, 3);
    assert_int_equal(counts(f)->max_open, 1);
    assert_string_equal(f->got[0].mx_host, "mx.a.test");
    assert_int_equal(f->got[0].code, 250);
    assert_int_equal(f->got[0].attempted, 1);
    /* The last session (one message) waits idle: the next one uses it. */
    spin(f, 10);
    submit(f, "late@a.test");
    wait_outcomes(f, 8);
    assert_int_equal(f->got[7].kind, EDM_DSTATE_DELIVERED);
    assert_int_equal(counts(f)->opened, 3);
    assert_int_equal(resolve_fake_lookups(f->dns), 1);
}

/* max_connections bounds the sessions of a destination; what they cannot
 * take waits in the relay's queue. */
static void max_connections_holds_the_queue(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"domains\": [{\"match\": \"*\", \"max_connections\": 2,"
          " \"max_messages_per_connection\": 100}]}",
          NULL, 0, 3);
    submit_n(f, "r%d@a.test", 20);
    assert_int_equal(relay_queued(f), 20); /* DNS answers from the loop */
    wait_outcomes(f, 2);
    assert_true(relay_queued(f) > 0);
    wait_outcomes(f, 20);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 20);
    assert_int_equal(counts(f)->max_open, 2);
    assert_int_equal(counts(f)->max_in_flight, 2);
    assert_int_equal(relay_queued(f), 0);
}

/* max_per_minute 600 per source IP: a burst of 10 (one second's worth:
 * the bucket does not start with the whole minute), then the session
 * waits on its kept connection; with the clock a minute on, the rest goes. */
static void max_per_minute_holds_messages_back(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"domains\": [{\"match\": \"*\", \"max_connections\": 1,"
          " \"max_messages_per_connection\": 100, \"max_per_minute\": 600}]}",
          NULL, 0, 0);
    submit_n(f, "r%d@a.test", 14);
    wait_outcomes(f, 10);
    spin(f, 30);
    assert_int_equal(f->ngot, 10);
    assert_int_equal(relay_queued(f), 4);
    submit(f, "x@a.test"); /* no token yet: it waits too */
    spin(f, 10);
    assert_int_equal(f->ngot, 10);
    edm_time_advance_ms(60 * 1000);
    submit(f, "y@a.test");
    wait_outcomes(f, 16);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 16);
    assert_int_equal(counts(f)->opened, 1); /* the connection was kept */
}

/* Messages leave evenly spaced: 600 a minute with burst 1 is one every
 * 100 ms, never two back to back (measured on the real clock). */
static void messages_leave_evenly_spaced(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"domains\": [{\"match\": \"*\", \"max_connections\": 4,"
          " \"max_per_minute\": 600, \"burst\": 1}]}",
          NULL, 0, 0);
    submit_n(f, "r%d@a.test", 6);
    wait_outcomes(f, 6);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 6);
    for (size_t i = 1; i < 6; i++)
        assert_true(f->got[i].at_ms - f->got[i - 1].at_ms >= 95);
    assert_true(f->got[5].at_ms - f->got[0].at_ms >= 490);
}

/* burst holds for max_per_hour too: 36000 an hour (10 a second) with
 * burst 2 lets 2 leave back to back, then one every 100 ms; without
 * burst, one second's worth (10) goes first. */
static void max_per_hour_keeps_to_burst(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"domains\": [{\"match\": \"*\", \"max_connections\": 1,"
          " \"max_messages_per_connection\": 100, \"max_per_hour\": 36000, \"burst\": 2},"
          " {\"match\": \"b.test\", \"max_connections\": 1,"
          " \"max_messages_per_connection\": 100, \"max_per_hour\": 36000}]}",
          NULL, 0, 0);
    submit_n(f, "r%d@a.test", 14);
    submit_n(f, "r%d@b.test", 14);
    wait_outcomes(f, 12);
    spin(f, 30);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 2);
    assert_int_equal(count_kind(f, "@b.test", EDM_DSTATE_DELIVERED), 10);
    edm_time_advance_ms(60 * 1000);
    wait_outcomes(f, 28);
}

/* A reply matching backoff.on pauses that destination for backoff.pause:
 * what waits for it is deferred to the end of the pause without an
 * attempt, other domains go on, and after the pause it sends again. */
static void backoff_pauses_a_domain_until_the_pause_ends(void **state)
{
    struct fx *f = *state;
    static const transport_fake_rule rules[] = {{"@a.test", TF_BACKOFF, 1, NULL}};
    start(f,
          "{\"domains\": [{\"match\": \"*\", \"max_connections\": 1,"
          " \"backoff\": {\"on\": [\"421\"], \"pause\": 300}}]}",
          rules, 1, 1);
    int64_t t0 = edm_time_now();
    submit_n(f, "r%d@a.test", 5);
    submit_n(f, "r%d@b.test", 2);
    wait_outcomes(f, 7);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DEFERRED), 5);
    assert_int_equal(count_kind(f, "@b.test", EDM_DSTATE_DELIVERED), 2);
    int attempted = 0;
    for (size_t i = 0; i < f->ngot; i++) {
        got *g = &f->got[i];
        if (strstr(g->rcpt, "@a.test") == NULL)
            continue;
        attempted += g->attempted;
        assert_true(g->next_attempt_at >= t0 + 299 && g->next_attempt_at <= edm_time_now() + 301);
        if (g->attempted)
            assert_int_equal(g->code, 421);
        else
            assert_string_equal(g->category, "rate_limited");
    }
    assert_int_equal(attempted, 1);
    json_t *j = edm_relay_json(f->relay);
    json_t *paused = json_object_get(j, "paused_domains");
    assert_int_equal(json_array_size(paused), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(paused, 0), "domain")),
                        "a.test");
    json_decref(j);
    /* During the pause: deferred at once, never handed to a session. */
    unsigned taken = counts(f)->messages;
    submit(f, "during@a.test");
    assert_int_equal(f->ngot, 8);
    assert_int_equal(f->got[7].kind, EDM_DSTATE_DEFERRED);
    assert_int_equal(f->got[7].attempted, 0);
    submit(f, "other@b.test");
    wait_outcomes(f, 9);
    assert_int_equal(f->got[8].kind, EDM_DSTATE_DELIVERED);
    assert_int_equal(counts(f)->messages, taken + 1);
    /* After the pause. */
    edm_time_advance_ms(301 * 1000);
    submit(f, "after@a.test");
    wait_outcomes(f, 10);
    assert_string_equal(f->got[9].rcpt, "after@a.test");
    assert_int_equal(f->got[9].kind, EDM_DSTATE_DELIVERED);
    j = edm_relay_json(f->relay);
    assert_int_equal(json_array_size(json_object_get(j, "paused_domains")), 0);
    json_decref(j);
}

/* A relay refusing our credentials (535) costs one AUTH attempt per pause,
 * however many recipient domains share the route: the first session is
 * the probe, the others wait; the refusal pauses the route and defers
 * every queued message with category auth, saying so in the response.
 * During the pause nothing is tried; after it, one probe again, and once
 * it passes every domain goes. */
static void refused_credentials_pause_the_route(void **state)
{
    struct fx *f = *state;
    static const transport_fake_rule rules[] = {{NULL, TF_AUTHFAIL, 1, NULL}};
    start(f,
          "{\"domains\": [{\"match\": \"*\", \"max_connections\": 4}],"
          " \"routes\": [{\"match\": \"*\", \"relay\": \"a.test:2525\","
          " \"auth\": {\"username\": \"u\", \"password_env\": \"EDM_TEST_NO_SUCH_VAR\"}}]}",
          rules, 1, 1);
    int64_t t0 = edm_time_now();
    for (int d = 0; d < 10; d++) {
        char fmt[32];
        snprintf(fmt, sizeof fmt, "r%%d@d%d.test", d);
        submit_n(f, fmt, 4);
    }
    wait_outcomes(f, 40);
    assert_int_equal(counts(f)->opened, 1);
    assert_int_equal(counts(f)->auth_refused, 1);
    assert_int_equal(counts(f)->messages, 1);
    int attempted = 0;
    for (size_t i = 0; i < f->ngot; i++) {
        got *g = &f->got[i];
        assert_int_equal(g->kind, EDM_DSTATE_DEFERRED);
        assert_string_equal(g->category, "auth");
        assert_int_equal(g->code, 535);
        assert_true(g->next_attempt_at >= t0 + 299 && g->next_attempt_at <= edm_time_now() + 301);
        attempted += g->attempted;
    }
    assert_int_equal(attempted, 1);
    /* During the pause: deferred at once, no session. */
    submit(f, "during@d3.test");
    assert_int_equal(f->ngot, 41);
    assert_string_equal(f->got[40].category, "auth");
    assert_int_equal(f->got[40].attempted, 0);
    assert_non_null(strstr(f->got[40].response, "paused"));
    spin(f, 20);
    assert_int_equal(counts(f)->opened, 1);
    /* After the pause: one probe; it passes, then the other domains go. */
    edm_time_advance_ms(301 * 1000);
    submit_n(f, "after%d@d1.test", 3);
    submit_n(f, "after%d@d2.test", 3);
    wait_outcomes(f, 47);
    for (size_t i = 41; i < 47; i++)
        assert_int_equal(f->got[i].kind, EDM_DSTATE_DELIVERED);
    assert_int_equal(counts(f)->auth_refused, 1);
    assert_true(counts(f)->opened >= 2);
}

/* A source address at its max_per_hour sends nothing more until the hour
 * has passed; the rest waits in the queue. */
static void source_ip_hourly_cap_holds(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\","
          " \"max_per_hour\": 3}]}],"
          " \"domains\": [{\"match\": \"*\", \"max_connections\": 1}]}",
          NULL, 0, 0);
    submit_n(f, "r%d@a.test", 5);
    wait_outcomes(f, 3);
    spin(f, 30);
    assert_int_equal(f->ngot, 3);
    assert_int_equal(relay_queued(f), 2);
    assert_string_equal(f->got[0].source_ip, "127.0.0.2");
    assert_string_equal(transport_fake_last_source(f->tp), "127.0.0.2");
    edm_time_advance_ms(3601 * 1000);
    submit(f, "r5@a.test");
    wait_outcomes(f, 6);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 6);
}

/* Warm-up: day 1 allows 2 messages from the address, day 2 allows 4. */
static void source_ip_warmup_cap_holds(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.3\","
          " \"warmup\": [[1, 2], [2, 4]]}]}],"
          " \"domains\": [{\"match\": \"*\", \"max_connections\": 1}]}",
          NULL, 0, 0);
    submit_n(f, "r%d@a.test", 5);
    wait_outcomes(f, 2);
    spin(f, 30);
    assert_int_equal(f->ngot, 2);
    assert_int_equal(relay_queued(f), 3);
    edm_time_advance_ms(86400 * 1000);
    submit(f, "r5@a.test");
    wait_outcomes(f, 6);
    spin(f, 30);
    assert_int_equal(f->ngot, 6);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 6);
    assert_int_equal(relay_queued(f), 0);
}

/* NXDOMAIN bounces the domain's queue (bad_domain), a temporary DNS failure
 * defers it; a destination whose connection fails defers the message it
 * tried and, without an attempt, the rest of its queue. */
static void dns_and_connection_failures_end_the_queue(void **state)
{
    struct fx *f = *state;
    static const transport_fake_rule rules[] = {{"@down.test", TF_CONNFAIL, 0, NULL}};
    start(f, "{\"domains\": [{\"match\": \"*\", \"max_connections\": 1}]}", rules, 1, 1);
    submit_n(f, "r%d@nx.test", 2);
    submit_n(f, "r%d@tmp.test", 2);
    submit_n(f, "r%d@down.test", 3);
    wait_outcomes(f, 7);
    assert_int_equal(count_kind(f, "@nx.test", EDM_DSTATE_BOUNCED), 2);
    assert_int_equal(count_kind(f, "@tmp.test", EDM_DSTATE_DEFERRED), 2);
    assert_int_equal(count_kind(f, "@down.test", EDM_DSTATE_DEFERRED), 3);
    int down_attempted = 0;
    for (size_t i = 0; i < f->ngot; i++) {
        got *g = &f->got[i];
        if (strstr(g->rcpt, "@nx.test"))
            assert_string_equal(g->category, "bad_domain");
        if (strstr(g->rcpt, "@tmp.test"))
            assert_string_equal(g->category, "dns");
        if (strstr(g->rcpt, "@down.test")) {
            assert_string_equal(g->category, "network");
            down_attempted += g->attempted;
        }
    }
    assert_int_equal(down_attempted, 1);
    assert_int_equal(counts(f)->opened, 1);
    assert_int_equal(counts(f)->conn_failed, 1);
}

/* A message the session refused for want of 8BITMIME (failure
 * needs_7bit) comes back dropped (never attempted) with m->needs_7bit, to
 * be composed again; the session goes on with the next message and the
 * domain is not paused. */
static void needs_7bit_is_given_back_unsent(void **state)
{
    struct fx *f = *state;
    static const transport_fake_rule rules[] = {{NULL, TF_NO_8BITMIME, 0, NULL}};
    start(f,
          "{\"domains\": [{\"match\": \"*\", \"max_connections\": 1,"
          " \"max_messages_per_connection\": 100}]}",
          rules, 1, 1);
    submit(f, "8bit-1@a.test");
    submit(f, "plain@a.test");
    submit(f, "8bit-2@a.test");
    wait_outcomes(f, 3);
    for (size_t i = 0; i < 3; i++) {
        int eight = strncmp(f->got[i].rcpt, "8bit", 4) == 0;
        assert_int_equal(f->got[i].kind, eight ? DROPPED : EDM_DSTATE_DELIVERED);
        assert_int_equal(f->got[i].needs_7bit, eight);
    }
    assert_int_equal(counts(f)->needs_7bit, 2);
    assert_int_equal(counts(f)->opened, 1);
}

/* Stop gives back every queued message and every one in flight as
 * dropped (never delivered, never deferred), runs its callback once the
 * sessions are closed, and opens nothing afterwards. */
static void stop_gives_everything_back(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"domains\": [{\"match\": \"*\", \"max_connections\": 2,"
          " \"max_messages_per_connection\": 100}]}",
          NULL, 0, 200);
    submit_n(f, "r%d@a.test", 6);
    uint64_t deadline = edm_time_mono_ms() + 5000;
    while (counts(f)->in_flight < 2 && edm_time_mono_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        edm_test_sleep_ms(1);
    }
    assert_int_equal(counts(f)->in_flight, 2);
    assert_int_equal(f->ngot, 0);
    edm_relay_stop(f->relay, on_stopped, f);
    assert_int_equal(f->ngot, 6); /* in flight ones too, deferred by the abort */
    assert_int_equal(count_kind(f, "@a.test", DROPPED), 6);
    assert_int_equal(counts(f)->aborted, 2);
    while (!f->stopped)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->stopped, 1);
    assert_int_equal(counts(f)->open, 0);
    unsigned opened = counts(f)->opened;
    submit(f, "late@a.test");
    assert_int_equal(f->ngot, 7);
    assert_int_equal(f->got[6].kind, DROPPED);
    spin(f, 10);
    assert_int_equal(counts(f)->opened, opened);
    assert_int_equal(counts(f)->delivered, 0);
}

/* Four source addresses, weights 1, 1, 2 and 0, limits above the load:
 * connections and messages split by weight (within 5 points), weight 0
 * sends nothing. */
#define FOUR_IPS                                                                                   \
    "\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\"},"                     \
    " {\"addr\": \"127.0.0.3\"}, {\"addr\": \"127.0.0.4\", \"weight\": 2},"                        \
    " {\"addr\": \"127.0.0.5\", \"weight\": 0}]}]"

static void per_ip_weights_and_connection_caps(void **state)
{
    struct fx *f = *state;
    start(f,
          "{" FOUR_IPS ", \"domains\": [{\"match\": \"*\", \"max_connections\": 20,"
          " \"max_messages_per_connection\": 2}]}",
          NULL, 0, 1);
    submit_n(f, "r%d@a.test", 120);
    wait_outcomes(f, 120);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 120);
    const char *addrs[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
    const double want[] = {25, 25, 50};
    for (size_t i = 0; i < 3; i++) {
        transport_fake_source x = transport_fake_source_counts(f->tp, addrs[i]);
        double share = 100.0 * x.messages / 120;
        if (share < want[i] - 5 || share > want[i] + 5)
            fail_msg("%s sent %.1f%%, want %.0f%% +-5", addrs[i], share, want[i]);
    }
    transport_fake_source zero = transport_fake_source_counts(f->tp, "127.0.0.5");
    assert_int_equal(zero.opened, 0);
    assert_int_equal(zero.messages, 0);
}

/* Weights split the messages, not only the connections: with every
 * address at its max_connections (one each here, or two with a new
 * connection every 10 messages), weights 3 and 1 still send 75% and 25%
 * (within 5 points). Before, each address took messages as fast as its
 * connections did: 50% each. */
static void weights_split_messages_at_the_connection_cap(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\","
          " \"weight\": 3}, {\"addr\": \"127.0.0.3\"}]}], \"domains\": [{\"match\": \"*\","
          " \"max_connections\": 1, \"max_messages_per_connection\": 100},"
          " {\"match\": \"b.test\", \"max_connections\": 2, \"max_messages_per_connection\": 10}]}",
          NULL, 0, 1);
    submit_n(f, "r%d@a.test", 40);
    submit_n(f, "r%d@b.test", 80);
    wait_outcomes(f, 120);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 40);
    assert_int_equal(count_kind(f, "@b.test", EDM_DSTATE_DELIVERED), 80);
    for (int d = 0; d < 2; d++) {
        const char *dom = d ? "@b.test" : "@a.test";
        unsigned from2 = 0;
        for (size_t i = 0; i < f->ngot; i++)
            from2 += strstr(f->got[i].rcpt, dom) && strcmp(f->got[i].source_ip, "127.0.0.2") == 0;
        double share = 100.0 * from2 / (d ? 80 : 40);
        if (share < 70 || share > 80)
            fail_msg("%s: 127.0.0.2 sent %.1f%%, want 75%% +-5", dom, share);
    }
}

/* A receiver that tarpits one address (its replies take 2.5 s, no 4xx:
 * backoff never pauses it) holds the other address by weight for at most
 * EDM_DEST_HOLD_MS at a time: then a timer wakes the fast address and it
 * sends anyway, far more than its weight's share of the slow one's
 * messages. Before, it waited for each of the slow address's messages (a
 * handful in 6 s). ips: the pool's two addresses, 127.0.0.2 fast and
 * 127.0.0.3 slow. */
static void slow_address_holds_briefly(struct fx *f, const char *ips)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"pools\": [{\"name\": \"default\", \"ips\": [%s]}], \"domains\":"
             " [{\"match\": \"*\", \"max_connections\": 1,"
             " \"max_messages_per_connection\": 1000}]}",
             ips);
    start(f, json, NULL, 0, 2);
    transport_fake_delay_source(f->tp, "127.0.0.3", 2500);
    submit_n(f, "r%d@a.test", 100);
    uint64_t deadline = edm_time_mono_ms() + 6000;
    while (transport_fake_source_counts(f->tp, "127.0.0.2").delivered < 60 &&
           edm_time_mono_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        edm_test_sleep_ms(1);
    }
    transport_fake_source fast = transport_fake_source_counts(f->tp, "127.0.0.2");
    transport_fake_source slow = transport_fake_source_counts(f->tp, "127.0.0.3");
    assert_true(slow.messages >= 1); /* it did compete */
    if (fast.delivered < 60 || fast.delivered < 5 * slow.messages)
        fail_msg("fast address delivered %u, slow one took %u: the fast one was held",
                 fast.delivered, slow.messages);
}

static void slow_address_of_equal_weight_holds_briefly(void **state)
{
    slow_address_holds_briefly(*state, "{\"addr\": \"127.0.0.2\"}, {\"addr\": \"127.0.0.3\"}");
}

/* The slow address three times heavier: the fast one owes it three
 * messages for each of its own. */
static void slow_heavy_address_holds_briefly(void **state)
{
    slow_address_holds_briefly(*state, "{\"addr\": \"127.0.0.2\"},"
                                       " {\"addr\": \"127.0.0.3\", \"weight\": 3}");
}

/* A pool whose only address has weight 0 sends nothing: the queue is
 * deferred without an attempt. */
static void weight_zero_sends_nothing(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.5\","
          " \"weight\": 0}]}]}",
          NULL, 0, 1);
    submit_n(f, "r%d@a.test", 3);
    wait_outcomes(f, 3);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DEFERRED), 3);
    assert_int_equal(f->got[0].attempted, 0);
    assert_int_equal(counts(f)->opened, 0);
}

/* max_connections counts per source address; total.max_connections caps
 * the destination across them. */
static void connections_per_ip_and_total(void **state)
{
    struct fx *f = *state;
    start(f,
          "{" FOUR_IPS ", \"domains\": [{\"match\": \"*\", \"max_connections\": 2,"
          " \"max_messages_per_connection\": 100}]}",
          NULL, 0, 5);
    submit_n(f, "r%d@a.test", 80);
    wait_outcomes(f, 80);
    assert_int_equal(counts(f)->max_open, 6); /* 2 from each of 3 addresses */
    for (int i = 2; i <= 4; i++) {
        char a[32];
        snprintf(a, sizeof a, "127.0.0.%d", i);
        assert_int_equal(transport_fake_source_counts(f->tp, a).max_open, 2);
    }
    teardown((void **)&f);
    setup(state);
    f = *state;
    start(f,
          "{" FOUR_IPS ", \"domains\": [{\"match\": \"*\", \"max_connections\": 2,"
          " \"total\": {\"max_connections\": 3}}]}",
          NULL, 0, 5);
    submit_n(f, "r%d@a.test", 40);
    wait_outcomes(f, 40);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 40);
    assert_int_equal(counts(f)->max_open, 3);
}

/* Two addresses, one connection each, backoff.on `on`: the fake answers
 * one message from 127.0.0.2 with *rule (outcome kind, reply code). That
 * address is paused for the destination, 127.0.0.3 carries the rest of 30
 * messages, and GET /v1/pools's state shows the pause. */
static void backoff_pauses_the_first_ip(struct fx *f, const transport_fake_rule *rule,
                                        const char *on, int kind, int code)
{
    char cfg[512];
    snprintf(
        cfg, sizeof cfg,
        "{\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\"},"
        " {\"addr\": \"127.0.0.3\"}]}], \"domains\": [{\"match\": \"*\", \"max_connections\": 1,"
        " \"max_messages_per_connection\": 100, \"backoff\": {\"on\": [\"%s\"], \"pause\": "
        "300}}]}",
        on);
    start(f, cfg, rule, 1, 2);
    submit_n(f, "r%d@a.test", 30);
    wait_outcomes(f, 30);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 29);
    assert_int_equal(count_kind(f, "@a.test", kind), 1);
    size_t hit = 0;
    for (size_t i = 0; i < f->ngot; i++)
        if (f->got[i].kind == kind) {
            assert_string_equal(f->got[i].source_ip, "127.0.0.2");
            assert_int_equal(f->got[i].code, code);
            hit = i;
        }
    for (size_t i = hit + 1; i < f->ngot; i++)
        assert_string_equal(f->got[i].source_ip, "127.0.0.3");
    json_t *j = edm_relay_json(f->relay);
    json_t *ps = json_object_get(j, "paused_domains");
    assert_int_equal(json_array_size(ps), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ps, 0), "ip")),
                        "127.0.0.2");
    json_decref(j);
}

/* A backoff reply pauses only the address that got it, for that
 * destination: the others carry the queue, nothing more leaves from the
 * paused one, and GET /v1/pools's state shows it paused. */
static void backoff_pauses_only_that_ip(void **state)
{
    struct fx *f = *state;
    static const transport_fake_rule rules[] = {{"@a.test", TF_BACKOFF, 1, "127.0.0.2"}};
    backoff_pauses_the_first_ip(f, rules, "421", EDM_DSTATE_DEFERRED, 421);
    unsigned from2 = transport_fake_source_counts(f->tp, "127.0.0.2").messages;
    /* More mail during the pause: from 127.0.0.3 only. */
    submit_n(f, "later%d@a.test", 5);
    wait_outcomes(f, 35);
    assert_int_equal(transport_fake_source_counts(f->tp, "127.0.0.2").messages, from2);
    /* After the pause 127.0.0.2 may send again, at a reduced rate. */
    edm_time_advance_ms(301 * 1000);
    json_t *j = edm_relay_json(f->relay);
    json_t *st = json_array_get(json_object_get(j, "ip_states"), 0);
    assert_non_null(st);
    assert_true(json_real_value(json_object_get(st, "level")) < 1);
    assert_int_equal(json_array_size(json_object_get(j, "paused_domains")), 0);
    json_decref(j);
}

/* backoff.on may name 5xx prefixes ("550", "5.7.1"): such a reply pauses
 * the address that got it like a 4xx does (the message itself bounces);
 * the other address carries the rest. */
static void backoff_on_a_5xx_prefix_pauses_that_ip(void **state)
{
    static const transport_fake_rule rules[] = {{"@a.test", TF_BOUNCE, 1, "127.0.0.2"}};
    backoff_pauses_the_first_ip(*state, rules, "5.1.1", EDM_DSTATE_BOUNCED, 550);
}

/* Three 5xx in a row naming the source address block it for the
 * destination: the rest goes from the pool's other address. */
static void block_list_5xx_moves_traffic(void **state)
{
    struct fx *f = *state;
    static const transport_fake_rule rules[] = {{"@a.test", TF_BLOCK, 0, "127.0.0.2"}};
    start(f,
          "{\"pools\": [{\"name\": \"default\", \"ips\": [{\"addr\": \"127.0.0.2\"},"
          " {\"addr\": \"127.0.0.3\", \"weight\": 1}]}], \"domains\": [{\"match\": \"*\","
          " \"max_connections\": 1, \"max_messages_per_connection\": 100}]}",
          rules, 1, 2);
    submit_n(f, "r%d@a.test", 30);
    wait_outcomes(f, 30);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_BOUNCED), 3);
    assert_int_equal(count_kind(f, "@a.test", EDM_DSTATE_DELIVERED), 27);
    assert_int_equal(transport_fake_source_counts(f->tp, "127.0.0.2").messages, 3);
    json_t *j = edm_relay_json(f->relay);
    json_t *st = json_array_get(json_object_get(j, "ip_states"), 0);
    assert_true(json_is_true(json_object_get(st, "blocked")));
    assert_true(json_integer_value(json_object_get(st, "seconds_left")) >= 3600 - 1);
    json_decref(j);
}

/* Two domains whose MX host matches one "mx:" rule share its limits: one
 * connection between them; without a shared rule each has its own. */
static void mx_rule_shares_limits(void **state)
{
    struct fx *f = *state;
    start(f,
          "{\"domains\": [{\"match\": \"mx:*.shared.test\", \"max_connections\": 1,"
          " \"max_messages_per_connection\": 100}, {\"match\": \"*\", \"max_connections\": 1}]}",
          NULL, 0, 3);
    submit_n(f, "r%d@s1.test", 10);
    submit_n(f, "r%d@s2.test", 10);
    wait_outcomes(f, 20);
    assert_int_equal(count_kind(f, ".test", EDM_DSTATE_DELIVERED), 20);
    assert_int_equal(counts(f)->max_open, 1);
    /* s2.test waited for the one connection, which carried on to it. */
    assert_int_equal(counts(f)->opened, 1);
    json_t *j = edm_relay_json(f->relay);
    json_t *sites = json_object_get(j, "sites");
    assert_string_equal(json_string_value(json_object_get(json_array_get(sites, 1), "destination")),
                        "mx:*.shared.test");
    json_decref(j);
    teardown((void **)&f);
    setup(state);
    f = *state;
    start(f, "{\"domains\": [{\"match\": \"*\", \"max_connections\": 1}]}", NULL, 0, 3);
    submit_n(f, "r%d@s1.test", 10);
    submit_n(f, "r%d@s2.test", 10);
    wait_outcomes(f, 20);
    assert_int_equal(counts(f)->max_open, 2);
}

/* A route's relay takes at most routes[].max_connections across every
 * domain it carries, however many domains there are. */
static void route_caps_connections_across_domains(void **state)
{
    struct fx *f = *state;
    start(
        f,
        "{\"routes\": [{\"match\": \"*\", \"relay\": \"127.0.1.50:2525\", \"max_connections\": 3}],"
        " \"domains\": [{\"match\": \"*\", \"max_connections\": 5}]}",
        NULL, 0, 2);
    submit_domains(f, 12, 5);
    wait_outcomes(f, 60);
    assert_int_equal(count_kind(f, ".test", EDM_DSTATE_DELIVERED), 60);
    assert_int_equal(counts(f)->max_open, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sessions_are_reused_up_to_max_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(max_connections_holds_the_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(max_per_minute_holds_messages_back, setup, teardown),
        cmocka_unit_test_setup_teardown(messages_leave_evenly_spaced, setup, teardown),
        cmocka_unit_test_setup_teardown(max_per_hour_keeps_to_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(backoff_pauses_a_domain_until_the_pause_ends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refused_credentials_pause_the_route, setup, teardown),
        cmocka_unit_test_setup_teardown(source_ip_hourly_cap_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(source_ip_warmup_cap_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(dns_and_connection_failures_end_the_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(needs_7bit_is_given_back_unsent, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_gives_everything_back, setup, teardown),
        cmocka_unit_test_setup_teardown(per_ip_weights_and_connection_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(weight_zero_sends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(weights_split_messages_at_the_connection_cap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(slow_address_of_equal_weight_holds_briefly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(slow_heavy_address_holds_briefly, setup, teardown),
        cmocka_unit_test_setup_teardown(connections_per_ip_and_total, setup, teardown),
        cmocka_unit_test_setup_teardown(backoff_pauses_only_that_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(backoff_on_a_5xx_prefix_pauses_that_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(block_list_5xx_moves_traffic, setup, teardown),
        cmocka_unit_test_setup_teardown(mx_rule_shares_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(route_caps_connections_across_domains, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
