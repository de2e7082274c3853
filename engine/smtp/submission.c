/*
 * engine/smtp/submission.c: the submission server's policy (submission.h)
 * on the server core (smtp_server.c).
 *
 *  - Who: clients from trusted_networks may send without AUTH; anyone else
 *    gets 530 at MAIL until authenticated (never an open relay). AUTH is
 *    offered under TLS only: username `apikey`, password one of the API
 *    keys (the variable api.keys_env names), compared as SHA-256 digests in
 *    constant time against every key.
 *  - Defences: connections per client IP capped (421; the counters, the
 *    listening and the stop are smtp_listen.c's); AUTH failures are
 *    answered after auth_failure_delay_ms (the core) and auth_max_failures
 *    of them lock the IP out for auth_lockout seconds (454, then 421 at
 *    connect).
 *  - What: each message is prepared (engine/message/message_raw.c: Date and
 *    Message-ID added when missing, Bcc dropped, its Subject decoded to be
 *    recorded, the bytes otherwise as received), its From checked, and
 *    committed to the store as one transactional message with one delivery
 *    per recipient before `250 2.0.0 Ok: queued as <id>`.
 */
#include "engine/smtp/submission.h"
#include "engine/base/addr.h"
#include "engine/base/alloc.h"
#include "engine/base/cidr.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/timeutil.h"
#include "engine/message/message.h"
#include "engine/smtp/smtp_listen.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per connection (smtp_sconn data). */
typedef struct sub_conn {
    smtp_listen_peer *p;
    int trusted;
} sub_conn;

struct edm_submission {
    smtp_listen l; /* server, TLS, per-IP counters (failures, lock-out) */
    edm_submission_opts o;
    const struct edm_config_submission *cfg;
    edm_cidr *nets;
    size_t nnets;
    unsigned char (*keys)[SHA256_DIGEST_LENGTH];
    size_t nkeys;
};

static const char *on_connect(void *ctx, smtp_sconn *c)
{
    edm_submission *s = ctx;
    smtp_listen_peer *p = smtp_listen_count(&s->l, smtp_sconn_peer(c));
    sub_conn *sc = edm_xcalloc(1, sizeof *sc);
    sc->p = p;
    smtp_sconn_set_data(c, sc);
    for (size_t i = 0; i < s->nnets && !sc->trusted; i++)
        sc->trusted = edm_cidr_contains(&s->nets[i], p->ip);
    if (p->locked_until > edm_time_now())
        return "421 4.7.0 Too many failed authentications from your address, try later";
    return smtp_listen_refuse(&s->l, p, s->cfg->max_connections_per_ip, s->cfg->max_connections);
}

static void on_closed(void *ctx, smtp_sconn *c)
{
    edm_submission *s = ctx;
    sub_conn *sc = smtp_sconn_data(c);
    smtp_listen_uncount(&s->l, sc ? sc->p : NULL);
    edm_free(sc);
}

static enum smtp_auth_result on_auth(void *ctx, smtp_sconn *c, const char *user, const char *pass)
{
    edm_submission *s = ctx;
    sub_conn *sc = smtp_sconn_data(c);
    int64_t now = edm_time_now();
    if (sc->p->locked_until > now)
        return SMTP_AUTH_LOCKED;
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)pass, strlen(pass), d);
    int ok = 0;
    for (size_t i = 0; i < s->nkeys; i++)
        ok |= CRYPTO_memcmp(d, s->keys[i], sizeof d) == 0;
    ok &= strcmp(user, "apikey") == 0;
    OPENSSL_cleanse(d, sizeof d);
    if (ok) {
        sc->p->failures = 0;
        edm_log(EDM_LOG_INFO, "submission", "peer=%s event=auth_ok", sc->p->ip);
        return SMTP_AUTH_OK;
    }
    sc->p->failures++;
    edm_log(EDM_LOG_WARN, "submission", "peer=%s event=auth_failed failures=%d", sc->p->ip,
            sc->p->failures);
    if (sc->p->failures >= s->cfg->auth_max_failures) {
        sc->p->locked_until = now + s->cfg->auth_lockout;
        sc->p->failures = 0;
        edm_log(EDM_LOG_WARN, "submission", "peer=%s event=locked_out seconds=%d", sc->p->ip,
                s->cfg->auth_lockout);
        return SMTP_AUTH_LOCKED;
    }
    return SMTP_AUTH_BAD;
}

static const char *on_mail(void *ctx, smtp_sconn *c, const char *from)
{
    (void)ctx;
    (void)from;
    sub_conn *sc = smtp_sconn_data(c);
    if (!sc->trusted && !smtp_sconn_authed(c))
        return smtp_sconn_tls(c) ? "530 5.7.0 Authentication required"
                                 : "530 5.7.0 Must issue a STARTTLS command first";
    return NULL;
}

static const char *on_rcpt(void *ctx, smtp_sconn *c, const char *to)
{
    (void)ctx;
    (void)c;
    char norm[EDM_ADDR_MAX];
    size_t off;
    const char *why;
    if (edm_addr_normalize(to, strlen(to), norm, &off, &why) != 0)
        return "501 5.1.3 Bad recipient address syntax";
    return NULL;
}

static void on_data(void *ctx, smtp_sconn *c, const char *from, char *const *rcpts, size_t n,
                    const char *msg, size_t len, char *reply, size_t replylen)
{
    edm_submission *s = ctx;
    const edm_config *cfg = s->o.cfg;
    int64_t now = edm_time_now();
    edm_buf raw = EDM_BUF_INIT;
    char err[160], *hfrom = NULL, *subject = NULL;
    edm_mailbox mb;
    const char *why;
    if (edm_message_raw_prepare(msg, len, cfg->message_id_domain, now, &raw, &hfrom, &subject, err,
                                sizeof err) != 0) {
        snprintf(reply, replylen, "550 5.6.0 %s", err);
        goto out;
    }
    if (edm_addr_mailbox(hfrom, strlen(hfrom), &mb, &why) != 0) {
        snprintf(reply, replylen, "550 5.6.0 The From field must be one valid address: %s", why);
        goto out;
    }
    edm_recipient *rs = edm_xcalloc(n, sizeof *rs);
    char(*norm)[EDM_ADDR_MAX] = edm_xcalloc(n, sizeof *norm);
    int64_t *ids = edm_xcalloc(n, sizeof *ids);
    enum edm_add_outcome *outs = edm_xcalloc(n, sizeof *outs);
    for (size_t i = 0; i < n; i++) {
        size_t off = 0;
        edm_addr_normalize(rcpts[i], strlen(rcpts[i]), norm[i], &off, &why); /* checked at RCPT */
        rs[i] = (edm_recipient){.email = norm[i], .domain = norm[i] + off};
    }
    edm_message_new m = {.source = "smtp",
                         .from = hfrom,
                         .subject = subject, /* recorded for the API; sent as received */
                         .raw = raw.data,
                         .rawlen = raw.len,
                         .envelope_from = from,
                         .rcpts = rs,
                         .nrcpts = n};
    int64_t id = 0;
    int rc = s->o.st->ops->message_create(s->o.st, &m, now, &id, ids, outs);
    if (rc != 0) {
        edm_log(EDM_LOG_ERROR, "submission", "peer=%s event=store_failed err=\"%s\"",
                smtp_sconn_peer(c), edm_store_errmsg(s->o.st));
        snprintf(reply, replylen, "451 4.3.0 Error: could not store the message, try again");
    } else {
        snprintf(reply, replylen, "250 2.0.0 Ok: queued as %lld", (long long)id);
        edm_log(EDM_LOG_INFO, "submission", "peer=%s event=queued message=%lld rcpts=%zu bytes=%zu",
                smtp_sconn_peer(c), (long long)id, n, raw.len);
        if (s->o.queued)
            s->o.queued(s->o.ctx, id);
    }
    edm_free(rs);
    edm_free(norm);
    edm_free(ids);
    edm_free(outs);
out:
    edm_free(hfrom);
    edm_free(subject);
    edm_buf_free(&raw);
}

static int load_keys(edm_submission *s, const char *env)
{
    const char *v = getenv(env ? env : "EDM_API_KEYS");
    while (v && *v) {
        size_t len = strcspn(v, ",");
        const char *k = v;
        size_t kl = len;
        while (kl && (*k == ' ' || *k == '\t'))
            k++, kl--;
        while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
            kl--;
        if (kl) {
            s->keys = edm_xrealloc(s->keys, (s->nkeys + 1) * sizeof *s->keys);
            SHA256((const unsigned char *)k, kl, s->keys[s->nkeys++]);
        }
        v += len + (v[len] == ',');
    }
    return (int)s->nkeys;
}

/* The server's release (smtp_listen.h): the peers and TLS context are
 * freed there. */
static void sub_free(void *arg)
{
    edm_submission *s = arg;
    if (s->keys)
        OPENSSL_cleanse(s->keys, s->nkeys * sizeof *s->keys);
    edm_free(s->keys);
    edm_free(s->nets);
    edm_free(s);
}

int edm_submission_start(const edm_submission_opts *o, edm_submission **out, char *err,
                         size_t errlen)
{
    const struct edm_config_submission *cfg = &o->cfg->submission;
    edm_submission *s = edm_xcalloc(1, sizeof *s);
    s->l = (smtp_listen){.name = "submission", .release = sub_free, .owner = s};
    s->o = *o;
    s->cfg = cfg;
    s->nets = edm_xcalloc(cfg->ntrusted + 1, sizeof *s->nets);
    for (size_t i = 0; i < cfg->ntrusted; i++)
        if (edm_cidr_parse(cfg->trusted_networks[i], &s->nets[s->nnets]) == 0)
            s->nnets++;
    if (load_keys(s, o->cfg->api.keys_env) == 0)
        edm_log(EDM_LOG_WARN, "submission",
                "event=no_api_keys msg=\"AUTH will refuse everyone; only trusted networks send\"");
    int rc = smtp_listen_tls(&s->l, cfg->cert, cfg->key, err, errlen);
    if (rc == 0) {
        smtp_server_opts so = {.loop = o->loop,
                               .hostname = o->cfg->smtp.helo ? o->cfg->smtp.helo : "localhost",
                               .tls = s->l.tls,
                               .offer_auth = s->l.tls != NULL,
                               .max_message_bytes = (size_t)cfg->max_message_bytes,
                               .max_recipients = (size_t)cfg->max_recipients,
                               .greet_delay_ms = 100,
                               .cmd_timeout_ms = (unsigned)cfg->command_timeout * 1000u,
                               .data_timeout_ms = (unsigned)cfg->data_timeout * 1000u,
                               .auth_delay_ms = (unsigned)cfg->auth_failure_delay_ms};
        smtp_server_policy sp = {.ctx = s,
                                 .connect = on_connect,
                                 .auth = on_auth,
                                 .mail = on_mail,
                                 .rcpt = on_rcpt,
                                 .data = on_data,
                                 .closed = on_closed};
        rc = smtp_server_new(&so, &sp, &s->l.srv);
    }
    if (rc == 0)
        rc = smtp_listen_on(&s->l, cfg->listen, cfg->nlisten, 0, "", err, errlen);
    if (rc == 0)
        rc = smtp_listen_on(&s->l, cfg->tls_listen, cfg->ntls_listen, 1, "", err, errlen);
    if (rc != 0) {
        edm_submission_stop(s, NULL, NULL);
        return rc;
    }
    *out = s;
    return 0;
}

void edm_submission_stop(edm_submission *s, void (*done)(void *arg), void *arg)
{
    smtp_listen_stop(s ? &s->l : NULL, done, arg);
}
