/*
 * api/http_reply.c: answers on an HTTP connection (see http.h and
 * http_int.h): one buffer (http_respond) or a chunked stream pulled from a
 * producer as the socket drains (http_stream, http_reply_pull), the error
 * answers of the HTTP layer itself (http_reply_error: 400, 408, 413, 417,
 * 431, always closing the connection after them), and the writes under
 * them. Status lines and the Date, Server and Connection headers are made
 * here.
 *
 * A write error closes the connection. Answering twice is a broken
 * invariant.
 */
#include "api/http_int.h"
#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/base/log.h"
#include "engine/base/version.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct wreq {
    uv_write_t w;
    http_conn *conn;
    char *data;
} wreq;

const char *http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
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
        http_conn_close(c, uv_strerror(status));
        return;
    }
    if (c->state != CONN_CLOSED)
        http_conn_after_write(c);
}

void http_reply_write(http_conn *c, char *data, size_t len)
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
        http_conn_close(c, uv_strerror(rc));
        return;
    }
    c->writes++;
}

/* The Date header's value, formatted once per second (loop thread only). */
static const char *http_date(void)
{
    static time_t last = -1;
    static char text[40];
    time_t t = time(NULL);
    if (t != last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = t;
    }
    return text;
}

static void status_head(http_conn *c, edm_buf *b, int status, const char *ctype, const char *extra)
{
    edm_buf_appendf(b, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: edm/%s\r\nConnection: %s\r\n%s",
                    status, http_status_text(status), http_date(), edm_version(),
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
    /* One allocation: the head's fixed part is under 192 bytes. */
    if (edm_buf_reserve(&b,
                        192 + (extra ? strlen(extra) : 0) + (ctype ? strlen(ctype) : 0) + len) != 0)
        EDM_PANIC("out of memory");
    status_head(c, &b, status, ctype, extra);
    if (status == 204 || status == 304)
        edm_buf_append_str(&b, "\r\n");
    else
        edm_buf_appendf(&b, "Content-Length: %zu\r\n\r\n", len);
    /* HEAD: the same head, no body (RFC 9110 9.3.2). */
    if (req->method != HTTP_HEAD && edm_buf_append(&b, body, len) != 0)
        EDM_PANIC("out of memory");
    edm_log(status >= 500 ? EDM_LOG_WARN : EDM_LOG_INFO, "http",
            "req=%llu peer=%s method=%s path=%s status=%d bytes=%zu", (unsigned long long)req->id,
            c->peer, req->method_name, req->path ? req->path : "-", status, len);
    size_t n;
    char *data = edm_buf_detach(&b, &n);
    http_reply_write(c, data, n);
}

void http_reply_pull(http_conn *c)
{
    edm_buf out = EDM_BUF_INIT;
    int rc = c->producer(&c->req, &out);
    if (rc < 0) {
        edm_buf_free(&out);
        http_conn_close(c, "stream producer failed");
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
            http_conn_after_write(c);
            return;
        }
        EDM_PANIC("a stream producer returned more to come without data");
    }
    size_t n;
    char *data = edm_buf_detach(&frame, &n);
    http_reply_write(c, data, n);
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
    http_reply_write(c, data, n);
}

/* ---- errors of the HTTP layer ---- */

void http_reply_error(http_conn *c, int status, const char *code, const char *msg)
{
    char body[1024], note[400] = "";
    if (c->req.app_note && c->req.app_data && !c->answered)
        c->req.app_note(c->req.app_data, note, sizeof note);
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"code\":\"%s\",\"message\":\"%s%s%s\",\"field\":null}}", code,
                     msg, note[0] ? "; " : "", note);
    if (n < 0 || (size_t)n >= sizeof body)
        n = snprintf(body, sizeof body,
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
