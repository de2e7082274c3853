/*
 * api/http.c: HTTP/1.1 connections on libuv, parsed by libhttp-parser
 * (see http.h for the application interface).
 *
 * One state machine per connection (enum conn_state, conn_enter logs the
 * transitions):
 *   IDLE    waiting for a request (keep-alive); idle timeout closes quietly
 *   HEAD    request line and headers arriving; the head deadline answers 408
 *   BODY    body arriving; no progress for the idle time answers 408
 *   ANSWER  body complete, the application answers (synchronously, or a
 *           stream pulled as writes drain); a stalled write closes
 *   LINGER  an answer was sent before the body was read: the write side is
 *           shut down and the rest is read and dropped for a short while so
 *           the client sees the answer instead of a reset
 * After each request the parser is paused, so pipelined requests are
 * answered in order; unparsed bytes wait in `pending` and reading stops
 * until the answer is written.
 *
 * Ownership: a connection owns its handles, its request and the request's
 * application state (app_free). It is freed in the close callback of its
 * last handle, never inside a callback that still uses it.
 *
 * Known limits: no TLS (front the API with a proxy for remote use), no
 * HEAD/trailers, no HTTP/2.
 */
#include "api/http.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/version.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum conn_state { CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_ANSWER, CONN_LINGER, CONN_CLOSED };

static const char *const conn_state_names[] = {"IDLE",   "HEAD",   "BODY",
                                               "ANSWER", "LINGER", "CLOSED"};

#define LINGER_MS 2000
#define READ_BUF  65536

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    http_limits limits;
    http_app app;
    http_parser_settings settings;
    struct http_conn *conns; /* doubly linked */
    unsigned nconns;
    uint64_t next_req_id;
    int stopping;
    int handles_open;
    void (*done)(void *);
    void *done_arg;
};

struct http_conn {
    http_server *srv;
    http_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int handles_open;
    enum conn_state state;
    http_parser parser;
    char peer[64];
    char *rbuf;
    edm_buf pending; /* read but not parsed (parser paused) */
    int reading;
    /* the current request */
    http_req req;
    int in_request; /* between message begin and the end of the answer */
    edm_buf head;   /* url, then "name\0value\0" pairs */
    size_t url_len;
    size_t hoff_name[HTTP_MAX_HEADERS], hoff_value[HTTP_MAX_HEADERS];
    size_t nh;
    int last_cb; /* 0 none, 1 field, 2 value */
    int too_many_headers;
    uint64_t body_bytes;
    int answered; /* an answer is queued (or streaming) */
    int early;    /* answered before the body was read */
    int keep_alive;
    http_producer producer;
    int stream_chunked;
    int stream_done;
    unsigned writes; /* uv_write requests in flight */
};

typedef struct wreq {
    uv_write_t w;
    http_conn *conn;
    char *data;
} wreq;

static void conn_close(http_conn *c, const char *why);
static void conn_after_write(http_conn *c);
static void conn_feed(http_conn *c, const char *data, size_t len);

static void conn_arm(http_conn *c, unsigned ms);
static void conn_resume_read(http_conn *c);

/* An answer went out before the body was read: the rest is dropped. */
static int discarding(const http_conn *c)
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

static void conn_enter(http_conn *c, enum conn_state s)
{
    EDM_DEBUG("http", "conn=%s state=%s->%s", c->peer, conn_state_names[c->state],
              conn_state_names[s]);
    c->state = s;
    const http_limits *l = &c->srv->limits;
    switch (s) {
    case CONN_IDLE: conn_arm(c, l->idle_timeout_ms); break;
    case CONN_HEAD: conn_arm(c, l->header_timeout_ms); break;
    case CONN_BODY: conn_arm(c, l->idle_timeout_ms); break;
    case CONN_ANSWER: conn_arm(c, l->idle_timeout_ms); break;
    case CONN_LINGER: conn_arm(c, LINGER_MS); break;
    case CONN_CLOSED: break;
    default: EDM_PANIC("bad connection state %d", (int)s);
    }
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* ---- writing ---- */

static void on_write(uv_write_t *w, int status)
{
    wreq *wr = (wreq *)w;
    http_conn *c = wr->conn;
    edm_free(wr->data);
    edm_free(wr);
    c->writes--;
    if (status < 0) {
        conn_close(c, uv_strerror(status));
        return;
    }
    if (c->state != CONN_CLOSED)
        conn_after_write(c);
}

/* Queues data (taking ownership of it). */
static void conn_write(http_conn *c, char *data, size_t len)
{
    if (c->state == CONN_CLOSED) {
        edm_free(data);
        return;
    }
    wreq *wr = edm_xmalloc(sizeof *wr);
    wr->conn = c;
    wr->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        edm_free(data);
        edm_free(wr);
        conn_close(c, uv_strerror(rc));
        return;
    }
    c->writes++;
}

static void http_date(char *out, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void status_head(http_conn *c, edm_buf *b, int status, const char *ctype, const char *extra)
{
    char date[40];
    http_date(date, sizeof date);
    edm_buf_appendf(b, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: edm/%s\r\nConnection: %s\r\n%s",
                    status, http_status_text(status), date, edm_version(),
                    c->keep_alive ? "keep-alive" : "close", extra ? extra : "");
    if (ctype)
        edm_buf_appendf(b, "Content-Type: %s\r\n", ctype);
}

void http_respond(http_req *req, int status, const char *ctype, const char *extra, const char *body,
                  size_t len)
{
    http_conn *c = req->conn;
    EDM_ASSERT(!c->answered);
    c->answered = 1;
    if (c->state != CONN_ANSWER) /* answering before the body was read */
        c->early = 1;
    if (c->early && req->has_body)
        c->keep_alive = 0;
    edm_buf b = EDM_BUF_INIT;
    status_head(c, &b, status, ctype, extra);
    if (status == 204 || status == 304)
        edm_buf_append_str(&b, "\r\n");
    else
        edm_buf_appendf(&b, "Content-Length: %zu\r\n\r\n", len);
    if (edm_buf_append(&b, body, len) != 0)
        EDM_PANIC("out of memory");
    edm_log(status >= 500 ? EDM_LOG_WARN : EDM_LOG_INFO, "http",
            "req=%llu peer=%s method=%s path=%s status=%d bytes=%zu", (unsigned long long)req->id,
            c->peer, req->method_name, req->path ? req->path : "-", status, len);
    size_t n;
    char *data = edm_buf_detach(&b, &n);
    conn_write(c, data, n);
}

static void stream_pull(http_conn *c)
{
    edm_buf out = EDM_BUF_INIT;
    int rc = c->producer(&c->req, &out);
    if (rc < 0) {
        edm_buf_free(&out);
        conn_close(c, "stream producer failed");
        return;
    }
    edm_buf frame = EDM_BUF_INIT;
    if (c->stream_chunked) {
        if (out.len > 0)
            edm_buf_appendf(&frame, "%zx\r\n", out.len);
        if (out.len > 0 && edm_buf_append(&frame, out.data, out.len) != 0)
            EDM_PANIC("out of memory");
        if (out.len > 0)
            edm_buf_append_str(&frame, "\r\n");
        if (rc == 0)
            edm_buf_append_str(&frame, "0\r\n\r\n");
    } else if (out.len > 0 && edm_buf_append(&frame, out.data, out.len) != 0) {
        EDM_PANIC("out of memory");
    }
    edm_buf_free(&out);
    if (rc == 0)
        c->stream_done = 1;
    if (frame.len == 0) {
        edm_buf_free(&frame);
        if (rc == 0) {
            conn_after_write(c);
            return;
        }
        EDM_PANIC("a stream producer returned more to come without data");
    }
    size_t n;
    char *data = edm_buf_detach(&frame, &n);
    conn_write(c, data, n);
}

void http_stream(http_req *req, int status, const char *ctype, http_producer produce)
{
    http_conn *c = req->conn;
    EDM_ASSERT(!c->answered && c->state == CONN_ANSWER);
    c->answered = 1;
    c->producer = produce;
    c->stream_chunked = req->http_minor >= 1;
    if (!c->stream_chunked)
        c->keep_alive = 0;
    edm_buf b = EDM_BUF_INIT;
    status_head(c, &b, status, ctype, c->stream_chunked ? "Transfer-Encoding: chunked\r\n" : NULL);
    edm_buf_append_str(&b, "\r\n");
    edm_log(EDM_LOG_INFO, "http", "req=%llu peer=%s method=%s path=%s status=%d stream=1",
            (unsigned long long)req->id, c->peer, req->method_name, req->path, status);
    size_t n;
    char *data = edm_buf_detach(&b, &n);
    conn_write(c, data, n);
}

/* ---- request bookkeeping ---- */

static void req_release(http_conn *c)
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

static void req_reset(http_conn *c)
{
    req_release(c);
    http_req *r = &c->req;
    memset(r, 0, sizeof *r);
    r->conn = c;
    r->peer = c->peer;
    r->content_length = -1;
    r->query = "";
    c->url_len = 0;
    c->nh = 0;
    c->last_cb = 0;
    c->too_many_headers = 0;
    c->body_bytes = 0;
    c->answered = c->early = 0;
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

/* The answer is fully written (or, for a stream, the next piece may go). */
static void conn_after_write(http_conn *c)
{
    if (c->writes > 0 || !c->answered || c->state == CONN_CLOSED)
        return;
    if (c->producer && !c->stream_done) {
        conn_arm(c, c->srv->limits.idle_timeout_ms);
        stream_pull(c);
        return;
    }
    if (c->state == CONN_LINGER)
        return;
    if (c->early && c->req.has_body) {
        /* the body was not read: stop writing, drain what comes for a while */
        req_release(c);
        conn_enter(c, CONN_LINGER);
        uv_shutdown_t *sh = edm_xmalloc(sizeof *sh);
        if (uv_shutdown(sh, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
            edm_free(sh);
        edm_buf_reset(&c->pending);
        conn_resume_read(c);
        return;
    }
    if (c->state != CONN_ANSWER) /* answered at the head; the message end is still to come */
        return;
    if (!c->keep_alive || c->srv->stopping) {
        conn_close(c, "done");
        return;
    }
    req_release(c);
    conn_enter(c, CONN_IDLE);
    http_parser_pause(&c->parser, 0);
    if (c->pending.len > 0) {
        edm_buf rest = c->pending;
        edm_buf_init(&c->pending);
        conn_feed(c, rest.data, rest.len);
        edm_buf_free(&rest);
    }
    if (c->state != CONN_CLOSED && c->pending.len == 0)
        conn_resume_read(c);
}

/* ---- parser callbacks ---- */

static int head_room(http_conn *c, size_t more)
{
    if (c->head.len + more + 2 > c->srv->limits.max_header)
        return 0;
    return 1;
}

static void answer_error_now(http_conn *c, int status, const char *code, const char *msg)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"code\":\"%s\",\"message\":\"%s\",\"field\":null}}", code, msg);
    c->keep_alive = 0;
    if (!c->answered) {
        if (c->req.method_name == NULL)
            c->req.method_name = "-";
        http_respond(&c->req, status, "application/json", NULL, body, (size_t)n);
    }
    c->early = 1;
    c->req.has_body = 1; /* whatever follows is not read */
}

static int on_message_begin(http_parser *p)
{
    http_conn *c = p->data;
    req_reset(c);
    c->in_request = 1;
    c->req.id = ++c->srv->next_req_id;
    conn_enter(c, CONN_HEAD);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (!head_room(c, len)) {
        answer_error_now(c, 431, "header_too_large", "request line and headers are too large");
        return 1;
    }
    edm_buf_append(&c->head, at, len);
    c->url_len = c->head.len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (!head_room(c, len + 1)) {
        answer_error_now(c, 431, "header_too_large", "request line and headers are too large");
        return 1;
    }
    if (c->last_cb != 1) {
        if (c->last_cb == 2 || c->nh == 0)
            edm_buf_append_char(&c->head, '\0');
        if (c->nh == HTTP_MAX_HEADERS) {
            answer_error_now(c, 431, "header_too_large", "too many header fields");
            return 1;
        }
        c->hoff_name[c->nh++] = c->head.len;
    }
    edm_buf_append(&c->head, at, len);
    c->last_cb = 1;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (!head_room(c, len + 1)) {
        answer_error_now(c, 431, "header_too_large", "request line and headers are too large");
        return 1;
    }
    if (c->last_cb != 2) {
        edm_buf_append_char(&c->head, '\0');
        c->hoff_value[c->nh - 1] = c->head.len;
    }
    edm_buf_append(&c->head, at, len);
    c->last_cb = 2;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    http_conn *c = p->data;
    http_req *r = &c->req;
    edm_buf_append_char(&c->head, '\0');
    /* split the target into path and query (in place) */
    char *h = c->head.data;
    h[c->url_len] = '\0';
    r->path = h;
    char *q = strchr(h, '?');
    if (q) {
        *q = '\0';
        r->query = q + 1;
    }
    char *frag = strchr(r->query, '#');
    if (frag)
        *frag = '\0';
    for (size_t i = 0; i < c->nh; i++) {
        r->hname[i] = h + c->hoff_name[i];
        r->hvalue[i] = c->hoff_value[i] ? h + c->hoff_value[i] : "";
    }
    r->nheaders = c->nh;
    r->method = p->method;
    r->method_name = http_method_str(p->method);
    r->http_minor = p->http_minor;
    r->chunked = (p->flags & F_CHUNKED) != 0;
    r->content_length = (p->flags & F_CONTENTLENGTH) ? (int64_t)p->content_length : -1;
    r->has_body = r->chunked || r->content_length > 0;
    c->keep_alive = http_should_keep_alive(p) && !c->srv->stopping;
    conn_enter(c, CONN_BODY);

    const http_limits *l = &c->srv->limits;
    if (c->srv->app.on_head(c->srv->app.ctx, r)) {
        EDM_ASSERT(c->answered);
        if (r->has_body)
            http_parser_pause(p, 1); /* the body is not read */
        return 0;
    }
    size_t limit = r->body_mode == HTTP_BODY_STREAM ? l->max_body : l->max_buffered_body;
    if (r->content_length > 0 && (uint64_t)r->content_length > limit) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", limit);
        answer_error_now(c, 413, "too_large", msg);
        http_parser_pause(p, 1);
        return 0;
    }
    const char *expect = http_req_header(r, "expect");
    if (expect && r->has_body) {
        if (strcasecmp(expect, "100-continue") != 0) {
            answer_error_now(c, 417, "expectation_failed", "only 100-continue is supported");
            http_parser_pause(p, 1);
            return 0;
        }
        conn_write(c, edm_xstrdup("HTTP/1.1 100 Continue\r\n\r\n"), 25);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    http_req *r = &c->req;
    const http_limits *l = &c->srv->limits;
    size_t limit = r->body_mode == HTTP_BODY_STREAM ? l->max_body : l->max_buffered_body;
    c->body_bytes += len;
    if (c->body_bytes > limit) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", limit);
        answer_error_now(c, 413, "too_large", msg);
        return 1;
    }
    conn_arm(c, l->idle_timeout_ms);
    if (r->body_mode == HTTP_BODY_BUFFER) {
        if (edm_buf_append(&r->body, at, len) != 0) {
            answer_error_now(c, 503, "no_memory", "out of memory");
            return 1;
        }
        return 0;
    }
    if (c->srv->app.on_body(c->srv->app.ctx, r, at, len)) {
        EDM_ASSERT(c->answered);
        c->early = 1;
        c->keep_alive = 0;
        return 1;
    }
    return c->state == CONN_CLOSED;
}

static int on_message_complete(http_parser *p)
{
    http_conn *c = p->data;
    http_parser_pause(p, 1);
    if (c->answered) {
        /* answered at the head of a request without a body */
        conn_enter(c, CONN_ANSWER);
        c->early = 0;
        conn_after_write(c);
        return 0;
    }
    conn_enter(c, CONN_ANSWER);
    c->srv->app.on_complete(c->srv->app.ctx, &c->req); /* may answer later */
    return 0;
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    http_conn *c = h->data;
    if (c->rbuf == NULL)
        c->rbuf = edm_xmalloc(READ_BUF);
    *buf = uv_buf_init(c->rbuf, READ_BUF);
}

static void conn_feed(http_conn *c, const char *data, size_t len)
{
    if (c->state == CONN_IDLE && len > 0)
        conn_enter(c, CONN_HEAD); /* the head deadline starts at its first byte */
    size_t n = http_parser_execute(&c->parser, &c->srv->settings, data, len);
    if (c->state == CONN_CLOSED)
        return;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED && discarding(c))
        return;
    if (e == HPE_PAUSED) {
        /* keep the rest for after the answer; stop reading meanwhile */
        if (n < len && edm_buf_append(&c->pending, data + n, len - n) != 0) {
            conn_close(c, "out of memory");
            return;
        }
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
        return;
    }
    if (e != HPE_OK) {
        if (!c->answered) {
            char msg[200];
            snprintf(msg, sizeof msg, "malformed HTTP request: %s", http_errno_description(e));
            int status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
            answer_error_now(c, status, status == 431 ? "header_too_large" : "bad_request", msg);
        } else {
            c->early = 1;
            c->req.has_body = 1;
            conn_after_write(c);
        }
        c->keep_alive = 0;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = s->data;
    (void)buf;
    if (nread < 0) {
        if (c->state == CONN_LINGER || nread == UV_EOF)
            conn_close(c, nread == UV_EOF ? "eof" : uv_strerror((int)nread));
        else
            conn_close(c, uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || c->state == CONN_LINGER || discarding(c))
        return;
    conn_feed(c, c->rbuf, (size_t)nread);
}

static void conn_resume_read(http_conn *c)
{
    if (!c->reading && c->state != CONN_CLOSED &&
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

/* ---- timers and closing ---- */

static void on_timer(uv_timer_t *t)
{
    http_conn *c = t->data;
    switch (c->state) {
    case CONN_IDLE: conn_close(c, "idle"); break;
    case CONN_HEAD:
    case CONN_BODY:
        if (c->answered) {
            conn_close(c, "timeout after answer");
            break;
        }
        answer_error_now(c, 408, "timeout",
                         c->state == CONN_HEAD ? "the request head took too long"
                                               : "the request body stalled");
        conn_enter(c, CONN_ANSWER);
        break;
    case CONN_ANSWER: conn_close(c, "write stalled"); break;
    case CONN_LINGER: conn_close(c, "linger over"); break;
    case CONN_CLOSED: break;
    default: EDM_PANIC("bad connection state %d", (int)c->state);
    }
}

static void conn_arm(http_conn *c, unsigned ms)
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
    req_release(c);
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

static void conn_close(http_conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    EDM_DEBUG("http", "conn=%s close=\"%s\"", c->peer, why);
    if (c->in_request && !c->answered)
        edm_log(EDM_LOG_INFO, "http", "conn=%s closed mid-request reason=\"%s\"", c->peer, why);
    c->state = CONN_CLOSED;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* ---- accepting ---- */

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
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char ip[48] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    req_reset(c);
    if (srv->nconns > srv->limits.max_connections || srv->stopping) {
        edm_log(EDM_LOG_WARN, "http", "conn=%s refused=\"too many connections\" max=%u", c->peer,
                srv->limits.max_connections);
        conn_close(c, "too many connections");
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_enter(c, CONN_IDLE);
    conn_resume_read(c);
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
    http_parser_settings_init(&srv->settings);
    srv->settings.on_message_begin = on_message_begin;
    srv->settings.on_url = on_url;
    srv->settings.on_header_field = on_header_field;
    srv->settings.on_header_value = on_header_value;
    srv->settings.on_headers_complete = on_headers_complete;
    srv->settings.on_body = on_body;
    srv->settings.on_message_complete = on_message_complete;
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
        conn_close(c, "server stopping");
}
