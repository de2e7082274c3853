/*
 * tests/engine/test_delivery.c: the whole engine end to end on one loop:
 * a campaign in the store (template, recipients, suppression), the
 * scheduler starting it, the pipeline rendering/composing, the relay
 * delivering through a route to the project's fake SMTP server that
 * answers per recipient, retries of a deferral, and every recipient's
 * receipt in the store at the end: delivered, bounced (5.1.1,
 * bad_mailbox), suppressed, failed (a variable the recipient lacks), and
 * a deferral followed by delivery with two attempt events. Then pause and
 * cancel of a running campaign.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/config/config.h"
#include "engine/engine.h"
#include "engine/base/err.h"
#include "engine/store/store.h"
#include "engine/base/timeutil.h"
#include "tests/support/smtp_fake.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    char *dir;
    char where[4200]; /* the store: SQLite file or PostgreSQL URI */
    edm_store *st;
    edm_config cfg;
    uv_loop_t loop;
    smtp_fake *fake;
    edm_engine *eng;
    int64_t cid;
    int engine_stopped;
};

static const smtp_fake_rule rules[] = {
    {FAKE_RCPT, "bad@", "550 5.1.1 <bad@a.test>: Recipient address rejected: User unknown\r\n", 0,
     FAKE_REPLY, 0},
    {FAKE_RCPT, "later@", "451 4.2.2 Mailbox full, try again later\r\n", 0, FAKE_REPLY, 1},
};

static void load_config(struct fx *f, const char *json)
{
    edm_config_errors errs;
    int rc = edm_config_load_string(json, strlen(json), "test", f->dir, &f->cfg, &errs);
    for (size_t i = 0; rc && i < errs.count; i++)
        fprintf(stderr, "config: %s\n", errs.msg[i]);
    assert_int_equal(rc, 0);
    /* The engine's lock and node are the store's, not ./edm.db's. */
    edm_free(f->cfg.db);
    f->cfg.db = edm_xstrdup(f->where);
}

/* The fake server on 127.0.0.1 and a route of every *.test domain to it. */
static void start_fake(struct fx *f, const smtp_fake_rule *r, size_t n)
{
    smtp_fake_config fc = {.ip = "127.0.0.1", .port = 0, .rules = r, .nrules = n};
    f->fake = smtp_fake_start(&f->loop, &fc);
    assert_non_null(f->fake);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"smtp\": {\"helo\": \"edm.test\", \"tls\": \"none\"},"
             " \"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}],"
             " \"domains\": [{\"match\": \"*\", \"max_connections\": 3,"
             "   \"max_messages_per_connection\": 7}],"
             " \"retry\": {\"schedule\": [1], \"max_age\": 600},"
             " \"unsubscribe\": {\"url\": \"https://mail.example.com/unsub\"}}",
             smtp_fake_port(f->fake));
    load_config(f, json);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = edm_test_tmpdir("delivery");
    char path[4200], err[512];
    if (edm_test_store_where(f->dir, path, sizeof path) != 0 ||
        edm_store_open(path, &f->st, err, sizeof err) != 0)
        return -1;
    snprintf(f->where, sizeof f->where, "%s", path);
    uv_loop_init(&f->loop);
    *state = f;
    return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->fake) {
        smtp_fake_close(f->fake);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        smtp_fake_free(f->fake);
    }
    uv_walk(&f->loop, close_walk, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    edm_config_free(&f->cfg);
    edm_test_store_release(f->st, f->dir);
    free(f);
    return 0;
}

static int64_t make_campaign(struct fx *f, const char *subject)
{
    edm_store *st = f->st;
    json_t *tf =
        json_pack("{s:s, s:s, s:s, s:s}", "name", "t", "subject", subject, "html",
                  "<p>Hello {{name}}, see <a href=\"https://x.example/{{id}}\">this</a></p>",
                  "text", "Hello {{name}}");
    edm_template_row t;
    assert_int_equal(st->ops->template_create(st, tf, &t), 0);
    json_t *cf =
        json_pack("{s:s, s:I, s:s, s:{s:s}}", "name", "c", "template_id", (json_int_t)t.id, "from",
                  "Example News <news@example.com>", "headers", "X-Campaign", "spring");
    edm_campaign_row c;
    assert_int_equal(st->ops->campaign_create(st, cf, &c), 0);
    int64_t id = c.id;
    json_decref(tf);
    edm_template_row_clear(&t);
    json_decref(cf);
    edm_campaign_row_clear(&c);
    return id;
}

static void add(edm_store *st, int64_t cid, const char *email, const char *vars)
{
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    const char *at = strchr(email, '@');
    edm_recipient r = {.email = email, .domain = at + 1, .vars_json = vars};
    enum edm_add_outcome o;
    assert_int_equal(st->ops->upload_add(up, &r, 1, &o), 0);
    assert_int_equal(st->ops->upload_end(up, 1), 0);
}

static const char *campaign_status(struct fx *f, int64_t cid, char *buf, size_t n)
{
    edm_campaign_row c;
    assert_int_equal(f->st->ops->campaign_get(f->st, cid, &c), 0);
    snprintf(buf, n, "%s", edm_cstate_name(c.state));
    edm_campaign_row_clear(&c);
    return buf;
}

struct waiter {
    uv_timer_t t;
    struct fx *f;
    const char *want;
    uint64_t deadline;
    int done;
};

static void on_engine_stopped(void *arg)
{
    ((struct fx *)arg)->engine_stopped = 1;
}

static void on_wait(uv_timer_t *t)
{
    struct waiter *w = (struct waiter *)t;
    char buf[32];
    if (strcmp(campaign_status(w->f, w->f->cid, buf, sizeof buf), w->want) == 0 ||
        edm_time_mono_ms() > w->deadline) {
        w->done = strcmp(buf, w->want) == 0;
        uv_timer_stop(t);
        uv_close((uv_handle_t *)t, NULL);
        edm_engine_stop(w->f->eng, on_engine_stopped, w->f);
    }
}

/* Runs the loop for ms milliseconds. */
static void spin(struct fx *f, int ms)
{
    uint64_t until = edm_time_mono_ms() + (uint64_t)ms;
    while (edm_time_mono_ms() < until)
        uv_run(&f->loop, UV_RUN_NOWAIT), edm_test_sleep_ms(5);
}

/* Starts the engine on a campaign made running now. */
static void start_running(struct fx *f)
{
    assert_int_equal(f->st->ops->campaign_transition(
                         f->st, f->cid, EDM_CSTATE_BIT(EDM_CSTATE_DRAFT), EDM_CSTATE_RUNNING, -1),
                     0);
    char err[512];
    assert_int_equal(edm_engine_start(&f->loop, &f->cfg, f->st, &f->eng, err, sizeof err), 0);
}

/* Stops the engine and waits until it is gone. */
static void stop_engine(struct fx *f)
{
    edm_engine_stop(f->eng, on_engine_stopped, f);
    while (!f->engine_stopped)
        uv_run(&f->loop, UV_RUN_ONCE);
    f->engine_stopped = 0;
}

/* Runs the engine until the campaign reaches state `want` (or 30 s). */
static int run_until(struct fx *f, const char *want)
{
    char err[512];
    int rc = edm_engine_start(&f->loop, &f->cfg, f->st, &f->eng, err, sizeof err);
    if (rc != 0)
        fail_msg("engine start: %d %s", rc, err);
    struct waiter w = {.f = f, .want = want, .deadline = edm_time_mono_ms() + 30000};
    uv_timer_init(&f->loop, &w.t);
    uv_timer_start(&w.t, on_wait, 50, 50);
    while (!f->engine_stopped)
        uv_run(&f->loop, UV_RUN_ONCE);
    f->engine_stopped = 0;
    return w.done;
}

static json_t *receipt_of(struct fx *f, const char *email)
{
    edm_receipt_filter flt = {.email = email, .limit = 10};
    edm_page p;
    assert_int_equal(f->st->ops->receipt_list(f->st, f->cid, &flt, &p), 0);
    assert_int_equal(json_array_size(p.items), 1);
    json_t *r = json_incref(json_array_get(p.items, 0));
    edm_page_free(&p);
    return r;
}

static void assert_receipt(struct fx *f, const char *email, const char *status, int code,
                           const char *category, int attempts)
{
    json_t *r = receipt_of(f, email);
    if (strcmp(json_string_value(json_object_get(r, "status")), status) != 0)
        fail_msg("%s: status %s, want %s (%s)", email,
                 json_string_value(json_object_get(r, "status")), status,
                 json_string_value(json_object_get(r, "response")));
    assert_int_equal(json_integer_value(json_object_get(r, "smtp_code")), code);
    if (category)
        assert_string_equal(json_string_value(json_object_get(r, "bounce_category")), category);
    assert_int_equal(json_integer_value(json_object_get(r, "attempts")), attempts);
    json_decref(r);
}

static void campaign_delivers_and_records_every_receipt(void **state)
{
    struct fx *f = *state;
    start_fake(f, rules, sizeof rules / sizeof rules[0]);
    f->cid = make_campaign(f, "Hi {{name}}");
    char email[64], vars[96];
    for (int i = 0; i < 20; i++) {
        snprintf(email, sizeof email, "ok%d@a.test", i);
        snprintf(vars, sizeof vars, "{\"name\": \"Reader %d\", \"id\": %d}", i, i);
        add(f->st, f->cid, email, vars);
    }
    add(f->st, f->cid, "bad@a.test", "{\"name\": \"B\", \"id\": 0}");
    add(f->st, f->cid, "later@a.test", "{\"name\": \"L\", \"id\": 0}");
    add(f->st, f->cid, "noname@a.test", "{\"id\": 1}");
    assert_int_equal(f->st->ops->suppression_add(f->st, "gone@a.test", "complaint", NULL), 0);
    add(f->st, f->cid, "gone@a.test", "{\"name\": \"G\", \"id\": 0}");
    /* Suppressed after upload: caught when claimed. */
    add(f->st, f->cid, "late-suppressed@a.test", "{\"name\": \"S\", \"id\": 0}");
    assert_int_equal(f->st->ops->suppression_add(f->st, "late-suppressed@a.test", "", NULL), 0);

    assert_int_equal(f->st->ops->campaign_transition(f->st, f->cid,
                                                     EDM_CSTATE_BIT(EDM_CSTATE_DRAFT),
                                                     EDM_CSTATE_SCHEDULED, edm_time_now()),
                     0);
    assert_true(run_until(f, "completed"));

    int64_t counts[EDM_DSTATE_COUNT];
    assert_int_equal(f->st->ops->campaign_counts(f->st, f->cid, counts), 0);
    assert_int_equal(counts[EDM_DSTATE_DELIVERED], 21);
    assert_int_equal(counts[EDM_DSTATE_BOUNCED], 1);
    assert_int_equal(counts[EDM_DSTATE_SUPPRESSED], 2);
    assert_int_equal(counts[EDM_DSTATE_FAILED], 1);
    assert_int_equal(counts[EDM_DSTATE_QUEUED] + counts[EDM_DSTATE_DEFERRED], 0);

    assert_receipt(f, "ok3@a.test", "delivered", 250, NULL, 1);
    assert_receipt(f, "bad@a.test", "bounced", 550, "bad_mailbox", 1);
    assert_receipt(f, "later@a.test", "delivered", 250, NULL, 2);
    json_t *r = receipt_of(f, "noname@a.test");
    assert_string_equal(json_string_value(json_object_get(r, "status")), "failed");
    assert_non_null(strstr(json_string_value(json_object_get(r, "response")), "name"));
    json_decref(r);
    r = receipt_of(f, "ok3@a.test");
    assert_string_equal(json_string_value(json_object_get(r, "mx_ip")), "127.0.0.1");
    assert_non_null(strstr(json_string_value(json_object_get(r, "message_id")), "@example.com"));
    json_decref(r);

    /* The deferral and the delivery are two events. */
    r = receipt_of(f, "later@a.test");
    json_t *ev = NULL;
    assert_int_equal(
        f->st->ops->receipt_events(f->st, json_integer_value(json_object_get(r, "id")), &ev), 0);
    assert_int_equal(json_array_size(ev), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "status")),
                        "deferred");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "enhanced_code")),
                        "4.2.2");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 1), "status")),
                        "delivered");
    json_decref(ev);
    json_decref(r);

    /* What the server received: the 21 delivered (bad@ was refused at RCPT
     * and later@'s first try too, so neither sent content then). */
    size_t n = smtp_fake_messages(f->fake);
    assert_int_equal(n, 21);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const char *m = edm_buf_cstr(smtp_fake_message(f->fake, i));
        if (strstr(m, "To: ok7@a.test")) {
            found = 1;
            assert_non_null(strstr(m, "Subject: Hi Reader 7"));
            assert_non_null(strstr(m, "X-Campaign: spring"));
            assert_non_null(strstr(m, "List-Unsubscribe: "));
            assert_non_null(strstr(m, "https://mail.example.com/unsub?t="));
            assert_non_null(strstr(m, "List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
            assert_non_null(strstr(m, "From: \"Example News\" <news@example.com>"));
            assert_non_null(strstr(m, "Feedback-ID: "));
        }
    }
    assert_true(found);
    const char *log = smtp_fake_log(f->fake);
    assert_non_null(strstr(log, "MAIL FROM:<bounces+"));
    assert_non_null(strstr(log, "@example.com>"));
    assert_null(strstr(log, "gone@a.test"));
    /* 7 messages per connection at most: at least 3 connections. */
    assert_true(smtp_fake_connections(f->fake) >= 3);
}

static void pause_and_cancel_take_effect(void **state)
{
    struct fx *f = *state;
    /* The server holds every end of data for a while so the campaign is
     * still running when we pause it. */
    static const smtp_fake_rule slow[] = {{FAKE_DOT, NULL, NULL, 150, FAKE_REPLY, 0}};
    start_fake(f, slow, 1);
    f->cid = make_campaign(f, "Slow {{name}}");
    for (int i = 0; i < 60; i++) {
        char email[64];
        snprintf(email, sizeof email, "p%d@b.test", i);
        add(f->st, f->cid, email, "{\"name\": \"x\", \"id\": 1}");
    }
    assert_int_equal(f->st->ops->campaign_transition(
                         f->st, f->cid, EDM_CSTATE_BIT(EDM_CSTATE_DRAFT), EDM_CSTATE_RUNNING, -1),
                     0);
    /* Pause it from the outside once something was delivered. */
    char err[512];
    assert_int_equal(edm_engine_start(&f->loop, &f->cfg, f->st, &f->eng, err, sizeof err), 0);
    uint64_t deadline = edm_time_mono_ms() + 20000;
    int64_t counts[EDM_DSTATE_COUNT] = {0};
    while (counts[EDM_DSTATE_DELIVERED] == 0 && edm_time_mono_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_ONCE);
        f->st->ops->campaign_counts(f->st, f->cid, counts);
    }
    assert_true(counts[EDM_DSTATE_DELIVERED] > 0);
    assert_int_equal(f->st->ops->campaign_transition(
                         f->st, f->cid, EDM_CSTATE_BIT(EDM_CSTATE_RUNNING), EDM_CSTATE_PAUSED, -1),
                     0);
    /* Within a second (plus what is in flight, 150 ms each) sending stops. */
    spin(f, 1500);
    size_t seen = smtp_fake_messages(f->fake);
    spin(f, 1000);
    assert_int_equal(smtp_fake_messages(f->fake), seen); /* nothing more while paused */
    f->st->ops->campaign_counts(f->st, f->cid, counts);
    assert_true(counts[EDM_DSTATE_QUEUED] > 0);

    /* Cancel: every recipient ends in exactly one terminal state. */
    assert_int_equal(f->st->ops->campaign_transition(f->st, f->cid,
                                                     EDM_CSTATE_BIT(EDM_CSTATE_PAUSED),
                                                     EDM_CSTATE_CANCELLED, -1),
                     0);
    spin(f, 1500);
    f->st->ops->campaign_counts(f->st, f->cid, counts);
    assert_int_equal(counts[EDM_DSTATE_QUEUED] + counts[EDM_DSTATE_DEFERRED], 0);
    assert_int_equal(counts[EDM_DSTATE_DELIVERED] + counts[EDM_DSTATE_CANCELLED], 60);
    assert_int_equal(counts[EDM_DSTATE_DELIVERED], (int64_t)smtp_fake_messages(f->fake));
    stop_engine(f);
}

/* A 421 at RCPT matches the default backoff list ("421", "4.7."): the
 * domain is paused and what waits for it is deferred to the end of the
 * pause without counting an attempt; other domains go on. */
static void backoff_pauses_the_domain_only(void **state)
{
    struct fx *f = *state;
    static const smtp_fake_rule slow_down[] = {
        {FAKE_RCPT, "@slow.test", "421 4.7.0 Too many messages, slow down\r\n", 0, FAKE_REPLY, 0},
    };
    smtp_fake_config fc = {.ip = "127.0.0.1", .port = 0, .rules = slow_down, .nrules = 1};
    f->fake = smtp_fake_start(&f->loop, &fc);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"smtp\": {\"helo\": \"edm.test\", \"tls\": \"none\"},"
             " \"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}],"
             " \"domains\": [{\"match\": \"*\", \"max_connections\": 1}],"
             " \"retry\": {\"schedule\": [1], \"max_age\": 600}}",
             smtp_fake_port(f->fake));
    load_config(f, json);
    f->cid = make_campaign(f, "Hi {{name}}");
    for (int i = 0; i < 5; i++) {
        char email[64];
        snprintf(email, sizeof email, "s%d@slow.test", i);
        add(f->st, f->cid, email, "{\"name\": \"x\", \"id\": 1}");
        snprintf(email, sizeof email, "f%d@fast.test", i);
        add(f->st, f->cid, email, "{\"name\": \"x\", \"id\": 1}");
    }
    start_running(f);
    spin(f, 2500);
    stop_engine(f);
    int64_t counts[EDM_DSTATE_COUNT];
    assert_int_equal(f->st->ops->campaign_counts(f->st, f->cid, counts), 0);
    assert_int_equal(counts[EDM_DSTATE_DELIVERED], 5); /* fast.test */
    assert_int_equal(counts[EDM_DSTATE_DEFERRED], 5);  /* slow.test, paused */
    int attempted = 0;
    for (int i = 0; i < 5; i++) {
        char email[64];
        snprintf(email, sizeof email, "s%d@slow.test", i);
        json_t *r = receipt_of(f, email);
        assert_string_equal(json_string_value(json_object_get(r, "status")), "deferred");
        assert_string_equal(json_string_value(json_object_get(r, "bounce_category")),
                            "rate_limited");
        attempted += (int)json_integer_value(json_object_get(r, "attempts"));
        /* Not before the end of the 300 s pause. */
        int64_t next = 0;
        assert_int_equal(
            edm_time_parse_rfc3339(json_string_value(json_object_get(r, "next_attempt_at")), &next),
            0);
        assert_true(next >= edm_time_now() + 250);
        json_decref(r);
    }
    assert_int_equal(attempted, 1); /* only the one that got the 421 */
}

/* Stored variables (engine/store/vars.h): a recipient's compact values
 * are sent; values that do not decode (a names row that does not exist,
 * a value cut short) fail their own message with the reason, and the
 * campaign completes. */
static void unreadable_variables_fail_their_message_alone(void **state)
{
    struct fx *f = *state;
    start_fake(f, rules, sizeof rules / sizeof rules[0]);
    f->cid = make_campaign(f, "Hi {{name}}");
    edm_upload *up;
    static const char *const emails[] = {"c@a.test", "gone@b.test", "cut@b.test"};
    static const unsigned char vals[] = {3, 'A', 'n', 'n', 1, '1', 0}; /* "Ann", "1" */
    assert_int_equal(f->st->ops->upload_begin(f->st, f->cid, &up), 0);
    for (int i = 0; i < 3; i++) {
        edm_recipient r = {.email = emails[i],
                           .domain = strchr(emails[i], '@') + 1,
                           .vars_names = "[\"name\",\"id\"]",
                           .vars_vals = vals,
                           .vars_vals_len = sizeof vals - 1};
        enum edm_add_outcome o;
        assert_int_equal(f->st->ops->upload_add(up, &r, 1, &o), 0);
    }
    assert_int_equal(f->st->ops->upload_end(up, 1), 0);
    int pg = edm_test_store_is_pg();
    assert_int_equal(edm_test_store_exec(f->where, pg ? "UPDATE deliveries SET vars_bin = "
                                                        "'\\x0163017800' WHERE email = "
                                                        "'gone@b.test'"
                                                      : "UPDATE deliveries SET vars = "
                                                        "x'0163017800' WHERE email = "
                                                        "'gone@b.test'"),
                     0);
    assert_int_equal(edm_test_store_exec(f->where, pg ? "UPDATE deliveries SET vars_bin = "
                                                        "substr(vars_bin, 1, 4) WHERE email = "
                                                        "'cut@b.test'"
                                                      : "UPDATE deliveries SET vars = "
                                                        "substr(vars, 1, 4) WHERE email = "
                                                        "'cut@b.test'"),
                     0);
    assert_int_equal(f->st->ops->campaign_transition(f->st, f->cid,
                                                     EDM_CSTATE_BIT(EDM_CSTATE_DRAFT),
                                                     EDM_CSTATE_SCHEDULED, edm_time_now()),
                     0);
    assert_true(run_until(f, "completed"));
    assert_receipt(f, "c@a.test", "delivered", 250, NULL, 1);
    static const char *const why[] = {"names id 99 without its names", "value 1 of 2 runs past"};
    for (int i = 1; i < 3; i++) {
        json_t *r = receipt_of(f, emails[i]);
        const char *resp = json_string_value(json_object_get(r, "response"));
        assert_string_equal(json_string_value(json_object_get(r, "status")), "failed");
        if (resp == NULL || !strstr(resp, "recipient variables") || !strstr(resp, why[i - 1]))
            fail_msg("%s: response %s, want the reason \"%s\"", emails[i], resp, why[i - 1]);
        json_decref(r);
    }
}

/* max_per_hour on the campaign: 60 an hour allows a burst of 2, then one a
 * minute. */
static void campaign_rate_limit_holds(void **state)
{
    struct fx *f = *state;
    start_fake(f, NULL, 0);
    f->cid = make_campaign(f, "Hi {{name}}");
    json_t *patch = json_pack("{s:i}", "max_per_hour", 60);
    assert_int_equal(f->st->ops->campaign_update(f->st, f->cid, patch, NULL), 0);
    json_decref(patch);
    for (int i = 0; i < 10; i++) {
        char email[64];
        snprintf(email, sizeof email, "r%d@a.test", i);
        add(f->st, f->cid, email, "{\"name\": \"x\", \"id\": 1}");
    }
    start_running(f);
    spin(f, 2000);
    stop_engine(f);
    int64_t counts[EDM_DSTATE_COUNT];
    assert_int_equal(f->st->ops->campaign_counts(f->st, f->cid, counts), 0);
    assert_int_equal(counts[EDM_DSTATE_DELIVERED], 2);
    assert_int_equal(counts[EDM_DSTATE_QUEUED], 8);
    assert_int_equal(smtp_fake_messages(f->fake), 2);
}

/* A domain's max_per_minute holds messages back without closing the
 * connection: the session waits idle for the next token. */
static void rate_limited_domain_keeps_its_connection(void **state)
{
    struct fx *f = *state;
    smtp_fake_config fc = {.ip = "127.0.0.1", .port = 0};
    f->fake = smtp_fake_start(&f->loop, &fc);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"smtp\": {\"helo\": \"edm.test\", \"tls\": \"none\"},"
             " \"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}],"
             " \"domains\": [{\"match\": \"*\", \"max_connections\": 1,"
             "   \"max_messages_per_connection\": 1000, \"max_per_minute\": 600}]}",
             smtp_fake_port(f->fake));
    load_config(f, json);
    f->cid = make_campaign(f, "Hi {{name}}");
    for (int i = 0; i < 80; i++) {
        char email[64];
        snprintf(email, sizeof email, "r%d@limited.test", i);
        add(f->st, f->cid, email, "{\"name\": \"x\", \"id\": 1}");
    }
    assert_int_equal(f->st->ops->campaign_transition(f->st, f->cid,
                                                     EDM_CSTATE_BIT(EDM_CSTATE_DRAFT),
                                                     EDM_CSTATE_SCHEDULED, edm_time_now()),
                     0);
    /* 600 a minute: a burst of 61, then one every 100 ms. */
    assert_true(run_until(f, "completed"));
    assert_int_equal(smtp_fake_messages(f->fake), 80);
    assert_int_equal(smtp_fake_connections(f->fake), 1);
}

/* Messages sent in the last second (hour text "slot:count,...") summed. */
static long counted(const char *text)
{
    long n = 0;
    for (const char *p = text; p && (p = strchr(p, ':')) != NULL; p++)
        n += strtol(p + 1, NULL, 10);
    return n;
}

/* The source address's counters reach the store within a second or so
 * of sending, also when sending stops there: a crash (no clean stop)
 * loses at most that last second, so the hour's cap holds after it. */
static void ip_counters_are_saved_while_running(void **state)
{
    struct fx *f = *state;
    start_fake(f, NULL, 0);
    f->cid = make_campaign(f, "Hi {{name}}");
    for (int i = 0; i < 3; i++) {
        char email[64];
        snprintf(email, sizeof email, "r%d@a.test", i);
        add(f->st, f->cid, email, "{\"name\": \"x\", \"id\": 1}");
    }
    start_running(f);
    uint64_t deadline = edm_time_mono_ms() + 10000;
    while (smtp_fake_messages(f->fake) < 3 && edm_time_mono_ms() < deadline)
        spin(f, 20);
    assert_int_equal(smtp_fake_messages(f->fake), 3);
    spin(f, 2500); /* the engine runs on, sending nothing */
    int64_t first_day = 0;
    char *hour = NULL, *day = NULL;
    assert_int_equal(f->st->ops->ip_counters_get(f->st, "*", &first_day, &hour, &day), 0);
    long h = counted(hour), d = counted(day);
    edm_free(hour);
    edm_free(day);
    stop_engine(f);
    assert_true(first_day > 0);
    assert_int_equal(h, 3);
    assert_int_equal(d, 3);
}

/* Real MX resolution: dnsmasq answers MX, A, null MX and NXDOMAIN; the
 * fake server is the MX host on its own 127.0.1.x address. */
static void mx_lookup_delivers_and_bad_domains_bounce(void **state)
{
    struct fx *f = *state;
    char mx_ip[32];
    snprintf(mx_ip, sizeof mx_ip, "127.0.1.%d", 140 + (int)(getpid() % 100));
    smtp_fake_config fc = {.ip = mx_ip, .port = 0};
    f->fake = smtp_fake_start(&f->loop, &fc);
    assert_non_null(f->fake);
    int dport = edm_test_free_port("127.0.0.1");
    char portarg[32], rec[80], log[4300];
    snprintf(portarg, sizeof portarg, "--port=%d", dport);
    snprintf(rec, sizeof rec, "--host-record=mx1.good.test,%s", mx_ip);
    snprintf(log, sizeof log, "%s/dnsmasq.log", f->dir);
    char *argv[] = {"dnsmasq",
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--pid-file=",
                    "--user=root",
                    portarg,
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--no-resolv",
                    "--no-hosts",
                    "--local=/test/",
                    "--mx-host=good.test,mx1.good.test,10",
                    rec,
                    "--mx-host=nullmx.test,.,0",
                    "--address=/nx.test/",
                    NULL};
    pid_t dns = edm_test_spawn(argv, log);
    assert_true(dns > 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", dport, 10000), 0);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"smtp\": {\"helo\": \"edm.test\", \"tls\": \"none\", \"port\": %d},"
             " \"dns\": {\"servers\": [\"127.0.0.1:%d\"]},"
             " \"retry\": {\"schedule\": [1], \"max_age\": 600}}",
             smtp_fake_port(f->fake), dport);
    load_config(f, json);
    f->cid = make_campaign(f, "Hi {{name}}");
    static const char *const good[] = {"a@good.test", "b@good.test", "c@good.test"};
    for (size_t i = 0; i < 3; i++)
        add(f->st, f->cid, good[i], "{\"name\": \"x\", \"id\": 1}");
    add(f->st, f->cid, "x@nullmx.test", "{\"name\": \"x\", \"id\": 1}");
    add(f->st, f->cid, "y@nx.test", "{\"name\": \"x\", \"id\": 1}");
    assert_int_equal(f->st->ops->campaign_transition(
                         f->st, f->cid, EDM_CSTATE_BIT(EDM_CSTATE_DRAFT), EDM_CSTATE_RUNNING, -1),
                     0);
    int ok = run_until(f, "completed");
    edm_test_stop(dns, 2000);
    assert_true(ok);
    for (size_t i = 0; i < 3; i++) {
        json_t *r = receipt_of(f, good[i]);
        assert_string_equal(json_string_value(json_object_get(r, "status")), "delivered");
        assert_string_equal(json_string_value(json_object_get(r, "mx_host")), "mx1.good.test");
        assert_string_equal(json_string_value(json_object_get(r, "mx_ip")), mx_ip);
        json_decref(r);
    }
    assert_receipt(f, "x@nullmx.test", "bounced", 0, "bad_domain", 1);
    assert_receipt(f, "y@nx.test", "bounced", 0, "bad_domain", 1);
    json_t *r = receipt_of(f, "y@nx.test");
    assert_non_null(strstr(json_string_value(json_object_get(r, "response")), "NXDOMAIN"));
    json_decref(r);
    assert_int_equal(smtp_fake_messages(f->fake), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(campaign_delivers_and_records_every_receipt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(pause_and_cancel_take_effect, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_variables_fail_their_message_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(mx_lookup_delivers_and_bad_domains_bounce, setup, teardown),
        cmocka_unit_test_setup_teardown(backoff_pauses_the_domain_only, setup, teardown),
        cmocka_unit_test_setup_teardown(campaign_rate_limit_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(rate_limited_domain_keeps_its_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(ip_counters_are_saved_while_running, setup, teardown),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
