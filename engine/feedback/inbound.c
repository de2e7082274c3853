/*
 * engine/feedback/inbound.c: the inbound listener's policy (inbound.h) on
 * the server core (engine/smtp/smtp_server.c), which does the protocol and
 * its defences (size and line limits, timeouts, the greeting delay,
 * refusal of bare CR/LF and so of SMTP smuggling, docs/smtp.md).
 *
 *  - connect: connections counted per client IP and in all (421 past
 *    inbound.max_connections_per_ip / max_connections).
 *  - MAIL: any reverse path, the null one (<>) included: that is how DSNs
 *    come.
 *  - RCPT: edm_inbound_rcpt_kind; every refusal is 550 5.1.1 and logged.
 *  - DATA: the message goes to edm_feedback_message once per accepted
 *    recipient (the envelope recipient tells a bounce from an unsubscribe);
 *    a report about nothing of ours is accepted and dropped (250, never a
 *    bounce); a store error answers 451 4.3.0.
 */
#include "engine/feedback/inbound.h"
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/feedback/feedback.h"
#include "engine/message/verp.h"
#include "engine/smtp/smtp_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One client IP's connection count. */
typedef struct peer {
    char ip[64];
    int conns;
    struct peer *next;
} peer;

struct edm_inbound {
    edm_inbound_opts o;
    const struct edm_config_inbound *cfg;
    smtp_server *srv;
    SSL_CTX *tls;
    peer *peers;
    int conns;
    void (*done)(void *);
    void *done_arg;
};

enum edm_inbound_rcpt edm_inbound_rcpt_kind(const edm_inbound_opts *o, const char *addr)
{
    char norm[EDM_ADDR_MAX];
    size_t off;
    const char *why;
    if (edm_addr_normalize(addr, strlen(addr), norm, &off, &why) != 0)
        return EDM_INBOUND_REFUSED;
    const struct edm_config_inbound *in = &o->cfg->inbound;
    for (size_t i = 0; i < in->nfeedback; i++)
        if (strcmp(norm, in->feedback_addresses[i]) == 0)
            return EDM_INBOUND_FEEDBACK;
    if (o->cfg->bounce_domain && strcmp(norm + off, o->cfg->bounce_domain) != 0)
        return EDM_INBOUND_REFUSED;
    uint64_t id;
    if (edm_verp_address_parse(norm, EDM_VERP_BOUNCE, "bounces", o->secret, o->secret_len, &id) ==
            0 &&
        id > 0 && id <= INT64_MAX)
        return EDM_INBOUND_BOUNCE;
    if (edm_verp_address_parse(norm, EDM_VERP_UNSUB, "unsubscribe", o->secret, o->secret_len,
                               &id) == 0 &&
        id > 0 && id <= INT64_MAX)
        return EDM_INBOUND_UNSUBSCRIBE;
    return EDM_INBOUND_REFUSED;
}

static peer *peer_get(edm_inbound *in, const char *ip)
{
    for (peer *p = in->peers; p; p = p->next)
        if (strcmp(p->ip, ip) == 0)
            return p;
    peer *p = edm_xcalloc(1, sizeof *p);
    snprintf(p->ip, sizeof p->ip, "%s", ip);
    p->next = in->peers;
    in->peers = p;
    return p;
}

static void peer_put(edm_inbound *in, peer *gone)
{
    if (--gone->conns > 0)
        return;
    for (peer **pp = &in->peers; *pp; pp = &(*pp)->next)
        if (*pp == gone) {
            *pp = gone->next;
            edm_free(gone);
            return;
        }
}

static const char *on_connect(void *ctx, smtp_sconn *c)
{
    edm_inbound *in = ctx;
    peer *p = peer_get(in, smtp_sconn_peer(c));
    p->conns++;
    in->conns++;
    smtp_sconn_set_data(c, p);
    if (p->conns > in->cfg->max_connections_per_ip)
        return "421 4.7.0 Too many connections from your address";
    if (in->conns > in->cfg->max_connections)
        return "421 4.3.2 Too many connections, try later";
    return NULL;
}

static void on_closed(void *ctx, smtp_sconn *c)
{
    edm_inbound *in = ctx;
    peer *p = smtp_sconn_data(c);
    if (p) {
        in->conns--;
        peer_put(in, p);
        smtp_sconn_set_data(c, NULL);
    }
}

static const char *on_rcpt(void *ctx, smtp_sconn *c, const char *to)
{
    edm_inbound *in = ctx;
    if (edm_inbound_rcpt_kind(&in->o, to) != EDM_INBOUND_REFUSED)
        return NULL;
    edm_log(EDM_LOG_INFO, "inbound", "peer=%s event=rcpt_refused rcpt=\"%.200s\"",
            smtp_sconn_peer(c), to);
    return "550 5.1.1 No such recipient here";
}

static void on_data(void *ctx, smtp_sconn *c, const char *from, char *const *rcpts, size_t n,
                    const char *msg, size_t len, char *reply, size_t replylen)
{
    edm_inbound *in = ctx;
    edm_fb_ctx fc = {in->o.st, in->o.secret, in->o.secret_len};
    int64_t now = edm_time_now();
    for (size_t i = 0; i < n; i++) {
        edm_fb_result r;
        int rc = edm_feedback_message(&fc, rcpts[i], msg, len, now, &r);
        if (rc != 0) {
            edm_log(EDM_LOG_ERROR, "inbound", "peer=%s event=store_failed rc=%d err=\"%s\"",
                    smtp_sconn_peer(c), rc, edm_store_errmsg(in->o.st));
            snprintf(reply, replylen, "451 4.3.0 Error: could not record the report, try again");
            return;
        }
        edm_log(EDM_LOG_INFO, "inbound",
                "peer=%s event=received from=\"%.200s\" rcpt=\"%.200s\" bytes=%zu what=%s "
                "form=%s delivery=%lld",
                smtp_sconn_peer(c), from, rcpts[i], len, edm_fb_what_name(r.what), r.form,
                (long long)r.delivery_id);
    }
    snprintf(reply, replylen, "250 2.0.0 Ok: received");
}

static void inbound_free(edm_inbound *in)
{
    while (in->peers) {
        peer *p = in->peers;
        in->peers = p->next;
        edm_free(p);
    }
    tls_ctx_free(in->tls);
    edm_free(in);
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

int edm_inbound_start(const edm_inbound_opts *o, edm_inbound **out, char *err, size_t errlen)
{
    const struct edm_config_inbound *cfg = &o->cfg->inbound;
    if (o->secret == NULL || o->secret_len < EDM_VERP_SECRET_MIN) {
        snprintf(err, errlen, "inbound: no token secret");
        return EDM_EINVAL;
    }
    edm_inbound *in = edm_xcalloc(1, sizeof *in);
    in->o = *o;
    in->cfg = cfg;
    if (cfg->cert && (in->tls = tls_server_ctx_new(cfg->cert, cfg->key, err, errlen)) == NULL) {
        inbound_free(in);
        return EDM_ETLS;
    }
    smtp_server_opts so = {.loop = o->loop,
                           .hostname = o->cfg->smtp.helo ? o->cfg->smtp.helo : "localhost",
                           .tls = in->tls,
                           .offer_auth = 0,
                           .max_message_bytes = (size_t)cfg->max_message_bytes,
                           .max_recipients = (size_t)cfg->max_recipients,
                           .greet_delay_ms = 100,
                           .cmd_timeout_ms = (unsigned)cfg->command_timeout * 1000,
                           .data_timeout_ms = (unsigned)cfg->data_timeout * 1000};
    smtp_server_policy sp = {
        .ctx = in, .connect = on_connect, .rcpt = on_rcpt, .data = on_data, .closed = on_closed};
    int rc = smtp_server_new(&so, &sp, &in->srv);
    for (size_t i = 0; rc == 0 && i < cfg->nlisten; i++) {
        char ip[64];
        int port;
        if (split_hostport(cfg->listen[i], ip, sizeof ip, &port) != 0) {
            snprintf(err, errlen, "inbound: bad address %s", cfg->listen[i]);
            rc = EDM_EINVAL;
        } else {
            rc = smtp_server_listen(in->srv, ip, port, 0, NULL, err, errlen);
        }
        if (rc == 0)
            edm_log(EDM_LOG_INFO, "inbound",
                    "event=listening addr=%s tls=%s feedback_addresses=%zu", cfg->listen[i],
                    in->tls ? "starttls" : "none", cfg->nfeedback);
    }
    if (rc != 0) {
        edm_inbound_stop(in, NULL, NULL);
        return rc;
    }
    *out = in;
    return 0;
}

static void on_server_closed(void *arg)
{
    edm_inbound *in = arg;
    void (*done)(void *) = in->done;
    void *done_arg = in->done_arg;
    inbound_free(in);
    if (done)
        done(done_arg);
}

void edm_inbound_stop(edm_inbound *in, void (*done)(void *arg), void *arg)
{
    if (in == NULL) {
        if (done)
            done(arg);
        return;
    }
    in->done = done;
    in->done_arg = arg;
    if (in->srv)
        smtp_server_close(in->srv, on_server_closed, in);
    else
        on_server_closed(in);
}
