/*
 * tests/bench/bench_smtp.c: the driver behind scripts/bench-smtp. Sends N
 * messages of SIZE bytes over C concurrent SMTP sessions (engine/
 * smtp_session.c, connections kept, PIPELINING when offered) to one
 * server, then prints one line:
 *   edm messages=N delivered=D failed=F connections=C seconds=S msg_per_s=R
 * Every message is the same buffer (one smtp_message struct): the figure
 * is the client's protocol and I/O cost, not composition.
 *
 * usage: bench_smtp HOST PORT [-c CONNECTIONS] [-m MESSAGES] [-l SIZE]
 *        [-s SOURCE_IP] [-t]  (-t: STARTTLS opportunistic)
 */
#include "engine/base/alloc.h"
#include "engine/base/log.h"
#include "engine/smtp/smtp_session.h"
#include "engine/base/timeutil.h"
#include "engine/net/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bench {
    smtp_message msg;
    unsigned long total, handed, delivered, failed, sessions_closed;
};

static const smtp_message *on_next(smtp_session *s, void *arg)
{
    (void)s;
    struct bench *b = arg;
    if (b->handed >= b->total)
        return NULL;
    b->handed++;
    return &b->msg;
}

static void on_done(smtp_session *s, const smtp_result *r, void *arg)
{
    (void)s;
    struct bench *b = arg;
    if (r->rcpts[0].failure == EDM_FAIL_NONE && r->rcpts[0].code / 100 == 2)
        b->delivered++;
    else
        b->failed++;
}

static void on_closed(smtp_session *s, const edm_outcome *fail, void *arg)
{
    struct bench *b = arg;
    if (fail)
        fprintf(stderr, "session failed: %s\n", fail->text);
    b->sessions_closed++;
    smtp_session_free(s);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_smtp HOST PORT [-c N] [-m N] [-l SIZE] [-s SRC] [-t]\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    unsigned conns = 50;
    unsigned long total = 100000, size = 1024;
    const char *src = NULL;
    int tls = 0;
    optind = 3;
    int c;
    while ((c = getopt(argc, argv, "c:m:l:s:t")) != -1) {
        switch (c) {
        case 'c': conns = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'm': total = strtoul(optarg, NULL, 10); break;
        case 'l': size = strtoul(optarg, NULL, 10); break;
        case 's': src = optarg; break;
        case 't': tls = 1; break;
        default: return 2;
        }
    }
    edm_log_set_level(EDM_LOG_ERROR);

    /* A 1 KB-ish message: headers, then 72-column lines up to size bytes. */
    char *data = edm_xmalloc(size + 200);
    int n = snprintf(data, size + 200,
                     "From: <bench@edm.test>\r\nTo: <sink@sink.test>\r\nSubject: bench\r\n\r\n");
    size_t len = (size_t)n;
    while (len + 2 < size) {
        size_t line = size - len - 2 < 72 ? size - len - 2 : 72;
        memset(data + len, 'x', line);
        len += line;
        memcpy(data + len, "\r\n", 2);
        len += 2;
    }
    static const char *const rcpts[] = {"sink@sink.test"};
    struct bench b = {0};
    b.total = total;
    b.msg.sender = "bench@edm.test";
    b.msg.rcpts = rcpts;
    b.msg.nrcpts = 1;
    b.msg.data = data;
    b.msg.len = len;

    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[200];
    SSL_CTX *ctx = tls ? tls_client_ctx_new(err, sizeof err) : NULL;
    smtp_target t = {host, host};
    smtp_options o = {0};
    o.helo = "bench.edm.test";
    o.source_ip = src;
    o.port = port;
    o.tls = tls ? SMTP_TLS_OPPORTUNISTIC : SMTP_TLS_NONE;
    o.tls_ctx = ctx;
    o.targets = &t;
    o.ntargets = 1;
    smtp_callbacks cb = {on_next, on_done, on_closed};
    uint64_t t0 = edm_time_mono_ms();
    for (unsigned i = 0; i < conns; i++) {
        o.id = i + 1;
        smtp_session *s = smtp_session_new(&loop, &o, &cb, &b);
        if (s == NULL || smtp_session_start(s) != 0) {
            fprintf(stderr, "cannot start session %u\n", i);
            return 1;
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double secs = (double)(edm_time_mono_ms() - t0) / 1000.0;
    uv_loop_close(&loop);
    tls_ctx_free(ctx);
    edm_free(data);
    printf("edm messages=%lu delivered=%lu failed=%lu connections=%u size=%zu seconds=%.3f "
           "msg_per_s=%.0f\n",
           total, b.delivered, b.failed, conns, len, secs,
           secs > 0 ? (double)b.delivered / secs : 0);
    return b.delivered == total ? 0 : 1;
}
