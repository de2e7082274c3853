/*
 * engine/smtp/smtp_server_auth.c: AUTH PLAIN and LOGIN for the server core
 * (RFC 4954, RFC 4616): offered and accepted under TLS only, SASL responses
 * decoded here, credentials checked by the policy; a failure's answer is
 * held back (state AUTH_DELAY, the core's auth_delay_ms) so that guessing
 * is slow. Credentials are never logged.
 */
#include "engine/smtp/smtp_server_int.h"
#include "engine/base/base64.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void auth_result(smtp_sconn *c, const char *user, const char *pass)
{
    smtp_server *s = c->srv;
    enum smtp_auth_result r = s->p.auth ? s->p.auth(s->p.ctx, c, user, pass) : SMTP_AUTH_BAD;
    if (r == SMTP_AUTH_OK) {
        c->authed = 1;
        sconn_enter(c, SS_CMD);
        sconn_reply(c, "235 2.7.0 Authentication successful");
        return;
    }
    snprintf(c->delayed, sizeof c->delayed, "%s",
             r == SMTP_AUTH_LOCKED ? "454 4.7.0 Too many failed authentications, try later"
                                   : "535 5.7.8 Error: authentication failed");
    sconn_enter(c, SS_AUTH_DELAY);
    io_set_timeout(&c->io, s->o.auth_delay_ms ? s->o.auth_delay_ms : 1);
}

/* Decodes one base64 SASL line into out (NUL-terminated, NULs kept for
 * PLAIN); returns its length or -1. */
static long sasl_decode(const char *line, char *out, size_t n)
{
    edm_buf b = EDM_BUF_INIT;
    long len = -1;
    if (edm_base64_decode(&b, line, strlen(line)) == 0 && b.len < n) {
        if (b.len) /* an empty response decodes to nothing (b.data NULL) */
            memcpy(out, b.data, b.len);
        out[b.len] = '\0';
        len = (long)b.len;
    }
    edm_buf_free(&b);
    return len;
}

static void auth_plain(smtp_sconn *c, const char *resp)
{
    char buf[1024];
    long n = sasl_decode(resp, buf, sizeof buf);
    const char *authz = buf, *user = n > 0 ? memchr(buf, '\0', (size_t)n) : NULL;
    const char *pass = user ? memchr(user + 1, '\0', (size_t)(buf + n - user - 1)) : NULL;
    if (pass == NULL) {
        sconn_enter(c, SS_CMD);
        sconn_reply(c, "501 5.5.2 Error: malformed AUTH PLAIN response");
        return;
    }
    (void)authz;
    auth_result(c, user + 1, pass + 1);
}

void sconn_cmd_auth(smtp_sconn *c, const char *arg)
{
    smtp_server *s = c->srv;
    if (!s->o.offer_auth) {
        sconn_reply(c, "502 5.5.1 Error: authentication not enabled");
        return;
    }
    if (!c->secure) {
        sconn_reply(c, "538 5.7.11 Encryption required for requested authentication mechanism");
        return;
    }
    if (c->authed || c->has_mail) {
        sconn_reply(c, "503 5.5.1 Error: already authenticated or in a transaction");
        return;
    }
    const char *init = strchr(arg, ' ');
    size_t mlen = init ? (size_t)(init - arg) : strlen(arg);
    if (init)
        while (*init == ' ')
            init++;
    if (mlen == 5 && strncasecmp(arg, "PLAIN", 5) == 0) {
        if (init && *init && strcmp(init, "=") != 0) {
            auth_plain(c, init);
        } else {
            sconn_enter(c, SS_AUTH_PLAIN);
            sconn_reply(c, "334 ");
        }
    } else if (mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0) {
        if (init && *init) {
            if (sasl_decode(init, c->user, sizeof c->user) < 0) {
                sconn_reply(c, "501 5.5.2 Error: malformed AUTH LOGIN response");
                return;
            }
            sconn_enter(c, SS_AUTH_PASS);
            sconn_reply(c, "334 UGFzc3dvcmQ6");
        } else {
            sconn_enter(c, SS_AUTH_USER);
            sconn_reply(c, "334 VXNlcm5hbWU6");
        }
    } else {
        sconn_reply(c, "504 5.5.4 Unrecognized authentication type");
    }
}

void sconn_sasl_line(smtp_sconn *c, const char *line)
{
    if (strcmp(line, "*") == 0) {
        sconn_enter(c, SS_CMD);
        sconn_reply(c, "501 5.7.0 Authentication aborted");
        return;
    }
    char pass[256];
    switch (c->state) {
    case SS_AUTH_PLAIN: auth_plain(c, line); break;
    case SS_AUTH_USER:
        if (sasl_decode(line, c->user, sizeof c->user) < 0) {
            sconn_enter(c, SS_CMD);
            sconn_reply(c, "501 5.5.2 Error: malformed AUTH LOGIN response");
            return;
        }
        sconn_enter(c, SS_AUTH_PASS);
        sconn_reply(c, "334 UGFzc3dvcmQ6");
        break;
    case SS_AUTH_PASS:
        if (sasl_decode(line, pass, sizeof pass) < 0) {
            sconn_enter(c, SS_CMD);
            sconn_reply(c, "501 5.5.2 Error: malformed AUTH LOGIN response");
            return;
        }
        auth_result(c, c->user, pass);
        memset(pass, 0, sizeof pass);
        break;
    default: EDM_PANIC("sasl line in state %s", sstate_names[c->state]);
    }
}
