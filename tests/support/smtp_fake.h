/*
 * tests/support/smtp_fake.h: the project's scriptable SMTP server (C on
 * libuv, through engine/net/io.c) for faults real servers will not make:
 * per-command replies chosen by rule (4xx/5xx with enhanced codes, garbage,
 * over-long lines, multi-line), delays at any step, disconnects (instead
 * of a reply, after it, or in the middle of DATA), hanging, no PIPELINING,
 * no EHLO, STARTTLS with a throwaway certificate, AUTH PLAIN/LOGIN, and a
 * log of everything it received, with the client address and arrival
 * time of each message (to measure shaping at the receiving end).
 *
 * It runs on the caller's loop, so a test can run the client and several
 * fake servers side by side and count callbacks.
 */
#ifndef EDM_TESTS_SMTP_FAKE_H
#define EDM_TESTS_SMTP_FAKE_H

#include "engine/base/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum fake_stage {
    FAKE_GREETING,
    FAKE_EHLO,
    FAKE_HELO,
    FAKE_STARTTLS,
    FAKE_AUTH,
    FAKE_MAIL,
    FAKE_RCPT,
    FAKE_DATA,
    FAKE_BODY, /* the first content bytes after 354 (only DISCONNECT applies) */
    FAKE_DOT,  /* the end of the content; match is searched in the content */
    FAKE_RSET,
    FAKE_QUIT
};

enum fake_action {
    FAKE_REPLY,       /* send reply (after delay_ms) */
    FAKE_REPLY_CLOSE, /* send reply, then close */
    FAKE_DISCONNECT,  /* close without replying */
    FAKE_HANG         /* never answer */
};

typedef struct smtp_fake_rule {
    enum fake_stage stage;
    const char *match; /* substring of the command line (DOT: of the content); NULL = any */
    const char *reply; /* raw bytes with CRLFs; NULL = the default reply */
    unsigned delay_ms;
    enum fake_action action;
    unsigned times; /* applies this many times, then no more; 0 = always */
} smtp_fake_rule;

typedef struct smtp_fake_config {
    const char *ip; /* listen address; port 0 = any free port */
    int port;
    int no_pipelining;     /* do not advertise PIPELINING */
    int no_ehlo;           /* answer EHLO with 502 */
    int no_smtputf8;       /* do not advertise SMTPUTF8 */
    int no_8bitmime;       /* do not advertise 8BITMIME */
    const char *cert_file; /* with key_file: offer STARTTLS */
    const char *key_file;
    const char *auth_user; /* offer AUTH PLAIN LOGIN (after TLS) */
    const char *auth_pass;
    int auth_login_only;    /* offer AUTH LOGIN only */
    unsigned long size_max; /* SIZE advertised (0: SIZE without a number) */
    const smtp_fake_rule *rules;
    size_t nrules;
} smtp_fake_config;

typedef struct smtp_fake smtp_fake;

/* Listens on cfg->ip (copies cfg and its rules; strings must outlive the
 * server). NULL on failure (message on stderr). */
smtp_fake *smtp_fake_start(uv_loop_t *loop, const smtp_fake_config *cfg);
int smtp_fake_port(const smtp_fake *f);
/* Closes the listener and every connection; the loop then runs dry. */
void smtp_fake_close(smtp_fake *f);
/* 1 once every handle of f is closed (then smtp_fake_free is allowed). */
int smtp_fake_closed(const smtp_fake *f);
void smtp_fake_free(smtp_fake *f);

/* Every command line received, one per line ("MAIL FROM:<a@b.test>"),
 * plus "<body N bytes>" lines, "<tls PROTOCOL>" and "<disconnect>" markers. */
const char *smtp_fake_log(const smtp_fake *f);
unsigned smtp_fake_connections(const smtp_fake *f);
/* TLS handshakes completed, and the server name (SNI) the client sent in
 * the last one ("" when it sent none). */
unsigned smtp_fake_handshakes(const smtp_fake *f);
const char *smtp_fake_sni(const smtp_fake *f);
/* Messages whose content ended with "." (whatever the reply). */
size_t smtp_fake_messages(const smtp_fake *f);
/* Content of message i with dot-stuffing undone. */
const edm_buf *smtp_fake_message(const smtp_fake *f, size_t i);
/* Where and when message i arrived: the client's address (the peer of
 * its connection) and the monotonic time its final "." came in. */
typedef struct smtp_fake_arrival {
    char peer[64];
    uint64_t at_ms;
} smtp_fake_arrival;
const smtp_fake_arrival *smtp_fake_arrival_of(const smtp_fake *f, size_t i);
/* Most connections open at once from one client address. */
unsigned smtp_fake_max_open_from(const smtp_fake *f, const char *peer);
/* Commands a client sent ahead of a reply without PIPELINING offered. */
unsigned smtp_fake_pipelining_violations(const smtp_fake *f);

/* Makes a throwaway self-signed certificate and key in dir (openssl req
 * -x509). Returns 0 or -1; paths written to cert/key (size n each). */
int smtp_fake_make_cert(const char *dir, char *cert, char *key, size_t n);

#endif
