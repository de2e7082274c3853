/*
 * engine/smtp/smtp_server.c: the SMTP server core (smtp_server.h): the
 * listeners and one state machine per connection over engine/net/io.c.
 *
 * States: PREGREET (greeting held back greet_delay_ms: input then is
 * refused, 554, closed), HANDSHAKE (STARTTLS or implicit TLS), CMD,
 * AUTH_* (waiting for a SASL response line), AUTH_DELAY (a failed AUTH's
 * answer held back; input waits), DATA, QUIT (closing once the reply is
 * written). Replies to pipelined commands are gathered and flushed once
 * per burst of input.
 *
 * DATA: only CRLF "." CRLF ends a message. A bare LF or bare CR anywhere
 * in it (the SMTP smuggling sequences <LF>.<LF>, <CR>.<LF>,
 * <LF>.<CR><LF> included) marks the message bad: it is read to its real
 * end and refused whole with 550, so smuggled commands stay data and never
 * become a second message. Lines over 998 octets and messages over
 * max_message_bytes are refused (552) the same way.
 */
#include "engine/smtp/smtp_server_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/net/io.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const sstate_names[] = {"pregreet",  "handshake",  "cmd",  "auth_plain", "auth_user",
                                    "auth_pass", "auth_delay", "data", "quit"};

const char *smtp_sconn_peer(const smtp_sconn *c)
{
    return c->io.peer_ip;
}
int smtp_sconn_tls(const smtp_sconn *c)
{
    return c->secure;
}
int smtp_sconn_authed(const smtp_sconn *c)
{
    return c->authed;
}
void *smtp_sconn_data(const smtp_sconn *c)
{
    return c->data;
}
void smtp_sconn_set_data(smtp_sconn *c, void *data)
{
    c->data = data;
}

static void maybe_done(smtp_server *s)
{
    if (s->closing && s->handles == 0) {
        void (*done)(void *) = s->done;
        void *arg = s->done_arg;
        edm_free(s);
        if (done)
            done(arg);
    }
}

void sconn_enter(smtp_sconn *c, enum sstate to)
{
    edm_log(EDM_LOG_DEBUG, "smtpd", "peer=%s state=%s->%s", c->io.peer_ip, sstate_names[c->state],
            sstate_names[to]);
    c->state = to;
}

void sconn_reply(smtp_sconn *c, const char *line)
{
    io_write(&c->io, line, strlen(line));
    io_write(&c->io, "\r\n", 2);
}

void sconn_flush(smtp_sconn *c)
{
    if (!c->nosock)
        io_flush(&c->io);
}

static void replyf(smtp_sconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void replyf(smtp_sconn *c, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sconn_reply(c, line);
}

static void reset_txn(smtp_sconn *c)
{
    for (size_t i = 0; i < c->nrcpts; i++)
        edm_free(c->rcpts[i]);
    edm_free(c->rcpts);
    c->rcpts = NULL;
    c->nrcpts = 0;
    c->has_mail = 0;
    c->from[0] = '\0';
}

static void sconn_close(smtp_sconn *c)
{
    io_close(&c->io);
}

static void quit(smtp_sconn *c, const char *line)
{
    if (line)
        sconn_reply(c, line);
    sconn_flush(c);
    sconn_enter(c, SS_QUIT);
    if (c->nosock || io_pending_out(&c->io) == 0)
        sconn_close(c);
}

static void greet(smtp_sconn *c)
{
    const char *refuse = c->srv->p.connect ? c->srv->p.connect(c->srv->p.ctx, c) : NULL;
    if (refuse) {
        quit(c, refuse);
        return;
    }
    sconn_enter(c, SS_CMD);
    replyf(c, "220 %s ESMTP edm", c->srv->o.hostname);
    sconn_flush(c);
    io_set_timeout(&c->io, c->srv->o.cmd_timeout_ms);
}

/* "<addr>" after "FROM:" / "TO:", then optional parameters. Returns the
 * parameters (after the address) or NULL if malformed. */
static const char *parse_path(const char *arg, char *addr, size_t n)
{
    while (*arg == ' ')
        arg++;
    if (*arg != '<')
        return NULL;
    const char *gt = strchr(arg, '>');
    if (gt == NULL || (size_t)(gt - arg - 1) >= n)
        return NULL;
    memcpy(addr, arg + 1, (size_t)(gt - arg - 1));
    addr[gt - arg - 1] = '\0';
    for (const char *p = addr; *p; p++)
        if (*p <= ' ' || *p == '<' || *p == '>' || *p == 0x7f)
            return NULL;
    return gt + 1;
}

static void cmd_ehlo(smtp_sconn *c, int extended)
{
    smtp_server *s = c->srv;
    reset_txn(c);
    c->ehlo = 1;
    if (!extended) {
        replyf(c, "250 %s", s->o.hostname);
        return;
    }
    replyf(c, "250-%s", s->o.hostname);
    sconn_reply(c, "250-PIPELINING");
    replyf(c, "250-SIZE %zu", s->o.max_message_bytes);
    sconn_reply(c, "250-8BITMIME");
    if (s->o.tls && !c->secure)
        sconn_reply(c, "250-STARTTLS");
    if (s->o.offer_auth && c->secure)
        sconn_reply(c, "250-AUTH PLAIN LOGIN");
    sconn_reply(c, "250 ENHANCEDSTATUSCODES");
}

static void cmd_mail(smtp_sconn *c, const char *arg)
{
    smtp_server *s = c->srv;
    char addr[ADDR_MAX];
    if (c->has_mail) {
        sconn_reply(c, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    const char *params =
        strncasecmp(arg, "FROM:", 5) == 0 ? parse_path(arg + 5, addr, sizeof addr) : NULL;
    if (params == NULL) {
        sconn_reply(c, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }
    while (*params) {
        while (*params == ' ')
            params++;
        if (*params == '\0')
            break;
        size_t n = strcspn(params, " ");
        if (strncasecmp(params, "SIZE=", 5) == 0) {
            unsigned long long v = strtoull(params + 5, NULL, 10);
            if (v > s->o.max_message_bytes) {
                sconn_reply(c, "552 5.3.4 Message size exceeds fixed limit");
                return;
            }
        } else if (strncasecmp(params, "BODY=", 5) != 0 && strncasecmp(params, "AUTH=", 5) != 0) {
            replyf(c, "555 5.5.4 Unsupported option: %.*s", (int)(n > 60 ? 60 : n), params);
            return;
        }
        params += n;
    }
    const char *r = s->p.mail ? s->p.mail(s->p.ctx, c, addr) : NULL;
    if (r) {
        sconn_reply(c, r);
        return;
    }
    snprintf(c->from, sizeof c->from, "%s", addr);
    c->has_mail = 1;
    sconn_reply(c, "250 2.1.0 Ok");
}

static void cmd_rcpt(smtp_sconn *c, const char *arg)
{
    smtp_server *s = c->srv;
    char addr[ADDR_MAX];
    if (!c->has_mail) {
        sconn_reply(c, "503 5.5.1 Error: need MAIL command");
        return;
    }
    const char *params =
        strncasecmp(arg, "TO:", 3) == 0 ? parse_path(arg + 3, addr, sizeof addr) : NULL;
    if (params == NULL || addr[0] == '\0') {
        sconn_reply(c, "501 5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    if (c->nrcpts >= s->o.max_recipients) {
        sconn_reply(c, "452 4.5.3 Error: too many recipients");
        return;
    }
    const char *r = s->p.rcpt ? s->p.rcpt(s->p.ctx, c, addr) : NULL;
    if (r) {
        sconn_reply(c, r);
        return;
    }
    c->rcpts = edm_xrealloc(c->rcpts, (c->nrcpts + 1) * sizeof *c->rcpts);
    c->rcpts[c->nrcpts++] = edm_xstrdup(addr);
    sconn_reply(c, "250 2.1.5 Ok");
}

/* ---- commands ---- */

static int cmd_is(const char *line, const char *verb, const char **arg)
{
    size_t n = strlen(verb);
    if (strncasecmp(line, verb, n) != 0 || (line[n] != '\0' && line[n] != ' '))
        return 0;
    *arg = line + n + (line[n] == ' ');
    return 1;
}

static void start_data(smtp_sconn *c)
{
    if (!c->has_mail || c->nrcpts == 0) {
        sconn_reply(c, c->has_mail ? "554 5.5.1 Error: no valid recipients"
                                   : "503 5.5.1 Error: need RCPT command");
        return;
    }
    edm_buf_reset(&c->msg);
    c->bol = 1;
    c->cr = c->dot = c->bad = c->too_big = c->long_line = 0;
    c->linelen = 0;
    sconn_enter(c, SS_DATA);
    sconn_reply(c, "354 End data with <CR><LF>.<CR><LF>");
    io_set_timeout(&c->io, c->srv->o.data_timeout_ms);
}

/* Returns 1 when the connection is handed to TLS (stop reading now). */
static int on_command(smtp_sconn *c, const char *line)
{
    smtp_server *s = c->srv;
    const char *arg;
    if (cmd_is(line, "EHLO", &arg) || cmd_is(line, "HELO", &arg)) {
        if (*arg == '\0')
            sconn_reply(c, "501 5.5.4 Syntax: EHLO hostname");
        else
            cmd_ehlo(c, (line[0] | 0x20) == 'e');
    } else if (cmd_is(line, "STARTTLS", &arg)) {
        if (s->o.tls == NULL || c->secure) {
            sconn_reply(c, "502 5.5.1 Error: STARTTLS not available");
            return 0;
        }
        size_t pending;
        io_data(&c->io, &pending);
        if (pending) {
            /* Commands pipelined after STARTTLS would be injected into
             * the encrypted session: refuse (CVE-2011-0411). */
            quit(c, "554 5.5.1 Error: data after STARTTLS");
            return 1;
        }
        sconn_reply(c, "220 2.0.0 Ready to start TLS");
        sconn_flush(c);
        reset_txn(c);
        c->ehlo = 0;
        sconn_enter(c, SS_HANDSHAKE);
        if (io_start_tls(&c->io, s->o.tls, 1, NULL) != 0)
            sconn_close(c);
        return 1;
    } else if (cmd_is(line, "AUTH", &arg)) {
        if (!c->ehlo)
            sconn_reply(c, "503 5.5.1 Error: send EHLO first");
        else
            sconn_cmd_auth(c, arg);
    } else if (cmd_is(line, "MAIL", &arg)) {
        if (!c->ehlo)
            sconn_reply(c, "503 5.5.1 Error: send HELO/EHLO first");
        else
            cmd_mail(c, arg);
    } else if (cmd_is(line, "RCPT", &arg)) {
        cmd_rcpt(c, arg);
    } else if (cmd_is(line, "DATA", &arg)) {
        start_data(c);
    } else if (cmd_is(line, "RSET", &arg)) {
        reset_txn(c);
        sconn_reply(c, "250 2.0.0 Ok");
    } else if (cmd_is(line, "NOOP", &arg)) {
        sconn_reply(c, "250 2.0.0 Ok");
    } else if (cmd_is(line, "VRFY", &arg)) {
        sconn_reply(c, "252 2.0.0 Cannot VRFY user");
    } else if (cmd_is(line, "QUIT", &arg)) {
        quit(c, "221 2.0.0 Bye");
        return 1;
    } else if (cmd_is(line, "BDAT", &arg)) {
        sconn_reply(c, "502 5.5.1 Error: CHUNKING not offered");
    } else {
        sconn_reply(c, "502 5.5.2 Error: command not recognized");
    }
    return 0;
}

/* ---- DATA ---- */

static void data_byte(smtp_sconn *c, char b)
{
    if (!c->too_big && c->msg.len >= c->srv->o.max_message_bytes)
        c->too_big = 1;
    if (!c->too_big)
        edm_buf_append_char(&c->msg, b);
}

static void data_end(smtp_sconn *c)
{
    smtp_server *s = c->srv;
    char r[256];
    if (c->bad)
        snprintf(r, sizeof r, "550 5.5.2 Error: bare CR or LF in message (lines end in CRLF)");
    else if (c->too_big)
        snprintf(r, sizeof r, "552 5.3.4 Error: message size exceeds fixed limit");
    else if (c->long_line)
        snprintf(r, sizeof r, "552 5.3.4 Error: line longer than 998 octets");
    else if (s->p.data) {
        r[0] = '\0';
        s->p.data(s->p.ctx, c, c->from, c->rcpts, c->nrcpts, c->msg.data ? c->msg.data : "",
                  c->msg.len, r, sizeof r);
        if (r[0] == '\0')
            snprintf(r, sizeof r, "451 4.3.0 Error: queue file write error");
    } else {
        snprintf(r, sizeof r, "250 2.0.0 Ok");
    }
    edm_log(EDM_LOG_DEBUG, "smtpd", "peer=%s event=data bytes=%zu rcpts=%zu reply=\"%.3s\"",
            c->io.peer_ip, c->msg.len, c->nrcpts, r);
    sconn_reply(c, r);
    edm_buf_reset(&c->msg);
    reset_txn(c);
    sconn_enter(c, SS_CMD);
    io_set_timeout(&c->io, s->o.cmd_timeout_ms);
}

/* Scans DATA bytes; returns how many were consumed (all, or up to the end
 * of the message, which it ends). */
static size_t data_scan(smtp_sconn *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char b = p[i];
        if (c->dot) { /* "." at the start of a line */
            if (c->cr) {
                if (b == '\n') {
                    data_end(c);
                    return i + 1;
                }
                c->bad = 1; /* ".<CR>" then not LF */
                c->dot = c->cr = 0;
                data_byte(c, '\r');
            } else if (b == '\r') {
                c->cr = 1;
                continue;
            } else {
                c->dot = 0; /* dot-stuffing: the dot is dropped */
            }
        }
        if (c->cr) {
            c->cr = 0;
            if (b == '\n') {
                data_byte(c, '\r');
                data_byte(c, '\n');
                c->bol = 1;
                c->linelen = 0;
                continue;
            }
            c->bad = 1; /* bare CR */
            data_byte(c, '\r');
        }
        if (b == '\r') {
            c->cr = 1;
            continue;
        }
        if (b == '\n') {
            c->bad = 1; /* bare LF: never a line end, so never an end of data */
            data_byte(c, '\n');
            c->bol = 0;
            continue;
        }
        if (c->bol && b == '.') {
            c->bol = 0;
            c->dot = 1;
            continue;
        }
        c->bol = 0;
        if (++c->linelen > DATA_LINE_MAX - 2)
            c->long_line = 1;
        data_byte(c, b);
    }
    return n;
}

/* ---- input ---- */

static void process(smtp_sconn *c)
{
    for (;;) {
        size_t n;
        const char *p = io_data(&c->io, &n);
        if (n == 0 || c->state == SS_QUIT || c->state == SS_AUTH_DELAY || c->state == SS_HANDSHAKE)
            break;
        if (c->state == SS_DATA) {
            io_consume(&c->io, data_scan(c, p, n));
            continue;
        }
        const char *lf = memchr(p, '\n', n);
        if (lf == NULL) {
            if (n > CMD_LINE_MAX) {
                quit(c, "500 5.5.2 Error: line too long");
                break;
            }
            break; /* wait for the rest of the line */
        }
        size_t len = (size_t)(lf - p);
        if (len == 0 || p[len - 1] != '\r' || len > CMD_LINE_MAX) {
            io_consume(&c->io, len + 1);
            sconn_reply(c, len > CMD_LINE_MAX ? "500 5.5.2 Error: line too long"
                                              : "500 5.5.2 Error: bare LF (lines end in CRLF)");
            continue;
        }
        char line[CMD_LINE_MAX + 1];
        memcpy(line, p, len - 1);
        line[len - 1] = '\0';
        io_consume(&c->io, len + 1);
        if (memchr(line, '\0', len - 1) || memchr(line, '\r', len - 1)) {
            sconn_reply(c, "500 5.5.2 Error: bad characters in command");
            continue;
        }
        if (c->state == SS_CMD) {
            if (on_command(c, line))
                break;
        } else {
            sconn_sasl_line(c, line);
        }
    }
    if (c->state != SS_HANDSHAKE)
        sconn_flush(c);
}

static void conn_io(io_conn *io, enum io_event ev, void *arg)
{
    smtp_sconn *c = arg;
    smtp_server *s = c->srv;
    EDM_ASSERT(io == &c->io);
    switch (ev) {
    case IO_CONNECTED: break;
    case IO_TLS_READY:
        c->secure = 1;
        if (c->implicit_tls && !c->ehlo && c->state == SS_HANDSHAKE) {
            greet(c);
        } else {
            sconn_enter(c, SS_CMD);
            io_set_timeout(&c->io, s->o.cmd_timeout_ms);
        }
        process(c);
        break;
    case IO_DATA_IN:
        if (c->state == SS_PREGREET) {
            quit(c, "554 5.5.1 Error: talking before the greeting");
            break;
        }
        if (c->state == SS_AUTH_DELAY || c->state == SS_QUIT)
            break; /* input waits for the delayed answer; or is ignored */
        io_set_timeout(&c->io, c->state == SS_DATA ? s->o.data_timeout_ms : s->o.cmd_timeout_ms);
        process(c);
        break;
    case IO_DRAINED:
        if (c->state == SS_QUIT)
            sconn_close(c);
        break;
    case IO_TIMEOUT:
        if (c->state == SS_PREGREET) {
            greet(c);
        } else if (c->state == SS_AUTH_DELAY) {
            sconn_enter(c, SS_CMD);
            sconn_reply(c, c->delayed);
            io_set_timeout(&c->io, s->o.cmd_timeout_ms);
            process(c);
            sconn_flush(c);
        } else if (c->state != SS_QUIT) {
            quit(c, "421 4.4.2 Error: timeout exceeded");
        } else {
            sconn_close(c);
        }
        break;
    case IO_ERROR:
        edm_log(EDM_LOG_DEBUG, "smtpd", "peer=%s event=error err=\"%s\"", c->io.peer_ip,
                c->io.errmsg);
        sconn_close(c);
        break;
    case IO_CLOSED:
        if (s->p.closed)
            s->p.closed(s->p.ctx, c);
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        reset_txn(c);
        edm_buf_free(&c->msg);
        edm_free(c);
        s->handles--;
        maybe_done(s);
        break;
    }
}

/* A new connection's first step: TLS, a held-back greeting, or the
 * greeting. */
static void conn_start(smtp_sconn *c)
{
    smtp_server *s = c->srv;
    if (c->implicit_tls) {
        c->state = SS_HANDSHAKE;
        if (io_start_tls(&c->io, s->o.tls, 1, NULL) != 0)
            sconn_close(c);
        io_set_timeout(&c->io, s->o.cmd_timeout_ms);
    } else if (s->o.greet_delay_ms) {
        c->state = SS_PREGREET;
        io_set_timeout(&c->io, s->o.greet_delay_ms);
    } else {
        greet(c);
    }
}

static smtp_sconn *conn_new(smtp_server *s, int implicit_tls)
{
    smtp_sconn *c = edm_xcalloc(1, sizeof *c);
    c->srv = s;
    c->implicit_tls = implicit_tls;
    io_init(&c->io, s->o.loop, conn_io, c);
    s->handles++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    return c;
}

static void on_connection(uv_stream_t *server, int status)
{
    listener *l = server->data;
    smtp_server *s = l->srv;
    if (status < 0 || s->closing)
        return;
    smtp_sconn *c = conn_new(s, l->implicit_tls);
    if (io_accept(&c->io, server) != 0) {
        sconn_close(c);
        return;
    }
    conn_start(c);
}

smtp_sconn *smtp_server_test_conn(smtp_server *s, const char *peer_ip, int tls)
{
    smtp_sconn *c = conn_new(s, 0);
    c->nosock = 1;
    c->secure = tls;
    snprintf(c->io.peer_ip, sizeof c->io.peer_ip, "%s", peer_ip);
    conn_start(c);
    return c;
}

void smtp_sconn_test_feed(smtp_sconn *c, const void *p, size_t n)
{
    if (c->io.closing || edm_buf_append(&c->io.in, p, n) != 0)
        return;
    conn_io(&c->io, IO_DATA_IN, c);
}

void smtp_sconn_test_timeout(smtp_sconn *c)
{
    if (!c->io.closing)
        conn_io(&c->io, IO_TIMEOUT, c);
}

const char *smtp_sconn_test_output(const smtp_sconn *c, size_t *len)
{
    *len = c->io.out.len;
    return c->io.out.data ? c->io.out.data : "";
}

int smtp_sconn_test_closing(const smtp_sconn *c)
{
    return c->io.closing;
}

int smtp_server_new(const smtp_server_opts *o, const smtp_server_policy *p, smtp_server **out)
{
    smtp_server *s = edm_calloc(1, sizeof *s);
    if (s == NULL)
        return EDM_ENOMEM;
    s->o = *o;
    s->p = *p;
    if (s->o.hostname == NULL)
        s->o.hostname = "localhost";
    if (s->o.cmd_timeout_ms == 0)
        s->o.cmd_timeout_ms = 300000;
    if (s->o.data_timeout_ms == 0)
        s->o.data_timeout_ms = 180000;
    if (s->o.max_recipients == 0)
        s->o.max_recipients = 1000;
    if (s->o.max_message_bytes == 0)
        s->o.max_message_bytes = 26214400;
    *out = s;
    return 0;
}

int smtp_server_listen(smtp_server *s, const char *ip, int port, int implicit_tls, int *bound,
                       char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&sa) != 0) {
        snprintf(err, errlen, "%s: not an IP address", ip);
        return EDM_EINVAL;
    }
    if (implicit_tls && s->o.tls == NULL) {
        snprintf(err, errlen, "%s:%d: implicit TLS without a certificate", ip, port);
        return EDM_EINVAL;
    }
    listener *l = edm_xcalloc(1, sizeof *l);
    l->srv = s;
    l->implicit_tls = implicit_tls;
    uv_tcp_init(s->o.loop, &l->tcp);
    l->tcp.data = l;
    l->next = s->listeners;
    s->listeners = l;
    s->handles++;
    int rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "listen on %s:%d: %s", ip, port, uv_strerror(rc));
        return EDM_EIO;
    }
    if (bound) {
        struct sockaddr_storage got;
        int len = sizeof got;
        uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&got, &len);
        *bound = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                 : ((struct sockaddr_in *)&got)->sin_port);
    }
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    listener *l = h->data;
    smtp_server *s = l->srv;
    edm_free(l);
    s->handles--;
    maybe_done(s);
}

void smtp_server_close(smtp_server *s, void (*done)(void *arg), void *arg)
{
    if (s == NULL) {
        if (done)
            done(arg);
        return;
    }
    s->closing = 1;
    s->done = done;
    s->done_arg = arg;
    while (s->listeners) {
        listener *l = s->listeners;
        s->listeners = l->next;
        uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    }
    for (smtp_sconn *c = s->conns; c; c = c->next)
        sconn_close(c);
    maybe_done(s);
}
