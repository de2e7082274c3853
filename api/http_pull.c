/*
 * api/http_pull.c: fair turns for streamed answers (http_stream). A stream
 * whose last piece was written does not pull the next one at once: it
 * joins a queue, and one uv_idle handle pulls for at most
 * HTTP_PULLS_PER_TURN queued streams per loop iteration, oldest first. Ten
 * clients reading a large export then cost the loop one producer call per
 * turn, between which every other event (SMTP sessions, the pipeline,
 * /v1/health) is served, instead of ten back to back.
 *
 * Streamed request bodies (an upload) take the same turns: the parser
 * pauses after each piece handed to the application (at most one socket
 * read, 64 KiB, and the store batch it may fill), reading stops, and the
 * connection queues here; at its turn the rest is parsed and reading
 * resumes. libuv would otherwise deliver up to 32 reads per socket event,
 * over 100,000 CSV rows with their store batches, in one loop turn.
 *
 * Entry points (http_int.h): http_pull_start / http_pull_stop with the
 * server, http_pull_queue when a stream may take its next piece (or a
 * streamed body may go on),
 * http_pull_forget when its connection closes.
 */
#include "api/http_int.h"
#include "engine/base/err.h"

static void on_idle(uv_idle_t *h)
{
    http_server *srv = h->data;
    for (int i = 0; i < HTTP_PULLS_PER_TURN && srv->pull_head; i++) {
        http_conn *c = srv->pull_head;
        srv->pull_head = c->pull_next;
        if (srv->pull_head == NULL)
            srv->pull_tail = NULL;
        c->pull_next = NULL;
        c->pull_queued = 0;
        if (c->state == CONN_CLOSED)
            continue;
        if (c->body_yield)
            http_conn_body_resume(c);
        else
            http_reply_pull(c);
    }
    if (srv->pull_head == NULL)
        uv_idle_stop(&srv->pull_idle);
}

void http_pull_start(http_server *srv)
{
    uv_idle_init(srv->loop, &srv->pull_idle);
    srv->pull_idle.data = srv;
    srv->handles_open++;
}

void http_pull_queue(http_conn *c)
{
    http_server *srv = c->srv;
    if (c->pull_queued)
        return;
    c->pull_queued = 1;
    c->pull_next = NULL;
    if (srv->pull_tail)
        srv->pull_tail->pull_next = c;
    else
        srv->pull_head = c;
    srv->pull_tail = c;
    uv_idle_start(&srv->pull_idle, on_idle);
}

void http_pull_forget(http_conn *c)
{
    http_server *srv = c->srv;
    if (!c->pull_queued)
        return;
    http_conn *prev = NULL;
    for (http_conn *o = srv->pull_head; o; prev = o, o = o->pull_next) {
        if (o != c)
            continue;
        if (prev)
            prev->pull_next = c->pull_next;
        else
            srv->pull_head = c->pull_next;
        if (srv->pull_tail == c)
            srv->pull_tail = prev;
        break;
    }
    c->pull_next = NULL;
    c->pull_queued = 0;
}

void http_pull_stop(http_server *srv, uv_close_cb closed)
{
    EDM_ASSERT(srv->pull_head == NULL); /* every connection forgot itself on close */
    uv_close((uv_handle_t *)&srv->pull_idle, closed);
}
