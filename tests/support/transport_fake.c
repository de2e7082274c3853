/*
 * tests/support/transport_fake.c: the scripted transport (see
 * transport_fake.h). One uv timer per session drives it: the message in
 * hand completes when it fires (state BUSY), an idle session quits when it
 * fires (IDLE), and closed() is reported from it (CLOSING), never from
 * inside a call of the relay's. Freed sessions close their timer and are
 * released in its close callback.
 */
#include "tests/support/transport_fake.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/delivery/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tf_state { TS_NEW, TS_BUSY, TS_REPORTING, TS_IDLE, TS_CLOSING, TS_DONE };

typedef struct tf_rcpt {
    char *rcpt;
    unsigned n;
} tf_rcpt;

struct transport_fake {
    uv_loop_t *loop;
    const transport_fake_rule *rules;
    size_t nrules;
    int *used; /* matches so far, per rule */
    unsigned delay_ms;
    transport_fake_counts c;
    tf_rcpt *dlv;
    size_t ndlv, capdlv;
    char last_source[64];
    unsigned next_qid;
    transport_fake_source src[16];
    size_t nsrc;
    struct {
        char addr[64];
        unsigned ms;
    } slow[4]; /* transport_fake_delay_source */
    size_t nslow;
};

typedef struct tf_session {
    uv_timer_t timer;
    transport_fake *f;
    const edm_transport_cbs *cb;
    void *arg;
    unsigned max_messages;
    uint64_t idle_ms;
    char source[64], host[256], ip[64];
    enum tf_state state;
    const smtp_message *m; /* in hand while BUSY */
    unsigned count;        /* messages completed */
    unsigned delay_ms;     /* per message: the fake's, or its source's */
    int abort_req;         /* abort() during done(): ends after it returns */
    int failed;            /* closed() reports a failure */
    char fail_text[160];
    int fail_code; /* with fail_step and fail_enh: a reply ended it */
    enum edm_smtp_step fail_step;
    char fail_enh[16];
} tf_session;

static void on_timer(uv_timer_t *t);

static void finish(tf_session *s, int failed, const char *why)
{
    s->state = TS_CLOSING;
    s->failed = failed;
    snprintf(s->fail_text, sizeof s->fail_text, "%s", why ? why : "");
    uv_timer_start(&s->timer, on_timer, 0, 0);
}

static void count_delivered(transport_fake *f, const char *rcpt)
{
    for (size_t i = 0; i < f->ndlv; i++)
        if (strcmp(f->dlv[i].rcpt, rcpt) == 0) {
            f->dlv[i].n++;
            return;
        }
    if (f->ndlv == f->capdlv) {
        f->capdlv = f->capdlv ? f->capdlv * 2 : 16;
        f->dlv = edm_xrealloc(f->dlv, f->capdlv * sizeof *f->dlv);
    }
    f->dlv[f->ndlv++] = (tf_rcpt){edm_xstrdup(rcpt), 1};
}

static transport_fake_source *source_of(transport_fake *f, const char *addr)
{
    for (size_t i = 0; i < f->nsrc; i++)
        if (strcmp(f->src[i].addr, addr) == 0)
            return &f->src[i];
    if (f->nsrc == sizeof f->src / sizeof f->src[0])
        EDM_PANIC("transport_fake: too many source addresses");
    transport_fake_source *x = &f->src[f->nsrc++];
    snprintf(x->addr, sizeof x->addr, "%s", addr);
    return x;
}

static enum tf_action match(transport_fake *f, const char *rcpt, const char *source)
{
    for (size_t i = 0; i < f->nrules; i++) {
        const transport_fake_rule *r = &f->rules[i];
        if (r->rcpt && strstr(rcpt, r->rcpt) == NULL)
            continue;
        if (r->source && strcmp(r->source, source) != 0)
            continue;
        if (r->times && f->used[i] >= r->times)
            continue;
        f->used[i]++;
        return r->action;
    }
    return TF_DELIVER;
}

/* Asks the relay for the next message; first: the one start() takes. */
static void take(tf_session *s, int first)
{
    transport_fake *f = s->f;
    if (s->max_messages && s->count >= s->max_messages) {
        finish(s, 0, NULL); /* QUIT after max_messages */
        return;
    }
    const smtp_message *m = s->cb->next(s->arg);
    if (m == NULL || (first && m == SMTP_LATER)) {
        finish(s, 0, NULL);
        return;
    }
    if (m == SMTP_LATER) {
        s->state = TS_IDLE;
        uv_timer_start(&s->timer, on_timer, s->idle_ms ? s->idle_ms : 30000, 0);
        return;
    }
    s->state = TS_BUSY;
    s->m = m;
    f->c.messages++;
    source_of(f, s->source)->messages++;
    if (++f->c.in_flight > f->c.max_in_flight)
        f->c.max_in_flight = f->c.in_flight;
    uv_timer_start(&s->timer, on_timer, s->delay_ms, 0);
}

/* Reports the message in hand with a reply (code > 0) or as a network
 * failure (code 0), then goes on. */
static void complete(tf_session *s, enum tf_action act, const char *why)
{
    transport_fake *f = s->f;
    const smtp_message *m = s->m;
    /* Facts, as the SMTP session reports them: a reply at its step, or a
     * network failure without one. */
    edm_outcome o;
    memset(&o, 0, sizeof o);
    o.failure = EDM_FAIL_NETWORK;
    o.step = EDM_STEP_GREETING;
    int code = 0;
    const char *enh = "", *text = why;
    char blocked[200];
    switch (act) {
    case TF_DELIVER:
        snprintf(o.remote_queue_id, sizeof o.remote_queue_id, "Q%u", ++f->next_qid);
        code = 250, enh = "2.0.0", text = "Ok: queued";
        o.step = EDM_STEP_DATA_END;
        break;
    case TF_DEFER: code = 451, enh = "4.2.2", text = "Mailbox full, try again later"; break;
    case TF_BOUNCE: code = 550, enh = "5.1.1", text = "User unknown"; break;
    case TF_BACKOFF: code = 421, enh = "4.7.0", text = "Too many messages, slow down"; break;
    case TF_BLOCK:
        code = 550, enh = "5.7.1";
        snprintf(blocked, sizeof blocked, "Service unavailable; client [%s] blocked using a list",
                 s->source);
        text = blocked;
        break;
    case TF_CONNFAIL: break;
    case TF_AUTHFAIL:
        code = 535, enh = "5.7.8", text = "Error: authentication failed";
        f->c.auth_refused++;
        s->fail_code = code;
        s->fail_step = EDM_STEP_AUTH;
        snprintf(s->fail_enh, sizeof s->fail_enh, "%s", enh);
        break;
    case TF_NO_8BITMIME: /* an 8bit message as smtp_msg_refusal() reports it */
        if (!(m->flags & SMTP_MSG_8BITMIME))
            return complete(s, TF_DELIVER, why);
        o.failure = EDM_FAIL_NEEDS_7BIT;
        o.step = EDM_STEP_MAIL;
        enh = "4.6.3", text = "does not offer 8BITMIME: message not sent as 8bit";
        f->c.needs_7bit++;
        break;
    default: EDM_PANIC("transport_fake: action %d", (int)act);
    }
    if (code) {
        o.failure = EDM_FAIL_NONE;
        if (act != TF_DELIVER)
            o.step = act == TF_AUTHFAIL ? EDM_STEP_AUTH : EDM_STEP_RCPT;
    }
    o.code = code;
    EDM_OUTCOME_PUT(o.enhanced, enh);
    EDM_OUTCOME_PUT(o.text, text);
    EDM_OUTCOME_PUT(o.mx_host, s->host);
    EDM_OUTCOME_PUT(o.mx_ip, s->ip);
    EDM_OUTCOME_PUT(o.source_ip, s->source);
    o.duration_ms = s->delay_ms;
    smtp_result res = {.msg = m, .rcpts = &o, .outcome = &o};
    edm_outcome judged = o;
    classify_outcome(&judged);
    switch (judged.status) {
    case EDM_DSTATE_DELIVERED:
        f->c.delivered++;
        source_of(f, s->source)->delivered++;
        if (m->flags & SMTP_MSG_8BITMIME)
            f->c.delivered_8bit++;
        count_delivered(f, m->rcpts[0]);
        break;
    case EDM_DSTATE_DEFERRED: f->c.deferred++; break;
    case EDM_DSTATE_BOUNCED: f->c.bounced++; break;
    default: EDM_PANIC("transport_fake: status %d", (int)judged.status);
    }
    s->m = NULL;
    s->count++;
    f->c.in_flight--;
    if (s->count > f->c.max_per_conn)
        f->c.max_per_conn = s->count;
    s->state = TS_REPORTING;
    s->cb->done(&res, s->arg);
    if (s->abort_req) {
        finish(s, 1, "delivery aborted");
    } else if (act == TF_CONNFAIL) {
        f->c.conn_failed++;
        finish(s, 1, why);
    } else if (act == TF_AUTHFAIL) {
        finish(s, 1, "relay.test[127.0.0.1]: host refused while authenticating: 535 5.7.8");
    } else {
        take(s, 0);
    }
}

static void on_timer(uv_timer_t *t)
{
    tf_session *s = (tf_session *)t;
    switch (s->state) {
    case TS_BUSY: {
        char why[400];
        snprintf(why, sizeof why, "%s[%s]: cannot connect: connection refused", s->host, s->ip);
        complete(s, match(s->f, s->m->rcpts[0], s->source), why);
        break;
    }
    case TS_IDLE:
        s->f->c.idle_timeouts++;
        finish(s, 0, NULL);
        break;
    case TS_CLOSING: {
        s->state = TS_DONE;
        edm_outcome fail;
        memset(&fail, 0, sizeof fail);
        fail.failure = EDM_FAIL_NETWORK;
        if (s->fail_code) {
            fail.failure = EDM_FAIL_NONE;
            fail.step = s->fail_step;
            fail.code = s->fail_code;
            EDM_OUTCOME_PUT(fail.enhanced, s->fail_enh);
        }
        EDM_OUTCOME_PUT(fail.text, s->fail_text);
        EDM_OUTCOME_PUT(fail.mx_host, s->host);
        EDM_OUTCOME_PUT(fail.mx_ip, s->ip);
        EDM_OUTCOME_PUT(fail.source_ip, s->source);
        s->cb->closed(s->failed ? &fail : NULL, s->arg); /* may free s */
        break;
    }
    default: EDM_PANIC("transport_fake: timer in state %d", (int)s->state);
    }
}

/* ---- the ops ---- */

static void *tf_open(void *ctx, uv_loop_t *loop, const smtp_options *o, const edm_transport_cbs *cb,
                     void *arg)
{
    transport_fake *f = ctx;
    tf_session *s = edm_xcalloc(1, sizeof *s);
    uv_timer_init(loop, &s->timer);
    s->f = f;
    s->cb = cb;
    s->arg = arg;
    s->max_messages = o->max_messages;
    s->idle_ms = o->idle_ms;
    snprintf(s->source, sizeof s->source, "%s", o->source_ip ? o->source_ip : "");
    if (o->ntargets > 0) {
        snprintf(s->host, sizeof s->host, "%s", o->targets[0].host ? o->targets[0].host : "");
        snprintf(s->ip, sizeof s->ip, "%s", o->targets[0].ip ? o->targets[0].ip : "");
    }
    snprintf(f->last_source, sizeof f->last_source, "%s", s->source);
    s->delay_ms = f->delay_ms;
    for (size_t i = 0; i < f->nslow; i++)
        if (strcmp(f->slow[i].addr, s->source) == 0)
            s->delay_ms = f->slow[i].ms;
    f->c.opened++;
    if (++f->c.open > f->c.max_open)
        f->c.max_open = f->c.open;
    transport_fake_source *x = source_of(f, s->source);
    x->opened++;
    if (++x->open > x->max_open)
        x->max_open = x->open;
    return s;
}

static int tf_start(void *sp)
{
    tf_session *s = sp;
    if (s->state != TS_NEW || s->ip[0] == '\0')
        return EDM_EINVAL;
    take(s, 1);
    return 0;
}

static void tf_abort(void *sp)
{
    tf_session *s = sp;
    switch (s->state) {
    case TS_BUSY:
        uv_timer_stop(&s->timer);
        s->f->c.aborted++;
        s->abort_req = 1;
        complete(s, TF_CONNFAIL, "delivery aborted"); /* in hand: deferred (network) */
        break;
    case TS_REPORTING: s->abort_req = 1; break;
    case TS_IDLE:
        uv_timer_stop(&s->timer);
        finish(s, 1, "delivery aborted");
        break;
    default: break;
    }
}

static void tf_kick(void *sp)
{
    tf_session *s = sp;
    if (s->state != TS_IDLE)
        return;
    uv_timer_stop(&s->timer);
    take(s, 0);
}

static int tf_idle(const void *sp)
{
    return ((const tf_session *)sp)->state == TS_IDLE;
}

static unsigned tf_count(const void *sp)
{
    return ((const tf_session *)sp)->count;
}

static void on_closed(uv_handle_t *h)
{
    edm_free(h);
}

static void tf_free(void *sp)
{
    tf_session *s = sp;
    if (s == NULL)
        return;
    s->f->c.open--;
    source_of(s->f, s->source)->open--;
    uv_close((uv_handle_t *)&s->timer, on_closed);
}

const edm_transport_ops transport_fake_ops = {
    .name = "fake",
    .open = tf_open,
    .start = tf_start,
    .abort = tf_abort,
    .kick = tf_kick,
    .idle = tf_idle,
    .count = tf_count,
    .free = tf_free,
};

/* ---- the fake ---- */

transport_fake *transport_fake_new(uv_loop_t *loop, const transport_fake_rule *rules, size_t nrules,
                                   unsigned delay_ms)
{
    transport_fake *f = edm_xcalloc(1, sizeof *f);
    f->loop = loop;
    f->rules = rules;
    f->nrules = nrules;
    f->used = edm_xcalloc(nrules ? nrules : 1, sizeof *f->used);
    f->delay_ms = delay_ms;
    return f;
}

void transport_fake_free(transport_fake *f)
{
    if (f == NULL)
        return;
    if (f->c.open != 0) {
        fprintf(stderr, "transport_fake: %u session(s) still open\n", f->c.open);
        abort();
    }
    for (size_t i = 0; i < f->ndlv; i++)
        edm_free(f->dlv[i].rcpt);
    edm_free(f->dlv);
    edm_free(f->used);
    edm_free(f);
}

void transport_fake_delay_source(transport_fake *f, const char *addr, unsigned delay_ms)
{
    if (f->nslow == sizeof f->slow / sizeof f->slow[0])
        EDM_PANIC("transport_fake: too many slow source addresses");
    snprintf(f->slow[f->nslow].addr, sizeof f->slow[f->nslow].addr, "%s", addr);
    f->slow[f->nslow++].ms = delay_ms;
}

const transport_fake_counts *transport_fake_counts_of(const transport_fake *f)
{
    return &f->c;
}

unsigned transport_fake_delivered_rank(const transport_fake *f, const char *rcpt)
{
    for (size_t i = 0; i < f->ndlv; i++)
        if (strcmp(f->dlv[i].rcpt, rcpt) == 0)
            return (unsigned)i + 1;
    return 0;
}

unsigned transport_fake_delivered_to(const transport_fake *f, const char *rcpt)
{
    for (size_t i = 0; i < f->ndlv; i++)
        if (strcmp(f->dlv[i].rcpt, rcpt) == 0)
            return f->dlv[i].n;
    return 0;
}

const char *transport_fake_last_source(const transport_fake *f)
{
    return f->last_source;
}

transport_fake_source transport_fake_source_counts(const transport_fake *f, const char *addr)
{
    for (size_t i = 0; i < f->nsrc; i++)
        if (strcmp(f->src[i].addr, addr) == 0)
            return f->src[i];
    transport_fake_source none;
    memset(&none, 0, sizeof none);
    return none;
}
