/*
 * tests/support/smtp_run.c: test driver for SMTP sessions (see smtp_run.h).
 */
#include "tests/support/smtp_run.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

void run_init(smtp_run *r)
{
    memset(r, 0, sizeof *r);
    CHECK(uv_loop_init(&r->loop) == 0);
}

size_t run_add(smtp_run *r, const char *sender, const char *const *rcpts, const char *data)
{
    if ((r->nmsgs & (r->nmsgs - 1)) == 0) /* capacity: powers of two */
        r->msgs = edm_xrealloc(r->msgs, (r->nmsgs ? 2 * r->nmsgs : 1) * sizeof *r->msgs);
    run_msg *m = &r->msgs[r->nmsgs];
    memset(m, 0, sizeof *m);
    size_t n = 0;
    while (rcpts[n]) {
        CHECK(n < RUN_MAX_RCPTS);
        m->rcpts[n] = rcpts[n];
        n++;
    }
    m->m.sender = sender;
    m->m.nrcpts = n;
    m->m.data = edm_xstrdup(data);
    m->m.len = strlen(data);
    m->m.user = (void *)(uintptr_t)r->nmsgs;
    return r->nmsgs++;
}

static const smtp_message *on_next(smtp_session *s, void *arg)
{
    (void)s;
    smtp_run *r = arg;
    r->next_calls++;
    if (r->next_i >= r->nmsgs)
        return r->later_when_empty ? SMTP_LATER : NULL;
    run_msg *m = &r->msgs[r->next_i++];
    m->m.rcpts = m->rcpts; /* msgs may have moved since run_add */
    return &m->m;
}

/* Copies s (NULL: "") into out[n], cut to fit. */
static void copy_str(char *out, size_t n, const char *s)
{
    size_t len = s ? strnlen(s, n - 1) : 0;
    memcpy(out, s ? s : "", len);
    out[len] = '\0';
}

static void on_done(smtp_session *s, const smtp_result *res, void *arg)
{
    smtp_run *r = arg;
    r->done_calls++;
    size_t i = (size_t)(uintptr_t)res->msg->user;
    CHECK(i < r->nmsgs);
    run_msg *m = &r->msgs[i];
    m->done++;
    /* The session reports facts only. */
    CHECK(res->outcome->status == 0 && res->outcome->category == EDM_CATEGORY_NONE);
    classify_result c = res->outcome->failure == EDM_FAIL_NONE
                            ? classify_reply(res->outcome->step, res->outcome->code,
                                             res->outcome->enhanced, res->outcome->text)
                            : classify_failure(res->outcome->failure);
    m->status = c.status;
    m->category = c.category;
    m->failure = res->outcome->failure;
    m->code = res->outcome->code;
    m->needs_7bit = res->outcome->failure == EDM_FAIL_NEEDS_7BIT;
    copy_str(m->enhanced, sizeof m->enhanced, res->outcome->enhanced);
    copy_str(m->text, sizeof m->text, res->outcome->text);
    copy_str(m->mx_host, sizeof m->mx_host, res->outcome->mx_host);
    copy_str(m->mx_ip, sizeof m->mx_ip, res->outcome->mx_ip);
    copy_str(m->source_ip, sizeof m->source_ip, res->outcome->source_ip);
    copy_str(m->tls, sizeof m->tls, res->outcome->tls);
    for (size_t k = 0; k < res->msg->nrcpts; k++) {
        run_rcpt *rr = &m->rcpt[k];
        edm_outcome o = res->rcpts[k];
        CHECK(o.status == 0 && o.category == EDM_CATEGORY_NONE);
        classify_outcome(&o);
        rr->status = o.status;
        rr->category = o.category;
        rr->failure = o.failure;
        rr->code = o.code;
        copy_str(rr->enhanced, sizeof rr->enhanced, o.enhanced);
        copy_str(rr->text, sizeof rr->text, o.text);
        copy_str(rr->queue_id, sizeof rr->queue_id, o.remote_queue_id);
    }
    for (size_t k = 0; k < r->nsessions; k++)
        if (r->sessions[k] == s)
            m->session = (unsigned)k;
    if (r->abort_after_first_done)
        smtp_session_abort(s);
}

static void on_closed(smtp_session *s, const edm_outcome *fail, void *arg)
{
    smtp_run *r = arg;
    size_t k = 0;
    while (k < r->nsessions && r->sessions[k] != s)
        k++;
    CHECK(k < r->nsessions);
    if (r->closed_calls < 8)
        r->closed_order[r->closed_calls] = (unsigned)k;
    r->closed_calls++;
    if (fail) {
        r->fail_seen++;
        r->fail = fail->failure == EDM_FAIL_NONE
                      ? classify_reply(fail->step, fail->code, fail->enhanced, fail->text)
                      : classify_failure(fail->failure);
        r->fail_failure = fail->failure;
        r->fail_code = fail->code;
        copy_str(r->fail_text, sizeof r->fail_text, fail->text);
        copy_str(r->fail_tls, sizeof r->fail_tls, fail->tls);
    }
    CHECK(r->sessions_open > 0);
    if (r->free_in_closed) {
        smtp_session_free(s);
        r->sessions[k] = NULL;
    }
    if (--r->sessions_open == 0)
        for (size_t i = 0; i < r->nfakes; i++)
            smtp_fake_close(r->fakes[i]);
}

smtp_fake *run_fake(smtp_run *r, const smtp_fake_config *cfg)
{
    CHECK(r->nfakes < 4);
    smtp_fake *f = smtp_fake_start(&r->loop, cfg);
    CHECK(f != NULL && smtp_fake_port(f) > 0);
    r->fakes[r->nfakes++] = f;
    return f;
}

smtp_session *run_session(smtp_run *r, const smtp_options *opts)
{
    static const smtp_callbacks cb = {on_next, on_done, on_closed};
    CHECK(r->nsessions < 8);
    smtp_session *s = smtp_session_new(&r->loop, opts, &cb, r);
    CHECK(s != NULL);
    r->sessions[r->nsessions++] = s;
    r->sessions_open++;
    CHECK(smtp_session_start(s) == 0);
    return s;
}

static void walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "handle left open: type %d active %d\n", (int)h->type, uv_is_active(h));
}

void run_loop(smtp_run *r)
{
    if (r->sessions_open == 0)
        for (size_t i = 0; i < r->nfakes; i++)
            smtp_fake_close(r->fakes[i]);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_walk(&r->loop, walk_cb, NULL);
    CHECK(uv_loop_alive(&r->loop) == 0);
    for (size_t i = 0; i < r->nfakes; i++)
        CHECK(smtp_fake_closed(r->fakes[i]));
    CHECK(r->sessions_open == 0);
}

void run_free(smtp_run *r)
{
    for (size_t i = 0; i < r->nsessions; i++)
        smtp_session_free(r->sessions[i]);
    for (size_t i = 0; i < r->nfakes; i++)
        smtp_fake_free(r->fakes[i]);
    for (size_t i = 0; i < r->nmsgs; i++)
        edm_free((void *)r->msgs[i].m.data);
    edm_free(r->msgs);
    CHECK(uv_loop_close(&r->loop) == 0);
}

smtp_options run_options(const smtp_target *t, size_t nt, int port)
{
    smtp_options o;
    memset(&o, 0, sizeof o);
    o.helo = "client.test";
    o.port = port;
    o.tls = SMTP_TLS_NONE;
    o.targets = t;
    o.ntargets = nt;
    /* generous: a real server (Postfix, Exim) on a loaded CI machine may
     * take seconds to answer; the tests of timeouts set their own short
     * ones, and a fake that answers at once never waits for these */
    smtp_timeouts to = {10000, 30000, 30000, 30000, 30000, 30000, 30000};
    o.timeouts = to;
    return o;
}
