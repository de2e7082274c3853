/*
 * engine/smtp/smtp_listen.c: the parts every policy on the server core
 * shares (smtp_listen.h): the per-client-IP connection counters and the
 * caps' 421 replies, the listen addresses split and listened on, the TLS
 * context, and the stop that frees all of it once the server is closed.
 *
 * Peers live in a list searched by IP: the caps keep it short. A peer is
 * forgotten when it has no connection and nothing to remember (no AUTH
 * failure, no lock-out running).
 */
#include "engine/smtp/smtp_listen.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int smtp_listen_tls(smtp_listen *l, const char *cert, const char *key, char *err, size_t errlen)
{
    if (cert && (l->tls = tls_server_ctx_new(cert, key, err, errlen)) == NULL)
        return EDM_ETLS;
    return 0;
}

/* "ip:port" / "[v6]:port" into ip and port (checked by the config). */
static int split_hostport(const char *hp, char *ip, size_t n, int *port)
{
    const char *colon = strrchr(hp, ':');
    if (colon == NULL)
        return -1;
    const char *h = hp;
    size_t len = (size_t)(colon - hp);
    if (*h == '[' && len >= 2 && colon[-1] == ']')
        h++, len -= 2;
    if (len >= n)
        return -1;
    memcpy(ip, h, len);
    ip[len] = '\0';
    *port = atoi(colon + 1);
    return 0;
}

int smtp_listen_on(smtp_listen *l, char *const *addrs, size_t n, int implicit_tls, const char *note,
                   char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char ip[64];
        int port;
        if (split_hostport(addrs[i], ip, sizeof ip, &port) != 0) {
            snprintf(err, errlen, "%s: bad address %s", l->name, addrs[i]);
            rc = EDM_EINVAL;
        } else {
            rc = smtp_server_listen(l->srv, ip, port, implicit_tls, NULL, err, errlen);
        }
        if (rc == 0)
            edm_log(EDM_LOG_INFO, l->name, "event=listening addr=%s tls=%s%s", addrs[i],
                    implicit_tls ? "implicit" : (l->tls ? "starttls" : "none"), note);
    }
    return rc;
}

smtp_listen_peer *smtp_listen_count(smtp_listen *l, const char *ip)
{
    smtp_listen_peer *p = l->peers;
    while (p && strcmp(p->ip, ip) != 0)
        p = p->next;
    if (p == NULL) {
        p = edm_xcalloc(1, sizeof *p);
        snprintf(p->ip, sizeof p->ip, "%s", ip);
        p->next = l->peers;
        l->peers = p;
    }
    p->conns++;
    l->conns++;
    return p;
}

const char *smtp_listen_refuse(const smtp_listen *l, const smtp_listen_peer *p, int max_per_ip,
                               int max)
{
    if (p->conns > max_per_ip)
        return "421 4.7.0 Too many connections from your address";
    if (l->conns > max)
        return "421 4.3.2 Too many connections, try later";
    return NULL;
}

void smtp_listen_uncount(smtp_listen *l, smtp_listen_peer *p)
{
    if (p) {
        p->conns--;
        l->conns--;
    }
    int64_t now = edm_time_now();
    smtp_listen_peer **pp = &l->peers;
    while (*pp) {
        smtp_listen_peer *q = *pp;
        if (q->conns == 0 && q->locked_until <= now && q->failures == 0) {
            *pp = q->next;
            edm_free(q);
        } else {
            pp = &q->next;
        }
    }
}

static void on_server_closed(void *arg)
{
    smtp_listen *l = arg;
    void (*done)(void *) = l->done;
    void *done_arg = l->done_arg;
    while (l->peers) {
        smtp_listen_peer *p = l->peers;
        l->peers = p->next;
        edm_free(p);
    }
    tls_ctx_free(l->tls);
    l->tls = NULL;
    l->release(l->owner); /* l is gone with it */
    if (done)
        done(done_arg);
}

void smtp_listen_stop(smtp_listen *l, void (*done)(void *arg), void *arg)
{
    if (l == NULL) {
        if (done)
            done(arg);
        return;
    }
    l->done = done;
    l->done_arg = arg;
    if (l->srv)
        smtp_server_close(l->srv, on_server_closed, l);
    else
        on_server_closed(l);
}
