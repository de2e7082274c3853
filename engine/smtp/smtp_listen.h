/*
 * engine/smtp/smtp_listen.h: what every policy on the server core
 * (smtp_server.h) shares: its server and TLS context, connections counted
 * per client IP and in all (with the 421 replies past the caps),
 * listening on the config's "ip:port" / "[v6]:port" addresses, and
 * stopping. The submission server (submission.c) and the inbound
 * listener (engine/feedback/inbound.c) each embed one smtp_listen.
 */
#ifndef EDM_SMTP_LISTEN_H
#define EDM_SMTP_LISTEN_H

#include "engine/smtp/smtp_server.h"

#include <stddef.h>
#include <stdint.h>

/* One client IP's counters. */
typedef struct smtp_listen_peer {
    char ip[64];
    int conns;
    int failures;         /* AUTH failures (a policy that offers AUTH) */
    int64_t locked_until; /* unix seconds: AUTH lock-out */
    struct smtp_listen_peer *next;
} smtp_listen_peer;

typedef struct smtp_listen {
    const char *name; /* "submission", "inbound": logs and errors */
    smtp_server *srv;
    SSL_CTX *tls; /* owned */
    smtp_listen_peer *peers;
    int conns; /* in all */
    /* Frees the policy that embeds this (its own parts and itself) once
     * the server is closed; the peers and the TLS context are freed
     * here. */
    void (*release)(void *owner);
    void *owner;
    void (*done)(void *);
    void *done_arg;
} smtp_listen;

/* l->tls from cert and key (PEM paths; none without cert). 0 or EDM_ETLS
 * (err says why). */
int smtp_listen_tls(smtp_listen *l, const char *cert, const char *key, char *err, size_t errlen);

/* Listens on each of addrs ("ip:port", "[v6]:port") with l->srv, logging
 * each one (note: more key=value pairs for that line, "" for none). 0, or
 * a negative code with the reason in err ("inbound: bad address ..."). */
int smtp_listen_on(smtp_listen *l, char *const *addrs, size_t n, int implicit_tls, const char *note,
                   char *err, size_t errlen);

/* A new connection from ip, counted for its IP and in all: its peer. */
smtp_listen_peer *smtp_listen_count(smtp_listen *l, const char *ip);
/* The 421 reply when p or l is past its cap, else NULL. */
const char *smtp_listen_refuse(const smtp_listen *l, const smtp_listen_peer *p, int max_per_ip,
                               int max);
/* A connection of p (NULL: none) is gone: uncounted, and peers with no
 * connection, no failure and no lock-out are forgotten. */
void smtp_listen_uncount(smtp_listen *l, smtp_listen_peer *p);

/* Closes l->srv (if any); then frees the peers and the TLS context,
 * releases the owner and runs done(arg). l NULL: done(arg) at once. */
void smtp_listen_stop(smtp_listen *l, void (*done)(void *arg), void *arg);

#endif
