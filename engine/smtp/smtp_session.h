/*
 * engine/smtp/smtp_session.h: one ESMTP client connection delivering a queue of
 * messages (RFC 5321, 1869 SIZE, 6152 8BITMIME, 6531 SMTPUTF8, 2920
 * PIPELINING, 3207 STARTTLS, 4954 AUTH PLAIN/LOGIN).
 *
 * The caller (the relay) gives options (plain structs: no config module
 * here) and three callbacks. The session takes its first message at
 * smtp_session_start() and each next one when it is ready for it, and
 * reports one result per message (with one outcome per recipient). It
 * reports facts only (engine/store/outcome.h: the step, the reply or a
 * failure kind without one, where and how it went); what they mean is
 * engine/delivery/classify.c's business. It connects to its targets in
 * order (MX hosts by preference, each address) until one gives a usable
 * conversation; once a message transaction has begun, a failure ends the
 * session and becomes the outcome of what is in flight.
 */
#ifndef EDM_SMTP_SESSION_H
#define EDM_SMTP_SESSION_H

#include "engine/store/outcome.h"

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum smtp_tls_mode { SMTP_TLS_NONE, SMTP_TLS_OPPORTUNISTIC, SMTP_TLS_REQUIRED };

/* RFC 5321 4.5.3.2 timeouts in milliseconds, named as the config's
 * smtp.timeouts (docs/config.md; in seconds there: the caller converts).
 * 0 = the RFC's value. EHLO, STARTTLS, AUTH, RSET and QUIT use `mail`. */
typedef struct smtp_timeouts {
    uint64_t connect, greeting, mail, rcpt, data, data_block, data_end;
} smtp_timeouts;

typedef struct smtp_target {
    const char *host; /* MX host name (for results and SNI) */
    const char *ip;   /* address literal to connect to */
} smtp_target;

typedef struct smtp_options {
    const char *helo;      /* EHLO/HELO name */
    const char *source_ip; /* bind to this address; NULL = any */
    int port;              /* 25 unless tests say otherwise */
    smtp_timeouts timeouts;
    enum smtp_tls_mode tls;
    SSL_CTX *tls_ctx;      /* client context (tls_client_ctx_new); needed unless NONE */
    const char *auth_user; /* relay credentials: AUTH only after TLS; NULL = none */
    const char *auth_pass;
    const smtp_target *targets; /* tried in order; copied by smtp_session_new */
    size_t ntargets;
    unsigned max_messages; /* per connection; 0 = no limit */
    uint64_t idle_ms;      /* how long to keep a connection waiting for a
                            * message (next() said SMTP_LATER); 0 = 30 s */
    unsigned id;           /* for logs */
} smtp_options;

/* A message to deliver. The session reads it without copying; it must
 * stay valid until its result is reported. */
#define SMTP_MSG_8BITMIME 1u /* 8bit body: BODY=8BITMIME; never sent to a server without it */
#define SMTP_MSG_SMTPUTF8 2u /* UTF-8 headers: needs SMTPUTF8 (UTF-8 addresses are detected) */

typedef struct smtp_message {
    const char *sender;       /* envelope sender; "" for the null path */
    const char *const *rcpts; /* envelope recipients */
    size_t nrcpts;
    const char *data; /* composed message, CRLF lines, not dot-stuffed */
    size_t len;
    unsigned flags; /* SMTP_MSG_* */
    void *user;     /* the caller's tag */
} smtp_message;

/* One message done. The outcomes hold facts: failure, step, code,
 * enhanced, text, mx_host, mx_ip, source_ip, tls, remote_queue_id,
 * duration_ms; status, category and the rest stay zero. An
 * SMTP_MSG_8BITMIME message for a server without 8BITMIME is not sent:
 * failure EDM_FAIL_NEEDS_7BIT (RFC 6152), to be composed again without
 * 8bit. */
typedef struct smtp_result {
    const smtp_message *msg;
    const edm_outcome *rcpts;   /* msg->nrcpts entries, same order: each
                                 * recipient's whole outcome */
    const edm_outcome *outcome; /* the message as a whole: the end-of-data
                                 * reply, or what ended it */
} smtp_result;

typedef struct smtp_session smtp_session;

/* What next() returns for "none now, but keep the connection": the session
 * waits idle (at most idle_ms, then QUITs) until smtp_session_kick(). */
extern const smtp_message smtp_later;
#define SMTP_LATER (&smtp_later)

typedef struct smtp_callbacks {
    /* The next message, NULL when there is none (the session QUITs), or
     * SMTP_LATER (the session waits idle for smtp_session_kick). */
    const smtp_message *(*next)(smtp_session *s, void *arg);
    /* One message done. r and everything it points to live only during the
     * call; the message may be released from here on. */
    void (*done)(smtp_session *s, const smtp_result *r, void *arg);
    /* The session is over. fail is NULL after a clean QUIT, else the facts
     * of what ended it (failure, step, code, enhanced, text, mx_host,
     * mx_ip, source_ip), for the relay. The session may be freed inside
     * this callback. */
    void (*closed)(smtp_session *s, const edm_outcome *fail, void *arg);
} smtp_callbacks;

/* NULL on allocation failure. Copies opts' strings and targets. */
smtp_session *smtp_session_new(uv_loop_t *loop, const smtp_options *opts, const smtp_callbacks *cb,
                               void *arg);
/* Takes the first message and connects. 0, or EDM_EINVAL (no targets,
 * TLS wanted without a context) with nothing started. If next() gives no
 * message, closed() is called from the loop with fail == NULL. */
int smtp_session_start(smtp_session *s);
/* Stops: a session waiting idle says QUIT and closes clean (closed() with
 * fail NULL); otherwise in-flight messages are deferred (network), and
 * closed() follows. */
void smtp_session_abort(smtp_session *s);
/* A session waiting idle asks next() again (no-op in any other state). */
void smtp_session_kick(smtp_session *s);
/* 1 while the session waits idle for a message. */
int smtp_session_idle(const smtp_session *s);
/* Frees a session that is not started or has called closed(). */
void smtp_session_free(smtp_session *s);

/* Messages completed on this session (any outcome). */
unsigned smtp_session_count(const smtp_session *s);

#endif
