/*
 * tests/engine/webhook/test_hooks.c: the webhook sender (engine/webhook/
 * hooks.c) on a loop of its own with a real store, against receivers that
 * fail (docs/tracking.md, "Webhooks"; docs/config.md, webhooks.ca_file):
 * - a receiver that never answers: the batch is retried, kept while it is
 *   younger than max_age, then dropped once the movable clock
 *   (engine/base/timeutil.h) passes max_age (24 h);
 * - an HTTPS receiver (tests/api/webhook_receiver.py over Python's ssl)
 *   with a certificate from a throwaway CA: delivered, signature checked,
 *   when the sender is told to trust that CA (ca_file); refused (nothing
 *   delivered, the batch kept and retried) without it, with another CA,
 *   and when the certificate names another host. On both store backends
 *   (webhook_test_hooks_pg).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/timeutil.h"
#include "engine/store/store.h"
#include "engine/webhook/hooks.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    char *dir;
    char path[4200];
    edm_store *st;
    uv_loop_t loop;
    pid_t recv;
    edm_hooks *h; /* running; stopped by the test, or by teardown after a failure */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = edm_test_tmpdir("hooks");
    *state = f;
    if (edm_test_store_where(f->dir, f->path, sizeof f->path) != 0)
        return -1;
    char err[512];
    if (edm_store_open(f->path, &f->st, err, sizeof err) != 0)
        return -1;
    return uv_loop_init(&f->loop);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->recv > 0)
        edm_test_stop(f->recv, 1000);
    if (f->h)
        edm_hooks_stop(f->h, NULL, NULL);
    edm_time_reset_offset();
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    edm_test_store_release(f->st, f->dir);
    free(f);
    return 0;
}

/* A webhook for url (every event) and one suppressed recipient: one event
 * in its outbox. Returns the webhook's id; its secret goes to dir/secret. */
static int64_t one_event(struct fx *f, const char *url)
{
    edm_store *st = f->st;
    json_t *w = NULL;
    assert_int_equal(st->ops->webhook_create(st, url, 511, "whsec_test", &w), 0);
    int64_t wid = json_integer_value(json_object_get(w, "id"));
    json_decref(w);
    char file[4200];
    snprintf(file, sizeof file, "%s/secret", f->dir);
    assert_int_equal(edm_test_write_file(file, "whsec_test", 10), 0);
    int64_t cid = edm_test_store_campaign(st, NULL, "x");
    json_t *sv = NULL;
    assert_int_equal(st->ops->suppression_add(st, "gone@x.test", "test", &sv), 0);
    json_decref(sv);
    edm_test_store_upload(st, cid, "gone@x.test", 0, 1, EDM_ADD_SUPPRESSED);
    return wid;
}

/* pending and failed_attempts of the first webhook. */
static void outbox_state(edm_store *st, int64_t *pending, int64_t *failed)
{
    json_t *items = NULL;
    assert_int_equal(st->ops->webhook_list(st, &items), 0);
    json_t *w = json_array_get(items, 0);
    *pending = json_integer_value(json_object_get(w, "pending"));
    *failed = json_integer_value(json_object_get(w, "failed_attempts"));
    json_decref(items);
}

typedef int (*pred)(struct fx *f);

typedef struct waiter {
    uv_timer_t t;
    struct fx *f;
    pred done;
    int ok;
    uint64_t deadline;
} waiter;

static void check(uv_timer_t *t)
{
    waiter *w = t->data;
    if (w->done(w->f)) {
        w->ok = 1;
        uv_stop(t->loop);
    } else if (uv_now(t->loop) >= w->deadline) {
        uv_stop(t->loop);
    }
}

/* Runs the loop until done(f) holds (1) or ms pass (0). */
static int run_until(struct fx *f, pred done, uint64_t ms)
{
    waiter w = {.f = f, .done = done};
    uv_timer_init(&f->loop, &w.t);
    w.t.data = &w;
    uv_update_time(&f->loop);
    w.deadline = uv_now(&f->loop) + ms;
    uv_timer_start(&w.t, check, 20, 20);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&w.t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    return w.ok;
}

static int failed_twice(struct fx *f)
{
    int64_t pending, failed;
    outbox_state(f->st, &pending, &failed);
    return failed >= 2;
}

static int outbox_empty(struct fx *f)
{
    int64_t pending, failed;
    outbox_state(f->st, &pending, &failed);
    return pending == 0;
}

static int stopped;
static void on_stopped(void *arg)
{
    (void)arg;
    stopped++;
}

static edm_hooks *start(struct fx *f, const char *ca_file)
{
    edm_hooks *h = NULL;
    edm_hooks_opts o = {.loop = &f->loop,
                        .store = f->st,
                        .tick_ms = 50,
                        .timeout_s = 2,
                        .retry_min_s = 1,
                        .max_age_s = 86400,
                        .ca_file = ca_file};
    assert_int_equal(edm_hooks_start(&o, &h), 0);
    f->h = h;
    return h;
}

static void stop(struct fx *f, edm_hooks *h)
{
    stopped = 0;
    f->h = NULL;
    edm_hooks_stop(h, on_stopped, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(stopped, 1);
}

static int64_t failed_over;
static int failed_more(struct fx *f)
{
    int64_t pending, failed;
    outbox_state(f->st, &pending, &failed);
    return failed > failed_over;
}

static void gives_up_after_max_age(void **state)
{
    struct fx *f = *state;
    char url[64];
    /* a port nobody listens on: every POST fails at once */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", edm_test_free_port("127.0.0.1"));
    one_event(f, url);
    edm_hooks *h = start(f, NULL);
    assert_true(run_until(f, failed_twice, 10000));
    int64_t pending, failed;
    outbox_state(f->st, &pending, &failed);
    assert_int_equal(pending, 1); /* failing, young: kept */
    /* 23 h later (past any backoff) it is retried and still kept */
    edm_time_advance_ms(23LL * 3600 * 1000);
    failed_over = failed;
    assert_true(run_until(f, failed_more, 10000));
    outbox_state(f->st, &pending, &failed);
    assert_int_equal(pending, 1);
    /* past 24 h: the next failure drops it */
    edm_time_advance_ms(2LL * 3600 * 1000);
    assert_true(run_until(f, outbox_empty, 10000));
    stop(f, h);
}

/* A CA and a certificate it signs for host/IP san into dir/<name>.{pem,key}. */
static void make_ca(const char *dir, const char *ca)
{
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
             "-nodes -keyout %s.key -out %s.pem -days 2 -subj /CN=%s-test-ca 2>&1",
             dir, ca, ca, ca);
    assert_int_equal(edm_test_run(cmd, &out), 0);
    free(out);
}

static void make_cert(const char *dir, const char *ca, const char *name, const char *san)
{
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s.key -out %s.csr -subj /CN=receiver 2>&1 && "
             "printf 'subjectAltName=%s\\n' > %s.ext && "
             "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial "
             "-out %s.pem -days 2 -extfile %s.ext 2>&1",
             dir, name, name, san, name, name, ca, ca, name, name);
    assert_int_equal(edm_test_run(cmd, &out), 0);
    free(out);
}

/* The HTTPS receiver with cert name; returns its port. */
static int receiver(struct fx *f, const char *name)
{
    int port = edm_test_free_port("127.0.0.1");
    char port_s[16], secret[4200], events[4200], cert[4200], key[4200];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(secret, sizeof secret, "%s/secret", f->dir);
    snprintf(events, sizeof events, "%s/events", f->dir);
    snprintf(cert, sizeof cert, "%s/%s.pem", f->dir, name);
    snprintf(key, sizeof key, "%s/%s.key", f->dir, name);
    char *argv[] = {"/usr/bin/python3",
                    (char *)edm_test_src("tests/api/webhook_receiver.py"),
                    port_s,
                    secret,
                    events,
                    cert,
                    key,
                    NULL};
    f->recv = edm_test_spawn(argv, NULL);
    assert_true(f->recv > 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", port, 5000), 0);
    return port;
}

static char *received(struct fx *f)
{
    char events[4200];
    snprintf(events, sizeof events, "%s/events", f->dir);
    char *s = edm_test_read_file(events, NULL);
    return s ? s : calloc(1, 1);
}

static void https_receiver_with_a_trusted_ca(void **state)
{
    struct fx *f = *state;
    make_ca(f->dir, "ca");
    make_cert(f->dir, "ca", "good", "IP:127.0.0.1");
    int port = receiver(f, "good");
    char url[64], ca[4200];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hook", port);
    snprintf(ca, sizeof ca, "%s/ca.pem", f->dir);
    one_event(f, url);
    edm_hooks *h = start(f, ca);
    assert_true(run_until(f, outbox_empty, 15000));
    stop(f, h);
    char *got = received(f);
    assert_non_null(strstr(got, "\"event\": \"suppressed\""));
    assert_non_null(strstr(got, "\"email\": \"gone@x.test\""));
    assert_null(strstr(got, "BAD-SIGNATURE"));
    free(got);
}

/* Refused: nothing delivered, the batch kept and retried. */
static void refused(struct fx *f, const char *cert, const char *trusted_ca)
{
    int port = receiver(f, cert);
    char url[64], ca[4200];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hook", port);
    snprintf(ca, sizeof ca, "%s/%s.pem", f->dir, trusted_ca ? trusted_ca : "");
    one_event(f, url);
    edm_hooks *h = start(f, trusted_ca ? ca : NULL);
    assert_true(run_until(f, failed_twice, 15000));
    stop(f, h);
    int64_t pending, failed;
    outbox_state(f->st, &pending, &failed);
    assert_int_equal(pending, 1);
    char *got = received(f);
    assert_string_equal(got, "");
    free(got);
}

/* A CA nobody told edm about: the system's bundle does not have it. */
static void https_receiver_from_an_unknown_ca_is_refused(void **state)
{
    struct fx *f = *state;
    make_ca(f->dir, "other");
    make_cert(f->dir, "other", "stranger", "IP:127.0.0.1");
    refused(f, "stranger", NULL);
}

/* ca_file names another CA than the receiver's. */
static void https_receiver_from_another_ca_is_refused(void **state)
{
    struct fx *f = *state;
    make_ca(f->dir, "ca");
    make_ca(f->dir, "other");
    make_cert(f->dir, "other", "stranger", "IP:127.0.0.1");
    refused(f, "stranger", "ca");
}

/* The trusted CA signed it, but for another host. */
static void https_receiver_for_another_host_is_refused(void **state)
{
    struct fx *f = *state;
    make_ca(f->dir, "ca");
    make_cert(f->dir, "ca", "wronghost", "DNS:elsewhere.example");
    refused(f, "wronghost", "ca");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(gives_up_after_max_age, setup, teardown),
        cmocka_unit_test_setup_teardown(https_receiver_with_a_trusted_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(https_receiver_from_an_unknown_ca_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(https_receiver_from_another_ca_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(https_receiver_for_another_host_is_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
