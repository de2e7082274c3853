/*
 * api/http_parse.c: requests on an HTTP connection, parsed by
 * libhttp-parser (see http.h for what the application sees).
 *
 * The head is collected into one buffer (url, then "name\0value\0") and
 * checked on the way: its size (431), the number of fields (431), and a
 * strict field-name syntax: the parser tolerates a space before the colon
 * ("Transfer-Encoding : chunked" would be honoured), which edm refuses
 * with 400, as RFC 9112 section 5.1 says, so that no proxy in front reads
 * the framing differently. Lengths are unsigned 64-bit: a Content-Length
 * over the route's limit is answered 413 at the head, before any byte of
 * the body is read, and chunked bodies are counted as they come.
 *
 * After each request the parser is paused, so pipelined requests are
 * answered in order; unparsed bytes wait in c->pending and reading stops
 * until the answer is written. A streamed body pauses the parser after
 * each piece it hands to the application, the same way, until the
 * connection's next turn (http_pull.c).
 */
#include "api/http_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int head_room(http_conn *c, size_t more)
{
    if (c->head.len + more + 2 > c->srv->limits.max_header)
        return 0;
    return 1;
}

static int on_message_begin(http_parser *p)
{
    http_conn *c = p->data;
    http_req_reset(c);
    c->in_request = 1;
    c->req.id = ++c->srv->next_req_id;
    http_conn_enter(c, CONN_HEAD);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (!head_room(c, len)) {
        http_reply_error(c, 431, "header_too_large", "request line and headers are too large");
        return 1;
    }
    edm_buf_append(&c->head, at, len);
    c->url_len = c->head.len;
    return 0;
}

/* RFC 9110 5.1: a field name is a token; whitespace before the colon is
 * refused (RFC 9112 5.1). libhttp-parser lets a space through. */
static int field_name_ok(const char *at, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (at[i] == ' ' || at[i] == '\t')
            return 0;
    return 1;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (!field_name_ok(at, len)) {
        http_reply_error(c, 400, "bad_request",
                         "malformed HTTP request: whitespace in or after a header field name");
        return 1;
    }
    if (!head_room(c, len + 1)) {
        http_reply_error(c, 431, "header_too_large", "request line and headers are too large");
        return 1;
    }
    if (c->last_cb != 1) {
        if (c->last_cb == 2 || c->nh == 0)
            edm_buf_append_char(&c->head, '\0');
        if (c->nh == HTTP_MAX_HEADERS) {
            http_reply_error(c, 431, "header_too_large", "too many header fields");
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
        http_reply_error(c, 431, "header_too_large", "request line and headers are too large");
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
    r->has_length = (p->flags & F_CONTENTLENGTH) != 0;
    r->content_length = r->has_length ? (uint64_t)p->content_length : 0;
    r->has_body = r->chunked || r->content_length > 0;
    c->keep_alive = http_should_keep_alive(p) && !c->srv->stopping;
    http_conn_enter(c, CONN_BODY);

    const http_limits *l = &c->srv->limits;
    if (c->srv->app.on_head(c->srv->app.ctx, r)) {
        EDM_ASSERT(c->answered);
        if (r->has_body)
            http_parser_pause(p, 1); /* the body is not read */
        return 0;
    }
    uint64_t limit = r->body_mode == HTTP_BODY_STREAM ? l->max_body : l->max_buffered_body;
    if (r->content_length > limit) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is over the limit of %llu bytes",
                 (unsigned long long)limit);
        http_reply_error(c, 413, "too_large", msg);
        http_parser_pause(p, 1);
        return 0;
    }
    const char *expect = http_req_header(r, "expect");
    if (expect && r->has_body) {
        if (strcasecmp(expect, "100-continue") != 0) {
            http_reply_error(c, 417, "expectation_failed", "only 100-continue is supported");
            http_parser_pause(p, 1);
            return 0;
        }
        http_reply_write(c, edm_xstrdup("HTTP/1.1 100 Continue\r\n\r\n"), 25);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    http_req *r = &c->req;
    const http_limits *l = &c->srv->limits;
    uint64_t limit = r->body_mode == HTTP_BODY_STREAM ? l->max_body : l->max_buffered_body;
    if (c->answered) /* answered at the head: never buffered */
        return 1;
    c->body_bytes += len;
    if (c->body_bytes > limit) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is over the limit of %llu bytes",
                 (unsigned long long)limit);
        http_reply_error(c, 413, "too_large", msg);
        return 1;
    }
    c->window_bytes += len; /* the minimum rate (http.c) */
    c->last_progress = uv_now(c->srv->loop);
    if (r->body_mode == HTTP_BODY_BUFFER) {
        if (edm_buf_append(&r->body, at, len) != 0) {
            http_reply_error(c, 503, "no_memory", "out of memory");
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
    if (c->state == CONN_CLOSED)
        return 1;
    /* one piece per turn: the rest waits for the connection's next turn
     * (http_pull.c) */
    c->body_yield = 1;
    http_parser_pause(p, 1);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    http_conn *c = p->data;
    http_parser_pause(p, 1);
    if (c->answered) {
        /* answered at the head of a request without a body */
        http_conn_enter(c, CONN_ANSWER);
        c->early = 0;
        http_conn_after_write(c);
        return 0;
    }
    http_conn_enter(c, CONN_ANSWER);
    c->srv->app.on_complete(c->srv->app.ctx, &c->req); /* may answer later */
    return 0;
}

void http_parse_feed(http_conn *c, const char *data, size_t len)
{
    if (len > 0 && c->state == CONN_IDLE) /* keep-alive: the head deadline starts now */
        c->head_deadline = uv_now(c->srv->loop) + c->srv->limits.header_timeout_ms;
    if (len > 0 && (c->state == CONN_IDLE || c->state == CONN_NEW))
        http_conn_enter(c, CONN_HEAD);
    size_t n = http_parser_execute(&c->parser, &c->srv->settings, data, len);
    if (c->state == CONN_CLOSED)
        return;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED && http_conn_discarding(c))
        return;
    if (e == HPE_PAUSED) {
        /* keep the rest for after the answer, or for the next turn of a
         * streamed body; stop reading meanwhile */
        if (n < len && edm_buf_append(&c->pending, data + n, len - n) != 0) {
            http_conn_close(c, "out of memory");
            return;
        }
        http_conn_stop_read(c);
        if (c->body_yield)
            http_pull_queue(c);
        return;
    }
    if (e != HPE_OK) {
        if (!c->answered) {
            char msg[200];
            snprintf(msg, sizeof msg, "malformed HTTP request: %s", http_errno_description(e));
            int status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
            http_reply_error(c, status, status == 431 ? "header_too_large" : "bad_request", msg);
        } else {
            c->early = 1;
            c->req.has_body = 1;
            http_conn_after_write(c);
        }
        c->keep_alive = 0;
    }
}

void http_parse_settings(http_parser_settings *s)
{
    http_parser_settings_init(s);
    s->on_message_begin = on_message_begin;
    s->on_url = on_url;
    s->on_header_field = on_header_field;
    s->on_header_value = on_header_value;
    s->on_headers_complete = on_headers_complete;
    s->on_body = on_body;
    s->on_message_complete = on_message_complete;
}
