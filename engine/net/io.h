/*
 * engine/net/io.h: one TCP connection on the libuv loop, optionally under TLS
 * (OpenSSL over memory BIOs), seen by its owner through one callback with
 * an event enum. Protocol sessions (SMTP client, the tests' fake server)
 * never call uv_* themselves.
 *
 * Events: IO_CONNECTED (io_connect finished), IO_TLS_READY (handshake
 * done), IO_DATA_IN (plaintext appended to the input buffer: io_data /
 * io_consume), IO_DRAINED (everything written so far is on the wire),
 * IO_TIMEOUT (the timer set with io_set_timeout fired; it is one-shot),
 * IO_ERROR (io->err and io->errmsg say what; the owner closes), IO_CLOSED
 * (after io_close: every handle is closed, no event follows, the owner may
 * free the io_conn inside this callback).
 *
 * Writes are gathered: io_write() only buffers, io_flush() sends what is
 * buffered in one write, so a pipelined group of commands leaves in one
 * segment.
 */
#ifndef EDM_IO_H
#define EDM_IO_H

#include "engine/base/buf.h"
#include "engine/net/tls.h"

#include <uv.h>

enum io_event {
    IO_CONNECTED,
    IO_TLS_READY,
    IO_DATA_IN,
    IO_DRAINED,
    IO_TIMEOUT,
    IO_ERROR,
    IO_CLOSED
};

typedef struct io_conn io_conn;
typedef void (*io_cb)(io_conn *io, enum io_event ev, void *arg);

/* Bytes of received plaintext kept before a reader that does not consume
 * is an error (EDM_ETOOBIG). */
#define IO_IN_MAX (1u << 20)

struct io_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_idle_t drain; /* IO_DRAINED after a write that went out at once */
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_loop_t *loop;
    io_cb cb;
    void *arg;
    edm_buf in; /* received plaintext; the first in_off bytes are consumed */
    size_t in_off;
    edm_buf out;  /* waiting to be written (ciphertext under TLS) */
    edm_buf wire; /* handed to uv_write, in flight */
    tls_conn tls;
    int tls_state; /* 0 plain, 1 handshaking, 2 established */
    int writing;
    int drain_due; /* drain is started: IO_DRAINED comes next iteration */
    int closing;
    int handles; /* open libuv handles */
    int err;     /* EDM_E* of the last IO_ERROR */
    char errmsg[160];
    char local_ip[64];
    char peer_ip[64];
};

const char *io_event_name(enum io_event ev);

/* Prepares io (handles on loop); returns 0. After it, io_close is the
 * only way to release it. */
int io_init(io_conn *io, uv_loop_t *loop, io_cb cb, void *arg);
/* Connects to dst_ip:port from src_ip (NULL or "" = any). 0 when started
 * (IO_CONNECTED or IO_ERROR follows); EDM_EINVAL for a bad address or
 * EDM_EIO when bind/connect fail at once (errmsg says why). */
int io_connect(io_conn *io, const char *src_ip, const char *dst_ip, int port);
/* Accepts a pending connection of a listening server stream. 0 or EDM_EIO. */
int io_accept(io_conn *io, uv_stream_t *server);

/* Starts TLS (server = 1 to accept). Fails with EDM_EPROTO if unconsumed
 * input is pending (plaintext sent before the handshake is an injection
 * attempt), EDM_ETLS/EDM_ENOMEM otherwise. IO_TLS_READY or IO_ERROR
 * follows. */
int io_start_tls(io_conn *io, SSL_CTX *ctx, int server, const char *sni);

/* Buffers data for writing (encrypting it under TLS). 0, EDM_ENOMEM,
 * EDM_ETLS, EDM_ESTATE when closing. */
int io_write(io_conn *io, const void *data, size_t len);
/* Starts writing what is buffered (no-op if a write is in flight: the
 * rest follows when it completes). 0 or EDM_EIO. */
int io_flush(io_conn *io);
/* Bytes buffered or in flight. */
size_t io_pending_out(const io_conn *io);

/* Unconsumed received plaintext. */
const char *io_data(const io_conn *io, size_t *len);
void io_consume(io_conn *io, size_t n);

/* One-shot timer: IO_TIMEOUT after ms; 0 stops it. Re-arming replaces. */
void io_set_timeout(io_conn *io, uint64_t ms);

/* Closes (idempotent). IO_CLOSED follows from the loop. */
void io_close(io_conn *io);

#endif
