/*
 * tests/api/test_http.c: the HTTP layer of the real API server, over raw
 * sockets and curl: keep-alive and pipelining, chunked bodies, Expect:
 * 100-continue, 413 for bodies over the limit, 431 for huge heads, 400 for
 * garbage, a client sending its head one byte a second (408 and closed
 * while others are served), idle connections closed, a client that
 * disconnects mid-upload (the server goes on and exits clean), the key
 * rules (no key: 401 but health; non-loopback without a key: refused).
 * Hostile clients: a Content-Length of 2^63 (answered at the head, never
 * buffered, connection closed, with and without a key), whitespace before
 * a header's colon (400), a body trickled a byte per 1.5 s (408), idle
 * sockets from one address and from many (per-IP cap, room made for
 * /v1/health), the head deadline counted from accept, and a preview whose
 * work multiplies with its data (422 at the render budget, at once); the
 * database, WAL, shared-memory and lock files are 0600 whatever the umask.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/buf.h"
#include "engine/base/timeutil.h"
#include "tests/api/apitest.h"
#include "tests/support/testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY "test-key"

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(k > 0);
        s += k;
        n -= (size_t)k;
    }
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static int64_t new_campaign(apitest *t)
{
    int st;
    json_t *tpl = apitest_json(t, "POST", "/v1/templates",
                               "{\"subject\":\"s\",\"name\":\"t\",\"text\":\"x\"}", &st);
    assert_int_equal(st, 201);
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"c\",\"template_id\":%lld,\"from\":\"a@x.test\"}",
             (long long)json_integer_value(json_object_get(tpl, "id")));
    json_decref(tpl);
    json_t *c = apitest_json(t, "POST", "/v1/campaigns", body, &st);
    assert_int_equal(st, 201);
    int64_t id = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    return id;
}

static size_t receipt_count(apitest *t, int64_t cid)
{
    char path[128], *out = NULL;
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts.ndjson", (long long)cid);
    assert_int_equal(apitest_req(t, "GET", path, NULL, 0, NULL, NULL, NULL, &out, NULL), 200);
    size_t n = count(out, "\n");
    free(out);
    return n;
}

/* Connects and sends the head of an upload to campaign cid; extra holds
 * the framing headers ("Content-Length: N\r\n" ...), then the first body
 * bytes may follow in first. Returns the socket. */
static int upload_head(apitest *t, int64_t cid, int with_key, const char *extra, const char *first)
{
    int fd = apitest_connect(t);
    char head[600];
    snprintf(head, sizeof head,
             "POST /v1/campaigns/%lld/recipients HTTP/1.1\r\nHost: x\r\n%s"
             "Content-Type: text/csv\r\n%s\r\n%s",
             (long long)cid, with_key ? "Authorization: Bearer " KEY "\r\n" : "", extra, first);
    send_all(fd, head, strlen(head));
    return fd;
}

static void keep_alive_and_pipelining(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, KEY, 0, 0, 0);
    int fd = apitest_connect(&t);
    const char *reqs =
        "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /v1/templates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " KEY "\r\n\r\n"
        "GET /v1/nothing HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " KEY
        "\r\nConnection: close\r\n\r\n";
    send_all(fd, reqs, strlen(reqs));
    char *resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    /* three answers, in order, then the server closed */
    char *a = strstr(resp, "HTTP/1.1 200 OK"), *b = a ? strstr(a + 1, "HTTP/1.1 200 OK") : NULL;
    char *c = b ? strstr(b, "HTTP/1.1 404 Not Found") : NULL;
    if (!a || !b || !c)
        fail_msg("pipelined answers out of order:\n%s", resp);
    assert_non_null(strstr(a, "\"status\":\"ok\""));
    assert_non_null(strstr(b, "\"items\""));
    assert_non_null(strstr(c, "Connection: close"));
    free(resp);
    apitest_stop(&t);
}

static void chunked_body_with_continue(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, KEY, 0, 0, 0);
    int64_t cid = new_campaign(&t);
    int fd = upload_head(&t, cid, 1, "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n", "");
    char got[64] = {0};
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_true(recv(fd, got, 25, 0) > 0);
    assert_string_equal(got, "HTTP/1.1 100 Continue\r\n\r\n");
    const char *chunks = "6\r\nemail\n\r\n"
                         "9\r\na@x.test\n\r\n"
                         "4\r\nb@x.\r\n"
                         "5\r\ntest\n\r\n"
                         "0\r\n\r\n";
    send_all(fd, chunks, strlen(chunks));
    shutdown(fd, SHUT_WR);
    char *resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    if (strstr(resp, "HTTP/1.1 200 OK") == NULL || strstr(resp, "\"accepted\":2") == NULL)
        fail_msg("chunked upload:\n%s", resp);
    free(resp);

    /* a refused request gets its final answer, never 100 Continue */
    fd = upload_head(&t, cid, 0, "Content-Length: 1000\r\nExpect: 100-continue\r\n", "");
    resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    assert_null(strstr(resp, "100 Continue"));
    assert_non_null(strstr(resp, "HTTP/1.1 401"));
    free(resp);
    apitest_stop(&t);
}

static void limits_413_431_400(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, KEY, 4096, 0, 0);
    int64_t cid = new_campaign(&t);
    char path[96];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/recipients", (long long)cid);
    edm_buf csv = EDM_BUF_INIT;
    edm_buf_append_str(&csv, "email\n");
    for (int i = 0; i < 500; i++)
        edm_buf_appendf(&csv, "user%d@x.test\n", i);
    char *out = NULL;
    /* with a Content-Length: refused before reading */
    assert_int_equal(
        apitest_req(&t, "POST", path, csv.data, csv.len, "text/csv", NULL, NULL, &out, NULL), 413);
    assert_non_null(strstr(out, "\"code\":\"too_large\""));
    free(out);
    /* chunked: refused when the count passes the limit */
    assert_int_equal(apitest_req(&t, "POST", path, csv.data, csv.len, "text/csv",
                                 "Transfer-Encoding: chunked", NULL, &out, NULL),
                     413);
    assert_non_null(strstr(out, "\"code\":\"too_large\""));
    free(out);
    edm_buf_free(&csv);
    /* under the limit: fine */
    assert_int_equal(
        apitest_req(&t, "POST", path, "email\nok@x.test\n", 16, "text/csv", NULL, NULL, &out, NULL),
        200);
    free(out);
    /* a JSON body over max_body is 413 too (not only uploads), with or
     * without a Content-Length */
    edm_buf js = EDM_BUF_INIT;
    edm_buf_append_str(&js, "{\"name\":\"");
    while (js.len < 6000)
        edm_buf_append_char(&js, 'n');
    edm_buf_append_str(&js, "\",\"subject\":\"s\",\"text\":\"t\"}");
    assert_int_equal(
        apitest_req(&t, "POST", "/v1/templates", js.data, js.len, NULL, NULL, NULL, &out, NULL),
        413);
    assert_non_null(strstr(out, "\"code\":\"too_large\""));
    free(out);
    assert_int_equal(apitest_req(&t, "POST", "/v1/templates", js.data, js.len, NULL,
                                 "Transfer-Encoding: chunked", NULL, &out, NULL),
                     413);
    assert_non_null(strstr(out, "\"code\":\"too_large\""));
    free(out);
    edm_buf_free(&js);

    /* a head of 40 KB */
    int fd = apitest_connect(&t);
    edm_buf big = EDM_BUF_INIT;
    edm_buf_append_str(&big, "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for (int i = 0; i < 40 * 1024; i++)
        edm_buf_append_char(&big, 'a');
    edm_buf_append_str(&big, "\r\n\r\n");
    send(fd, big.data, big.len, MSG_NOSIGNAL);
    char *resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    edm_buf_free(&big);
    if (strstr(resp, "HTTP/1.1 431") == NULL)
        fail_msg("40 KB head: %s", resp);
    free(resp);

    /* garbage */
    fd = apitest_connect(&t);
    send_all(fd, "HELLO THERE\r\n\r\n", 15);
    resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    assert_non_null(strstr(resp, "HTTP/1.1 400"));
    assert_non_null(strstr(resp, "\"code\":\"bad_request\""));
    free(resp);
    apitest_stop(&t);
}

/* A client sends its head one byte a second: it is answered 408 and cut
 * off at the head deadline, and another client is served meanwhile. */
static void slow_head_is_cut_off(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, KEY, 0, 2000, 0);
    int fd = apitest_connect(&t);
    const char *head = "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: 0123456789012345678901234567"
                       "890123456789\r\n\r\n";
    size_t sent = 0, n = strlen(head);
    int closed = 0, served_other = 0;
    edm_buf got = EDM_BUF_INIT;
    while (sent < n && !closed) {
        if (send(fd, head + sent, 1, MSG_NOSIGNAL) != 1) {
            closed = 1;
            break;
        }
        sent++;
        if (sent == 3) /* meanwhile, somebody else gets an answer */
            served_other =
                apitest_req(&t, "GET", "/v1/health", NULL, 0, NULL, NULL, NULL, NULL, NULL) == 200;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) == 1) {
            char buf[1024];
            ssize_t k = recv(fd, buf, sizeof buf, 0);
            if (k <= 0)
                closed = 1;
            else
                edm_buf_append(&got, buf, (size_t)k);
        }
    }
    if (!closed) {
        char *rest = apitest_read_all(fd, 3000, NULL);
        edm_buf_append_str(&got, rest);
        free(rest);
    }
    close(fd);
    assert_true(served_other);
    if (strstr(edm_buf_cstr(&got), "HTTP/1.1 408") == NULL)
        fail_msg("slow client after %zu bytes: %s", sent, edm_buf_cstr(&got));
    assert_true(sent < n); /* cut off before the head was complete */
    edm_buf_free(&got);
    apitest_stop(&t);
}

static void idle_connections_are_closed(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, KEY, 0, 0, 1000);
    int fd = apitest_connect(&t); /* never sends anything */
    size_t len = 99;
    char *resp = apitest_read_all(fd, 10000, &len);
    assert_int_equal(len, 0); /* closed without an answer */
    free(resp);
    close(fd);
    /* after an answer on a keep-alive connection */
    fd = apitest_connect(&t);
    send_all(fd, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n", 36);
    resp = apitest_read_all(fd, 10000, &len);
    assert_int_equal(count(resp, "HTTP/1.1 200"), 1);
    free(resp);
    close(fd);
    apitest_stop(&t);
}

/* A client promises 10 MB, sends 300 KB of rows and disconnects: the server
 * keeps what it committed (never more than was sent), a write made by
 * another client meanwhile is kept, the next requests are served, and the
 * server exits clean at the end (no leak). */
static void disconnect_mid_upload(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, KEY, 0, 0, 0);
    int64_t cid = new_campaign(&t);
    int fd = upload_head(&t, cid, 1, "Content-Length: 10000000\r\n", "email,n\n");
    edm_buf rows = EDM_BUF_INIT;
    int sent_rows = 0;
    while (rows.len < 300 * 1024) {
        edm_buf_appendf(&rows, "user%d@example.com,%d\n", sent_rows, sent_rows);
        sent_rows++;
    }
    send_all(fd, rows.data, rows.len);
    edm_buf_free(&rows);
    edm_test_sleep_ms(200);
    /* meanwhile another request writes: it must survive the aborted upload */
    int st;
    json_t *tpl = apitest_json(&t, "POST", "/v1/templates",
                               "{\"subject\":\"s\",\"name\":\"during\",\"text\":\"x\"}", &st);
    assert_int_equal(st, 201);
    char tpath[64];
    snprintf(tpath, sizeof tpath, "/v1/templates/%lld",
             (long long)json_integer_value(json_object_get(tpl, "id")));
    json_decref(tpl);
    close(fd);
    edm_test_sleep_ms(200);
    assert_int_equal(apitest_req(&t, "GET", tpath, NULL, 0, NULL, NULL, NULL, NULL, NULL), 200);
    assert_int_equal(apitest_req(&t, "GET", "/v1/health", NULL, 0, NULL, NULL, NULL, NULL, NULL),
                     200);
    size_t kept = receipt_count(&t, cid);
    assert_true(kept <= (size_t)sent_rows);
    /* the same campaign takes a complete upload afterwards */
    char path[96], *out = NULL;
    snprintf(path, sizeof path, "/v1/campaigns/%lld/recipients", (long long)cid);
    assert_int_equal(apitest_req(&t, "POST", path, "email\nlast@x.test\n", 18, "text/csv", NULL,
                                 NULL, &out, NULL),
                     200);
    assert_non_null(strstr(out, "\"accepted\":1"));
    free(out);
    assert_int_equal(receipt_count(&t, cid), kept + 1);
    apitest_stop(&t);
}

/* Sends what it can of s (the peer may close meanwhile). */
static void send_some(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

/* A raw connection to the server from source address src (127.0.0.x). */
static int connect_from(apitest *t, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &me.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* 1 if the server closed fd within ms (EOF or reset, after any answer). */
static int closed_within(int fd, int ms)
{
    int64_t end = edm_time_now_ms() + ms;
    char buf[4096];
    for (;;) {
        int left = (int)(end - edm_time_now_ms());
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left) != 1)
            return 0;
        if (recv(fd, buf, sizeof buf, 0) <= 0)
            return 1;
    }
}

/* Content-Length: 2^63 was cast to a negative size: the body was buffered
 * without the 413 check (also before a 401) and the connection stayed
 * open. Now: answered at the head, nothing buffered, connection closed. */
static void huge_content_length(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, KEY, 0, 0, 0);
    static char junk[65536];
    memset(junk, 'x', sizeof junk);
    for (int with_key = 0; with_key < 2; with_key++) {
        int fd = apitest_connect(&t);
        char head[300];
        snprintf(head, sizeof head,
                 "POST /v1/templates HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\n"
                 "Content-Length: 9223372036854775808\r\n\r\n",
                 with_key ? "Authorization: Bearer " KEY "\r\n" : "");
        send_all(fd, head, strlen(head));
        send_some(fd, junk, sizeof junk);
        int64_t t0 = edm_time_now_ms();
        char *resp = apitest_read_all(fd, 8000, NULL);
        int64_t took = edm_time_now_ms() - t0;
        close(fd);
        const char *want = with_key ? "HTTP/1.1 413" : "HTTP/1.1 401";
        if (strstr(resp, want) == NULL || strstr(resp, "Connection: close") == NULL)
            fail_msg("Content-Length 2^63 (key %d): %s", with_key, resp);
        if (took > 5000) /* closed after the answer, not left open */
            fail_msg("the connection stayed open %lld ms after the answer", (long long)took);
        free(resp);
    }
    /* the server is fine */
    assert_int_equal(apitest_req(&t, "GET", "/v1/health", NULL, 0, NULL, NULL, NULL, NULL, NULL),
                     200);
    apitest_stop(&t);
}

/* "Transfer-Encoding : chunked" was honoured (a proxy in front may read the
 * framing otherwise): 400, connection closed, nothing imported. */
static void space_before_colon(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, KEY, 0, 0, 0);
    int64_t cid = new_campaign(&t);
    int fd = upload_head(&t, cid, 1, "Transfer-Encoding : chunked\r\n",
                         "6\r\nemail\n\r\n9\r\na@x.test\n\r\n0\r\n\r\n");
    char *resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    if (strstr(resp, "HTTP/1.1 400") == NULL || strstr(resp, "\"accepted\"") != NULL)
        fail_msg("space before the colon: %s", resp);
    assert_non_null(strstr(resp, "whitespace in or after a header field name"));
    free(resp);
    assert_int_equal(receipt_count(&t, cid), 0);
    /* the same without the space works */
    fd = upload_head(&t, cid, 1, "Transfer-Encoding: chunked\r\nConnection: close\r\n",
                     "6\r\nemail\n\r\n9\r\na@x.test\n\r\n0\r\n\r\n");
    resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    assert_non_null(strstr(resp, "\"accepted\":1"));
    free(resp);
    apitest_stop(&t);
}

/* A body trickled one byte per 1.5 s was never cut off (the idle timer
 * restarted on every byte): with a minimum rate of 100 bytes/s over 1 s
 * windows it is answered 408; a body at 200 bytes/s is not. */
static void trickled_body_is_cut_off(void **state)
{
    (void)state;
    apitest t;
    apitest_start_opts(&t, KEY, 0, 0, 0, "min_body_rate=100 body_window_ms=1000");
    int64_t cid = new_campaign(&t);
    int fd = upload_head(&t, cid, 1, "Content-Length: 1000\r\n", "e");
    edm_buf got = EDM_BUF_INIT;
    int64_t t0 = edm_time_now_ms();
    int closed = 0;
    while (!closed && edm_time_now_ms() - t0 < 6000) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1500) == 1) {
            char buf[1024];
            ssize_t k = recv(fd, buf, sizeof buf, 0);
            if (k <= 0)
                closed = 1;
            else
                edm_buf_append(&got, buf, (size_t)k);
        } else {
            send_some(fd, "m", 1);
        }
    }
    int64_t took = edm_time_now_ms() - t0;
    close(fd);
    if (strstr(edm_buf_cstr(&got), "HTTP/1.1 408") == NULL ||
        strstr(edm_buf_cstr(&got), "too slowly") == NULL)
        fail_msg("trickled body after %lld ms: %s", (long long)took, edm_buf_cstr(&got));
    assert_true(closed);
    assert_true(took < 4000);
    edm_buf_free(&got);

    /* 50 bytes every 250 ms (200 bytes/s) for 2.5 s: fine */
    edm_buf csv = EDM_BUF_INIT;
    edm_buf_append_str(&csv, "email\n");
    for (int i = 0; csv.len < 500; i++)
        edm_buf_appendf(&csv, "slow%03d@x.test\n", i);
    char extra[64];
    snprintf(extra, sizeof extra, "Content-Length: %zu\r\n", csv.len);
    fd = upload_head(&t, cid, 1, extra, "");
    for (size_t off = 0; off < csv.len; off += 50) {
        send_all(fd, csv.data + off, csv.len - off < 50 ? csv.len - off : 50);
        edm_test_sleep_ms(250);
    }
    char *resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    if (strstr(resp, "HTTP/1.1 200") == NULL)
        fail_msg("a body at 200 bytes/s: %s", resp);
    free(resp);
    edm_buf_free(&csv);
    apitest_stop(&t);
}

/* Occurrences of needle in the server's log. */
static int log_count(const apitest *t, const char *needle)
{
    char *log = edm_test_read_file(t->log, NULL);
    int n = 0;
    for (const char *p = log ? log : ""; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

/* 1,100 idle sockets held all 1,024 slots for 60 s and /v1/health was
 * refused. Now (16 slots, 8 per address, a 2 s head deadline): one address
 * gets 8, its 9th and 10th are refused at accept; idle sockets from other
 * addresses fill the rest, and /v1/health still gets a slot (the oldest
 * waiting connection makes room); every idle socket is closed by the
 * deadline. The server's log tells which rule closed what, so a loaded
 * machine that answers slowly does not change the outcome. */
static void idle_sockets_cannot_take_every_slot(void **state)
{
    (void)state;
    apitest t;
    apitest_start_opts(&t, KEY, 0, 2000, 0, "max_connections=16 max_per_ip=8");
    int64_t t0 = edm_time_now_ms();
    int one[10], many[8];
    for (int i = 0; i < 10; i++)
        one[i] = connect_from(&t, "127.0.0.3"); /* not the address wait_up used */
    for (int i = 8; i < 10; i++)
        if (!closed_within(one[i], 3000))
            fail_msg("connection %d from one address was not refused", i + 1);
    assert_int_equal(log_count(&t, "refused=\"too many connections from this address\""), 2);
    for (int i = 0; i < 8; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.%d", 10 + i);
        many[i] = connect_from(&t, addr);
    }
    edm_test_sleep_ms(100);
    /* all 16 slots are taken by sockets that sent nothing */
    int fd = connect_from(&t, "127.0.0.2");
    send_all(fd, "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 55);
    char *resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    if (strstr(resp, "HTTP/1.1 200") == NULL)
        fail_msg("health with every slot taken: %s", resp);
    free(resp);
    /* it got its slot by closing the oldest idle socket, not by waiting
     * for the deadline, and nothing was refused for want of a slot */
    assert_true(log_count(&t, "closed=\"making room\" state=NEW") >= 1);
    assert_int_equal(log_count(&t, "refused=\"too many connections\""), 0);
    /* the head deadline (2 s, from accept) closes every idle socket, long
     * before the 10 s default or the 60 s idle timeout would */
    for (int i = 0; i < 8; i++) {
        assert_true(closed_within(one[i], 8000));
        assert_true(closed_within(many[i], 8000));
    }
    assert_true(edm_time_now_ms() - t0 < 9000);
    for (int i = 0; i < 10; i++)
        close(one[i]);
    for (int i = 0; i < 8; i++)
        close(many[i]);
    apitest_stop(&t);
}

/* The head deadline starts at accept, not at the first byte: a client that
 * waits 700 ms before its first byte has 300 ms left for the rest. */
static void head_deadline_from_accept(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, KEY, 0, 1000, 0);
    int fd = apitest_connect(&t);
    edm_test_sleep_ms(700);
    send_all(fd, "GET /v1/health HTTP/1.1\r\n", 25);
    edm_test_sleep_ms(500);
    send_some(fd, "Host: x\r\n\r\n", 11);
    char *resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    if (strstr(resp, "HTTP/1.1 408") == NULL || strstr(resp, "HTTP/1.1 200") != NULL)
        fail_msg("head over its deadline from accept: %s", resp);
    free(resp);
    /* a kept-alive connection gets the full deadline for each request */
    fd = apitest_connect(&t);
    send_all(fd, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n", 36);
    edm_test_sleep_ms(1200);
    send_all(fd, "GET /v1/health HTTP/1.1\r\n", 25);
    edm_test_sleep_ms(500);
    send_all(fd, "Host: x\r\nConnection: close\r\n\r\n", 30);
    resp = apitest_read_all(fd, 5000, NULL);
    close(fd);
    assert_int_equal(count(resp, "HTTP/1.1 200"), 2);
    free(resp);
    apitest_stop(&t);
}

/* A preview of four nested sections over a 300-element array took 73 s on
 * the loop thread, freezing the API: it now ends at the render budget with
 * 422 naming the tag, in well under a second, and health answers. */
static void hostile_preview(void **state)
{
    (void)state;
    apitest t;
    apitest_start(&t, KEY, 0, 0, 0);
    int st;
    json_t *tpl = apitest_json(&t, "POST", "/v1/templates",
                               "{\"name\":\"h\",\"subject\":\"s\",\"html\":\"<p>\\n{{#a}}{{#a}}"
                               "{{#a}}{{#a}}.{{/a}}{{/a}}{{/a}}{{/a}}\"}",
                               &st);
    assert_int_equal(st, 201);
    char path[96];
    snprintf(path, sizeof path, "/v1/templates/%lld/preview",
             (long long)json_integer_value(json_object_get(tpl, "id")));
    json_decref(tpl);
    edm_buf body = EDM_BUF_INIT;
    edm_buf_append_str(&body, "{\"vars\":{\"a\":[0");
    for (int i = 1; i < 300; i++)
        edm_buf_appendf(&body, ",%d", i);
    edm_buf_append_str(&body, "]}}");
    int64_t t0 = edm_time_now_ms();
    json_t *r = apitest_json(&t, "POST", path, edm_buf_cstr(&body), &st);
    int64_t took = edm_time_now_ms() - t0;
    assert_int_equal(st, 422);
    json_t *e = json_object_get(r, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "template_limit");
    assert_string_equal(json_string_value(json_object_get(e, "field")), "html");
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (strncmp(msg, "html: line 2, col ", 18) != 0 ||
        strstr(msg, ": render work over the limit of 1000000 steps") == NULL)
        fail_msg("preview error: %s", msg);
    if (took > 5000) /* minutes without the budget */
        fail_msg("the hostile preview took %lld ms", (long long)took);
    json_decref(r);
    edm_buf_free(&body);
    /* small data renders as usual */
    r = apitest_json(&t, "POST", path, "{\"vars\":{\"a\":[1,2]}}", &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(r, "html")), "<p>\n................");
    json_decref(r);
    assert_int_equal(apitest_req(&t, "GET", "/v1/health", NULL, 0, NULL, NULL, NULL, NULL, NULL),
                     200);
    apitest_stop(&t);
}

/* The database, its WAL and shared-memory files and the engine's lock file
 * were created 0644 (world-readable: recipients, API-visible data): they
 * are 0600 now, whatever the umask. */
static void files_are_private(void **state)
{
    (void)state;
    mode_t old = umask(0);
    apitest t;
    apitest_start_serve(&t, "EDM_API_KEYS", KEY, 0, NULL);
    umask(old);
    int st;
    json_t *tpl = apitest_json(&t, "POST", "/v1/templates",
                               "{\"subject\":\"s\",\"name\":\"t\",\"text\":\"x\"}", &st);
    assert_int_equal(st, 201); /* a write: the WAL exists */
    json_decref(tpl);
    static const char *const suffix[] = {"", "-wal", "-shm", ".lock"};
    for (int i = 0; i < 4; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s%s", t.db, suffix[i]);
        struct stat sb;
        if (stat(path, &sb) != 0)
            fail_msg("%s: %s", path, strerror(errno));
        if ((sb.st_mode & 0777) != 0600)
            fail_msg("%s has mode %03o", path, (unsigned)(sb.st_mode & 0777));
    }
    apitest_stop(&t);
}

static void keys_rules(void **state)
{
    (void)state;
    /* loopback without a key: up, 401 but health, and the log says how */
    apitest t;
    apitest_start(&t, NULL, 0, 0, 0);
    assert_int_equal(apitest_req(&t, "GET", "/v1/health", NULL, 0, NULL, NULL, "", NULL, NULL),
                     200);
    char *out = NULL;
    assert_int_equal(
        apitest_req(&t, "GET", "/v1/templates", NULL, 0, NULL, NULL, "anything", &out, NULL), 401);
    assert_non_null(strstr(out, "EDM_API_KEYS"));
    free(out);
    char *log = edm_test_read_file(t.log, NULL);
    assert_non_null(strstr(log, "no API key configured"));
    assert_non_null(strstr(log, "EDM_API_KEYS=<key>"));
    free(log);
    apitest_stop(&t);

    /* any address but loopback without a key: refused */
    char *dir = edm_test_tmpdir("apikeys"), cmd[1024];
    int port = edm_test_free_port("127.0.0.1");
    snprintf(cmd, sizeof cmd, "env -u EDM_API_KEYS %s/tests/api_server %s/x.db 0.0.0.0:%d",
             getenv("EDM_BINARY_DIR"), dir, port);
    int st = edm_test_run(cmd, &out);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "refusing to listen on 0.0.0.0"));
    assert_non_null(strstr(out, "EDM_API_KEYS"));
    free(out);
    edm_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keep_alive_and_pipelining),
        cmocka_unit_test(chunked_body_with_continue),
        cmocka_unit_test(limits_413_431_400),
        cmocka_unit_test(slow_head_is_cut_off),
        cmocka_unit_test(idle_connections_are_closed),
        cmocka_unit_test(disconnect_mid_upload),
        cmocka_unit_test(keys_rules),
        cmocka_unit_test(huge_content_length),
        cmocka_unit_test(space_before_colon),
        cmocka_unit_test(trickled_body_is_cut_off),
        cmocka_unit_test(idle_sockets_cannot_take_every_slot),
        cmocka_unit_test(head_deadline_from_accept),
        cmocka_unit_test(hostile_preview),
        cmocka_unit_test(files_are_private),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
