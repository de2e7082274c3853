/*
 * engine/smtp_session.c: the ESMTP client state machine (see
 * smtp_session.h).
 *
 * One enum of states; enter_state() logs "old -> new", arms the state's
 * timeout and sends the state's command unless PIPELINING already sent it;
 * on_reply() switches on the state (the receive cursor); on_io() switches
 * on the I/O layer's events. With PIPELINING the send cursor runs ahead:
 * MAIL, every RCPT and DATA leave in one write, and after a message's
 * final "." the next message's MAIL/RCPT/DATA go in the same write
 * (RFC 2920: message content may start a group), so a kept connection
 * costs about one round trip per message. Two message slots exist for
 * that: `cur` (replies being received) and the other one (sent ahead).
 *
 * Entry points: smtp_session_new/start/abort/free. Failures before any
 * message transaction on a connection move to the next target (MX host or
 * address); later ones defer the messages in flight and end the session.
 * TLS "required" never falls back to plaintext; "opportunistic" retries
 * the same host in plaintext after a failed handshake (as Postfix does).
 * AUTH is only ever sent under TLS. Limits: CHUNKING (BDAT) is noted, not
 * used; no DSN parameters; SIZE is checked before sending.
 */
#include "engine/smtp_session.h"
#include "engine/alloc.h"
#include "engine/buf.h"
#include "engine/err.h"
#include "engine/io.h"
#include "engine/log.h"
#include "engine/smtp_reply.h"
#include "engine/timeutil.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum smtp_state {
    SMTP_S_INIT,
    SMTP_S_CONNECT,
    SMTP_S_GREETING,
    SMTP_S_EHLO,
    SMTP_S_HELO,
    SMTP_S_STARTTLS,
    SMTP_S_TLS,
    SMTP_S_AUTH,
    SMTP_S_AUTH_USER,
    SMTP_S_AUTH_PASS,
    SMTP_S_READY,
    SMTP_S_MAIL,
    SMTP_S_RCPT,
    SMTP_S_DATA,
    SMTP_S_BODY,
    SMTP_S_DOT,
    SMTP_S_RSET,
    SMTP_S_QUIT,
    SMTP_S_CLOSING,
    SMTP_S_DONE
};

enum tmo { T_NONE, T_CONNECT, T_GREETING, T_MAIL, T_RCPT, T_DATA, T_DATA_BLOCK, T_DATA_END };

/* Per-state data: name for logs, phrase for errors, timeout, stage for
 * classify (Postfix xfer_timeouts[] / xfer_states[]). */
static const struct {
    const char *name;
    const char *phrase;
    enum tmo tmo;
    enum classify_stage stage;
} states[] = {
    [SMTP_S_INIT] = {"INIT", "before connecting", T_NONE, CLASSIFY_AT_GREETING},
    [SMTP_S_CONNECT] = {"CONNECT", "while connecting", T_CONNECT, CLASSIFY_AT_GREETING},
    [SMTP_S_GREETING] = {"GREETING", "while receiving the initial greeting", T_GREETING,
                         CLASSIFY_AT_GREETING},
    [SMTP_S_EHLO] = {"EHLO", "while sending EHLO", T_MAIL, CLASSIFY_AT_HELO},
    [SMTP_S_HELO] = {"HELO", "while sending HELO", T_MAIL, CLASSIFY_AT_HELO},
    [SMTP_S_STARTTLS] = {"STARTTLS", "while sending STARTTLS", T_MAIL, CLASSIFY_AT_TLS},
    [SMTP_S_TLS] = {"TLS", "during the TLS handshake", T_MAIL, CLASSIFY_AT_TLS},
    [SMTP_S_AUTH] = {"AUTH", "while authenticating", T_MAIL, CLASSIFY_AT_AUTH},
    [SMTP_S_AUTH_USER] = {"AUTH_USER", "while authenticating", T_MAIL, CLASSIFY_AT_AUTH},
    [SMTP_S_AUTH_PASS] = {"AUTH_PASS", "while authenticating", T_MAIL, CLASSIFY_AT_AUTH},
    [SMTP_S_READY] = {"READY", "between messages", T_NONE, CLASSIFY_AT_MAIL},
    [SMTP_S_MAIL] = {"MAIL", "while sending MAIL FROM", T_MAIL, CLASSIFY_AT_MAIL},
    [SMTP_S_RCPT] = {"RCPT", "while sending RCPT TO", T_RCPT, CLASSIFY_AT_RCPT},
    [SMTP_S_DATA] = {"DATA", "while sending DATA", T_DATA, CLASSIFY_AT_DATA},
    [SMTP_S_BODY] = {"BODY", "while sending the message content", T_DATA_BLOCK,
                     CLASSIFY_AT_DATA_END},
    [SMTP_S_DOT] = {"DOT", "after the end of the message content", T_DATA_END,
                    CLASSIFY_AT_DATA_END},
    [SMTP_S_RSET] = {"RSET", "while sending RSET", T_MAIL, CLASSIFY_AT_MAIL},
    [SMTP_S_QUIT] = {"QUIT", "while sending QUIT", T_MAIL, CLASSIFY_AT_MAIL},
    [SMTP_S_CLOSING] = {"CLOSING", "while closing", T_NONE, CLASSIFY_AT_MAIL},
    [SMTP_S_DONE] = {"DONE", "after the end", T_NONE, CLASSIFY_AT_MAIL},
};

static const char *smtp_state_name(enum smtp_state st)
{
    EDM_ASSERT((unsigned)st < sizeof states / sizeof states[0]);
    return states[st].name;
}

#define CAP_PIPELINING 0x01u
#define CAP_STARTTLS   0x02u
#define CAP_SIZE       0x04u
#define CAP_8BITMIME   0x08u
#define CAP_SMTPUTF8   0x10u
#define CAP_ENHANCED   0x20u
#define CAP_CHUNKING   0x40u
#define CAP_AUTH_PLAIN 0x80u
#define CAP_AUTH_LOGIN 0x100u

/* Body bytes staged per write while the previous write drains. */
#define BODY_SLICE (64u * 1024u)

struct rcpt_state {
    int final;    /* result decided */
    int accepted; /* 2xx to RCPT TO, waiting for the end of DATA */
    smtp_rcpt_result r;
    char *text;
    char queue_id[72];
};

struct slot {
    const smtp_message *m;
    size_t nrcpts; /* m->nrcpts, kept: m may be freed by the done callback */
    struct rcpt_state *rs;
    size_t rcpt_sent, rcpt_recv, accepted;
    int mail_sent, data_sent, mail_failed, discard;
    size_t body_off;
    int body_bol, body_done;
    uint64_t t0;
    /* the message-level outcome */
    int code;
    char enhanced[16];
    char *text;
    classify_result cls;
};

struct smtp_session {
    uv_loop_t *loop;
    smtp_options o;
    smtp_target *targets;
    edm_buf strings; /* copies of every option string, NUL-separated */
    smtp_callbacks cb;
    void *arg;
    io_conn *io;
    enum smtp_state state;
    size_t target_i;
    smtp_reply reply;
    unsigned caps;
    unsigned long size_max;
    int tls_done, tls_skip;
    struct slot slot[2];
    int cur;
    unsigned count;     /* messages reported */
    unsigned conn_msgs; /* messages begun on this connection */
    int no_more;
    int started, in_handler, abort_req;
    int retry;  /* after the close, connect to the next target */
    int failed; /* fail_* below describe why the session ended */
    classify_result fail_cls;
    int fail_code;
    char fail_enhanced[16];
    char fail_text[600];
    char mx_host[256], mx_ip[64], source_ip[64];
    char tls_protocol[16], tls_cipher[64];
    edm_buf stage; /* commands and body slices gathered for one write */
};

static void enter_state(smtp_session *s, enum smtp_state st);
static void fail_now(smtp_session *s, classify_result cls, int code, const char *enh,
                     const char *text, int next_target);
static void finish_session(smtp_session *s);

/* ---- invariants ---------------------------------------------------- */

static void check_invariants(const smtp_session *s)
{
#ifndef NDEBUG
    EDM_ASSERT((unsigned)s->state < sizeof states / sizeof states[0]);
    EDM_ASSERT(s->cur == 0 || s->cur == 1);
    for (int i = 0; i < 2; i++) {
        const struct slot *sl = &s->slot[i];
        if (sl->m == NULL)
            continue;
        EDM_ASSERT(sl->rcpt_recv <= sl->rcpt_sent && sl->rcpt_sent <= sl->m->nrcpts);
        EDM_ASSERT(sl->accepted <= sl->rcpt_recv);
        EDM_ASSERT(!sl->data_sent || sl->rcpt_sent == sl->m->nrcpts);
    }
    const struct slot *c = &s->slot[s->cur];
    switch (s->state) {
    case SMTP_S_MAIL:
    case SMTP_S_RCPT:
    case SMTP_S_DATA:
    case SMTP_S_BODY:
    case SMTP_S_DOT: EDM_ASSERT(c->m != NULL && c->mail_sent); break;
    default: break;
    }
    if (s->state == SMTP_S_DOT)
        EDM_ASSERT(c->body_done || c->discard);
    /* Only PIPELINING lets a second message be sent ahead. */
    if (s->slot[!s->cur].m && s->slot[!s->cur].mail_sent)
        EDM_ASSERT(s->caps & CAP_PIPELINING);
    if (s->state >= SMTP_S_GREETING && s->state <= SMTP_S_QUIT)
        EDM_ASSERT(s->io != NULL);
#else
    (void)s;
#endif
}

/* ---- small helpers ------------------------------------------------- */

static uint64_t timeout_ms(const smtp_session *s, enum tmo t)
{
    const smtp_timeouts *to = &s->o.timeouts;
    switch (t) {
    case T_NONE: return 0;
    case T_CONNECT: return to->connect ? to->connect : 30000;
    case T_GREETING: return to->greeting ? to->greeting : 300000;
    case T_MAIL: return to->mail ? to->mail : 300000;
    case T_RCPT: return to->rcpt ? to->rcpt : 300000;
    case T_DATA: return to->data ? to->data : 120000;
    case T_DATA_BLOCK: return to->data_block ? to->data_block : 180000;
    case T_DATA_END: return to->data_end ? to->data_end : 600000;
    }
    EDM_PANIC("bad timeout kind %d", (int)t);
}

static const char *keep_str(smtp_session *s, const char *p, size_t *off)
{
    if (p == NULL) {
        *off = (size_t)-1;
        return NULL;
    }
    *off = s->strings.len;
    if (edm_buf_append(&s->strings, p, strlen(p) + 1) != 0)
        EDM_PANIC("out of memory");
    return p;
}

static void stage(smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stage(smtp_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (edm_buf_vappendf(&s->stage, fmt, ap) != 0)
        EDM_PANIC("out of memory");
    va_end(ap);
}

/* Writes what is staged and flushes. Returns 0, or fails the session. */
static int send_staged(smtp_session *s)
{
    int rc = 0;
    if (s->stage.len)
        rc = io_write(s->io, s->stage.data, s->stage.len);
    edm_buf_reset(&s->stage);
    if (rc == 0)
        rc = io_flush(s->io);
    if (rc != 0) {
        fail_now(s, classify_failure(CLASSIFY_FAIL_NETWORK), 0, "",
                 s->io->errmsg[0] ? s->io->errmsg : edm_strerror(rc), 0);
        return -1;
    }
    return 0;
}

static void base64(edm_buf *out, const void *p, size_t n)
{
    if (edm_buf_reserve(out, 4 * ((n + 2) / 3) + 1) != 0)
        EDM_PANIC("out of memory");
    int w = EVP_EncodeBlock((unsigned char *)out->data + out->len, p, (int)n);
    out->len += (size_t)w;
}

/* ---- message slots and results ------------------------------------- */

static void slot_clear(struct slot *sl)
{
    if (sl->rs) {
        for (size_t i = 0; i < sl->nrcpts; i++)
            edm_free(sl->rs[i].text);
        edm_free(sl->rs);
    }
    edm_free(sl->text);
    memset(sl, 0, sizeof *sl);
}

static void slot_take(struct slot *sl, const smtp_message *m)
{
    memset(sl, 0, sizeof *sl);
    sl->m = m;
    sl->nrcpts = m->nrcpts;
    sl->rs = edm_xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof *sl->rs);
    sl->body_bol = 1;
    sl->t0 = edm_time_mono_ms();
}

static void set_outcome(struct slot *sl, classify_result cls, int code, const char *enh,
                        const char *text)
{
    sl->cls = cls;
    sl->code = code;
    snprintf(sl->enhanced, sizeof sl->enhanced, "%s", enh ? enh : "");
    edm_free(sl->text);
    sl->text = edm_xstrdup(text ? text : "");
}

static void rcpt_set(struct rcpt_state *rs, classify_result cls, int code, const char *enh,
                     const char *text)
{
    rs->final = 1;
    rs->r.status = cls.status;
    rs->r.category = cls.category;
    rs->r.code = code;
    snprintf(rs->r.enhanced, sizeof rs->r.enhanced, "%s", enh ? enh : "");
    edm_free(rs->text);
    rs->text = edm_xstrdup(text ? text : "");
}

/* Reports a message (every recipient must have a result) and frees the slot. */
static void report(smtp_session *s, struct slot *sl)
{
    const smtp_message *m = sl->m;
    smtp_rcpt_result *rr = edm_xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof *rr);
    for (size_t i = 0; i < m->nrcpts; i++) {
        EDM_ASSERT(sl->rs[i].final);
        rr[i] = sl->rs[i].r;
        rr[i].text = sl->rs[i].text;
        rr[i].remote_queue_id = sl->rs[i].queue_id;
    }
    smtp_result r = {0};
    r.msg = m;
    r.rcpts = rr;
    r.status = sl->cls.status;
    r.category = sl->cls.category;
    r.code = sl->code;
    memcpy(r.enhanced, sl->enhanced, sizeof r.enhanced);
    r.text = sl->text ? sl->text : "";
    r.mx_host = s->mx_host;
    r.mx_ip = s->mx_ip;
    r.source_ip = s->source_ip;
    r.tls_protocol = s->tls_protocol;
    r.tls_cipher = s->tls_cipher;
    r.duration_ms = edm_time_mono_ms() - sl->t0;
    char q[200];
    edm_log(EDM_LOG_INFO, "smtp",
            "session=%u mx=%s ip=%s src=%s tls=%s rcpts=%zu status=%s code=%d enhanced=%s "
            "category=%s ms=%llu text=%s",
            s->o.id, s->mx_host, s->mx_ip, s->source_ip,
            s->tls_protocol[0] ? s->tls_protocol : "none", m->nrcpts,
            classify_status_name(r.status), r.code, r.enhanced[0] ? r.enhanced : "-",
            r.category == CLASSIFY_NONE ? "-" : classify_category_name(r.category),
            (unsigned long long)r.duration_ms, edm_log_quote(q, sizeof q, r.text));
    s->count++;
    /* Empty the slot before the callback (which may abort the session, or
     * look for work), and free its data after it. */
    struct slot gone = *sl;
    memset(sl, 0, sizeof *sl);
    s->cb.done(s, &r, s->arg);
    slot_clear(&gone);
    edm_free(rr);
}

/* Failure text: "mx.test[1.2.3.4]: lost connection while sending RCPT TO: why". */
__attribute__((noinline)) static void describe(smtp_session *s, char *out, size_t n,
                                               const char *what, const char *why)
{
    snprintf(out, n, "%s[%s]: %s %s%s%s", s->mx_host[0] ? s->mx_host : "?",
             s->mx_ip[0] ? s->mx_ip : "?", what, states[s->state].phrase, why && *why ? ": " : "",
             why ? why : "");
}

/* Gives every recipient without a result the session's failure. */
static void defer_slot(smtp_session *s, struct slot *sl)
{
    for (size_t i = 0; i < sl->m->nrcpts; i++)
        if (!sl->rs[i].final)
            rcpt_set(&sl->rs[i], s->fail_cls, s->fail_code, s->fail_enhanced, s->fail_text);
    set_outcome(sl, s->fail_cls, s->fail_code, s->fail_enhanced, s->fail_text);
    report(s, sl);
}

/* ---- connection management ----------------------------------------- */

static void on_io(io_conn *io, enum io_event ev, void *arg);

static void connect_target(smtp_session *s)
{
    for (;;) {
        if (s->target_i >= s->o.ntargets) {
            finish_session(s);
            return;
        }
        const smtp_target *t = &s->targets[s->target_i];
        snprintf(s->mx_host, sizeof s->mx_host, "%s", t->host ? t->host : t->ip);
        snprintf(s->mx_ip, sizeof s->mx_ip, "%s", t->ip);
        s->caps = 0;
        s->size_max = 0;
        s->tls_done = 0;
        s->tls_protocol[0] = s->tls_cipher[0] = '\0';
        s->conn_msgs = 0;
        s->failed = 0;
        s->io = edm_xmalloc(sizeof *s->io);
        io_init(s->io, s->loop, on_io, s);
        s->state = SMTP_S_INIT;
        int rc = io_connect(s->io, s->o.source_ip, t->ip, s->o.port ? s->o.port : 25);
        if (rc == 0) {
            enter_state(s, SMTP_S_CONNECT);
            return;
        }
        /* Could not even start: close this io, then go on to the next target. */
        char why[200];
        describe(s, why, sizeof why, "cannot connect", s->io->errmsg);
        fail_now(s, classify_failure(CLASSIFY_FAIL_NETWORK), 0, "", why, 1);
        return;
    }
}

/* Called once the last io has closed and nothing is left to try. */
static void finish_session(smtp_session *s)
{
    s->state = SMTP_S_DONE;
    if (!s->failed && s->slot[0].m == NULL && s->slot[1].m == NULL) {
        s->cb.closed(s, NULL, s->arg);
        return;
    }
    if (!s->failed) {
        s->fail_cls = classify_failure(CLASSIFY_FAIL_NETWORK);
        snprintf(s->fail_text, sizeof s->fail_text, "no usable mail exchanger");
        s->failed = 1;
    }
    for (int k = 0; k < 2; k++) {
        struct slot *sl = &s->slot[(s->cur + k) % 2];
        if (sl->m)
            defer_slot(s, sl);
    }
    smtp_result f = {0};
    f.status = s->fail_cls.status;
    f.category = s->fail_cls.category;
    f.code = s->fail_code;
    memcpy(f.enhanced, s->fail_enhanced, sizeof f.enhanced);
    f.text = s->fail_text;
    f.mx_host = s->mx_host;
    f.mx_ip = s->mx_ip;
    f.source_ip = s->source_ip;
    f.tls_protocol = s->tls_protocol;
    f.tls_cipher = s->tls_cipher;
    s->cb.closed(s, &f, s->arg);
}

/* Ends this connection because of a failure. Before any message
 * transaction on this connection, next_target lets the next target (or,
 * with tls_skip set, the same one in plaintext) have a try; otherwise the
 * messages in flight are deferred (or bounced, per cls) now. */
static void fail_now(smtp_session *s, classify_result cls, int code, const char *enh,
                     const char *text, int next_target)
{
    if (s->state == SMTP_S_CLOSING || s->state == SMTP_S_DONE)
        return;
    s->failed = 1;
    s->fail_cls = cls;
    s->fail_code = code;
    snprintf(s->fail_enhanced, sizeof s->fail_enhanced, "%s", enh ? enh : "");
    snprintf(s->fail_text, sizeof s->fail_text, "%s", text);
    edm_log(EDM_LOG_WARN, "smtp", "session=%u mx=%s ip=%s state=%s failure=%s code=%d", s->o.id,
            s->mx_host, s->mx_ip, smtp_state_name(s->state), classify_category_name(cls.category),
            code);
    int begun = s->conn_msgs > 0;
    for (int k = 0; k < 2; k++) {
        struct slot *sl = &s->slot[(s->cur + k) % 2];
        if (sl->m && sl->mail_sent)
            begun = 1;
    }
    s->retry = next_target && !begun && !s->abort_req;
    if (begun) {
        for (int k = 0; k < 2; k++) {
            struct slot *sl = &s->slot[(s->cur + k) % 2];
            if (sl->m && sl->mail_sent)
                defer_slot(s, sl);
        }
    }
    enter_state(s, SMTP_S_CLOSING);
}

static void on_closed(smtp_session *s)
{
    edm_free(s->io);
    s->io = NULL;
    if (s->retry && !s->abort_req) {
        s->retry = 0;
        if (s->tls_skip == 1)
            s->tls_skip = 2; /* same target, plaintext this time */
        else {
            s->tls_skip = 0;
            s->target_i++;
        }
        connect_target(s);
        return;
    }
    finish_session(s);
}

/* ---- sending ------------------------------------------------------- */

static int needs_refusal(smtp_session *s, struct slot *sl)
{
    const smtp_message *m = sl->m;
    char text[400];
    if ((s->caps & CAP_SIZE) && s->size_max && m->len > s->size_max) {
        snprintf(text, sizeof text, "message size %zu exceeds the limit %lu of %s", m->len,
                 s->size_max, s->mx_host);
        set_outcome(sl, classify_failure(CLASSIFY_FAIL_LOCAL), 0, "5.3.4", text);
    } else if ((m->flags & SMTP_MSG_SMTPUTF8) && !(s->caps & CAP_SMTPUTF8)) {
        snprintf(text, sizeof text, "%s does not support SMTPUTF8", s->mx_host);
        set_outcome(sl, classify_failure(CLASSIFY_FAIL_LOCAL), 0, "5.6.7", text);
    } else if (m->nrcpts == 0) {
        set_outcome(sl, classify_failure(CLASSIFY_FAIL_LOCAL), 0, "5.1.3", "no recipients");
    } else {
        return 0;
    }
    for (size_t i = 0; i < m->nrcpts; i++)
        rcpt_set(&sl->rs[i], sl->cls, 0, sl->enhanced, sl->text);
    return 1;
}

/* Takes the next message into a free slot: NULL when none is due. */
static struct slot *take_next(smtp_session *s, struct slot *sl)
{
    for (;;) {
        if (s->no_more || (s->o.max_messages && s->conn_msgs >= s->o.max_messages))
            return NULL;
        const smtp_message *m = s->cb.next(s, s->arg);
        if (m == NULL) {
            s->no_more = 1;
            return NULL;
        }
        slot_take(sl, m);
        if (s->state >= SMTP_S_READY && needs_refusal(s, sl)) {
            report(s, sl);
            continue;
        }
        return sl;
    }
}

static void stage_transaction(smtp_session *s, struct slot *sl)
{
    const smtp_message *m = sl->m;
    stage(s, "MAIL FROM:<%s>", m->sender ? m->sender : "");
    if (s->caps & CAP_SIZE)
        stage(s, " SIZE=%zu", m->len);
    if ((m->flags & SMTP_MSG_8BITMIME) && (s->caps & CAP_8BITMIME))
        stage(s, " BODY=8BITMIME");
    if ((m->flags & SMTP_MSG_SMTPUTF8) && (s->caps & CAP_SMTPUTF8))
        stage(s, " SMTPUTF8");
    stage(s, "\r\n");
    sl->mail_sent = 1;
    s->conn_msgs++;
    if (!(s->caps & CAP_PIPELINING))
        return;
    for (; sl->rcpt_sent < m->nrcpts; sl->rcpt_sent++)
        stage(s, "RCPT TO:<%s>\r\n", m->rcpts[sl->rcpt_sent]);
    stage(s, "DATA\r\n");
    sl->data_sent = 1;
}

/* Stages up to BODY_SLICE bytes of dot-stuffed content (bare LF becomes
 * CRLF); at the end, the final "." line. */
static void stage_body(smtp_session *s, struct slot *sl)
{
    const smtp_message *m = sl->m;
    const char *p = m->data + sl->body_off, *end = m->data + m->len;
    const char *stop = (size_t)(end - p) > BODY_SLICE ? p + BODY_SLICE : end;
    if (edm_buf_reserve(&s->stage, (size_t)(stop - p) + (size_t)(stop - p) / 8 + 16) != 0)
        EDM_PANIC("out of memory");
    while (p < stop) {
        if (sl->body_bol && *p == '.' && edm_buf_append_char(&s->stage, '.') != 0)
            EDM_PANIC("out of memory");
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            edm_buf_append(&s->stage, p, (size_t)(end - p));
            sl->body_bol = 0;
            p = end;
            break;
        }
        if (nl > p && nl[-1] == '\r')
            edm_buf_append(&s->stage, p, (size_t)(nl + 1 - p));
        else if (nl > m->data && nl[-1] == '\r')
            edm_buf_append(&s->stage, p, (size_t)(nl + 1 - p));
        else {
            edm_buf_append(&s->stage, p, (size_t)(nl - p));
            edm_buf_append(&s->stage, "\r\n", 2);
        }
        sl->body_bol = 1;
        p = nl + 1;
    }
    sl->body_off = (size_t)(p - m->data);
    if (p == end) {
        if (!sl->body_bol)
            stage(s, "\r\n");
        stage(s, ".\r\n");
        sl->body_done = 1;
    }
}

/* ---- the state machine --------------------------------------------- */

static void send_ehlo(smtp_session *s, const char *verb)
{
    stage(s, "%s %s\r\n", verb, s->o.helo && *s->o.helo ? s->o.helo : "localhost");
    send_staged(s);
}

static void send_auth(smtp_session *s)
{
    if (s->caps & CAP_AUTH_PLAIN) {
        edm_buf raw = EDM_BUF_INIT;
        edm_buf_append_char(&raw, '\0');
        edm_buf_append_str(&raw, s->o.auth_user);
        edm_buf_append_char(&raw, '\0');
        edm_buf_append_str(&raw, s->o.auth_pass);
        stage(s, "AUTH PLAIN ");
        base64(&s->stage, raw.data, raw.len);
        stage(s, "\r\n");
        OPENSSL_cleanse(raw.data, raw.len);
        edm_buf_free(&raw);
    } else {
        stage(s, "AUTH LOGIN\r\n");
    }
    send_staged(s);
}

static void enter_state(smtp_session *s, enum smtp_state st)
{
    enum smtp_state old = s->state;
    s->state = st;
    if (old != st)
        EDM_DEBUG("smtp", "session=%u mx=%s state=%s->%s", s->o.id, s->mx_ip, smtp_state_name(old),
                  smtp_state_name(st));
    if (s->io && st != SMTP_S_CLOSING)
        io_set_timeout(s->io, timeout_ms(s, states[st].tmo));
    struct slot *c = &s->slot[s->cur];
    switch (st) {
    case SMTP_S_CONNECT:
    case SMTP_S_GREETING:
    case SMTP_S_TLS:
    case SMTP_S_AUTH_USER:
    case SMTP_S_AUTH_PASS: break; /* sent by the caller, or nothing to send */
    case SMTP_S_EHLO: send_ehlo(s, "EHLO"); break;
    case SMTP_S_HELO: send_ehlo(s, "HELO"); break;
    case SMTP_S_STARTTLS:
        stage(s, "STARTTLS\r\n");
        send_staged(s);
        break;
    case SMTP_S_AUTH: send_auth(s); break;
    case SMTP_S_READY:
        io_set_timeout(s->io, 0);
        if (c->m == NULL && take_next(s, c) == NULL) {
            enter_state(s, SMTP_S_QUIT);
            break;
        }
        if (needs_refusal(s, c)) { /* the first message, taken before EHLO */
            report(s, c);
            enter_state(s, SMTP_S_READY);
            break;
        }
        enter_state(s, SMTP_S_MAIL);
        break;
    case SMTP_S_MAIL:
        if (!c->mail_sent) {
            stage_transaction(s, c);
            send_staged(s);
        }
        break;
    case SMTP_S_RCPT:
        if (c->rcpt_sent == c->rcpt_recv) {
            stage(s, "RCPT TO:<%s>\r\n", c->m->rcpts[c->rcpt_sent++]);
            send_staged(s);
        }
        break;
    case SMTP_S_DATA:
        if (!c->data_sent) {
            c->data_sent = 1;
            stage(s, "DATA\r\n");
            send_staged(s);
        }
        break;
    case SMTP_S_BODY:
        stage_body(s, c);
        if (c->body_done && (s->caps & CAP_PIPELINING)) {
            /* RFC 2920: the next MAIL/RCPT/DATA may follow the final ".". */
            struct slot *o = &s->slot[!s->cur];
            EDM_ASSERT(o->m == NULL);
            if (take_next(s, o) != NULL)
                stage_transaction(s, o);
        }
        send_staged(s);
        break;
    case SMTP_S_DOT: break;
    case SMTP_S_RSET:
        stage(s, "RSET\r\n");
        send_staged(s);
        break;
    case SMTP_S_QUIT:
        stage(s, "QUIT\r\n");
        send_staged(s);
        break;
    case SMTP_S_CLOSING:
        if (s->io)
            io_close(s->io);
        break;
    case SMTP_S_INIT:
    case SMTP_S_DONE:
    default: EDM_PANIC("enter_state: bad state %d", (int)st);
    }
}

static void parse_ehlo(smtp_session *s)
{
    s->caps = 0;
    s->size_max = 0;
    const char *p = edm_buf_cstr(&s->reply.text);
    const char *nl = strchr(p, '\n'); /* the first line is the server's name */
    while (nl) {
        p = nl + 1;
        nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char kw[64];
        size_t k = 0;
        while (k < n && k < sizeof kw - 1 && p[k] != ' ' && p[k] != '=') {
            kw[k] = (char)toupper((unsigned char)p[k]);
            k++;
        }
        kw[k] = '\0';
        const char *args = p + k;
        size_t an = n - k;
        if (strcmp(kw, "PIPELINING") == 0)
            s->caps |= CAP_PIPELINING;
        else if (strcmp(kw, "STARTTLS") == 0)
            s->caps |= CAP_STARTTLS;
        else if (strcmp(kw, "8BITMIME") == 0)
            s->caps |= CAP_8BITMIME;
        else if (strcmp(kw, "SMTPUTF8") == 0)
            s->caps |= CAP_SMTPUTF8;
        else if (strcmp(kw, "ENHANCEDSTATUSCODES") == 0)
            s->caps |= CAP_ENHANCED;
        else if (strcmp(kw, "CHUNKING") == 0)
            s->caps |= CAP_CHUNKING;
        else if (strcmp(kw, "SIZE") == 0) {
            s->caps |= CAP_SIZE;
            s->size_max = an > 1 ? strtoul(args + 1, NULL, 10) : 0;
        } else if (strcmp(kw, "AUTH") == 0) {
            char mech[32];
            size_t i = 0;
            while (i < an) {
                while (i < an && (args[i] == ' ' || args[i] == '='))
                    i++;
                size_t j = 0;
                while (i < an && args[i] != ' ' && j < sizeof mech - 1)
                    mech[j++] = (char)toupper((unsigned char)args[i++]);
                mech[j] = '\0';
                if (strcmp(mech, "PLAIN") == 0)
                    s->caps |= CAP_AUTH_PLAIN;
                else if (strcmp(mech, "LOGIN") == 0)
                    s->caps |= CAP_AUTH_LOGIN;
                while (i < an && args[i] != ' ')
                    i++;
            }
        }
    }
}

/* After EHLO/HELO (and TLS): STARTTLS, AUTH or the first message. */
static void after_hello(smtp_session *s)
{
    char why[300];
    if (!s->tls_done && s->o.tls != SMTP_TLS_NONE && s->tls_skip != 2 && (s->caps & CAP_STARTTLS)) {
        enter_state(s, SMTP_S_STARTTLS);
        return;
    }
    if (!s->tls_done && s->o.tls == SMTP_TLS_REQUIRED) {
        describe(s, why, sizeof why, "TLS is required but not offered", NULL);
        fail_now(s, classify_failure(CLASSIFY_FAIL_TLS), 0, "", why, 1);
        return;
    }
    if (s->o.auth_user) {
        if (!s->tls_done) {
            describe(s, why, sizeof why, "refusing AUTH without TLS", NULL);
            fail_now(s, classify_failure(CLASSIFY_FAIL_TLS), 0, "", why, 1);
            return;
        }
        if (!(s->caps & (CAP_AUTH_PLAIN | CAP_AUTH_LOGIN))) {
            describe(s, why, sizeof why, "no AUTH PLAIN or LOGIN offered", NULL);
            fail_now(s, classify_failure(CLASSIFY_FAIL_PROTOCOL), 0, "", why, 1);
            return;
        }
        enter_state(s, SMTP_S_AUTH);
        return;
    }
    enter_state(s, SMTP_S_READY);
}

/* A reply that ends the connection (greeting, EHLO+HELO, AUTH, ...). */
static void fail_reply(smtp_session *s, int next_target)
{
    char why[600];
    char q[400];
    snprintf(q, sizeof q, "%d %s%s%s", s->reply.code, s->reply.enhanced,
             s->reply.enhanced[0] ? " " : "", edm_buf_cstr(&s->reply.text));
    describe(s, why, sizeof why, "host refused", q);
    const smtp_reply *r = &s->reply;
    fail_now(s,
             classify_reply(states[s->state].stage, r->code, r->enhanced, edm_buf_cstr(&r->text)),
             r->code, r->enhanced, why, next_target);
}

static void reply_to_rcpt(smtp_session *s, struct rcpt_state *rs)
{
    const smtp_reply *r = &s->reply;
    rcpt_set(rs,
             classify_reply(states[s->state].stage, r->code, r->enhanced, edm_buf_cstr(&r->text)),
             r->code, r->enhanced, edm_buf_cstr(&r->text));
}

static void reply_to_slot(smtp_session *s, struct slot *sl)
{
    const smtp_reply *r = &s->reply;
    set_outcome(
        sl, classify_reply(states[s->state].stage, r->code, r->enhanced, edm_buf_cstr(&r->text)),
        r->code, r->enhanced, edm_buf_cstr(&r->text));
}

/* No recipient was accepted: the message's outcome is the first one's. */
static void outcome_from_rcpt(struct slot *c)
{
    const struct rcpt_state *r0 = &c->rs[0];
    set_outcome(c, (classify_result){r0->r.status, r0->r.category}, r0->r.code, r0->r.enhanced,
                r0->text);
}

/* The transaction of the current slot is over: report it, then RSET if the
 * server may still hold a transaction, else the next message. */
static void end_transaction(smtp_session *s, int need_rset)
{
    struct slot *c = &s->slot[s->cur];
    report(s, c);
    if (s->state == SMTP_S_CLOSING)
        return;
    struct slot *o = &s->slot[!s->cur];
    if (o->m && o->mail_sent) {
        EDM_ASSERT(!need_rset);
        s->cur = !s->cur;
        enter_state(s, SMTP_S_MAIL); /* already sent: wait for its reply */
        return;
    }
    if (o->m) /* taken but not sent: make it current */
        s->cur = !s->cur;
    enter_state(s, need_rset ? SMTP_S_RSET : SMTP_S_READY);
}

static void on_reply(smtp_session *s)
{
    const smtp_reply *r = &s->reply;
    int ok = r->code >= 200 && r->code < 300;
    struct slot *c = &s->slot[s->cur];
    switch (s->state) {
    case SMTP_S_GREETING:
        if (ok)
            enter_state(s, SMTP_S_EHLO);
        else
            fail_reply(s, 1);
        break;
    case SMTP_S_EHLO:
        if (ok) {
            parse_ehlo(s);
            after_hello(s);
        } else if (r->code >= 500 && !s->tls_done) {
            enter_state(s, SMTP_S_HELO);
        } else {
            fail_reply(s, 1);
        }
        break;
    case SMTP_S_HELO:
        if (ok) {
            s->caps = 0;
            after_hello(s);
        } else {
            fail_reply(s, 1);
        }
        break;
    case SMTP_S_STARTTLS:
        if (r->code == 220) {
            int rc = io_start_tls(s->io, s->o.tls_ctx, 0, s->mx_host);
            if (rc != 0) {
                char why[300];
                describe(s, why, sizeof why,
                         rc == EDM_EPROTO ? "data after STARTTLS reply" : "cannot start TLS", NULL);
                fail_now(
                    s,
                    classify_failure(rc == EDM_EPROTO ? CLASSIFY_FAIL_PROTOCOL : CLASSIFY_FAIL_TLS),
                    0, "", why, 1);
                break;
            }
            enter_state(s, SMTP_S_TLS);
        } else if (s->o.tls == SMTP_TLS_REQUIRED) {
            fail_reply(s, 1);
        } else {
            s->tls_skip = 2;
            after_hello(s);
        }
        break;
    case SMTP_S_AUTH:
        if (r->code == 235) {
            enter_state(s, SMTP_S_READY);
        } else if (r->code == 334 && !(s->caps & CAP_AUTH_PLAIN)) {
            base64(&s->stage, s->o.auth_user, strlen(s->o.auth_user));
            stage(s, "\r\n");
            send_staged(s);
            enter_state(s, SMTP_S_AUTH_USER);
        } else {
            fail_reply(s, 1);
        }
        break;
    case SMTP_S_AUTH_USER:
        if (r->code == 334) {
            base64(&s->stage, s->o.auth_pass, strlen(s->o.auth_pass));
            stage(s, "\r\n");
            send_staged(s);
            OPENSSL_cleanse(s->stage.data, s->stage.cap);
            enter_state(s, SMTP_S_AUTH_PASS);
        } else {
            fail_reply(s, 1);
        }
        break;
    case SMTP_S_AUTH_PASS:
        if (r->code == 235)
            enter_state(s, SMTP_S_READY);
        else
            fail_reply(s, 1);
        break;
    case SMTP_S_MAIL:
        if (!ok) {
            c->mail_failed = 1;
            reply_to_slot(s, c);
            for (size_t i = 0; i < c->m->nrcpts; i++)
                reply_to_rcpt(s, &c->rs[i]);
            if (!(s->caps & CAP_PIPELINING)) {
                end_transaction(s, 1);
                break;
            }
        }
        enter_state(s, SMTP_S_RCPT);
        break;
    case SMTP_S_RCPT: {
        struct rcpt_state *rs = &c->rs[c->rcpt_recv++];
        if (!c->mail_failed) {
            if (ok) {
                rs->accepted = 1;
                c->accepted++;
            } else {
                reply_to_rcpt(s, rs);
            }
        }
        if (c->rcpt_recv < c->m->nrcpts) {
            enter_state(s, SMTP_S_RCPT);
        } else if (c->data_sent) {
            enter_state(s, SMTP_S_DATA);
        } else if (c->accepted > 0) {
            enter_state(s, SMTP_S_DATA);
        } else {
            outcome_from_rcpt(c);
            end_transaction(s, 1);
        }
        break;
    }
    case SMTP_S_DATA:
        if (r->code == 354) {
            if (c->accepted > 0 && !c->mail_failed) {
                enter_state(s, SMTP_S_BODY);
            } else {
                /* Nothing to deliver but the server wants data: end it empty. */
                c->discard = 1;
                stage(s, ".\r\n");
                if (send_staged(s) == 0)
                    enter_state(s, SMTP_S_DOT);
            }
            break;
        }
        if (c->accepted > 0 && !c->mail_failed) {
            reply_to_slot(s, c);
            for (size_t i = 0; i < c->m->nrcpts; i++)
                if (c->rs[i].accepted)
                    reply_to_rcpt(s, &c->rs[i]);
        } else if (!c->mail_failed) {
            outcome_from_rcpt(c);
        }
        end_transaction(s, 1);
        break;
    case SMTP_S_DOT:
        if (c->discard) {
            end_transaction(s, 1);
            break;
        }
        reply_to_slot(s, c);
        for (size_t i = 0; i < c->m->nrcpts; i++) {
            if (!c->rs[i].accepted)
                continue;
            reply_to_rcpt(s, &c->rs[i]);
            if (ok)
                smtp_reply_queue_id(edm_buf_cstr(&r->text), c->rs[i].queue_id,
                                    sizeof c->rs[i].queue_id);
        }
        end_transaction(s, 0);
        break;
    case SMTP_S_RSET:
        if (ok)
            enter_state(s, SMTP_S_READY);
        else
            enter_state(s, SMTP_S_QUIT);
        break;
    case SMTP_S_QUIT: enter_state(s, SMTP_S_CLOSING); break;
    case SMTP_S_INIT:
    case SMTP_S_CONNECT:
    case SMTP_S_TLS:
    case SMTP_S_READY:
    case SMTP_S_BODY:
    case SMTP_S_CLOSING:
    case SMTP_S_DONE:
    default: EDM_PANIC("on_reply in state %s", smtp_state_name(s->state));
    }
}

static int expects_reply(enum smtp_state st)
{
    switch (st) {
    case SMTP_S_GREETING:
    case SMTP_S_EHLO:
    case SMTP_S_HELO:
    case SMTP_S_STARTTLS:
    case SMTP_S_AUTH:
    case SMTP_S_AUTH_USER:
    case SMTP_S_AUTH_PASS:
    case SMTP_S_MAIL:
    case SMTP_S_RCPT:
    case SMTP_S_DATA:
    case SMTP_S_DOT:
    case SMTP_S_RSET:
    case SMTP_S_QUIT: return 1;
    default: return 0;
    }
}

/* Parses and handles every complete reply that is buffered. */
static void read_replies(smtp_session *s)
{
    while (s->io && expects_reply(s->state)) {
        size_t len;
        const char *d = io_data(s->io, &len);
        if (len == 0)
            return;
        long n = smtp_reply_parse(&s->reply, d, len);
        if (n == 0)
            return;
        if (n < 0) {
            char why[300];
            describe(s, why, sizeof why, n == EDM_ETOOBIG ? "over-long reply" : "malformed reply",
                     NULL);
            fail_now(s, classify_failure(CLASSIFY_FAIL_PROTOCOL), 0, "", why, 1);
            return;
        }
        io_consume(s->io, (size_t)n);
        if (s->state == SMTP_S_STARTTLS && io_data(s->io, &len) && len > 0 &&
            s->reply.code == 220) {
            char why[300];
            describe(s, why, sizeof why, "data after STARTTLS reply", NULL);
            fail_now(s, classify_failure(CLASSIFY_FAIL_PROTOCOL), 0, "", why, 1);
            return;
        }
        on_reply(s);
        check_invariants(s);
    }
}

static void on_io_event(smtp_session *s, io_conn *io, enum io_event ev)
{
    char why[400];
    switch (ev) {
    case IO_CONNECTED:
        snprintf(s->source_ip, sizeof s->source_ip, "%s", io->local_ip);
        enter_state(s, SMTP_S_GREETING);
        break;
    case IO_TLS_READY:
        s->tls_done = 1;
        snprintf(s->tls_protocol, sizeof s->tls_protocol, "%s", io->tls.protocol);
        snprintf(s->tls_cipher, sizeof s->tls_cipher, "%s", io->tls.cipher);
        enter_state(s, SMTP_S_EHLO);
        break;
    case IO_DATA_IN: read_replies(s); break;
    case IO_DRAINED:
        if (s->state == SMTP_S_BODY) {
            struct slot *c = &s->slot[s->cur];
            if (!c->body_done) {
                enter_state(s, SMTP_S_BODY);
            } else {
                enter_state(s, SMTP_S_DOT);
                read_replies(s);
            }
        }
        break;
    case IO_TIMEOUT:
        describe(s, why, sizeof why, "timed out", NULL);
        fail_now(s, classify_failure(CLASSIFY_FAIL_TIMEOUT), 0, "", why, 1);
        break;
    case IO_ERROR:
        if (s->state == SMTP_S_QUIT) { /* the server closed first: fine */
            enter_state(s, SMTP_S_CLOSING);
            break;
        }
        if (s->state == SMTP_S_TLS) {
            describe(s, why, sizeof why, "TLS failed", io->errmsg);
            if (s->o.tls == SMTP_TLS_OPPORTUNISTIC && s->tls_skip == 0)
                s->tls_skip = 1; /* retry this host in plaintext */
            fail_now(s, classify_failure(CLASSIFY_FAIL_TLS), 0, "", why, 1);
            break;
        }
        describe(s, why, sizeof why,
                 s->state == SMTP_S_CONNECT ? "cannot connect" : "lost connection", io->errmsg);
        fail_now(s,
                 classify_failure(io->err == EDM_ETOOBIG ? CLASSIFY_FAIL_PROTOCOL
                                                         : CLASSIFY_FAIL_NETWORK),
                 0, "", why, 1);
        break;
    case IO_CLOSED: on_closed(s); return;
    default: EDM_PANIC("on_io: bad event %d", (int)ev);
    }
}

static void on_io(io_conn *io, enum io_event ev, void *arg)
{
    smtp_session *s = arg;
    EDM_ASSERT(io == s->io);
    if (ev == IO_CLOSED) {
        on_io_event(s, io, ev); /* may free s (closed callback) */
        return;
    }
    s->in_handler++;
    on_io_event(s, io, ev);
    check_invariants(s);
    s->in_handler--;
    if (s->in_handler == 0 && s->abort_req && s->state != SMTP_S_CLOSING &&
        s->state != SMTP_S_DONE) {
        char why[200];
        describe(s, why, sizeof why, "delivery aborted", NULL);
        fail_now(s, classify_failure(CLASSIFY_FAIL_NETWORK), 0, "", why, 0);
    }
}

/* ---- public -------------------------------------------------------- */

smtp_session *smtp_session_new(uv_loop_t *loop, const smtp_options *opts, const smtp_callbacks *cb,
                               void *arg)
{
    smtp_session *s = edm_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->o = *opts;
    s->cb = *cb;
    s->arg = arg;
    smtp_reply_init(&s->reply);
    edm_buf_init(&s->strings);
    edm_buf_init(&s->stage);
    size_t n = opts->ntargets;
    size_t off_helo, off_src, off_user, off_pass;
    size_t *off_t = edm_xcalloc(2 * n + 1, sizeof *off_t);
    keep_str(s, opts->helo, &off_helo);
    keep_str(s, opts->source_ip, &off_src);
    keep_str(s, opts->auth_user, &off_user);
    keep_str(s, opts->auth_pass, &off_pass);
    for (size_t i = 0; i < n; i++) {
        keep_str(s, opts->targets[i].host, &off_t[2 * i]);
        keep_str(s, opts->targets[i].ip, &off_t[2 * i + 1]);
    }
    /* Now that the buffer no longer moves, point into it. */
#define AT(off) ((off) == (size_t)-1 ? NULL : s->strings.data + (off))
    s->o.helo = AT(off_helo);
    s->o.source_ip = AT(off_src);
    s->o.auth_user = AT(off_user);
    s->o.auth_pass = AT(off_pass);
    s->targets = edm_xcalloc(n ? n : 1, sizeof *s->targets);
    for (size_t i = 0; i < n; i++) {
        s->targets[i].host = AT(off_t[2 * i]);
        s->targets[i].ip = AT(off_t[2 * i + 1]);
    }
#undef AT
    edm_free(off_t);
    s->o.targets = s->targets;
    s->state = SMTP_S_INIT;
    return s;
}

int smtp_session_start(smtp_session *s)
{
    if (s->started || s->o.ntargets == 0 || (s->o.tls != SMTP_TLS_NONE && !s->o.tls_ctx))
        return EDM_EINVAL;
    for (size_t i = 0; i < s->o.ntargets; i++)
        if (s->targets[i].ip == NULL)
            return EDM_EINVAL;
    s->started = 1;
    if (take_next(s, &s->slot[0]) == NULL) {
        /* Nothing to send: report closed() from the loop via a closed io. */
        s->io = edm_xmalloc(sizeof *s->io);
        io_init(s->io, s->loop, on_io, s);
        s->state = SMTP_S_CLOSING;
        io_close(s->io);
        return 0;
    }
    connect_target(s);
    return 0;
}

void smtp_session_abort(smtp_session *s)
{
    if (!s->started || s->state == SMTP_S_CLOSING || s->state == SMTP_S_DONE)
        return;
    s->abort_req = 1;
    if (s->in_handler)
        return;
    char why[200];
    describe(s, why, sizeof why, "delivery aborted", NULL);
    s->in_handler++;
    fail_now(s, classify_failure(CLASSIFY_FAIL_NETWORK), 0, "", why, 0);
    s->in_handler--;
}

void smtp_session_free(smtp_session *s)
{
    if (s == NULL)
        return;
    EDM_ASSERT(s->io == NULL);
    for (int i = 0; i < 2; i++)
        if (s->slot[i].m)
            slot_clear(&s->slot[i]);
    smtp_reply_free(&s->reply);
    if (s->o.auth_pass)
        OPENSSL_cleanse(s->strings.data, s->strings.len);
    edm_buf_free(&s->strings);
    if (s->stage.data)
        OPENSSL_cleanse(s->stage.data, s->stage.cap);
    edm_buf_free(&s->stage);
    edm_free(s->targets);
    edm_free(s);
}

unsigned smtp_session_count(const smtp_session *s)
{
    return s->count;
}
