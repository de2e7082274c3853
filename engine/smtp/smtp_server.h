/*
 * engine/smtp/smtp_server.h: the protocol core of edm's SMTP servers (the
 * submission server today, the inbound bounce listener later): listening,
 * the per-connection ESMTP state machine (greeting, EHLO/HELO, STARTTLS,
 * AUTH PLAIN/LOGIN, MAIL/RCPT/DATA with PIPELINING, RSET, NOOP, QUIT),
 * DATA with dot-unstuffing, and the limits and defences every server needs
 * (docs/smtp.md, "The server core"). Who may do what and what happens to a
 * message are the policy's: callbacks, all on the loop thread.
 *
 * A reply a callback returns is a whole reply line without CRLF
 * ("550 5.1.1 No such user"); NULL means the core's default success.
 */
#ifndef EDM_SMTP_SERVER_H
#define EDM_SMTP_SERVER_H

#include "engine/net/tls.h"

#include <stddef.h>
#include <uv.h>

typedef struct smtp_server smtp_server;
typedef struct smtp_sconn smtp_sconn;

/* Results of the policy's auth callback. */
enum smtp_auth_result { SMTP_AUTH_OK = 0, SMTP_AUTH_BAD = 1, SMTP_AUTH_LOCKED = 2 };

typedef struct smtp_server_policy {
    void *ctx;
    /* A new connection (peer known): NULL to greet it, or a reply line to
     * send before closing (421 ... too many connections). */
    const char *(*connect)(void *ctx, smtp_sconn *c);
    /* Credentials (never logged). Failures are answered after the core's
     * auth delay. */
    enum smtp_auth_result (*auth)(void *ctx, smtp_sconn *c, const char *user, const char *pass);
    const char *(*mail)(void *ctx, smtp_sconn *c, const char *from);
    const char *(*rcpt)(void *ctx, smtp_sconn *c, const char *to);
    /* A whole message (CRLF lines, dot-unstuffed) for rcpts: write the
     * reply into reply ("250 2.0.0 Ok: queued as 12") only once it is safe. */
    void (*data)(void *ctx, smtp_sconn *c, const char *from, char *const *rcpts, size_t nrcpts,
                 const char *msg, size_t len, char *reply, size_t replylen);
    /* The connection is gone (per-IP accounting). */
    void (*closed)(void *ctx, smtp_sconn *c);
} smtp_server_policy;

typedef struct smtp_server_opts {
    uv_loop_t *loop;
    const char *hostname;     /* greeting and EHLO */
    SSL_CTX *tls;             /* NULL: no STARTTLS, no implicit TLS */
    int offer_auth;           /* AUTH PLAIN LOGIN, offered under TLS only */
    size_t max_message_bytes; /* SIZE; 552 past it */
    size_t max_recipients;    /* 452 past it */
    unsigned greet_delay_ms;  /* a client talking before the greeting is refused */
    unsigned cmd_timeout_ms;  /* 0: 300 s (RFC 5321 4.5.3.2) */
    unsigned data_timeout_ms; /* between DATA blocks; 0: 180 s */
    unsigned auth_delay_ms;   /* before a failed AUTH's answer */
} smtp_server_opts;

/* A new server (no listener yet). Returns 0 or EDM_ENOMEM. */
int smtp_server_new(const smtp_server_opts *o, const smtp_server_policy *p, smtp_server **out);
/* Listens on ip:port (0: any free port, *bound gets it); implicit_tls:
 * TLS from the first byte. 0, EDM_EINVAL or EDM_EIO (err says why). */
int smtp_server_listen(smtp_server *s, const char *ip, int port, int implicit_tls, int *bound,
                       char *err, size_t errlen);
/* Stops listening, closes every connection; done(arg) runs when every
 * handle is closed and the server is freed. */
void smtp_server_close(smtp_server *s, void (*done)(void *arg), void *arg);

/* What a policy may ask of a connection. */
const char *smtp_sconn_peer(const smtp_sconn *c); /* client IP */
int smtp_sconn_tls(const smtp_sconn *c);
int smtp_sconn_authed(const smtp_sconn *c);
void *smtp_sconn_data(const smtp_sconn *c);
void smtp_sconn_set_data(smtp_sconn *c, void *data);

/* Test seam (tests/fuzz/fuzz_smtp_server.c): a connection with no socket
 * from peer_ip (tls: as if STARTTLS were done), started like an accepted
 * one (the connect policy, the held-back greeting). Bytes fed to it go
 * through the same command, SASL and DATA scanners as bytes read from a
 * socket; replies accumulate unsent (smtp_sconn_test_output: all of them
 * so far); a timer's expiry is fired by hand. It is freed by
 * smtp_server_close and the loop's next run, like any connection; once
 * closing, feeding it does nothing. */
smtp_sconn *smtp_server_test_conn(smtp_server *s, const char *peer_ip, int tls);
void smtp_sconn_test_feed(smtp_sconn *c, const void *p, size_t n);
void smtp_sconn_test_timeout(smtp_sconn *c);
const char *smtp_sconn_test_output(const smtp_sconn *c, size_t *len);
int smtp_sconn_test_closing(const smtp_sconn *c);

#endif
