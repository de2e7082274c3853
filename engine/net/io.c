/*
 * engine/net/io.c: libuv TCP + OpenSSL memory BIOs behind one event callback
 * (see io.h).
 *
 * Entry points: io_init, io_connect, io_accept, io_start_tls, io_write,
 * io_flush, io_data/io_consume, io_set_timeout, io_close. Every callback
 * from libuv checks `closing` first: after io_close the owner hears only
 * IO_CLOSED. Reads land in one per-thread scratch buffer (libuv calls
 * alloc and read back to back), then go to the input buffer, through
 * OpenSSL under TLS. A flush first writes at once (uv_try_write): a
 * uv_write that completes still costs an epoll_ctl (libuv stops POLLOUT
 * it never started), one system call a message on a pipelined session;
 * only what the socket does not take goes through uv_write. IO_DRAINED is
 * always asynchronous: after an immediate write an idle handle emits it
 * on the loop's next iteration, as uv_write's callback would. Limits: one
 * write in flight at a time (later writes are gathered behind it); IPv4
 * and IPv6 literals only (names are resolved by engine/net/dns.c).
 */
#include "engine/net/io.h"
#include "engine/base/err.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

static _Thread_local char scratch[65536];

static const char *const event_names[] = {"connected", "tls-ready", "data-in", "drained",
                                          "timeout",   "error",     "closed"};

const char *io_event_name(enum io_event ev)
{
    EDM_ASSERT((unsigned)ev < sizeof event_names / sizeof event_names[0]);
    return event_names[ev];
}

static void emit(io_conn *io, enum io_event ev)
{
    io->cb(io, ev, io->arg);
}

static void fail(io_conn *io, int code, const char *fmt, const char *detail)
{
    io->err = code;
    snprintf(io->errmsg, sizeof io->errmsg, fmt, detail);
    uv_read_stop((uv_stream_t *)&io->tcp);
    uv_timer_stop(&io->timer);
    emit(io, IO_ERROR);
}

int io_init(io_conn *io, uv_loop_t *loop, io_cb cb, void *arg)
{
    memset(io, 0, sizeof *io);
    io->loop = loop;
    io->cb = cb;
    io->arg = arg;
    edm_buf_init(&io->in);
    edm_buf_init(&io->out);
    edm_buf_init(&io->wire);
    io->in.limit = IO_IN_MAX;
    /* Both only fail for a broken loop. */
    EDM_ASSERT(uv_timer_init(loop, &io->timer) == 0);
    EDM_ASSERT(uv_tcp_init(loop, &io->tcp) == 0);
    EDM_ASSERT(uv_idle_init(loop, &io->drain) == 0);
    io->handles = 3;
    return 0;
}

static int parse_addr(const char *ip, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (strchr(ip, ':'))
        return uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss) == 0 ? 0 : EDM_EINVAL;
    return uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) == 0 ? 0 : EDM_EINVAL;
}

static void name_of(const struct sockaddr_storage *ss, char *out, size_t n)
{
    out[0] = '\0';
    if (ss->ss_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)ss, out, n);
    else if (ss->ss_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)ss, out, n);
}

static void record_names(io_conn *io)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&io->tcp, (struct sockaddr *)&ss, &len) == 0)
        name_of(&ss, io->local_ip, sizeof io->local_ip);
    len = sizeof ss;
    if (uv_tcp_getpeername(&io->tcp, (struct sockaddr *)&ss, &len) == 0)
        name_of(&ss, io->peer_ip, sizeof io->peer_ip);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = scratch;
    buf->len = sizeof scratch;
}

/* Moves ciphertext produced by OpenSSL to the output buffer. */
static int tls_to_out(io_conn *io)
{
    size_t n;
    while ((n = tls_conn_pending(&io->tls)) > 0) {
        int rc = edm_buf_reserve(&io->out, n);
        if (rc != 0)
            return rc;
        io->out.len += tls_conn_take(&io->tls, io->out.data + io->out.len, n);
        io->out.data[io->out.len] = '\0';
    }
    return 0;
}

static int append_in(io_conn *io, const char *p, size_t n)
{
    if (io->in_off > 0 && io->in_off == io->in.len) {
        edm_buf_reset(&io->in);
        io->in_off = 0;
    } else if (io->in_off > 0 && io->in.len + n > io->in.cap) {
        memmove(io->in.data, io->in.data + io->in_off, io->in.len - io->in_off);
        io->in.len -= io->in_off;
        io->in_off = 0;
    }
    return edm_buf_append(&io->in, p, n);
}

/* Runs the handshake and decrypts what arrived. */
static void tls_input(io_conn *io)
{
    if (io->tls_state == 1) {
        int rc = tls_conn_handshake(&io->tls);
        if (tls_to_out(io) != 0 || io_flush(io) != 0) {
            fail(io, EDM_EIO, "%s", "cannot send TLS data");
            return;
        }
        if (rc < 0) {
            fail(io, EDM_ETLS, "%s", io->tls.error);
            return;
        }
        if (rc == 0)
            return;
        io->tls_state = 2;
        emit(io, IO_TLS_READY);
        if (io->closing)
            return;
    }
    size_t got = 0;
    for (;;) {
        long n = tls_conn_read(&io->tls, scratch, sizeof scratch);
        if (n == 0)
            break;
        if (n < 0) {
            fail(io, (int)n, "%s", io->tls.error);
            return;
        }
        if (append_in(io, scratch, (size_t)n) != 0) {
            fail(io, EDM_ETOOBIG, "%s", "input buffer over its limit");
            return;
        }
        got += (size_t)n;
    }
    if (tls_to_out(io) != 0 || io_flush(io) != 0) {
        fail(io, EDM_EIO, "%s", "cannot send TLS data");
        return;
    }
    if (got)
        emit(io, IO_DATA_IN);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    io_conn *io = container_of(s, io_conn, tcp);
    if (io->closing || nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_EOF)
            fail(io, EDM_EIO, "%s", "connection closed by peer");
        else
            fail(io, EDM_EIO, "read: %s", uv_strerror((int)nread));
        return;
    }
    if (io->tls_state) {
        if (tls_conn_feed(&io->tls, buf->base, (size_t)nread) != 0) {
            fail(io, EDM_ENOMEM, "%s", "out of memory");
            return;
        }
        tls_input(io);
        return;
    }
    if (append_in(io, buf->base, (size_t)nread) != 0) {
        fail(io, EDM_ETOOBIG, "%s", "input buffer over its limit");
        return;
    }
    emit(io, IO_DATA_IN);
}

static void connect_cb(uv_connect_t *req, int status)
{
    io_conn *io = container_of(req, io_conn, connect_req);
    if (io->closing)
        return;
    if (status < 0) {
        fail(io, EDM_EIO, "connect: %s", uv_strerror(status));
        return;
    }
    record_names(io);
    int rc = uv_read_start((uv_stream_t *)&io->tcp, alloc_cb, read_cb);
    if (rc != 0) {
        fail(io, EDM_EIO, "read: %s", uv_strerror(rc));
        return;
    }
    emit(io, IO_CONNECTED);
}

int io_connect(io_conn *io, const char *src_ip, const char *dst_ip, int port)
{
    struct sockaddr_storage dst, src;
    if (parse_addr(dst_ip, port, &dst) != 0) {
        snprintf(io->errmsg, sizeof io->errmsg, "bad address %s", dst_ip);
        return EDM_EINVAL;
    }
    int rc;
    if (src_ip && *src_ip) {
        if (parse_addr(src_ip, 0, &src) != 0) {
            snprintf(io->errmsg, sizeof io->errmsg, "bad source address %s", src_ip);
            return EDM_EINVAL;
        }
        rc = uv_tcp_bind(&io->tcp, (struct sockaddr *)&src, 0);
        if (rc != 0) {
            snprintf(io->errmsg, sizeof io->errmsg, "bind %s: %s", src_ip, uv_strerror(rc));
            return EDM_EIO;
        }
    }
    uv_tcp_nodelay(&io->tcp, 1);
    rc = uv_tcp_connect(&io->connect_req, &io->tcp, (struct sockaddr *)&dst, connect_cb);
    if (rc != 0) {
        snprintf(io->errmsg, sizeof io->errmsg, "connect: %s", uv_strerror(rc));
        return EDM_EIO;
    }
    return 0;
}

int io_accept(io_conn *io, uv_stream_t *server)
{
    if (uv_accept(server, (uv_stream_t *)&io->tcp) != 0)
        return EDM_EIO;
    uv_tcp_nodelay(&io->tcp, 1);
    record_names(io);
    return uv_read_start((uv_stream_t *)&io->tcp, alloc_cb, read_cb) == 0 ? 0 : EDM_EIO;
}

int io_start_tls(io_conn *io, SSL_CTX *ctx, int server, const char *sni)
{
    if (io->closing || io->tls_state)
        return EDM_ESTATE;
    if (io->in.len > io->in_off)
        return EDM_EPROTO;
    int rc = tls_conn_init(&io->tls, ctx, server, sni);
    if (rc != 0)
        return rc;
    io->tls_state = 1;
    if (!server) {
        if (tls_conn_handshake(&io->tls) < 0)
            return EDM_ETLS;
        if (tls_to_out(io) != 0)
            return EDM_ENOMEM;
        if (io_flush(io) != 0)
            return EDM_EIO;
    }
    return 0;
}

int io_write(io_conn *io, const void *data, size_t len)
{
    if (io->closing)
        return EDM_ESTATE;
    if (io->tls_state == 2) {
        int rc = tls_conn_write(&io->tls, data, len);
        return rc != 0 ? rc : tls_to_out(io);
    }
    return edm_buf_append(&io->out, data, len);
}

/* The last write is out: what was written since goes next, else the
 * owner hears IO_DRAINED. */
static void drained(io_conn *io)
{
    if (io->out.len > 0) {
        if (io_flush(io) != 0) {
            char why[sizeof io->errmsg];
            memcpy(why, io->errmsg, sizeof why);
            fail(io, EDM_EIO, "%s", why);
        }
        return;
    }
    emit(io, IO_DRAINED);
}

static void write_cb(uv_write_t *req, int status)
{
    io_conn *io = container_of(req, io_conn, write_req);
    io->writing = 0;
    edm_buf_reset(&io->wire);
    if (io->closing)
        return;
    if (status < 0) {
        fail(io, EDM_EIO, "write: %s", uv_strerror(status));
        return;
    }
    drained(io);
}

static void drain_cb(uv_idle_t *h)
{
    io_conn *io = container_of(h, io_conn, drain);
    uv_idle_stop(&io->drain);
    io->drain_due = 0;
    if (io->closing || io->writing)
        return; /* closed; or a later write is in flight: its callback drains */
    drained(io);
}

int io_flush(io_conn *io)
{
    if (io->writing || io->closing || io->out.len == 0)
        return 0;
    /* At once what the socket takes; EAGAIN (full, or still connecting)
     * and errors go to uv_write, which queues or reports them. */
    uv_buf_t b = uv_buf_init(io->out.data, (unsigned)io->out.len);
    int n = uv_try_write((uv_stream_t *)&io->tcp, &b, 1);
    if (n == (int)io->out.len) {
        edm_buf_reset(&io->out);
        if (!io->drain_due) {
            io->drain_due = 1;
            uv_idle_start(&io->drain, drain_cb);
        }
        return 0;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    edm_buf t = io->wire;
    io->wire = io->out;
    io->out = t;
    b = uv_buf_init(io->wire.data + done, (unsigned)(io->wire.len - done));
    int rc = uv_write(&io->write_req, (uv_stream_t *)&io->tcp, &b, 1, write_cb);
    if (rc != 0) {
        snprintf(io->errmsg, sizeof io->errmsg, "write: %s", uv_strerror(rc));
        return EDM_EIO;
    }
    io->writing = 1;
    return 0;
}

size_t io_pending_out(const io_conn *io)
{
    return io->out.len + io->wire.len;
}

const char *io_data(const io_conn *io, size_t *len)
{
    *len = io->in.len - io->in_off;
    return io->in.data ? io->in.data + io->in_off : "";
}

void io_consume(io_conn *io, size_t n)
{
    EDM_ASSERT(n <= io->in.len - io->in_off);
    io->in_off += n;
    if (io->in_off == io->in.len) {
        io->in_off = 0;
        edm_buf_reset(&io->in);
    }
}

static void timer_cb(uv_timer_t *t)
{
    io_conn *io = container_of(t, io_conn, timer);
    if (!io->closing)
        emit(io, IO_TIMEOUT);
}

void io_set_timeout(io_conn *io, uint64_t ms)
{
    if (io->closing)
        return;
    if (ms == 0)
        uv_timer_stop(&io->timer);
    else
        uv_timer_start(&io->timer, timer_cb, ms, 0);
}

static void close_cb(uv_handle_t *h)
{
    io_conn *io = h->type == UV_TIMER  ? container_of(h, io_conn, timer)
                  : h->type == UV_IDLE ? container_of(h, io_conn, drain)
                                       : container_of(h, io_conn, tcp);
    if (--io->handles > 0)
        return;
    if (io->tls_state)
        tls_conn_free(&io->tls);
    edm_buf_free(&io->in);
    edm_buf_free(&io->out);
    edm_buf_free(&io->wire);
    emit(io, IO_CLOSED);
}

void io_close(io_conn *io)
{
    if (io->closing)
        return;
    io->closing = 1;
    uv_timer_stop(&io->timer);
    uv_close((uv_handle_t *)&io->timer, close_cb);
    uv_close((uv_handle_t *)&io->drain, close_cb);
    uv_close((uv_handle_t *)&io->tcp, close_cb);
}
