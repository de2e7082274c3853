/*
 * tests/fuzz/fuzz_smtp_server.c: libFuzzer target for the SMTP server
 * core's input side (engine/smtp/smtp_server.c, smtp_server_auth.c): the
 * command line scanner, MAIL/RCPT parameters, AUTH PLAIN/LOGIN and the
 * DATA scanner (dot-unstuffing, bare CR/LF and smuggling, line and size
 * limits), through the socketless test connection of smtp_server.h.
 *
 * Input: byte 0 picks the set-up (bit 0: as if under TLS, so AUTH is
 * offered; bit 1: a held-back greeting). The
 * rest is fed in chunks split at "|T|", each split also firing the
 * connection's timer (a held-back greeting or AUTH answer, or a timeout).
 *
 * Invariants checked on every input (abort on failure): every message the
 * policy receives followed a 354, has only CRLF line ends, no line over
 * 998 octets and no more than the size limit; the connection never has
 * more recipients than the limit.
 */
#include "engine/base/alloc.h"
#include "engine/base/log.h"
#include "engine/smtp/smtp_server.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_BYTES 4096
#define MAX_RCPTS 4

static size_t ndata;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_smtp_server: invariant broken: %s\n", what);
        abort();
    }
}

static enum smtp_auth_result on_auth(void *ctx, smtp_sconn *c, const char *user, const char *pass)
{
    (void)ctx;
    (void)c;
    (void)user;
    if (strcmp(pass, "good") == 0)
        return SMTP_AUTH_OK;
    return strcmp(pass, "lock") == 0 ? SMTP_AUTH_LOCKED : SMTP_AUTH_BAD;
}

static const char *on_mail(void *ctx, smtp_sconn *c, const char *from)
{
    (void)ctx;
    (void)c;
    return strncmp(from, "bad", 3) == 0 ? "550 5.7.1 Refused" : NULL;
}

static const char *on_rcpt(void *ctx, smtp_sconn *c, const char *to)
{
    (void)ctx;
    (void)c;
    return strncmp(to, "bad", 3) == 0 ? "550 5.1.1 No such user" : NULL;
}

static void on_data(void *ctx, smtp_sconn *c, const char *from, char *const *rcpts, size_t n,
                    const char *msg, size_t len, char *reply, size_t replylen)
{
    (void)ctx;
    (void)from;
    size_t outlen;
    const char *out = smtp_sconn_test_output(c, &outlen);
    size_t n354 = 0;
    for (const char *p = out; (p = memmem(p, (size_t)(out + outlen - p), "354 ", 4)) != NULL;
         p += 4)
        n354++;
    ndata++;
    check(ndata <= n354, "a message without a 354 before it");
    check(n >= 1 && n <= MAX_RCPTS, "recipient count out of bounds");
    for (size_t i = 0; i < n; i++)
        check(rcpts[i][0] != '\0' && strncmp(rcpts[i], "bad", 3) != 0, "a refused recipient");
    check(len <= MAX_BYTES, "message over the size limit");
    size_t line = 0;
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\r') {
            check(i + 1 < len && msg[i + 1] == '\n', "bare CR in an accepted message");
            line = 0;
            i++;
        } else {
            check(msg[i] != '\n', "bare LF in an accepted message");
            check(++line <= 998, "line over 998 octets in an accepted message");
        }
    }
    check(len == 0 || (len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n'),
          "message not ending in CRLF");
    snprintf(reply, replylen, "250 2.0.0 Ok: queued as %zu", ndata);
}

static void on_closed_server(void *arg)
{
    *(int *)arg = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uv_loop_t loop;
    static int init;
    if (!init) {
        uv_loop_init(&loop);
        edm_log_set_level(EDM_LOG_ERROR);
        init = 1;
    }
    if (size == 0)
        return 0;
    unsigned flags = data[0];
    data++, size--;
    smtp_server_opts o = {.loop = &loop,
                          .hostname = "fuzz.test",
                          .offer_auth = 1,
                          .max_message_bytes = MAX_BYTES,
                          .max_recipients = MAX_RCPTS,
                          .greet_delay_ms = (flags & 2) ? 50 : 0,
                          .auth_delay_ms = 10};
    smtp_server_policy p = {.auth = on_auth, .mail = on_mail, .rcpt = on_rcpt, .data = on_data};
    smtp_server *s;
    if (smtp_server_new(&o, &p, &s) != 0)
        return 0;
    ndata = 0;
    smtp_sconn *c = smtp_server_test_conn(s, "192.0.2.1", flags & 1);
    const uint8_t *end = data + size;
    while (data <= end && !smtp_sconn_test_closing(c)) {
        const uint8_t *sep = memmem(data, (size_t)(end - data), "|T|", 3);
        size_t n = sep ? (size_t)(sep - data) : (size_t)(end - data);
        smtp_sconn_test_feed(c, data, n);
        if (sep == NULL)
            break;
        smtp_sconn_test_timeout(c);
        data = sep + 3;
    }
    int closed = 0;
    smtp_server_close(s, on_closed_server, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    check(closed, "server not freed after close");
    return 0;
}
