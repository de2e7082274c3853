/*
 * tests/engine/net/test_io.c: engine/net/io.c's write path on loopback
 * against a plain libuv peer on the same loop: a small flush goes out at
 * once and IO_DRAINED still comes later, never inside io_flush, and once
 * for several flushes; a write larger than the socket takes (the peer
 * reads nothing until a timer fires) goes out partly at once and the rest
 * through uv_write, arriving whole and in order, with one IO_DRAINED;
 * closing while IO_DRAINED is due gives IO_CLOSED only. Every test ends
 * with an empty loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/net/io.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The listening peer: accepts one connection, reads into got once
 * reading is turned on (at once or from a timer). */
typedef struct {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_tcp_t peer;
    uv_timer_t later;
    int accepted;
    int read_delay_ms; /* 0: read at once */
    unsigned char *got;
    size_t got_len, got_cap;
    int peer_eof;
    io_conn io;
    int in_flush; /* io_flush is on the stack */
    int events[8];
    int drained_in_flush;
    size_t want; /* close when this much arrived and drained */
    int port;
} fixture;

static void peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char chunk[65536];
    *buf = uv_buf_init(chunk, sizeof chunk);
}

static void maybe_done(fixture *f)
{
    if (f->want && f->got_len == f->want && f->events[IO_DRAINED] > 0 && !f->io.closing) {
        io_close(&f->io);
        uv_close((uv_handle_t *)&f->peer, NULL);
        uv_close((uv_handle_t *)&f->listener, NULL);
        uv_close((uv_handle_t *)&f->later, NULL);
    }
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    fixture *f = s->data;
    if (n < 0) {
        f->peer_eof = 1;
        uv_read_stop(s);
        return;
    }
    if (f->got_len + (size_t)n > f->got_cap) {
        f->got_cap = (f->got_len + (size_t)n) * 2;
        f->got = realloc(f->got, f->got_cap);
        assert_non_null(f->got);
    }
    memcpy(f->got + f->got_len, buf->base, (size_t)n);
    f->got_len += (size_t)n;
    maybe_done(f);
}

static void start_reading(uv_timer_t *t)
{
    fixture *f = t->data;
    uv_read_start((uv_stream_t *)&f->peer, peer_alloc, peer_read);
}

static void on_accept(uv_stream_t *server, int status)
{
    fixture *f = server->data;
    assert_int_equal(status, 0);
    uv_tcp_init(&f->loop, &f->peer);
    f->peer.data = f;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&f->peer), 0);
    f->accepted = 1;
    if (f->read_delay_ms)
        uv_timer_start(&f->later, start_reading, (uint64_t)f->read_delay_ms, 0);
    else
        uv_read_start((uv_stream_t *)&f->peer, peer_alloc, peer_read);
}

static void on_io(io_conn *io, enum io_event ev, void *arg)
{
    fixture *f = arg;
    (void)io;
    f->events[ev]++;
    if (ev == IO_DRAINED && f->in_flush)
        f->drained_in_flush++;
    if (ev == IO_DRAINED)
        maybe_done(f);
}

static fixture *start(int read_delay_ms)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->read_delay_ms = read_delay_ms;
    uv_tcp_init(&f->loop, &f->listener);
    uv_timer_init(&f->loop, &f->later);
    f->listener.data = f->later.data = f;
    f->port = edm_test_free_port("127.0.0.1");
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", f->port, &sa);
    assert_int_equal(uv_tcp_bind(&f->listener, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f->listener, 4, on_accept), 0);
    io_init(&f->io, &f->loop, on_io, f);
    assert_int_equal(io_connect(&f->io, "127.0.0.1", "127.0.0.1", f->port), 0);
    while (!(f->accepted && f->events[IO_CONNECTED]))
        uv_run(&f->loop, UV_RUN_ONCE);
    return f;
}

static void send_now(fixture *f, const void *p, size_t n)
{
    assert_int_equal(io_write(&f->io, p, n), 0);
    f->in_flush = 1;
    assert_int_equal(io_flush(&f->io), 0);
    f->in_flush = 0;
}

static void finish(fixture *f)
{
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->events[IO_CLOSED], 1);
    assert_int_equal(f->events[IO_ERROR], 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void release(fixture *f)
{
    free(f->got);
    free(f);
}

/* A small write is on the wire when io_flush returns; IO_DRAINED comes on
 * a later iteration, once for two flushes made before it. */
static void small_writes_drain_once_later(void **state)
{
    (void)state;
    fixture *f = start(0);
    send_now(f, "MAIL FROM:<a@b>\r\n", 17);
    assert_int_equal(io_pending_out(&f->io), 0); /* the socket took it all */
    assert_int_equal(f->io.writing, 0);
    send_now(f, "RCPT TO:<c@d>\r\n", 15);
    assert_int_equal(f->events[IO_DRAINED], 0);
    f->want = 32;
    finish(f);
    assert_int_equal(f->drained_in_flush, 0);
    assert_int_equal(f->events[IO_DRAINED], 1);
    assert_int_equal(f->got_len, 32);
    assert_memory_equal(f->got, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 32);
    release(f);
}

/* More than the socket takes while the peer does not read: part goes at
 * once, the rest through uv_write; all of it arrives, in order, and
 * IO_DRAINED comes once, after the last byte was written. */
static void big_write_goes_partly_then_queued(void **state)
{
    (void)state;
    fixture *f = start(200);
    size_t n = 32u << 20;
    unsigned char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 24);
    send_now(f, big, n);
    /* the kernel's buffers hold far less than 32 MB: a write is in flight */
    assert_int_equal(f->io.writing, 1);
    assert_true(io_pending_out(&f->io) > 0);
    /* gathered behind the write in flight */
    send_now(f, "tail", 4);
    f->want = n + 4;
    finish(f);
    assert_int_equal(f->drained_in_flush, 0);
    assert_int_equal(f->events[IO_DRAINED], 1);
    assert_int_equal(f->got_len, n + 4);
    assert_memory_equal(f->got, big, n);
    assert_memory_equal(f->got + n, "tail", 4);
    free(big);
    release(f);
}

/* Closed while IO_DRAINED is due: the owner hears IO_CLOSED and nothing
 * else. */
static void close_with_drain_due(void **state)
{
    (void)state;
    fixture *f = start(0);
    send_now(f, "QUIT\r\n", 6);
    io_close(&f->io);
    uv_close((uv_handle_t *)&f->listener, NULL);
    uv_close((uv_handle_t *)&f->later, NULL);
    uv_read_stop((uv_stream_t *)&f->peer);
    uv_close((uv_handle_t *)&f->peer, NULL);
    finish(f);
    assert_int_equal(f->events[IO_DRAINED], 0);
    release(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(small_writes_drain_once_later),
        cmocka_unit_test(big_write_goes_partly_then_queued),
        cmocka_unit_test(close_with_drain_due),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
