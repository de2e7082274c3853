/*
 * engine/smtp/smtp_setup.c: a connection's setup before its first message
 * (see smtp_session_int.h): the greeting, EHLO (HELO when EHLO is
 * refused), STARTTLS and AUTH PLAIN/LOGIN. Entry points
 * smtp_setup_enter() (the entry action of EHLO, HELO, STARTTLS, AUTH:
 * sends the command) and smtp_setup_on_reply() (the receive side of
 * GREETING through AUTH_PASS), both called from the state machine in
 * smtp_session.c, whose shape they keep: a switch on the state, every
 * other state an invariant failure.
 *
 * Rules: TLS "required" never falls back to plaintext; "opportunistic"
 * goes on without TLS when STARTTLS is refused. AUTH is only ever sent
 * under TLS, and credentials are wiped from the staging buffer once sent;
 * they never reach a log. A refusal here (theirs or ours) ends the
 * connection with QUIT and lets the next target try (smtp_conn_refuse).
 * No SNI for a host given as an address literal (RFC 6066 section 3).
 */
#include "engine/base/base64.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/smtp/smtp_session_int.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <string.h>

/* 1 if name is an IPv4 or IPv6 address (bare or in brackets). */
static int ip_literal(const char *name)
{
    char tmp[64];
    size_t n = strlen(name);
    if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
        name++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof tmp)
        return 0;
    memcpy(tmp, name, n);
    tmp[n] = '\0';
    if (strncmp(tmp, "IPv6:", 5) == 0)
        memmove(tmp, tmp + 5, n - 4);
    unsigned char addr[16];
    return inet_pton(AF_INET, tmp, addr) == 1 || inet_pton(AF_INET6, tmp, addr) == 1;
}

static void base64(edm_buf *out, const void *p, size_t n)
{
    if (edm_base64_encode(out, p, n, 0) != 0)
        EDM_PANIC("out of memory");
}

static void send_ehlo(smtp_session *s, const char *verb)
{
    smtp_session_stage(s, "%s %s\r\n", verb, s->o.helo && *s->o.helo ? s->o.helo : "localhost");
    smtp_session_send_staged(s);
}

static void send_auth(smtp_session *s)
{
    if (s->caps & SMTP_CAP_AUTH_PLAIN) {
        edm_buf raw = EDM_BUF_INIT;
        if (edm_buf_append_char(&raw, '\0') != 0 || edm_buf_append_str(&raw, s->o.auth_user) != 0 ||
            edm_buf_append_char(&raw, '\0') != 0 || edm_buf_append_str(&raw, s->o.auth_pass) != 0)
            EDM_PANIC("out of memory");
        smtp_session_stage(s, "AUTH PLAIN ");
        base64(&s->stage, raw.data, raw.len);
        smtp_session_stage(s, "\r\n");
        OPENSSL_cleanse(raw.data, raw.len);
        edm_buf_free(&raw);
    } else {
        smtp_session_stage(s, "AUTH LOGIN\r\n");
    }
    smtp_session_send_staged(s);
}

void smtp_setup_enter(smtp_session *s, enum smtp_state st)
{
    switch (st) {
    case SMTP_S_EHLO: send_ehlo(s, "EHLO"); break;
    case SMTP_S_HELO: send_ehlo(s, "HELO"); break;
    case SMTP_S_STARTTLS:
        smtp_session_stage(s, "STARTTLS\r\n");
        smtp_session_send_staged(s);
        break;
    case SMTP_S_AUTH: send_auth(s); break;
    default: EDM_PANIC("smtp_setup_enter in state %s", smtp_session_state_name(st));
    }
}

/* After EHLO/HELO (and TLS): STARTTLS, AUTH or the first message. */
static void after_hello(smtp_session *s)
{
    char why[300];
    if (!s->tls_done && s->o.tls != SMTP_TLS_NONE && s->tls_skip != 2 &&
        (s->caps & SMTP_CAP_STARTTLS)) {
        smtp_session_enter(s, SMTP_S_STARTTLS);
        return;
    }
    if (!s->tls_done && s->o.tls == SMTP_TLS_REQUIRED) {
        smtp_session_describe(s, why, sizeof why, "TLS is required but not offered", NULL);
        smtp_conn_refuse(s, EDM_FAIL_TLS, 0, "", why, 1);
        return;
    }
    if (s->o.auth_user) {
        if (!s->tls_done) {
            smtp_session_describe(s, why, sizeof why, "refusing AUTH without TLS", NULL);
            smtp_conn_refuse(s, EDM_FAIL_TLS, 0, "", why, 1);
            return;
        }
        if (!(s->caps & (SMTP_CAP_AUTH_PLAIN | SMTP_CAP_AUTH_LOGIN))) {
            smtp_session_describe(s, why, sizeof why, "no AUTH PLAIN or LOGIN offered", NULL);
            smtp_conn_refuse(s, EDM_FAIL_AUTH, 0, "", why, 1);
            return;
        }
        smtp_session_enter(s, SMTP_S_AUTH);
        return;
    }
    smtp_session_enter(s, SMTP_S_READY);
}

static void on_starttls_reply(smtp_session *s)
{
    if (s->reply.code == 220) {
        int rc = io_start_tls(s->io, s->o.tls_ctx, 0, ip_literal(s->mx_host) ? NULL : s->mx_host);
        if (rc != 0) {
            char why[300];
            smtp_session_describe(
                s, why, sizeof why,
                rc == EDM_EPROTO ? "data after STARTTLS reply" : "cannot start TLS", NULL);
            smtp_conn_fail(s, rc == EDM_EPROTO ? EDM_FAIL_PROTOCOL : EDM_FAIL_TLS, 0, "", why, 1);
            return;
        }
        smtp_session_enter(s, SMTP_S_TLS);
    } else if (s->o.tls == SMTP_TLS_REQUIRED) {
        smtp_session_fail_reply(s, 1);
    } else {
        s->tls_skip = 2;
        after_hello(s);
    }
}

/* AUTH LOGIN's next line: the user name, then the password (wiped from
 * the staging buffer once written). */
static void send_login_line(smtp_session *s, const char *v, enum smtp_state next)
{
    base64(&s->stage, v, strlen(v));
    smtp_session_stage(s, "\r\n");
    smtp_session_send_staged(s);
    if (next == SMTP_S_AUTH_PASS)
        OPENSSL_cleanse(s->stage.data, s->stage.cap);
    smtp_session_enter(s, next);
}

void smtp_setup_on_reply(smtp_session *s)
{
    const smtp_reply *r = &s->reply;
    int ok = r->code >= 200 && r->code < 300;
    switch (s->state) {
    case SMTP_S_GREETING:
        if (ok)
            smtp_session_enter(s, SMTP_S_EHLO);
        else
            smtp_session_fail_reply(s, 1);
        break;
    case SMTP_S_EHLO:
        if (ok) {
            s->caps = smtp_ehlo_parse(edm_buf_cstr(&s->reply.text), &s->size_max);
            after_hello(s);
        } else if (r->code >= 500 && !s->tls_done) {
            smtp_session_enter(s, SMTP_S_HELO);
        } else {
            smtp_session_fail_reply(s, 1);
        }
        break;
    case SMTP_S_HELO:
        if (ok) {
            s->caps = 0;
            after_hello(s);
        } else {
            smtp_session_fail_reply(s, 1);
        }
        break;
    case SMTP_S_STARTTLS: on_starttls_reply(s); break;
    /* A 5xx to AUTH refuses our credentials: another address of the same
     * relay would only count one more failed attempt against us. */
    case SMTP_S_AUTH:
        if (r->code == 235)
            smtp_session_enter(s, SMTP_S_READY);
        else if (r->code == 334 && !(s->caps & SMTP_CAP_AUTH_PLAIN))
            send_login_line(s, s->o.auth_user, SMTP_S_AUTH_USER);
        else
            smtp_session_fail_reply(s, r->code < 500);
        break;
    case SMTP_S_AUTH_USER:
        if (r->code == 334)
            send_login_line(s, s->o.auth_pass, SMTP_S_AUTH_PASS);
        else
            smtp_session_fail_reply(s, r->code < 500);
        break;
    case SMTP_S_AUTH_PASS:
        if (r->code == 235)
            smtp_session_enter(s, SMTP_S_READY);
        else
            smtp_session_fail_reply(s, r->code < 500);
        break;
    default: EDM_PANIC("smtp_setup_on_reply in state %s", smtp_session_state_name(s->state));
    }
}
