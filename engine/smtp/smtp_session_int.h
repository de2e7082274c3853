/*
 * engine/smtp/smtp_session_int.h: what the files of the SMTP session share:
 * engine/smtp/smtp_session.c (the state machine), smtp_setup.c (greeting,
 * EHLO/HELO, STARTTLS, AUTH), smtp_conn.c (targets, failures, the end) and
 * smtp_msg.c (message slots, outcomes, dot-stuffing). Nothing outside
 * engine/smtp/ includes it.
 */
#ifndef EDM_SMTP_SESSION_INT_H
#define EDM_SMTP_SESSION_INT_H

#include "engine/base/buf.h"
#include "engine/net/io.h"
#include "engine/smtp/smtp_ehlo.h"
#include "engine/smtp/smtp_reply.h"
#include "engine/smtp/smtp_session.h"

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
    SMTP_S_IDLE, /* connected, no transaction, waiting for a message */
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

#define SMTP_BODY_SLICE (64u * 1024u)

/* Non-mail commands a connection may carry before it is replaced by a
 * fresh one (docs/smtp.md, "Connections"): Exim drops a session past
 * smtp_accept_max_nonmail (10; one RSET per message is free), Postfix
 * counts RSET as junk (smtpd_junk_command_limit). We count RSETs after
 * the first one since the last delivered message and stop below Exim's
 * default. */
#define SMTP_NONMAIL_MAX 8
/* How long a QUIT waits for its reply (at most; the mail timeout if less). */
#define SMTP_QUIT_TIMEOUT_MS 5000

struct rcpt_state {
    int final;    /* outcome decided */
    int accepted; /* 2xx to RCPT TO, waiting for the end of DATA */
};

struct slot {
    const smtp_message *m;
    size_t nrcpts;         /* m->nrcpts, kept: m may be freed by the done callback */
    int utf8;              /* needs SMTPUTF8: flagged, or a non-ASCII address */
    struct rcpt_state *rs; /* nrcpts entries */
    edm_outcome *ro;       /* nrcpts entries: each recipient's outcome (facts) */
    size_t rcpt_sent, rcpt_recv, accepted;
    int mail_sent, data_sent, mail_failed, discard;
    size_t body_off;
    int body_bol, body_done;
    uint64_t t0;
    edm_outcome out; /* the message as a whole */
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
    int later; /* next() said SMTP_LATER */
    int started, in_handler, abort_req;
    int retry;        /* after the close, connect to the next target */
    int reconnect;    /* after the close, a fresh connection to the same target */
    int rset_free;    /* the next RSET does not count (start, or after a delivery) */
    unsigned nonmail; /* RSETs counted on this connection (SMTP_NONMAIL_MAX) */
    int failed;       /* fail describes why the connection (or session) ended */
    edm_outcome fail; /* its facts; mx_host, mx_ip, source_ip set at the end */
    char mx_host[256], mx_ip[64], source_ip[64];
    char tls_protocol[16], tls_cipher[64];
    edm_buf stage; /* commands and body slices gathered for one write */
};

/* smtp_session.c: the state machine */
void smtp_session_enter(smtp_session *s, enum smtp_state st);
void smtp_session_on_io(io_conn *io, enum io_event ev, void *arg);
const char *smtp_session_state_name(enum smtp_state st);
/* The SMTP step of a state (for the outcome's facts). */
enum edm_smtp_step smtp_session_step(enum smtp_state st);
/* Writes what is staged and flushes. 0, or -1 with the session failed. */
int smtp_session_send_staged(smtp_session *s);
/* The reply in s->reply ends the connection (see smtp_conn_fail). */
void smtp_session_fail_reply(smtp_session *s, int next_target);
/* "mx.test[1.2.3.4]: what <the state's phrase>: why" into out. */
void smtp_session_describe(smtp_session *s, char *out, size_t n, const char *what, const char *why);

/* smtp_conn.c: targets, failures, the end */
void smtp_conn_connect(smtp_session *s);
/* Ends the connection for a failure: a reply (f == EDM_FAIL_NONE, with
 * its code and enhanced code) or a failure kind without one (see
 * smtp_conn.c for next_target). */
void smtp_conn_fail(smtp_session *s, enum edm_failure f, int code, const char *enh,
                    const char *text, int next_target);
/* Ends the connection, still usable, for a refusal (a reply, or what the
 * client will not do: TLS not offered, no AUTH) before any transaction:
 * like smtp_conn_fail, but says QUIT first (not after a 421, whose server
 * is closing). */
void smtp_conn_refuse(smtp_session *s, enum edm_failure f, int code, const char *enh,
                      const char *text, int next_target);
/* The connection's io has closed: next target, or finish. */
void smtp_conn_on_closed(smtp_session *s);
void smtp_conn_finish(smtp_session *s);

void smtp_session_stage(smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Stages the strings given, up to a NULL (no formatting: the commands
 * every message sends). */
void smtp_session_put(smtp_session *s, ...) __attribute__((sentinel));

/* smtp_setup.c: before the first message. */
/* Entry action of EHLO, HELO, STARTTLS and AUTH: sends the command. */
void smtp_setup_enter(smtp_session *s, enum smtp_state st);
/* A reply in GREETING, EHLO, HELO, STARTTLS, AUTH, AUTH_USER, AUTH_PASS. */
void smtp_setup_on_reply(smtp_session *s);

/* smtp_msg.c: a message slot's life: taken, given outcomes, reported. */
void smtp_msg_take(struct slot *sl, const smtp_message *m);
void smtp_msg_clear(struct slot *sl);
/* Sets the facts of o: a reply at step (f == EDM_FAIL_NONE) or a failure
 * kind; the other fields are left as they are. */
void smtp_msg_facts(edm_outcome *o, enum edm_failure f, enum edm_smtp_step step, int code,
                    const char *enh, const char *text);
/* No recipient accepted: the message's outcome is the first recipient's. */
void smtp_msg_outcome_from_rcpt(struct slot *c);
/* Reports the message of sl (every recipient has a result) and empties sl. */
void smtp_msg_report(smtp_session *s, struct slot *sl);
/* Gives every recipient without a result the session's failure; reports. */
void smtp_msg_defer(smtp_session *s, struct slot *sl);
/* 1 (with results set) when the message cannot go to this server: over
 * its SIZE, needs SMTPUTF8 or 8BITMIME it lacks, no recipients. */
int smtp_msg_refusal(smtp_session *s, struct slot *sl);
/* Stages MAIL FROM (and with PIPELINING every RCPT TO and DATA). */
void smtp_msg_stage_transaction(smtp_session *s, struct slot *sl);
/* Stages up to SMTP_BODY_SLICE bytes of dot-stuffed content; the final
 * "." when the end is reached. */
void smtp_msg_stage_body(smtp_session *s, struct slot *sl);

#endif
