/*
 * tests/support/smtp_fake.c: scriptable SMTP server for tests (see
 * smtp_fake.h).
 *
 * Each connection reads lines from engine/net/io.c's input buffer and answers
 * them in order, gathering the replies of one read into one write (as
 * Postfix does with a pipelining client). A rule with a delay pauses the
 * connection: its io timer fires, the reply goes out and reading resumes.
 * Limits: one line at a time; a command line over 4096 bytes closes the
 * connection; no BDAT.
 */
#include "tests/support/smtp_fake.h"
#include "engine/base/timeutil.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/net/io.h"
#include "engine/net/tls.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

struct conn;

struct smtp_fake {
    uv_loop_t *loop;
    smtp_fake_config cfg;
    smtp_fake_rule *rules;
    unsigned *uses;
    uv_tcp_t listener;
    int listener_open;
    int closing;
    int port;
    SSL_CTX *tls;
    struct conn *conns;
    edm_buf log;
    edm_buf *msgs;
    size_t nmsgs;
    unsigned nconns;
    unsigned violations;
    unsigned queue_seq;
    unsigned handshakes;
    char sni[256];               /* server name of the last handshake; "" = none sent */
    smtp_fake_arrival *arrivals; /* parallel to msgs */
    struct peer_count {
        char addr[64];
        unsigned open, max_open;
    } peers[16];
    size_t npeers;
};

enum cmode { C_CMD, C_BODY, C_AUTH_PLAIN, C_AUTH_USER, C_AUTH_PASS, C_DEAD };

struct conn {
    smtp_fake *f;
    struct conn *next;
    io_conn io;
    enum cmode mode;
    int tls, ehlo_seen, mail, rcpts, body_started, paused, close_soon;
    char peer[64]; /* the client's address */
    edm_buf body;
    const smtp_fake_rule *pending; /* reply to send when the delay ends */
    enum fake_stage pending_stage;
    int pending_starttls;
    char user[300];
};

static void flog(smtp_fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void flog(smtp_fake *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    edm_buf_vappendf(&f->log, fmt, ap);
    va_end(ap);
    edm_buf_append_char(&f->log, '\n');
}

static void say(struct conn *c, const char *s)
{
    io_write(&c->io, s, strlen(s));
}

static void kill_conn(struct conn *c)
{
    if (c->mode == C_DEAD)
        return;
    c->mode = C_DEAD;
    flog(c->f, "<disconnect>");
    io_close(&c->io);
}

/* Closes once what was written has left (a reply, then the close). */
static void close_soon(struct conn *c)
{
    c->paused = 1;
    c->close_soon = 1;
    io_flush(&c->io);
    if (io_pending_out(&c->io) == 0)
        kill_conn(c);
}

static const smtp_fake_rule *find_rule(smtp_fake *f, enum fake_stage st, const char *text)
{
    for (size_t i = 0; i < f->cfg.nrules; i++) {
        const smtp_fake_rule *r = &f->rules[i];
        if (r->stage != st || (r->match && !strstr(text, r->match)))
            continue;
        if (r->times && f->uses[i] >= r->times)
            continue;
        f->uses[i]++;
        return r;
    }
    return NULL;
}

static int b64dec(const char *in, char *out, size_t n)
{
    size_t l = strlen(in);
    if (l == 0 || l % 4 || (l / 4) * 3 + 1 > n)
        return -1;
    int got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)l);
    if (got < 0)
        return -1;
    while (l > 0 && in[l - 1] == '=') {
        got--;
        l--;
    }
    out[got] = '\0';
    return got;
}

static void default_reply(struct conn *c, enum fake_stage st, const char *line)
{
    smtp_fake *f = c->f;
    char buf[512];
    switch (st) {
    case FAKE_GREETING: say(c, "220 fake.test ESMTP edm-fake\r\n"); break;
    case FAKE_EHLO:
        if (f->cfg.no_ehlo) {
            say(c, "502 5.5.2 Error: command not recognized\r\n");
            break;
        }
        c->ehlo_seen = 1;
        say(c, "250-fake.test\r\n");
        if (!f->cfg.no_pipelining)
            say(c, "250-PIPELINING\r\n");
        if (f->cfg.size_max)
            snprintf(buf, sizeof buf, "250-SIZE %lu\r\n", f->cfg.size_max);
        else
            snprintf(buf, sizeof buf, "250-SIZE\r\n");
        say(c, buf);
        if (f->tls && !c->tls)
            say(c, "250-STARTTLS\r\n");
        if (f->cfg.auth_user && c->tls)
            say(c, f->cfg.auth_login_only ? "250-AUTH LOGIN\r\n" : "250-AUTH PLAIN LOGIN\r\n");
        if (!f->cfg.no_8bitmime)
            say(c, "250-8BITMIME\r\n");
        say(c, f->cfg.no_smtputf8 ? "250 ENHANCEDSTATUSCODES\r\n"
                                  : "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
        break;
    case FAKE_HELO: say(c, "250 fake.test\r\n"); break;
    case FAKE_STARTTLS:
        if (!f->tls || c->tls) {
            say(c, "502 5.5.1 STARTTLS not available\r\n");
            break;
        }
        say(c, "220 2.0.0 Ready to start TLS\r\n");
        c->pending_starttls = 1;
        break;
    case FAKE_AUTH: {
        if (!f->cfg.auth_user || !c->tls) {
            say(c, "503 5.5.1 Error: authentication not enabled\r\n");
            break;
        }
        const char *arg = line + 4;
        while (*arg == ' ')
            arg++;
        if (strncasecmp(arg, "LOGIN", 5) == 0) {
            say(c, "334 VXNlcm5hbWU6\r\n");
            c->mode = C_AUTH_USER;
        } else if (strncasecmp(arg, "PLAIN", 5) == 0) {
            arg += 5;
            while (*arg == ' ')
                arg++;
            if (*arg == '\0') {
                say(c, "334 \r\n");
                c->mode = C_AUTH_PLAIN;
                break;
            }
            char dec[300];
            int n = b64dec(arg, dec, sizeof dec);
            int ok = n > 2 && dec[0] == '\0' && strcmp(dec + 1, f->cfg.auth_user) == 0 &&
                     (size_t)n == 2 + strlen(f->cfg.auth_user) + strlen(f->cfg.auth_pass) &&
                     memcmp(dec + 2 + strlen(f->cfg.auth_user), f->cfg.auth_pass,
                            strlen(f->cfg.auth_pass)) == 0;
            say(c, ok ? "235 2.7.0 Authentication successful\r\n"
                      : "535 5.7.8 Error: authentication failed\r\n");
        } else {
            say(c, "504 5.5.4 Unrecognized authentication type\r\n");
        }
        break;
    }
    case FAKE_MAIL:
        c->mail = 1;
        c->rcpts = 0;
        say(c, "250 2.1.0 Ok\r\n");
        break;
    case FAKE_RCPT:
        if (!c->mail) {
            say(c, "503 5.5.1 Error: need MAIL command\r\n");
            break;
        }
        c->rcpts++;
        say(c, "250 2.1.5 Ok\r\n");
        break;
    case FAKE_DATA:
        if (!c->mail || c->rcpts == 0) {
            say(c, "554 5.5.1 Error: no valid recipients\r\n");
            break;
        }
        say(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
        break;
    case FAKE_DOT:
        snprintf(buf, sizeof buf, "250 2.0.0 Ok: queued as FAKE%04u\r\n", ++f->queue_seq);
        say(c, buf);
        break;
    case FAKE_RSET: say(c, "250 2.0.0 Ok\r\n"); break;
    case FAKE_QUIT: say(c, "221 2.0.0 Bye\r\n"); break;
    case FAKE_BODY: break;
    }
}

/* After a reply to DATA: switch to content mode when it was 354. */
static void after_reply(struct conn *c, enum fake_stage st, const char *sent)
{
    if (st == FAKE_DATA && sent && strncmp(sent, "354", 3) == 0) {
        c->mode = C_BODY;
        c->body_started = 0;
        edm_buf_reset(&c->body);
    }
    if (st == FAKE_DOT || st == FAKE_RSET) {
        c->mail = 0;
        c->rcpts = 0;
    }
    if (st == FAKE_QUIT)
        close_soon(c);
}

/* Answers one command (or the end of content) per rules or defaults.
 * Returns 0 to go on reading, 1 to pause (delay, hang, closed). */
static int answer(struct conn *c, enum fake_stage st, const char *line)
{
    const smtp_fake_rule *r = find_rule(c->f, st, line);
    if (r && r->action == FAKE_DISCONNECT) {
        close_soon(c); /* replies already given still go out */
        return 1;
    }
    if (r && r->action == FAKE_HANG) {
        c->paused = 1;
        return 1;
    }
    if (r && r->delay_ms) {
        c->paused = 1;
        c->pending = r;
        c->pending_stage = st;
        io_flush(&c->io);
        io_set_timeout(&c->io, r->delay_ms);
        return 1;
    }
    if (r && r->reply) {
        say(c, r->reply);
        if (st == FAKE_DATA && strncmp(r->reply, "354", 3) == 0 && c->mail && c->rcpts == 0)
            c->rcpts = -1; /* the rule wanted DATA accepted anyway */
        after_reply(c, st, r->reply);
    } else {
        int data_ok = st == FAKE_DATA && c->mail && c->rcpts > 0;
        default_reply(c, st, line);
        after_reply(c, st, data_ok ? "354" : NULL);
    }
    if (r && r->action == FAKE_REPLY_CLOSE) {
        close_soon(c);
        return 1;
    }
    return c->paused;
}

static enum fake_stage stage_of(const char *line, int *known)
{
    static const struct {
        const char *verb;
        enum fake_stage st;
    } verbs[] = {{"EHLO", FAKE_EHLO}, {"HELO", FAKE_HELO}, {"STARTTLS", FAKE_STARTTLS},
                 {"AUTH", FAKE_AUTH}, {"MAIL", FAKE_MAIL}, {"RCPT", FAKE_RCPT},
                 {"DATA", FAKE_DATA}, {"RSET", FAKE_RSET}, {"QUIT", FAKE_QUIT}};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        size_t n = strlen(verbs[i].verb);
        if (strncasecmp(line, verbs[i].verb, n) == 0 && (line[n] == '\0' || line[n] == ' ')) {
            *known = 1;
            return verbs[i].st;
        }
    }
    *known = 0;
    return FAKE_QUIT;
}

static void end_of_body(struct conn *c)
{
    smtp_fake *f = c->f;
    edm_buf *nm = edm_xrealloc(f->msgs, (f->nmsgs + 1) * sizeof *f->msgs);
    f->msgs = nm;
    f->arrivals = edm_xrealloc(f->arrivals, (f->nmsgs + 1) * sizeof *f->arrivals);
    snprintf(f->arrivals[f->nmsgs].peer, sizeof f->arrivals[f->nmsgs].peer, "%s", c->peer);
    f->arrivals[f->nmsgs].at_ms = edm_time_mono_ms();
    f->msgs[f->nmsgs++] = c->body;
    edm_buf_init(&c->body);
    flog(f, "<body %zu bytes>", f->msgs[f->nmsgs - 1].len);
    c->mode = C_CMD;
}

static void auth_step(struct conn *c, const char *line)
{
    smtp_fake *f = c->f;
    char dec[300];
    int n = b64dec(line, dec, sizeof dec);
    int ok = 0;
    if (c->mode == C_AUTH_USER) {
        snprintf(c->user, sizeof c->user, "%s", n > 0 ? dec : "");
        say(c, "334 UGFzc3dvcmQ6\r\n");
        c->mode = C_AUTH_PASS;
        return;
    }
    if (c->mode == C_AUTH_PASS)
        ok = n >= 0 && strcmp(c->user, f->cfg.auth_user) == 0 && strcmp(dec, f->cfg.auth_pass) == 0;
    else
        ok = n > 2 && dec[0] == '\0' && strcmp(dec + 1, f->cfg.auth_user) == 0 &&
             strcmp(dec + 2 + strlen(f->cfg.auth_user), f->cfg.auth_pass) == 0;
    say(c, ok ? "235 2.7.0 Authentication successful\r\n"
              : "535 5.7.8 Error: authentication failed\r\n");
    c->mode = C_CMD;
}

static void process(struct conn *c)
{
    while (!c->paused && c->mode != C_DEAD) {
        size_t len;
        const char *d = io_data(&c->io, &len);
        const char *nl = memchr(d, '\n', len);
        if (nl == NULL) {
            if (len > 4096 && c->mode != C_BODY)
                kill_conn(c);
            break;
        }
        size_t n = (size_t)(nl - d), used = n + 1;
        if (c->mode == C_BODY) {
            if (!c->body_started) {
                c->body_started = 1;
                const smtp_fake_rule *r = find_rule(c->f, FAKE_BODY, "");
                if (r && r->action == FAKE_DISCONNECT) {
                    kill_conn(c);
                    break;
                }
            }
            if (n == 2 && d[0] == '.' && d[1] == '\r') {
                io_consume(&c->io, used);
                char *content = edm_xstrdup(edm_buf_cstr(&c->body));
                end_of_body(c);
                answer(c, FAKE_DOT, content);
                edm_free(content);
                continue;
            }
            const char *p = d;
            size_t pn = used;
            if (p[0] == '.') {
                p++;
                pn--;
            }
            edm_buf_append(&c->body, p, pn);
            io_consume(&c->io, used);
            continue;
        }
        if (n > 0 && d[n - 1] == '\r')
            n--;
        char line[4100];
        if (n >= sizeof line) {
            kill_conn(c);
            break;
        }
        memcpy(line, d, n);
        line[n] = '\0';
        io_consume(&c->io, used);
        if (c->mode != C_CMD) {
            flog(c->f, "<auth data>");
            auth_step(c, line);
            continue;
        }
        flog(c->f, "%s", line);
        int known;
        enum fake_stage st = stage_of(line, &known);
        if (!known) {
            say(c, "502 5.5.2 Error: command not recognized\r\n");
            continue;
        }
        /* Without PIPELINING a client must wait for each reply (RFC 2920). */
        size_t rest;
        io_data(&c->io, &rest);
        if (rest > 0 && (c->f->cfg.no_pipelining || !c->ehlo_seen) && st != FAKE_QUIT)
            c->f->violations++;
        if (answer(c, st, line))
            break;
        if (c->pending_starttls) {
            c->pending_starttls = 0;
            io_flush(&c->io);
            io_data(&c->io, &rest);
            if (rest > 0 || io_start_tls(&c->io, c->f->tls, 1, NULL) != 0) {
                kill_conn(c);
                break;
            }
        }
    }
    if (c->mode != C_DEAD && !c->close_soon)
        io_flush(&c->io);
}

static struct peer_count *peer_of(smtp_fake *f, const char *addr)
{
    for (size_t i = 0; i < f->npeers; i++)
        if (strcmp(f->peers[i].addr, addr) == 0)
            return &f->peers[i];
    if (f->npeers == sizeof f->peers / sizeof f->peers[0])
        return &f->peers[f->npeers - 1]; /* more peers than a test uses: lumped */
    struct peer_count *p = &f->peers[f->npeers++];
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    return p;
}

static void free_conn(struct conn *c)
{
    smtp_fake *f = c->f;
    if (c->peer[0])
        peer_of(f, c->peer)->open--;
    struct conn **pp = &f->conns;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    edm_buf_free(&c->body);
    edm_free(c);
}

static void conn_io(io_conn *io, enum io_event ev, void *arg)
{
    struct conn *c = arg;
    (void)io;
    switch (ev) {
    case IO_DATA_IN: process(c); break;
    case IO_TLS_READY:
        c->tls = 1;
        c->ehlo_seen = 0;
        {
            const char *sni = SSL_get_servername(c->io.tls.ssl, TLSEXT_NAMETYPE_host_name);
            snprintf(c->f->sni, sizeof c->f->sni, "%s", sni ? sni : "");
            c->f->handshakes++;
        }
        flog(c->f, "<tls %s>", c->io.tls.protocol);
        break;
    case IO_TIMEOUT:
        if (c->pending) { /* a delayed reply is due */
            const smtp_fake_rule *r = c->pending;
            enum fake_stage st = c->pending_stage;
            c->pending = NULL;
            c->paused = 0;
            if (r->reply) {
                say(c, r->reply);
                after_reply(c, st, r->reply);
            } else {
                int data_ok = st == FAKE_DATA && c->mail && c->rcpts > 0;
                default_reply(c, st, "");
                after_reply(c, st, data_ok ? "354" : NULL);
            }
            if (r->action == FAKE_REPLY_CLOSE) {
                close_soon(c);
                break;
            }
            process(c);
        }
        break;
    case IO_ERROR: kill_conn(c); break;
    case IO_CLOSED: free_conn(c); break;
    case IO_DRAINED:
        if (c->close_soon)
            kill_conn(c);
        break;
    case IO_CONNECTED: break;
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    smtp_fake *f = container_of(server, smtp_fake, listener);
    if (status < 0 || f->closing)
        return;
    struct conn *c = edm_xcalloc(1, sizeof *c);
    c->f = f;
    edm_buf_init(&c->body);
    io_init(&c->io, f->loop, conn_io, c);
    c->next = f->conns;
    f->conns = c;
    if (io_accept(&c->io, server) != 0) {
        kill_conn(c);
        return;
    }
    f->nconns++;
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
    if (c->peer[0]) {
        struct peer_count *p = peer_of(f, c->peer);
        if (++p->open > p->max_open)
            p->max_open = p->open;
    }
    flog(f, "<connect>");
    answer(c, FAKE_GREETING, "");
    if (c->mode != C_DEAD)
        io_flush(&c->io);
}

smtp_fake *smtp_fake_start(uv_loop_t *loop, const smtp_fake_config *cfg)
{
    smtp_fake *f = edm_xcalloc(1, sizeof *f);
    f->loop = loop;
    f->cfg = *cfg;
    f->rules = edm_xcalloc(cfg->nrules + 1, sizeof *f->rules);
    f->uses = edm_xcalloc(cfg->nrules + 1, sizeof *f->uses);
    if (cfg->nrules)
        memcpy(f->rules, cfg->rules, cfg->nrules * sizeof *f->rules);
    f->cfg.rules = f->rules;
    edm_buf_init(&f->log);
    if (cfg->cert_file) {
        char err[200];
        f->tls = tls_server_ctx_new(cfg->cert_file, cfg->key_file, err, sizeof err);
        if (f->tls == NULL) {
            fprintf(stderr, "smtp_fake: %s\n", err);
            smtp_fake_free(f);
            return NULL;
        }
    }
    struct sockaddr_in sa;
    uv_ip4_addr(cfg->ip ? cfg->ip : "127.0.0.1", cfg->port, &sa);
    uv_tcp_init(loop, &f->listener);
    f->listener_open = 1;
    int rc = uv_tcp_bind(&f->listener, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&f->listener, 128, on_connection);
    if (rc != 0) {
        fprintf(stderr, "smtp_fake: listen on %s:%d: %s\n", cfg->ip, cfg->port, uv_strerror(rc));
        smtp_fake_close(f);
        return f; /* the caller sees port 0 and must still close/free */
    }
    int len = sizeof sa;
    uv_tcp_getsockname(&f->listener, (struct sockaddr *)&sa, &len);
    f->port = ntohs(sa.sin_port);
    return f;
}

int smtp_fake_port(const smtp_fake *f)
{
    return f->port;
}

static void listener_closed(uv_handle_t *h)
{
    smtp_fake *f = container_of(h, smtp_fake, listener);
    f->listener_open = 0;
}

void smtp_fake_close(smtp_fake *f)
{
    if (f->closing)
        return;
    f->closing = 1;
    if (f->listener_open)
        uv_close((uv_handle_t *)&f->listener, listener_closed);
    for (struct conn *c = f->conns; c; c = c->next)
        kill_conn(c);
}

int smtp_fake_closed(const smtp_fake *f)
{
    return f->closing && !f->listener_open && f->conns == NULL;
}

void smtp_fake_free(smtp_fake *f)
{
    if (f == NULL)
        return;
    if (f->listener_open || f->conns) {
        fprintf(stderr, "smtp_fake_free: handles still open\n");
        abort();
    }
    for (size_t i = 0; i < f->nmsgs; i++)
        edm_buf_free(&f->msgs[i]);
    edm_free(f->msgs);
    edm_free(f->arrivals);
    edm_buf_free(&f->log);
    tls_ctx_free(f->tls);
    edm_free(f->rules);
    edm_free(f->uses);
    edm_free(f);
}

const char *smtp_fake_log(const smtp_fake *f)
{
    return edm_buf_cstr(&f->log);
}

unsigned smtp_fake_connections(const smtp_fake *f)
{
    return f->nconns;
}

const char *smtp_fake_sni(const smtp_fake *f)
{
    return f->sni;
}

unsigned smtp_fake_handshakes(const smtp_fake *f)
{
    return f->handshakes;
}

size_t smtp_fake_messages(const smtp_fake *f)
{
    return f->nmsgs;
}

const edm_buf *smtp_fake_message(const smtp_fake *f, size_t i)
{
    return i < f->nmsgs ? &f->msgs[i] : NULL;
}

const smtp_fake_arrival *smtp_fake_arrival_of(const smtp_fake *f, size_t i)
{
    return i < f->nmsgs ? &f->arrivals[i] : NULL;
}

unsigned smtp_fake_max_open_from(const smtp_fake *f, const char *peer)
{
    for (size_t i = 0; i < f->npeers; i++)
        if (strcmp(f->peers[i].addr, peer) == 0)
            return f->peers[i].max_open;
    return 0;
}

unsigned smtp_fake_pipelining_violations(const smtp_fake *f)
{
    return f->violations;
}

int smtp_fake_make_cert(const char *dir, char *cert, char *key, size_t n)
{
    snprintf(cert, n, "%s/cert.pem", dir);
    snprintf(key, n, "%s/key.pem", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-subj /CN=fake.test -days 2 -keyout '%s' -out '%s' 2>&1",
             key, cert);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    char buf[256];
    while (fgets(buf, sizeof buf, p))
        ;
    return pclose(p) == 0 ? 0 : -1;
}
