/*
 * engine/smtp/smtp_conn.c: the connections of an SMTP session (see
 * smtp_session_int.h): connecting to the targets in order, ending a
 * connection on failure, and deciding after each close whether to try the
 * next target (or the same one in plaintext after an opportunistic TLS
 * failure) or to finish: defer what is still in hand and call closed().
 *
 * Rule: a failure before any message transaction on a connection moves on
 * to the next target; once MAIL FROM has been sent, the messages in flight
 * are deferred and the session ends (the relay decides what comes next).
 */
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/smtp/smtp_session_int.h"

#include <stdio.h>
#include <string.h>

static void conn_end(smtp_session *s, enum edm_failure f, int code, const char *enh,
                     const char *text, int next_target, int quit);

void smtp_conn_connect(smtp_session *s)
{
    for (;;) {
        if (s->target_i >= s->o.ntargets) {
            smtp_conn_finish(s);
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
        s->rset_free = 1;
        s->nonmail = 0;
        s->io = edm_xmalloc(sizeof *s->io);
        io_init(s->io, s->loop, smtp_session_on_io, s);
        s->state = SMTP_S_INIT;
        int rc = io_connect(s->io, s->o.source_ip, t->ip, s->o.port ? s->o.port : 25);
        if (rc == 0) {
            smtp_session_enter(s, SMTP_S_CONNECT);
            return;
        }
        /* Could not even start: close this io, then go on to the next target. */
        char why[200];
        smtp_session_describe(s, why, sizeof why, "cannot connect", s->io->errmsg);
        smtp_conn_fail(s, EDM_FAIL_NETWORK, 0, "", why, 1);
        return;
    }
}

/* Called once the last io has closed and nothing is left to try. */
void smtp_conn_finish(smtp_session *s)
{
    s->state = SMTP_S_DONE;
    if (!s->failed && s->slot[0].m == NULL && s->slot[1].m == NULL) {
        s->cb.closed(s, NULL, s->arg);
        return;
    }
    if (!s->failed) {
        memset(&s->fail, 0, sizeof s->fail);
        smtp_msg_facts(&s->fail, EDM_FAIL_NETWORK, smtp_session_step(s->state), 0, "",
                       "no usable mail exchanger");
        s->failed = 1;
    }
    for (int k = 0; k < 2; k++) {
        struct slot *sl = &s->slot[(s->cur + k) % 2];
        if (sl->m)
            smtp_msg_defer(s, sl);
    }
    /* Where it ended (its TLS was set with the failure); not the time,
     * which belongs to messages. */
    EDM_OUTCOME_PUT(s->fail.mx_host, s->mx_host);
    EDM_OUTCOME_PUT(s->fail.mx_ip, s->mx_ip);
    EDM_OUTCOME_PUT(s->fail.source_ip, s->source_ip);
    s->cb.closed(s, &s->fail, s->arg);
}

/* Ends this connection because of a failure. Before any message
 * transaction on this connection, next_target lets the next target (or,
 * with tls_skip set, the same one in plaintext) have a try; otherwise the
 * messages in flight get this failure as their outcome now. */
void smtp_conn_fail(smtp_session *s, enum edm_failure f, int code, const char *enh,
                    const char *text, int next_target)
{
    conn_end(s, f, code, enh, text, next_target, 0);
}

void smtp_conn_refuse(smtp_session *s, enum edm_failure f, int code, const char *enh,
                      const char *text, int next_target)
{
    conn_end(s, f, code, enh, text, next_target, code != 421);
}

static void conn_end(smtp_session *s, enum edm_failure f, int code, const char *enh,
                     const char *text, int next_target, int quit)
{
    if (s->state == SMTP_S_CLOSING || s->state == SMTP_S_DONE)
        return;
    if (s->state == SMTP_S_QUIT) {
        /* The QUIT itself failed (timeout, write error): the connection
         * had ended already; what ended it stays the session's story. */
        smtp_session_enter(s, SMTP_S_CLOSING);
        return;
    }
    s->failed = 1;
    memset(&s->fail, 0, sizeof s->fail);
    smtp_msg_facts(&s->fail, f, smtp_session_step(s->state), code, enh, text);
    /* The attempt's TLS, for what the caller defers with it. */
    if (s->tls_protocol[0])
        snprintf(s->fail.tls, sizeof s->fail.tls, "%s %s", s->tls_protocol, s->tls_cipher);
    edm_log(EDM_LOG_WARN, "smtp", "session=%u mx=%s ip=%s state=%s failure=%s code=%d", s->o.id,
            s->mx_host, s->mx_ip, smtp_session_state_name(s->state), edm_failure_name(f), code);
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
                smtp_msg_defer(s, sl);
        }
    }
    smtp_session_enter(s, quit && !begun && s->io ? SMTP_S_QUIT : SMTP_S_CLOSING);
}

void smtp_conn_on_closed(smtp_session *s)
{
    edm_free(s->io);
    s->io = NULL;
    if (s->reconnect && !s->abort_req) {
        s->reconnect = 0; /* same target, a fresh connection */
        smtp_conn_connect(s);
        return;
    }
    if (s->retry && !s->abort_req) {
        s->retry = 0;
        if (s->tls_skip == 1)
            s->tls_skip = 2; /* same target, plaintext this time */
        else {
            s->tls_skip = 0;
            s->target_i++;
        }
        smtp_conn_connect(s);
        return;
    }
    smtp_conn_finish(s);
}
