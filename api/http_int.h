/*
 * api/http_int.h: shared by the HTTP server's own files only: the server
 * and connection structs, the connection states, and the functions each
 * file gives the others.
 *
 *   http.c        connections: accept (caps), states, deadlines, reading,
 *                 closing, start/stop
 *   http_parse.c  requests: libhttp-parser callbacks, head syntax, lengths
 *                 and limits
 *   http_reply.c  answers: one buffer or a stream, writes, error answers
 *   http_pull.c   fair turns: one producer call, or one piece of a streamed
 *                 request body, per connection and loop turn
 */
#ifndef EDM_API_HTTP_INT_H
#define EDM_API_HTTP_INT_H

#include "api/http.h"

#include <http_parser.h>
#include <netinet/in.h>

/* One state machine per connection (http_conn_enter logs transitions):
 *   NEW     accepted, nothing read yet: the head deadline runs from here
 *   IDLE    waiting for the next request (keep-alive); idle timeout closes
 *   HEAD    request line and headers arriving; the head deadline answers 408
 *   BODY    body arriving; too slow (minimum rate) or stalled answers 408
 *   ANSWER  body complete, the application answers (now, later from the
 *           loop, or a stream pulled as writes drain); a stalled write closes
 *   LINGER  an answer was sent before the body was read: the write side is
 *           shut down and the rest is read and dropped for a short while so
 *           the client sees the answer instead of a reset */
enum conn_state {
    CONN_NEW,
    CONN_IDLE,
    CONN_HEAD,
    CONN_BODY,
    CONN_ANSWER,
    CONN_LINGER,
    CONN_CLOSED
};

#define HTTP_LINGER_MS 2000
#define HTTP_READ_BUF  65536
/* Streamed answers pulled per loop iteration (http_pull.c). */
#define HTTP_PULLS_PER_TURN 1

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    http_limits limits;
    http_app app;
    http_parser_settings settings;
    struct http_conn *conns; /* doubly linked, newest first */
    unsigned nconns;
    uint64_t next_req_id;
    int stopping;
    int handles_open;
    uv_idle_t pull_idle; /* runs while streams wait for their turn */
    struct http_conn *pull_head, *pull_tail;
    void (*done)(void *);
    void *done_arg;
};

/* A client address, for the per-IP cap. */
typedef struct http_ip {
    int family; /* AF_INET, AF_INET6, 0 unknown */
    unsigned char addr[16];
} http_ip;

struct http_conn {
    http_server *srv;
    http_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int handles_open;
    enum conn_state state;
    http_parser parser;
    char peer[64];
    http_ip ip;
    char *rbuf;
    edm_buf pending; /* read but not parsed (parser paused) */
    int reading;
    uint64_t head_deadline; /* loop time (ms) by which the head must be complete */
    /* body rate: bytes in the current window, when it started, last byte */
    uint64_t window_start, window_bytes, last_progress;
    /* the current request */
    http_req req;
    int in_request; /* between message begin and the end of the answer */
    edm_buf head;   /* url, then "name\0value\0" pairs */
    size_t url_len;
    size_t hoff_name[HTTP_MAX_HEADERS], hoff_value[HTTP_MAX_HEADERS];
    size_t nh;
    int last_cb; /* 0 none, 1 field, 2 value */
    uint64_t body_bytes;
    int answered; /* an answer is queued (or streaming) */
    int early;    /* answered before the body was read */
    int keep_alive;
    http_producer producer;
    int stream_chunked;
    int stream_done;
    unsigned writes; /* uv_write requests in flight */
    int pull_queued; /* waiting for its turn to pull (http_pull.c) */
    int body_yield;  /* a streamed body piece went to the application: the
                      * rest waits for the connection's next turn */
    http_conn *pull_next;
};

/* ---- http.c ---- */
void http_conn_enter(http_conn *c, enum conn_state s);
void http_conn_close(http_conn *c, const char *why);
/* The answer is fully written (or, for a stream, the next piece may go). */
void http_conn_after_write(http_conn *c);
void http_conn_arm(http_conn *c, uint64_t ms);
void http_conn_resume_read(http_conn *c);
void http_conn_stop_read(http_conn *c);
/* An answer went out before the body was read: the rest is dropped. */
int http_conn_discarding(const http_conn *c);
/* Starts a new request / ends one (frees its application state). */
void http_req_reset(http_conn *c);
void http_req_release(http_conn *c);

/* A streamed body yielded after a piece (body_yield): parses what is
 * pending and reads on (http_pull.c calls it at the connection's turn). */
void http_conn_body_resume(http_conn *c);

/* ---- http_parse.c ---- */
void http_parse_settings(http_parser_settings *s);
/* Parses data (as far as the parser is not paused; the rest waits in
 * c->pending) and answers protocol errors. */
void http_parse_feed(http_conn *c, const char *data, size_t len);

/* ---- http_reply.c ---- */
/* Queues data (taking ownership of it). */
void http_reply_write(http_conn *c, char *data, size_t len);
/* Answers {"error":...} now (if nothing was answered) and closes after it:
 * whatever follows on the connection is not read. */
void http_reply_error(http_conn *c, int status, const char *code, const char *msg);
/* Pulls and writes the next piece of a streamed answer. */
void http_reply_pull(http_conn *c);

/* ---- http_pull.c ---- */
void http_pull_start(http_server *srv);
/* The stream of c may take its next piece, or its streamed request body
 * may go on (body_yield): done at its turn. */
void http_pull_queue(http_conn *c);
/* c closes: it leaves the queue. */
void http_pull_forget(http_conn *c);
/* Closes the idle handle (closed runs as for the listener). */
void http_pull_stop(http_server *srv, uv_close_cb closed);

#endif
