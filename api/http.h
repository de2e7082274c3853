/*
 * api/http.h: HTTP/1.1 server connections on a libuv loop (internal to
 * api/). Requests are parsed by libhttp-parser; the application (router.c)
 * sees a request at three points: head complete (decide: accept the body,
 * buffered or streamed, or answer at once), body bytes (streamed mode), and
 * message complete (answer). Answers are either one buffer or a chunked
 * stream pulled from a producer as the socket drains (constant memory).
 *
 * Limits: header bytes, buffered and streamed body sizes (413, checked on
 * the Content-Length before any byte of the body is read), a deadline from
 * accept (or a kept-alive request's first byte) to the end of the head
 * (slowloris), a minimum body rate, idle time between requests and without
 * progress in a body or a write, a connection cap in all and per client
 * address. Every error answer before the body closes the connection.
 * Implemented in http.c (connections), http_parse.c (requests) and
 * http_reply.c (answers).
 */
#ifndef EDM_API_HTTP_H
#define EDM_API_HTTP_H

#include "engine/base/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_server http_server;
typedef struct http_conn http_conn;
typedef struct http_req http_req;

typedef struct http_limits {
    size_t max_header;          /* request line + headers, bytes (431 past it) */
    uint64_t max_body;          /* streamed bodies (413 past it) */
    uint64_t max_buffered_body; /* buffered (JSON) bodies (413 past it) */
    unsigned header_timeout_ms; /* accept (or first byte) to the end of the head */
    unsigned idle_timeout_ms;   /* keep-alive idle, and no progress in a body or a write */
    unsigned min_body_rate;     /* bytes/s over each body window; 0: none */
    unsigned body_window_ms;    /* the window the rate is measured over */
    unsigned max_connections;
    unsigned max_per_ip; /* connections per client address; 0: no cap */
} http_limits;

enum http_body_mode { HTTP_BODY_BUFFER, HTTP_BODY_STREAM };

#define HTTP_MAX_HEADERS 64

struct http_req {
    uint64_t id; /* per server, for logs */
    http_conn *conn;
    int method; /* enum http_method */
    const char *method_name;
    char *path;  /* the target's path (not decoded), NUL-terminated */
    char *query; /* after '?', "" if none */
    size_t nheaders;
    const char *hname[HTTP_MAX_HEADERS];
    const char *hvalue[HTTP_MAX_HEADERS];
    int has_length;          /* a Content-Length was given */
    uint64_t content_length; /* its value (0 if none) */
    int chunked;
    int has_body;
    int http_minor;
    /* set by the application in on_head */
    enum http_body_mode body_mode;
    edm_buf body; /* buffered mode: the body (NUL-terminated) */
    /* per-request application state, released by app_free when the request
     * ends (answered and written, or the connection closed) */
    void *app_data;
    void (*app_free)(void *app_data);
    /* Optional: a sentence the HTTP layer appends to its own error answer
     * when it cuts a body the application was consuming (413 past the
     * limit): what was already done with it ("2 batches of rows were
     * written and are kept"). Plain text without quotes or backslashes. */
    void (*app_note)(void *app_data, char *buf, size_t len);
    const char *peer; /* "ip:port" */
};

/* Pulls the next piece of a streamed answer into out. Returns 1 when more
 * will follow, 0 when done, a negative EDM_E* code to abort (the connection
 * is closed: the client sees a truncated chunked body). */
typedef int (*http_producer)(http_req *req, edm_buf *out);

typedef struct http_app {
    void *ctx;
    /* The head is complete. Either set req->body_mode and return 0, or
     * answer (http_respond) and return 1. */
    int (*on_head)(void *ctx, http_req *req);
    /* Streamed mode: the next body bytes. Return 0 to go on, or answer and
     * return 1 (the rest of the body is not read; the connection closes). */
    int (*on_body)(void *ctx, http_req *req, const char *data, size_t len);
    /* The body is complete: answer now (http_respond / http_stream), or
     * later from the loop's thread while the request lives (its app_free
     * has not run: when the connection closes first, app_free runs and no
     * answer may follow). */
    void (*on_complete)(void *ctx, http_req *req);
} http_app;

/* Listens on addr with the given limits. Returns 0 or a negative EDM_E*
 * code with a message in err. */
int http_server_start(uv_loop_t *loop, const struct sockaddr *addr, const http_limits *limits,
                      const http_app *app, http_server **out, char *err, size_t errlen);
/* Stops listening and closes every connection; done(arg) runs once all
 * handles are closed and the server is freed. */
void http_server_stop(http_server *srv, void (*done)(void *arg), void *arg);
/* The bound port (useful with port 0). */
int http_server_port(const http_server *srv);

/* Case-insensitive header lookup; NULL if absent. */
const char *http_req_header(const http_req *req, const char *name);

/* Answers with one buffer (copied). extra_headers: "Name: value\r\n"... or
 * NULL. Answering twice is a broken invariant. */
void http_respond(http_req *req, int status, const char *content_type, const char *extra_headers,
                  const char *body, size_t len);
/* Answers with a chunked body pulled from produce as the socket drains. */
void http_stream(http_req *req, int status, const char *content_type, http_producer produce);

const char *http_status_text(int status);

#endif
