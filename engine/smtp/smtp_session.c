/*
 * engine/smtp/smtp_session.c: the ESMTP client state machine (see
 * smtp_session.h).
 *
 * One enum of states; smtp_session_enter() logs "old -> new", arms the state's
 * timeout and sends the state's command unless PIPELINING already sent it;
 * on_reply() switches on the state (the receive cursor); smtp_session_on_io() switches
 * on the I/O layer's events. With PIPELINING the send cursor runs ahead:
 * MAIL, every RCPT and DATA leave in one write, and after a message's
 * final "." the next message's MAIL/RCPT/DATA go in the same write
 * (RFC 2920: message content may start a group), so a kept connection
 * costs about one round trip per message. Two message slots exist for
 * that: `cur` (replies being received) and the other one (sent ahead).
 *
 * The setup states (GREETING to AUTH_PASS) have their entry actions and
 * replies in smtp_setup.c; the message states are here.
 *
 * Entry points: smtp_session_new/start/abort/free. Failures before any
 * message transaction on a connection move to the next target (MX host or
 * address); later ones end the session, and the messages in flight get
 * the failure as their outcome. Outcomes are facts (the step, the reply or
 * a failure kind): the session judges nothing, except what its own
 * protocol flow needs from a reply's class (code / 100). TLS "required"
 * never falls back to plaintext; "opportunistic" retries the same host in
 * plaintext after a failed handshake (as Postfix does). Limits: CHUNKING
 * (BDAT) is noted, not used; no DSN parameters; SIZE is checked before
 * sending.
 */
#include "engine/smtp/smtp_session.h"
#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/net/io.h"
#include "engine/base/log.h"
#include "engine/smtp/smtp_reply.h"
#include "engine/smtp/smtp_session_int.h"
#include "engine/base/timeutil.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tmo {
    T_NONE,
    T_CONNECT,
    T_GREETING,
    T_MAIL,
    T_RCPT,
    T_DATA,
    T_DATA_BLOCK,
    T_DATA_END,
    T_IDLE,
    T_QUIT
};

/* Per-state data: name for logs, phrase for errors, timeout, the SMTP step
 * an outcome records (Postfix xfer_timeouts[] / xfer_states[]). */
static const struct {
    const char *name;
    const char *phrase;
    enum tmo tmo;
    enum edm_smtp_step step;
} states[] = {
    [SMTP_S_INIT] = {"INIT", "before connecting", T_NONE, EDM_STEP_GREETING},
    [SMTP_S_CONNECT] = {"CONNECT", "while connecting", T_CONNECT, EDM_STEP_GREETING},
    [SMTP_S_GREETING] = {"GREETING", "while receiving the initial greeting", T_GREETING,
                         EDM_STEP_GREETING},
    [SMTP_S_EHLO] = {"EHLO", "while sending EHLO", T_MAIL, EDM_STEP_HELO},
    [SMTP_S_HELO] = {"HELO", "while sending HELO", T_MAIL, EDM_STEP_HELO},
    [SMTP_S_STARTTLS] = {"STARTTLS", "while sending STARTTLS", T_MAIL, EDM_STEP_TLS},
    [SMTP_S_TLS] = {"TLS", "during the TLS handshake", T_MAIL, EDM_STEP_TLS},
    [SMTP_S_AUTH] = {"AUTH", "while authenticating", T_MAIL, EDM_STEP_AUTH},
    [SMTP_S_AUTH_USER] = {"AUTH_USER", "while authenticating", T_MAIL, EDM_STEP_AUTH},
    [SMTP_S_AUTH_PASS] = {"AUTH_PASS", "while authenticating", T_MAIL, EDM_STEP_AUTH},
    [SMTP_S_READY] = {"READY", "between messages", T_NONE, EDM_STEP_MAIL},
    [SMTP_S_IDLE] = {"IDLE", "while waiting for the next message", T_IDLE, EDM_STEP_MAIL},
    [SMTP_S_MAIL] = {"MAIL", "while sending MAIL FROM", T_MAIL, EDM_STEP_MAIL},
    [SMTP_S_RCPT] = {"RCPT", "while sending RCPT TO", T_RCPT, EDM_STEP_RCPT},
    [SMTP_S_DATA] = {"DATA", "while sending DATA", T_DATA, EDM_STEP_DATA},
    [SMTP_S_BODY] = {"BODY", "while sending the message content", T_DATA_BLOCK, EDM_STEP_DATA_END},
    [SMTP_S_DOT] = {"DOT", "after the end of the message content", T_DATA_END, EDM_STEP_DATA_END},
    [SMTP_S_RSET] = {"RSET", "while sending RSET", T_MAIL, EDM_STEP_MAIL},
    [SMTP_S_QUIT] = {"QUIT", "while sending QUIT", T_QUIT, EDM_STEP_MAIL},
    [SMTP_S_CLOSING] = {"CLOSING", "while closing", T_NONE, EDM_STEP_MAIL},
    [SMTP_S_DONE] = {"DONE", "after the end", T_NONE, EDM_STEP_MAIL},
};

const char *smtp_session_state_name(enum smtp_state st)
{
    EDM_ASSERT((unsigned)st < sizeof states / sizeof states[0]);
    return states[st].name;
}

enum edm_smtp_step smtp_session_step(enum smtp_state st)
{
    EDM_ASSERT((unsigned)st < sizeof states / sizeof states[0]);
    return states[st].step;
}

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
    case SMTP_S_IDLE: EDM_ASSERT(c->m == NULL && s->slot[!s->cur].m == NULL); break;
    default: break;
    }
    if (s->state == SMTP_S_DOT)
        EDM_ASSERT(c->body_done || c->discard);
    /* Only PIPELINING lets a second message be sent ahead. */
    if (s->slot[!s->cur].m && s->slot[!s->cur].mail_sent)
        EDM_ASSERT(s->caps & SMTP_CAP_PIPELINING);
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
    case T_IDLE: return s->o.idle_ms ? s->o.idle_ms : 30000;
    case T_QUIT:
        return to->mail && to->mail < SMTP_QUIT_TIMEOUT_MS ? to->mail : SMTP_QUIT_TIMEOUT_MS;
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

void smtp_session_stage(smtp_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (edm_buf_vappendf(&s->stage, fmt, ap) != 0)
        EDM_PANIC("out of memory");
    va_end(ap);
}

void smtp_session_put(smtp_session *s, ...)
{
    va_list ap;
    va_start(ap, s);
    for (const char *p; (p = va_arg(ap, const char *)) != NULL;)
        if (edm_buf_append(&s->stage, p, strlen(p)) != 0)
            EDM_PANIC("out of memory");
    va_end(ap);
}

int smtp_session_send_staged(smtp_session *s)
{
    int rc = 0;
    if (s->stage.len)
        rc = io_write(s->io, s->stage.data, s->stage.len);
    edm_buf_reset(&s->stage);
    if (rc == 0)
        rc = io_flush(s->io);
    if (rc != 0) {
        smtp_conn_fail(s, EDM_FAIL_NETWORK, 0, "",
                       s->io->errmsg[0] ? s->io->errmsg : edm_strerror(rc), 0);
        return -1;
    }
    return 0;
}

/* Failure text: "mx.test[1.2.3.4]: lost connection while sending RCPT TO: why". */
__attribute__((noinline)) void smtp_session_describe(smtp_session *s, char *out, size_t n,
                                                     const char *what, const char *why)
{
    snprintf(out, n, "%s[%s]: %s %s%s%s", s->mx_host[0] ? s->mx_host : "?",
             s->mx_ip[0] ? s->mx_ip : "?", what, states[s->state].phrase, why && *why ? ": " : "",
             why ? why : "");
}

/* ---- sending ------------------------------------------------------- */

/* Takes the next message into a free slot: NULL when none is due. */
const smtp_message smtp_later;

static struct slot *take_next(smtp_session *s, struct slot *sl)
{
    s->later = 0;
    for (;;) {
        if (s->no_more || (s->o.max_messages && s->conn_msgs >= s->o.max_messages))
            return NULL;
        const smtp_message *m = s->cb.next(s, s->arg);
        if (m == SMTP_LATER) {
            s->later = 1;
            return NULL;
        }
        if (m == NULL) {
            s->no_more = 1;
            return NULL;
        }
        smtp_msg_take(sl, m);
        if (s->state >= SMTP_S_READY && smtp_msg_refusal(s, sl)) {
            smtp_msg_report(s, sl);
            continue;
        }
        return sl;
    }
}

/* ---- the state machine --------------------------------------------- */

void smtp_session_enter(smtp_session *s, enum smtp_state st)
{
    enum smtp_state old = s->state;
    s->state = st;
    if (old != st)
        EDM_DEBUG("smtp", "session=%u mx=%s state=%s->%s", s->o.id, s->mx_ip,
                  smtp_session_state_name(old), smtp_session_state_name(st));
    if (s->io && st != SMTP_S_CLOSING)
        io_set_timeout(s->io, timeout_ms(s, states[st].tmo));
    struct slot *c = &s->slot[s->cur];
    switch (st) {
    case SMTP_S_CONNECT:
    case SMTP_S_GREETING:
    case SMTP_S_TLS:
    case SMTP_S_AUTH_USER:
    case SMTP_S_AUTH_PASS: break; /* sent by the caller, or nothing to send */
    case SMTP_S_EHLO:
    case SMTP_S_HELO:
    case SMTP_S_STARTTLS:
    case SMTP_S_AUTH: smtp_setup_enter(s, st); break;
    case SMTP_S_READY:
        io_set_timeout(s->io, 0);
        if (c->m == NULL && take_next(s, c) == NULL) {
            smtp_session_enter(s, s->later ? SMTP_S_IDLE : SMTP_S_QUIT);
            break;
        }
        if (smtp_msg_refusal(s, c)) { /* the first message, taken before EHLO */
            smtp_msg_report(s, c);
            smtp_session_enter(s, SMTP_S_READY);
            break;
        }
        smtp_session_enter(s, SMTP_S_MAIL);
        break;
    case SMTP_S_MAIL:
        if (!c->mail_sent) {
            smtp_msg_stage_transaction(s, c);
            smtp_session_send_staged(s);
        }
        break;
    case SMTP_S_RCPT:
        if (c->rcpt_sent == c->rcpt_recv) {
            smtp_session_put(s, "RCPT TO:<", c->m->rcpts[c->rcpt_sent++], ">\r\n", NULL);
            smtp_session_send_staged(s);
        }
        break;
    case SMTP_S_DATA:
        if (!c->data_sent) {
            c->data_sent = 1;
            smtp_session_put(s, "DATA\r\n", NULL);
            smtp_session_send_staged(s);
        }
        break;
    case SMTP_S_BODY:
        smtp_msg_stage_body(s, c);
        if (c->body_done && (s->caps & SMTP_CAP_PIPELINING)) {
            /* RFC 2920: the next MAIL/RCPT/DATA may follow the final ".". */
            struct slot *o = &s->slot[!s->cur];
            EDM_ASSERT(o->m == NULL);
            if (take_next(s, o) != NULL)
                smtp_msg_stage_transaction(s, o);
        }
        smtp_session_send_staged(s);
        break;
    case SMTP_S_DOT: break;
    case SMTP_S_IDLE: break; /* nothing to send; the idle timer runs */
    case SMTP_S_RSET:
        if (s->rset_free)
            s->rset_free = 0;
        else
            s->nonmail++;
        smtp_session_stage(s, "RSET\r\n");
        smtp_session_send_staged(s);
        break;
    case SMTP_S_QUIT:
        smtp_session_stage(s, "QUIT\r\n");
        smtp_session_send_staged(s);
        break;
    case SMTP_S_CLOSING:
        if (s->io)
            io_close(s->io);
        break;
    case SMTP_S_INIT:
    case SMTP_S_DONE:
    default: EDM_PANIC("smtp_session_enter: bad state %d", (int)st);
    }
}

/* A reply that ends the connection (greeting, EHLO+HELO, AUTH, ...), with
 * QUIT; next_target: the next target may try. */
void smtp_session_fail_reply(smtp_session *s, int next_target)
{
    char why[600];
    char q[400];
    const smtp_reply *r = &s->reply;
    snprintf(q, sizeof q, "%d %s%s%s", r->code, r->enhanced, r->enhanced[0] ? " " : "",
             edm_buf_cstr(&r->text));
    smtp_session_describe(s, why, sizeof why, "host refused", q);
    smtp_conn_refuse(s, EDM_FAIL_NONE, r->code, r->enhanced, why, next_target);
}

/* The reply is recipient i's outcome. */
static void reply_to_rcpt(smtp_session *s, struct slot *sl, size_t i)
{
    const smtp_reply *r = &s->reply;
    sl->rs[i].final = 1;
    smtp_msg_facts(&sl->ro[i], EDM_FAIL_NONE, states[s->state].step, r->code, r->enhanced,
                   edm_buf_cstr(&r->text));
}

/* The reply is the message's outcome. */
static void reply_to_slot(smtp_session *s, struct slot *sl)
{
    const smtp_reply *r = &s->reply;
    smtp_msg_facts(&sl->out, EDM_FAIL_NONE, states[s->state].step, r->code, r->enhanced,
                   edm_buf_cstr(&r->text));
}

/* The transaction of the current slot is over: report it, then RSET if the
 * server may still hold a transaction, else the next message. */
static void end_transaction(smtp_session *s, int need_rset)
{
    struct slot *c = &s->slot[s->cur];
    smtp_msg_report(s, c);
    if (s->state == SMTP_S_CLOSING)
        return;
    struct slot *o = &s->slot[!s->cur];
    if (o->m && o->mail_sent) {
        EDM_ASSERT(!need_rset);
        s->cur = !s->cur;
        smtp_session_enter(s, SMTP_S_MAIL); /* already sent: wait for its reply */
        return;
    }
    if (o->m) /* taken but not sent: make it current */
        s->cur = !s->cur;
    if (need_rset && !s->rset_free && s->nonmail >= SMTP_NONMAIL_MAX) {
        /* Another RSET would near the server's non-mail command limit:
         * the rest goes on a fresh connection to the same host. */
        EDM_DEBUG("smtp", "session=%u mx=%s event=reconnect rsets=%u", s->o.id, s->mx_ip,
                  s->nonmail);
        s->reconnect = 1;
        smtp_session_enter(s, SMTP_S_QUIT);
        return;
    }
    smtp_session_enter(s, need_rset ? SMTP_S_RSET : SMTP_S_READY);
}

static void on_reply(smtp_session *s)
{
    const smtp_reply *r = &s->reply;
    int ok = r->code >= 200 && r->code < 300;
    struct slot *c = &s->slot[s->cur];
    switch (s->state) {
    case SMTP_S_GREETING:
    case SMTP_S_EHLO:
    case SMTP_S_HELO:
    case SMTP_S_STARTTLS:
    case SMTP_S_AUTH:
    case SMTP_S_AUTH_USER:
    case SMTP_S_AUTH_PASS: smtp_setup_on_reply(s); break;
    case SMTP_S_MAIL:
        if (!ok) {
            c->mail_failed = 1;
            reply_to_slot(s, c);
            for (size_t i = 0; i < c->m->nrcpts; i++)
                reply_to_rcpt(s, c, i);
            if (!(s->caps & SMTP_CAP_PIPELINING)) {
                end_transaction(s, 1);
                break;
            }
        }
        smtp_session_enter(s, SMTP_S_RCPT);
        break;
    case SMTP_S_RCPT: {
        size_t i = c->rcpt_recv++;
        if (!c->mail_failed) {
            if (ok) {
                c->rs[i].accepted = 1;
                c->accepted++;
            } else {
                reply_to_rcpt(s, c, i);
            }
        }
        if (c->rcpt_recv < c->m->nrcpts) {
            smtp_session_enter(s, SMTP_S_RCPT);
        } else if (c->data_sent) {
            smtp_session_enter(s, SMTP_S_DATA);
        } else if (c->accepted > 0) {
            smtp_session_enter(s, SMTP_S_DATA);
        } else {
            smtp_msg_outcome_from_rcpt(c);
            end_transaction(s, 1);
        }
        break;
    }
    case SMTP_S_DATA:
        if (r->code == 354) {
            if (c->accepted > 0 && !c->mail_failed) {
                smtp_session_enter(s, SMTP_S_BODY);
            } else {
                /* Nothing to deliver but the server wants data: end it empty. */
                c->discard = 1;
                smtp_session_put(s, ".\r\n", NULL);
                if (smtp_session_send_staged(s) == 0)
                    smtp_session_enter(s, SMTP_S_DOT);
            }
            break;
        }
        if (c->accepted > 0 && !c->mail_failed) {
            reply_to_slot(s, c);
            for (size_t i = 0; i < c->m->nrcpts; i++)
                if (c->rs[i].accepted)
                    reply_to_rcpt(s, c, i);
        } else if (!c->mail_failed) {
            smtp_msg_outcome_from_rcpt(c);
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
            reply_to_rcpt(s, c, i);
            if (ok)
                s->rset_free = 1;
            if (ok)
                smtp_reply_queue_id(edm_buf_cstr(&r->text), c->ro[i].remote_queue_id,
                                    sizeof c->ro[i].remote_queue_id);
        }
        end_transaction(s, 0);
        break;
    case SMTP_S_RSET:
        if (ok)
            smtp_session_enter(s, SMTP_S_READY);
        else
            smtp_session_enter(s, SMTP_S_QUIT);
        break;
    case SMTP_S_QUIT: smtp_session_enter(s, SMTP_S_CLOSING); break;
    case SMTP_S_INIT:
    case SMTP_S_CONNECT:
    case SMTP_S_TLS:
    case SMTP_S_READY:
    case SMTP_S_IDLE:
    case SMTP_S_BODY:
    case SMTP_S_CLOSING:
    case SMTP_S_DONE:
    default: EDM_PANIC("on_reply in state %s", smtp_session_state_name(s->state));
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
            smtp_session_describe(s, why, sizeof why,
                                  n == EDM_ETOOBIG ? "over-long reply" : "malformed reply", NULL);
            smtp_conn_fail(s, EDM_FAIL_PROTOCOL, 0, "", why, 1);
            return;
        }
        io_consume(s->io, (size_t)n);
        if (s->state == SMTP_S_STARTTLS && io_data(s->io, &len) && len > 0 &&
            s->reply.code == 220) {
            char why[300];
            smtp_session_describe(s, why, sizeof why, "data after STARTTLS reply", NULL);
            smtp_conn_fail(s, EDM_FAIL_PROTOCOL, 0, "", why, 1);
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
        smtp_session_enter(s, SMTP_S_GREETING);
        break;
    case IO_TLS_READY:
        s->tls_done = 1;
        snprintf(s->tls_protocol, sizeof s->tls_protocol, "%s", io->tls.protocol);
        snprintf(s->tls_cipher, sizeof s->tls_cipher, "%s", io->tls.cipher);
        smtp_session_enter(s, SMTP_S_EHLO);
        break;
    case IO_DATA_IN: read_replies(s); break;
    case IO_DRAINED:
        if (s->state == SMTP_S_BODY) {
            struct slot *c = &s->slot[s->cur];
            if (!c->body_done) {
                smtp_session_enter(s, SMTP_S_BODY);
            } else {
                smtp_session_enter(s, SMTP_S_DOT);
                read_replies(s);
            }
        }
        break;
    case IO_TIMEOUT:
        if (s->state == SMTP_S_IDLE) { /* nothing came to send: leave politely */
            smtp_session_enter(s, SMTP_S_QUIT);
            break;
        }
        smtp_session_describe(s, why, sizeof why, "timed out", NULL);
        smtp_conn_fail(s, EDM_FAIL_TIMEOUT, 0, "", why, 1);
        break;
    case IO_ERROR:
        if (s->state == SMTP_S_QUIT || s->state == SMTP_S_IDLE) {
            /* the server closed first, with nothing of ours in flight: fine */
            smtp_session_enter(s, SMTP_S_CLOSING);
            break;
        }
        if (s->state == SMTP_S_TLS) {
            smtp_session_describe(s, why, sizeof why, "TLS failed", io->errmsg);
            if (s->o.tls == SMTP_TLS_OPPORTUNISTIC && s->tls_skip == 0)
                s->tls_skip = 1; /* retry this host in plaintext */
            smtp_conn_fail(s, EDM_FAIL_TLS, 0, "", why, 1);
            break;
        }
        smtp_session_describe(s, why, sizeof why,
                              s->state == SMTP_S_CONNECT ? "cannot connect" : "lost connection",
                              io->errmsg);
        smtp_conn_fail(s, io->err == EDM_ETOOBIG ? EDM_FAIL_PROTOCOL : EDM_FAIL_NETWORK, 0, "", why,
                       1);
        break;
    case IO_CLOSED: smtp_conn_on_closed(s); return;
    default: EDM_PANIC("smtp_session_on_io: bad event %d", (int)ev);
    }
}

/* Stops now: a connection waiting idle, with nothing in flight, says
 * QUIT and ends clean (closed() without a failure); otherwise what is in
 * flight is deferred and the connection closed. */
static void abort_now(smtp_session *s)
{
    if (s->state == SMTP_S_QUIT)
        return; /* already leaving */
    if (s->state == SMTP_S_IDLE && s->slot[0].m == NULL && s->slot[1].m == NULL) {
        s->no_more = 1;
        smtp_session_enter(s, SMTP_S_QUIT);
        return;
    }
    char why[200];
    smtp_session_describe(s, why, sizeof why, "delivery aborted", NULL);
    smtp_conn_fail(s, EDM_FAIL_NETWORK, 0, "", why, 0);
}

/* An abort asked for inside a callback takes effect once the outermost
 * handler is done. */
static void abort_if_asked(smtp_session *s)
{
    if (s->in_handler == 0 && s->abort_req && s->state != SMTP_S_CLOSING && s->state != SMTP_S_DONE)
        abort_now(s);
}

void smtp_session_on_io(io_conn *io, enum io_event ev, void *arg)
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
    abort_if_asked(s);
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
        io_init(s->io, s->loop, smtp_session_on_io, s);
        s->state = SMTP_S_CLOSING;
        io_close(s->io);
        return 0;
    }
    smtp_conn_connect(s);
    return 0;
}

void smtp_session_kick(smtp_session *s)
{
    if (s->state != SMTP_S_IDLE || s->in_handler)
        return;
    s->in_handler++;
    smtp_session_enter(s, SMTP_S_READY);
    check_invariants(s);
    s->in_handler--;
    abort_if_asked(s);
}

int smtp_session_idle(const smtp_session *s)
{
    return s->state == SMTP_S_IDLE;
}

void smtp_session_abort(smtp_session *s)
{
    if (!s->started || s->state == SMTP_S_CLOSING || s->state == SMTP_S_DONE)
        return;
    s->abort_req = 1;
    if (s->in_handler)
        return;
    s->in_handler++;
    abort_now(s);
    s->in_handler--;
}

void smtp_session_free(smtp_session *s)
{
    if (s == NULL)
        return;
    EDM_ASSERT(s->io == NULL);
    for (int i = 0; i < 2; i++)
        if (s->slot[i].m)
            smtp_msg_clear(&s->slot[i]);
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
