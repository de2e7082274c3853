/*
 * engine/feedback/inbound.c: the inbound listener's policy (inbound.h) on
 * the server core (engine/smtp/smtp_server.c), which does the protocol and
 * its defences (size and line limits, timeouts, the greeting delay,
 * refusal of bare CR/LF and so of SMTP smuggling, docs/smtp.md).
 *
 *  - connect: connections counted per client IP and in all (421 past
 *    inbound.max_connections_per_ip / max_connections; the counting,
 *    listening and stopping are engine/smtp/smtp_listen.c's).
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
#include "engine/smtp/smtp_listen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct edm_inbound {
    smtp_listen l; /* server, TLS, connection counts */
    edm_inbound_opts o;
    const struct edm_config_inbound *cfg;
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

static const char *on_connect(void *ctx, smtp_sconn *c)
{
    edm_inbound *in = ctx;
    smtp_listen_peer *p = smtp_listen_count(&in->l, smtp_sconn_peer(c));
    smtp_sconn_set_data(c, p);
    return smtp_listen_refuse(&in->l, p, in->cfg->max_connections_per_ip, in->cfg->max_connections);
}

static void on_closed(void *ctx, smtp_sconn *c)
{
    edm_inbound *in = ctx;
    smtp_listen_peer *p = smtp_sconn_data(c);
    if (p) {
        smtp_listen_uncount(&in->l, p);
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

/* The listener's release (smtp_listen.h): the rest is freed there. */
static void inbound_free(void *arg)
{
    edm_free(arg);
}

int edm_inbound_start(const edm_inbound_opts *o, edm_inbound **out, char *err, size_t errlen)
{
    const struct edm_config_inbound *cfg = &o->cfg->inbound;
    if (o->secret == NULL || o->secret_len < EDM_VERP_SECRET_MIN) {
        snprintf(err, errlen, "inbound: no token secret");
        return EDM_EINVAL;
    }
    edm_inbound *in = edm_xcalloc(1, sizeof *in);
    in->l = (smtp_listen){.name = "inbound", .release = inbound_free, .owner = in};
    in->o = *o;
    in->cfg = cfg;
    int rc = smtp_listen_tls(&in->l, cfg->cert, cfg->key, err, errlen);
    if (rc == 0) {
        smtp_server_opts so = {.loop = o->loop,
                               .hostname = o->cfg->smtp.helo ? o->cfg->smtp.helo : "localhost",
                               .tls = in->l.tls,
                               .offer_auth = 0,
                               .max_message_bytes = (size_t)cfg->max_message_bytes,
                               .max_recipients = (size_t)cfg->max_recipients,
                               .greet_delay_ms = 100,
                               .cmd_timeout_ms = (unsigned)cfg->command_timeout * 1000,
                               .data_timeout_ms = (unsigned)cfg->data_timeout * 1000};
        smtp_server_policy sp = {.ctx = in,
                                 .connect = on_connect,
                                 .rcpt = on_rcpt,
                                 .data = on_data,
                                 .closed = on_closed};
        rc = smtp_server_new(&so, &sp, &in->l.srv);
    }
    if (rc == 0) {
        char note[64];
        snprintf(note, sizeof note, " feedback_addresses=%zu", cfg->nfeedback);
        rc = smtp_listen_on(&in->l, cfg->listen, cfg->nlisten, 0, note, err, errlen);
    }
    if (rc != 0) {
        edm_inbound_stop(in, NULL, NULL);
        return rc;
    }
    *out = in;
    return 0;
}

void edm_inbound_stop(edm_inbound *in, void (*done)(void *arg), void *arg)
{
    smtp_listen_stop(in ? &in->l : NULL, done, arg);
}
