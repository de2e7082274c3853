/*
 * api/http.c: HTTP/1.1 connections on libuv (see http.h for the
 * application interface, http_int.h for the states and how the files
 * share the work): accepting under the caps, the state machine and its
 * deadlines, reading, closing, starting and stopping the server.
 *
 * Deadlines and caps, against clients that hold slots without using them:
 *  - the head: from accept (or, on a kept-alive connection, from its first
 *    byte) to the end of the request head within header_timeout_ms, else
 *    408; a connection that sends nothing is closed without an answer at
 *    the head deadline or the idle time, whichever comes first;
 *  - the body: at least min_body_rate bytes/s over each window of
 *    body_window_ms, and never idle_timeout_ms without a byte, else 408;
 *    windows in which edm itself did not read (the loop was busy, reading
 *    paused) are not held against the client;
 *  - max_per_ip connections per client address, and max_connections in
 *    all: when every slot is taken, the oldest connection waiting for a
 *    request makes room; with none, the newcomer is closed.
 *
 * Ownership: a connection owns its handles, its request and the request's
 * application state (app_free). It is freed in the close callback of its
 * last handle, never inside a callback that still uses it.
 *
 * Known limits: no TLS (front the API with a proxy for remote use), no
 * HEAD/trailers, no HTTP/2.
 */
#include "api/http_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const conn_state_names[] = {"NEW",    "IDLE",   "HEAD",  "BODY",
                                               "ANSWER", "LINGER", "CLOSED"};

/* An answer went out before the body was read: the rest is dropped. */
int http_conn_discarding(const http_conn *c)
{
    return c->early && c->req.has_body;
}

static void free_data_cb(uv_handle_t *h)
{
    edm_free(h->data);
}

static void on_shutdown(uv_shutdown_t *sh, int status)
{
    (void)status;
    edm_free(sh);
}

/* When the body's next check is due: the end of the rate window, or the
 * idle deadline if that comes first. */
static uint64_t body_check_ms(const http_conn *c, uint64_t now)
{
    const http_limits *l = &c->srv->limits;
    uint64_t idle_at = c->last_progress + l->idle_timeout_ms;
    uint64_t at = idle_at;
    if (l->min_body_rate > 0 && c->window_start + l->body_window_ms < at)
        at = c->window_start + l->body_window_ms;
    return at > now ? at - now : 0;
}

/* The body timer: 1 if the client keeps up (the timer is re-armed), 0 if it
 * stalled or is under the minimum rate (msg says which). */
static int body_keeps_up(http_conn *c, const char **msg)
{
    const http_limits *l = &c->srv->limits;
    uint64_t now = uv_now(c->srv->loop);
    uint64_t elapsed = now - c->window_start;
    uint64_t period = l->min_body_rate > 0 ? l->body_window_ms : l->idle_timeout_ms;
    if (!c->reading || elapsed > 2 * period + 100) {
        /* edm did not read (paused, or the loop was busy): not the client's
         * fault; judge the next window */
        c->window_start = c->last_progress = now;
        c->window_bytes = 0;
    } else if (now - c->last_progress >= l->idle_timeout_ms) {
        *msg = "the request body stalled";
        return 0;
    } else if (l->min_body_rate > 0 && elapsed >= l->body_window_ms) {
        if (c->window_bytes * 1000 < (uint64_t)l->min_body_rate * elapsed) {
            *msg = "the request body arrives too slowly";
            return 0;
        }
        c->window_start = now;
        c->window_bytes = 0;
    }
    http_conn_arm(c, body_check_ms(c, now));
    return 1;
}

void http_conn_enter(http_conn *c, enum conn_state s)
{
    EDM_DEBUG("http", "conn=%s state=%s->%s", c->peer, conn_state_names[c->state],
              conn_state_names[s]);
    c->state = s;
    const http_limits *l = &c->srv->limits;
    uint64_t now = uv_now(c->srv->loop);
    switch (s) {
    case CONN_NEW: /* nothing sent within the idle time: closed; the head's deadline runs */
        c->head_deadline = now + l->header_timeout_ms;
        http_conn_arm(c, l->header_timeout_ms < l->idle_timeout_ms ? l->header_timeout_ms
                                                                   : l->idle_timeout_ms);
        break;
    case CONN_IDLE: http_conn_arm(c, l->idle_timeout_ms); break;
    case CONN_HEAD: http_conn_arm(c, c->head_deadline > now ? c->head_deadline - now : 0); break;
    case CONN_BODY:
        c->window_start = c->last_progress = now;
        c->window_bytes = 0;
        http_conn_arm(c, body_check_ms(c, now));
        break;
    case CONN_ANSWER: http_conn_arm(c, l->idle_timeout_ms); break;
    case CONN_LINGER: http_conn_arm(c, HTTP_LINGER_MS); break;
    case CONN_CLOSED: break;
    default: EDM_PANIC("bad connection state %d", (int)s);
    }
}

/* ---- request bookkeeping ---- */

void http_req_release(http_conn *c)
{
    http_req *r = &c->req;
    if (r->app_free && r->app_data)
        r->app_free(r->app_data);
    r->app_data = NULL;
    r->app_free = NULL;
    edm_buf_free(&r->body);
    edm_buf_reset(&c->head);
    c->in_request = 0;
}

void http_req_reset(http_conn *c)
{
    http_req_release(c);
    http_req *r = &c->req;
    memset(r, 0, sizeof *r);
    r->conn = c;
    r->peer = c->peer;
    r->query = "";
    c->url_len = 0;
    c->nh = 0;
    c->last_cb = 0;
    c->body_bytes = 0;
    c->answered = c->early = 0;
    c->body_yield = 0;
    c->producer = NULL;
    c->stream_done = 0;
    c->keep_alive = 1;
}

const char *http_req_header(const http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->hname[i], name) == 0)
            return req->hvalue[i];
    return NULL;
}

void http_conn_after_write(http_conn *c)
{
    if (c->writes > 0 || !c->answered || c->state == CONN_CLOSED)
        return;
    if (c->producer && !c->stream_done) {
        http_conn_arm(c, c->srv->limits.idle_timeout_ms);
        http_pull_queue(c); /* pulled at its turn (http_pull.c) */
        return;
    }
    if (c->state == CONN_LINGER)
        return;
    if (c->early && c->req.has_body) {
        /* the body was not read: stop writing, drain what comes for a while */
        http_req_release(c);
        http_conn_enter(c, CONN_LINGER);
        uv_shutdown_t *sh = edm_xmalloc(sizeof *sh);
        if (uv_shutdown(sh, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
            edm_free(sh);
        edm_buf_reset(&c->pending);
        http_conn_resume_read(c);
        return;
    }
    if (c->state != CONN_ANSWER) /* answered at the head; the message end is still to come */
        return;
    if (!c->keep_alive || c->srv->stopping) {
        http_conn_close(c, "done");
        return;
    }
    http_req_release(c);
    http_conn_enter(c, CONN_IDLE);
    http_parser_pause(&c->parser, 0);
    if (c->pending.len > 0) {
        edm_buf rest = c->pending;
        edm_buf_init(&c->pending);
        http_parse_feed(c, rest.data, rest.len);
        edm_buf_free(&rest);
    }
    if (c->state != CONN_CLOSED && c->pending.len == 0)
        http_conn_resume_read(c);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    http_conn *c = h->data;
    if (c->rbuf == NULL)
        c->rbuf = edm_xmalloc(HTTP_READ_BUF);
    *buf = uv_buf_init(c->rbuf, HTTP_READ_BUF);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = s->data;
    (void)buf;
    if (nread < 0) {
        if (c->state == CONN_LINGER || nread == UV_EOF)
            http_conn_close(c, nread == UV_EOF ? "eof" : uv_strerror((int)nread));
        else
            http_conn_close(c, uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || c->state == CONN_LINGER || http_conn_discarding(c))
        return;
    http_parse_feed(c, c->rbuf, (size_t)nread);
}

void http_conn_body_resume(http_conn *c)
{
    c->body_yield = 0;
    if (c->state != CONN_BODY || c->answered)
        return; /* answered meanwhile (an error): http_conn_after_write goes on */
    http_parser_pause(&c->parser, 0);
    if (c->pending.len > 0) {
        edm_buf rest = c->pending;
        edm_buf_init(&c->pending);
        http_parse_feed(c, rest.data, rest.len);
        edm_buf_free(&rest);
    }
    if (c->state != CONN_CLOSED && !c->body_yield && c->pending.len == 0 &&
        HTTP_PARSER_ERRNO(&c->parser) == HPE_OK)
        http_conn_resume_read(c);
}

void http_conn_resume_read(http_conn *c)
{
    if (!c->reading && c->state != CONN_CLOSED &&
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

void http_conn_stop_read(http_conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

/* ---- timers and closing ---- */

static void on_timer(uv_timer_t *t)
{
    http_conn *c = t->data;
    const char *msg = "the request head took too long";
    switch (c->state) {
    case CONN_NEW: http_conn_close(c, "nothing sent"); break;
    case CONN_IDLE: http_conn_close(c, "idle"); break;
    case CONN_HEAD:
    case CONN_BODY:
        if (c->answered) {
            http_conn_close(c, "timeout after answer");
            break;
        }
        if (c->state == CONN_BODY && body_keeps_up(c, &msg))
            break;
        http_reply_error(c, 408, "timeout", msg);
        http_conn_enter(c, CONN_ANSWER);
        break;
    case CONN_ANSWER: http_conn_close(c, "write stalled"); break;
    case CONN_LINGER: http_conn_close(c, "linger over"); break;
    case CONN_CLOSED: break;
    default: EDM_PANIC("bad connection state %d", (int)c->state);
    }
}

void http_conn_arm(http_conn *c, uint64_t ms)
{
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void server_maybe_done(http_server *srv)
{
    if (!srv->stopping || srv->nconns > 0 || srv->handles_open > 0)
        return;
    void (*done)(void *) = srv->done;
    void *arg = srv->done_arg;
    edm_free(srv);
    if (done)
        done(arg);
}

static void on_conn_closed(uv_handle_t *h)
{
    http_conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    http_req_release(c);
    edm_buf_free(&c->head);
    edm_buf_free(&c->pending);
    edm_free(c->rbuf);
    http_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    edm_free(c);
    server_maybe_done(srv);
}

void http_conn_close(http_conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    EDM_DEBUG("http", "conn=%s close=\"%s\"", c->peer, why);
    if (c->in_request && !c->answered)
        edm_log(EDM_LOG_INFO, "http", "conn=%s closed mid-request reason=\"%s\"", c->peer, why);
    c->state = CONN_CLOSED;
    http_pull_forget(c);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* ---- accepting ---- */

/* c->peer ("ip:port") and c->ip from the socket. */
static void peer_name(http_conn *c)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char ip[48] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof ip);
            port = ntohs(a->sin6_port);
            c->ip.family = AF_INET6;
            memcpy(c->ip.addr, &a->sin6_addr, 16);
        } else {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            uv_ip4_name(a, ip, sizeof ip);
            port = ntohs(a->sin_port);
            c->ip.family = AF_INET;
            memcpy(c->ip.addr, &a->sin_addr, 4);
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

/* Open connections from c's address, c included. */
static unsigned same_ip(const http_server *srv, const http_conn *c)
{
    unsigned n = 0;
    for (const http_conn *o = srv->conns; o; o = o->next)
        if (o->state != CONN_CLOSED && o->ip.family == c->ip.family &&
            memcmp(o->ip.addr, c->ip.addr, sizeof o->ip.addr) == 0)
            n++;
    return n;
}

/* Connections closing (still counted in nconns until their handles close). */
static unsigned closing(const http_server *srv)
{
    unsigned n = 0;
    for (const http_conn *o = srv->conns; o; o = o->next)
        n += o->state == CONN_CLOSED;
    return n;
}

/* Every slot is taken: closes the oldest connection that waits for a
 * request (nothing sent yet, or kept alive between requests) so that the
 * newcomer gets its slot. 0 if there is none. */
static int make_room(http_server *srv, const http_conn *newcomer)
{
    http_conn *oldest = NULL;
    for (http_conn *o = srv->conns; o; o = o->next) /* newest first */
        if (o != newcomer && (o->state == CONN_NEW || o->state == CONN_IDLE))
            oldest = o;
    if (oldest == NULL)
        return 0;
    edm_log(EDM_LOG_INFO, "http", "conn=%s closed=\"making room\" state=%s", oldest->peer,
            conn_state_names[oldest->state]);
    http_conn_close(oldest, "making room");
    return 1;
}

static void on_connection(uv_stream_t *ls, int status)
{
    http_server *srv = ls->data;
    if (status < 0)
        return;
    http_conn *c = edm_xcalloc(1, sizeof *c);
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, free_data_cb);
        return;
    }
    uv_timer_init(srv->loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 2;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    peer_name(c);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    http_req_reset(c);
    const http_limits *l = &srv->limits;
    unsigned same = same_ip(srv, c);
    const char *refused = NULL;
    if (srv->stopping)
        refused = "stopping";
    else if (l->max_per_ip > 0 && same > l->max_per_ip)
        refused = "too many connections from this address";
    else if (srv->nconns - closing(srv) > l->max_connections && !make_room(srv, c))
        refused = "too many connections";
    if (refused) {
        edm_log(EDM_LOG_WARN, "http", "conn=%s refused=\"%s\" max=%u max_per_ip=%u", c->peer,
                refused, l->max_connections, l->max_per_ip);
        http_conn_close(c, refused);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_conn_enter(c, CONN_NEW);
    http_conn_resume_read(c);
}

int http_server_start(uv_loop_t *loop, const struct sockaddr *addr, const http_limits *limits,
                      const http_app *app, http_server **out, char *err, size_t errlen)
{
    http_server *srv = edm_calloc(1, sizeof *srv);
    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        return EDM_ENOMEM;
    }
    srv->loop = loop;
    srv->limits = *limits;
    srv->app = *app;
    http_parse_settings(&srv->settings);
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    srv->handles_open = 1;
    int rc = uv_tcp_bind(&srv->listener, addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen: %s", uv_strerror(rc));
        srv->stopping = 1;
        srv->handles_open = 0;
        uv_close((uv_handle_t *)&srv->listener, free_data_cb);
        return EDM_EIO;
    }
    http_pull_start(srv);
    *out = srv;
    return 0;
}

int http_server_port(const http_server *srv)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void on_listener_closed(uv_handle_t *h)
{
    http_server *srv = h->data;
    srv->handles_open--;
    server_maybe_done(srv);
}

void http_server_stop(http_server *srv, void (*done)(void *arg), void *arg)
{
    srv->stopping = 1;
    srv->done = done;
    srv->done_arg = arg;
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
    for (http_conn *c = srv->conns; c; c = c->next)
        http_conn_close(c, "server stopping");
    http_pull_stop(srv, on_listener_closed);
}
