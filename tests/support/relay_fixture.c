/*
 * tests/support/relay_fixture.c: the relay's test fixture (see
 * relay_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/relay_fixture.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/timeutil.h"
#include "tests/support/outmsg_fake.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const resolve_fake_entry dns_table[] = {
    {"a.test", 0, "mx.a.test", "127.0.1.1"},         {"b.test", 0, "mx.b.test", "127.0.1.2"},
    {"down.test", 0, "mx.down.test", "127.0.1.3"},   {"tmp.test", EDM_EDNS, NULL, NULL},
    {"nx.test", EDM_ENOTFOUND, NULL, NULL},          {"s1.test", 0, "mx.shared.test", "127.0.1.9"},
    {"s2.test", 0, "mx.shared.test", "127.0.1.9"},   {"127.0.1.50", 0, "127.0.1.50", "127.0.1.50"},
    {"s3.test", 0, "mx2.shared.test", "127.0.1.10"},
};

static void on_done(void *ctx, edm_outmsg *m, const edm_outcome *o)
{
    struct fx *f = ctx;
    assert_true(f->ngot < MAX_GOT);
    got *g = &f->got[f->ngot++];
    snprintf(g->rcpt, sizeof g->rcpt, "%s", m->rcpt);
    g->kind = o ? (int)o->status : DROPPED;
    g->needs_7bit = m->needs_7bit;
    g->at_ms = edm_time_mono_ms();
    if (o) {
        g->attempted = o->attempted;
        g->code = o->code;
        snprintf(g->category, sizeof g->category, "%s", edm_category_name(o->category));
        snprintf(g->source_ip, sizeof g->source_ip, "%s", o->source_ip);
        snprintf(g->mx_host, sizeof g->mx_host, "%s", o->mx_host);
        snprintf(g->response, sizeof g->response, "%s", o->text);
        g->next_attempt_at = o->next_attempt_at;
    }
    edm_free(m->rcpt);
    edm_free(m->domain);
    edm_free(m->sender);
    edm_free(m->message_id);
    edm_buf_free(&m->data);
    edm_free(m);
}

int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    uv_loop_init(&f->loop);
    *state = f;
    return 0;
}

/* Config, pools, fakes and the relay. */
void start(struct fx *f, const char *json, const transport_fake_rule *rules, size_t nrules,
           unsigned delay_ms)
{
    edm_config_errors errs;
    int rc = edm_config_load_string(json, strlen(json), "test", ".", &f->cfg, &errs);
    for (size_t i = 0; rc && i < errs.count; i++)
        fprintf(stderr, "config: %s\n", errs.msg[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(edm_pools_init(&f->pools, &f->cfg, NULL), 0);
    f->dns = resolve_fake_new(&f->loop, dns_table, sizeof dns_table / sizeof dns_table[0]);
    f->tp = transport_fake_new(&f->loop, rules, nrules, delay_ms);
    edm_relay_opts o = {.loop = &f->loop,
                        .cfg = &f->cfg,
                        .pools = &f->pools,
                        .resolve = resolve_fake_resolve,
                        .resolve_ctx = f->dns,
                        .transport = &transport_fake_ops,
                        .transport_ctx = f->tp,
                        .done = on_done,
                        .ctx = f};
    assert_int_equal(edm_relay_new(&o, &f->relay), 0);
}

void on_stopped(void *arg)
{
    ((struct fx *)arg)->stopped++;
}

int teardown(void **state)
{
    struct fx *f = *state;
    if (f->relay) {
        if (!f->stopped)
            edm_relay_stop(f->relay, on_stopped, f);
        while (!f->stopped)
            uv_run(&f->loop, UV_RUN_ONCE);
        edm_relay_free(f->relay);
        resolve_fake_free(f->dns);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        transport_fake_free(f->tp);
        edm_pools_free(&f->pools);
        edm_config_free(&f->cfg);
    }
    assert_int_equal(uv_loop_close(&f->loop), 0);
    edm_time_reset_offset();
    free(f);
    return 0;
}

void submit(struct fx *f, const char *rcpt)
{
    edm_outmsg *m = outmsg_fake(++f->next_id, rcpt);
    if (strncmp(rcpt, "8bit", 4) == 0)
        m->smtp_flags = SMTP_MSG_8BITMIME;
    edm_relay_submit(f->relay, m);
}

void submit_n(struct fx *f, const char *fmt, int n)
{
    for (int i = 0; i < n; i++) {
        char rcpt[64];
        snprintf(rcpt, sizeof rcpt, fmt, i);
        submit(f, rcpt);
    }
}

/* n messages to each of the domains d0.test .. d<domains - 1>.test. */
void submit_domains(struct fx *f, int domains, int n)
{
    for (int d = 0; d < domains; d++) {
        char fmt[64];
        snprintf(fmt, sizeof fmt, "r%%d@d%d.test", d);
        submit_n(f, fmt, n);
    }
}

/* Runs the loop until n outcomes are in (fails after 5 s). */
void wait_outcomes(struct fx *f, size_t n)
{
    uint64_t deadline = edm_time_mono_ms() + 5000;
    while (f->ngot < n) {
        if (edm_time_mono_ms() > deadline)
            fail_msg("%zu outcomes, want %zu", f->ngot, n);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        edm_test_sleep_ms(1);
    }
}

/* Runs the loop for ms milliseconds (to see that nothing more happens). */
void spin(struct fx *f, int ms)
{
    uint64_t until = edm_time_mono_ms() + (uint64_t)ms;
    while (edm_time_mono_ms() < until) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        edm_test_sleep_ms(1);
    }
}

size_t count_kind(const struct fx *f, const char *suffix, int k)
{
    size_t n = 0, ls = strlen(suffix);
    for (size_t i = 0; i < f->ngot; i++) {
        size_t lr = strlen(f->got[i].rcpt);
        if (f->got[i].kind == k && lr >= ls && strcmp(f->got[i].rcpt + lr - ls, suffix) == 0)
            n++;
    }
    return n;
}

json_int_t relay_queued(struct fx *f)
{
    json_t *j = edm_relay_json(f->relay);
    json_int_t n = json_integer_value(json_object_get(j, "queued"));
    json_decref(j);
    return n;
}

const transport_fake_counts *counts(struct fx *f)
{
    return transport_fake_counts_of(f->tp);
}
