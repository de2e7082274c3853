/*
 * tests/fuzz/fuzz_api_request.c: the API's request path under fuzzing:
 * each input is sent as raw bytes over a loopback connection to a real API
 * (http.c with libhttp-parser, router, auth, JSON bodies, handlers, a
 * SQLite store in a temp dir), which runs on its loop until it has
 * answered and closed; the same bytes also go through the recipient list
 * parsers in every format and the route matcher. Inputs should carry
 * "Authorization: Bearer fuzzkey" to get past auth.
 *
 * Built with -DEDM_FUZZ=ON it is a libFuzzer target; otherwise driver.c
 * runs the checked-in corpus under ASan/UBSan.
 */
#include "api/api.h"
#include "api/router.h"
#include "engine/ingest/upload.h"
#include "engine/store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static uv_loop_t *loop;
static edm_api *api;
static int port;
static char dir[] = "/tmp/edm-fuzz-api-XXXXXX";

static void cleanup(void)
{
    static const char *const files[] = {"fuzz.db", "fuzz.db-wal", "fuzz.db-shm"};
    char p[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void setup_once(void)
{
    if (api)
        return;
    signal(SIGPIPE, SIG_IGN);
    setenv("EDM_API_KEYS", "fuzzkey", 1);
    if (mkdtemp(dir) == NULL)
        abort();
    atexit(cleanup);
    char db[128], err[256];
    snprintf(db, sizeof db, "%s/fuzz.db", dir);
    edm_store *st;
    if (edm_store_open(db, &st, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    /* template 1 and campaign 1 exist, so the corpus reaches deep paths */
    json_t *t = json_pack("{s:s,s:s,s:s}", "name", "t", "subject", "Hi {{name}}", "text", "x");
    if (st->ops->template_create(st, t, NULL) != 0)
        abort();
    json_decref(t);
    json_t *c = json_pack("{s:s,s:i,s:s}", "name", "c", "template_id", 1, "from", "a@x.test");
    if (st->ops->campaign_create(st, c, NULL) != 0)
        abort();
    json_decref(c);
    loop = uv_default_loop();
    edm_api_config cfg = {.listen = "127.0.0.1:0",
                          .max_body = 1 << 20,
                          .max_json_body = 1 << 16,
                          .header_timeout_ms = 300,
                          .idle_timeout_ms = 300};
    if (edm_api_start(loop, &cfg, st, NULL, &api, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    port = edm_api_port(api);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void over_http(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        abort();
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t off = 0;
    int shut = 0, eof = 0;
    int64_t deadline = now_ms() + 3000;
    char buf[65536];
    for (;;) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (off < size) {
            ssize_t k = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (k > 0)
                off += (size_t)k;
            else if (k < 0 && errno != EAGAIN)
                off = size; /* the server closed on us */
        } else if (!shut) {
            shutdown(fd, SHUT_WR);
            shut = 1;
        }
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            eof = 1;
            break;
        }
        if (now_ms() > deadline)
            break;
        if (r < 0) {
            struct pollfd p = {fd, POLLIN, 0};
            poll(&p, 1, 1);
        }
    }
    close(fd);
    /* let the server see the close and free the connection: it had closed
     * already when it ended the stream (its handles' close callbacks run
     * in the next iterations); after a timeout, give it 20 ms. Sleeping
     * 20 ms every time held the target to about 40 inputs a second. */
    for (int i = 0; i < 20; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (eof && i >= 2)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static int row(void *ctx, long line, const char *email, size_t len, const edm_upload_vars *vars)
{
    (void)ctx, (void)line, (void)email, (void)len;
    /* the variables handed on always stand for a JSON object (text or
     * the compact parts) */
    if (vars) {
        json_t *o = NULL;
        char err[128];
        if (edm_upload_vars_json(vars, &o, err, sizeof err) != 0 || !json_is_object(o))
            abort();
        json_decref(o);
    }
    return 0;
}

static int reject(void *ctx, long line, const char *email, const char *error)
{
    (void)ctx, (void)line, (void)email, (void)error;
    return 0;
}

static void through_parsers(const uint8_t *data, size_t size)
{
    static const enum edm_upload_format fmts[] = {EDM_UPLOAD_CSV, EDM_UPLOAD_NDJSON,
                                                  EDM_UPLOAD_JSON, EDM_UPLOAD_SNIFF};
    edm_upload_sink sink = {NULL, row, reject};
    for (size_t f = 0; f < 4; f++) {
        edm_upload_parser *p;
        if (edm_upload_parser_new(fmts[f], &sink, &p) != 0)
            abort();
        /* in two pieces, split in the middle */
        int rc = edm_upload_parser_feed(p, (const char *)data, size / 2);
        if (rc == 0)
            rc = edm_upload_parser_feed(p, (const char *)data + size / 2, size - size / 2);
        if (rc == 0)
            edm_upload_parser_finish(p);
        edm_upload_parser_free(p);
    }
    char path[256];
    size_t n = size < sizeof path - 1 ? size : sizeof path - 1;
    memcpy(path, data, n);
    path[n] = '\0';
    for (size_t i = 0; i < api_nroutes; i++) {
        int64_t id;
        api_route_match(api_routes[i].pattern, path, &id);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    through_parsers(data, size);
    over_http(data, size);
    return 0;
}
