/*
 * engine/smtp/smtp_server_int.h: shared by engine/smtp/smtp_server*.c
 * only: the server's and a connection's structs, the connection states,
 * and the steps its files call across.
 */
#ifndef EDM_SMTP_SERVER_INT_H
#define EDM_SMTP_SERVER_INT_H

#include "engine/smtp/smtp_server.h"
#include "engine/base/buf.h"
#include "engine/net/io.h"

#define CMD_LINE_MAX  2048 /* AUTH PLAIN's initial response fits */
#define DATA_LINE_MAX 1000 /* RFC 5321 4.5.3.1.6, CRLF included */
#define ADDR_MAX      512

enum sstate {
    SS_PREGREET,
    SS_HANDSHAKE,
    SS_CMD,
    SS_AUTH_PLAIN,
    SS_AUTH_USER,
    SS_AUTH_PASS,
    SS_AUTH_DELAY,
    SS_DATA,
    SS_QUIT
};

extern const char *const sstate_names[];

typedef struct listener {
    uv_tcp_t tcp;
    smtp_server *srv;
    int implicit_tls;
    struct listener *next;
} listener;

struct smtp_sconn {
    io_conn io;
    smtp_server *srv;
    enum sstate state;
    int implicit_tls, secure, authed, ehlo, has_mail;
    int nosock; /* smtp_server_test_conn: no socket, replies stay in io.out */
    char from[ADDR_MAX];
    char **rcpts;
    size_t nrcpts;
    char user[256]; /* AUTH LOGIN between its two steps */
    char delayed[128];
    /* DATA scanner */
    edm_buf msg;
    int bol, cr, dot, bad, too_big, long_line;
    size_t linelen;
    void *data;
    struct smtp_sconn *prev, *next;
};

struct smtp_server {
    smtp_server_opts o;
    smtp_server_policy p;
    listener *listeners;
    smtp_sconn *conns;
    int handles; /* listeners and connections not yet closed */
    int closing;
    void (*done)(void *);
    void *done_arg;
};

/* smtp_server.c */
void sconn_enter(smtp_sconn *c, enum sstate to);
void sconn_reply(smtp_sconn *c, const char *line);
void sconn_flush(smtp_sconn *c);

/* smtp_server_auth.c: AUTH PLAIN and LOGIN (the policy checks). */
void sconn_cmd_auth(smtp_sconn *c, const char *arg);
void sconn_sasl_line(smtp_sconn *c, const char *line);

#endif
