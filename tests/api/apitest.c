/*
 * tests/api/apitest.c: see apitest.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/api/apitest.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *server_bin(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/tests/api_server", getenv("EDM_BINARY_DIR"));
    return path;
}

/* The parts both ways of starting share: a temp dir, a port, the keys in
 * the environment variable keys_env. */
static void init(apitest *t, const char *tag, const char *keys_env, const char *keys)
{
    memset(t, 0, sizeof *t);
    t->dir = edm_test_tmpdir(tag);
    /* SQLite in the directory, or a fresh PostgreSQL database when the
     * test runs on it (tests/support/store_backend.h) */
    assert_int_equal(edm_test_store_where(t->dir, t->db, sizeof t->db), 0);
    snprintf(t->log, sizeof t->log, "%s/server.log", t->dir);
    t->port = edm_test_free_port("127.0.0.1");
    if (keys) {
        snprintf(t->keybuf, sizeof t->keybuf, "%.*s", (int)strcspn(keys, ", "), keys);
        t->key = t->keybuf;
        setenv(keys_env, keys, 1);
    } else {
        unsetenv(keys_env);
    }
}

/* Waits for the server's port; fails the test with its log if it does not
 * come up. */
static void wait_up(apitest *t, const char *what)
{
    if (edm_test_wait_port("127.0.0.1", t->port, 15000) != 0) {
        char *log = edm_test_read_file(t->log, NULL);
        edm_test_stop(t->pid, 1000);
        fail_msg("%s did not come up:\n%s", what, log ? log : "");
    }
}

void apitest_start(apitest *t, const char *keys, size_t max_body, unsigned header_ms,
                   unsigned idle_ms)
{
    apitest_start_opts(t, keys, max_body, header_ms, idle_ms, NULL);
}

void apitest_start_opts(apitest *t, const char *keys, size_t max_body, unsigned header_ms,
                        unsigned idle_ms, const char *opts)
{
    init(t, "api", "EDM_API_KEYS", keys);
    char listen[64], mb[32], hm[32], im[32], optbuf[256];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", t->port);
    snprintf(mb, sizeof mb, "%zu", max_body);
    snprintf(hm, sizeof hm, "%u", header_ms);
    snprintf(im, sizeof im, "%u", idle_ms);
    char *argv[16] = {(char *)server_bin(), t->db, listen, mb, hm, im};
    int argc = 6;
    snprintf(optbuf, sizeof optbuf, "%s", opts ? opts : "");
    for (char *save = NULL, *o = strtok_r(optbuf, " ", &save); o && argc < 15;
         o = strtok_r(NULL, " ", &save))
        argv[argc++] = o;
    argv[argc] = NULL;
    t->pid = edm_test_spawn(argv, t->log);
    assert_true(t->pid > 0);
    wait_up(t, "api_server");
}

void apitest_start_serve(apitest *t, const char *keys_env, const char *keys, size_t max_body,
                         const char *config_extra)
{
    init(t, "apiserve", keys_env, keys);
    char cfg[700], body[2048], mb[64] = "";
    if (max_body)
        snprintf(mb, sizeof mb, ", \"max_body_bytes\": %zu", max_body);
    snprintf(body, sizeof body,
             "{\"db\": \"%s\", \"api\": {\"listen\": \"127.0.0.1:%d\", \"keys_env\": "
             "\"%s\"%s}, \"dns\": {\"servers\": [\"127.0.0.1:9\"]}%s%s}\n",
             t->db, t->port, keys_env, mb, config_extra ? ", " : "",
             config_extra ? config_extra : "");
    snprintf(cfg, sizeof cfg, "%s/edm.json", t->dir);
    assert_int_equal(edm_test_write_file(cfg, body, strlen(body)), 0);
    char *argv[] = {(char *)edm_test_bin(), "serve", "-c", cfg, NULL};
    t->pid = edm_test_spawn(argv, t->log);
    assert_true(t->pid > 0);
    wait_up(t, "edm serve");
}

void apitest_restart_serve(apitest *t)
{
    int st = edm_test_stop(t->pid, 10000);
    t->pid = 0;
    assert_int_equal(st, 0);
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/edm.json", t->dir);
    char *argv[] = {(char *)edm_test_bin(), "serve", "-c", cfg, NULL};
    t->pid = edm_test_spawn(argv, t->log);
    assert_true(t->pid > 0);
    wait_up(t, "edm serve (restarted)");
}

void apitest_kill_restart_serve(apitest *t)
{
    assert_int_equal(kill(t->pid, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(t->pid, &st, 0), t->pid);
    t->pid = 0;
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/edm.json", t->dir);
    char *argv[] = {(char *)edm_test_bin(), "serve", "-c", cfg, NULL};
    t->pid = edm_test_spawn(argv, t->log);
    assert_true(t->pid > 0);
    wait_up(t, "edm serve (after SIGKILL)");
}

void apitest_stop(apitest *t)
{
    if (t->pid <= 0)
        return;
    int st = edm_test_stop(t->pid, 10000);
    t->pid = 0;
    if (st != 0) {
        char *log = edm_test_read_file(t->log, NULL);
        fprintf(stderr, "%s\n", log ? log : "");
        free(log);
    }
    assert_int_equal(st, 0);
    edm_test_rmtree(t->dir);
    free(t->dir);
    t->dir = NULL;
}

static void shell_quote(char *out, size_t n, const char *s)
{
    size_t o = 0;
    out[o++] = '\'';
    for (; *s && o + 5 < n; s++) {
        if (*s == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *s;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
}

int apitest_req(apitest *t, const char *method, const char *path, const char *body, size_t len,
                const char *ctype, const char *header, const char *key, char **out, char **headers)
{
    static unsigned seq;
    char in[600], resp[600], hdrs[600];
    snprintf(in, sizeof in, "%s/req%u.in", t->dir, seq);
    snprintf(resp, sizeof resp, "%s/req%u.out", t->dir, seq);
    snprintf(hdrs, sizeof hdrs, "%s/req%u.hdr", t->dir, seq++);
    if (key == NULL)
        key = t->key;
    char cmd[8192], q[1200], auth[1300] = "", ct[1300] = "", hx[1300] = "", data[700] = "";
    if (key && key[0]) {
        char a[400];
        snprintf(a, sizeof a, "Authorization: Bearer %s", key);
        shell_quote(q, sizeof q, a);
        snprintf(auth, sizeof auth, "-H %s", q);
    }
    if (body) {
        assert_int_equal(edm_test_write_file(in, body, len), 0);
        snprintf(data, sizeof data, "--data-binary @%s", in);
        char c[200];
        snprintf(c, sizeof c, "Content-Type: %s", ctype ? ctype : "application/json");
        shell_quote(q, sizeof q, c);
        snprintf(ct, sizeof ct, "-H %s", q);
    }
    if (header) {
        shell_quote(q, sizeof q, header);
        snprintf(hx, sizeof hx, "-H %s", q);
    }
    char url[1200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", t->port, path);
    shell_quote(q, sizeof q, url);
    snprintf(cmd, sizeof cmd, "curl -s -S -X %s %s %s %s %s -o %s -D %s -w '%%{http_code}' %s",
             method, auth, ct, hx, data, resp, hdrs, q);
    char *o = NULL;
    int rc = edm_test_run(cmd, &o);
    if (rc != 0)
        fail_msg("curl failed (%d): %s\n%s", rc, cmd, o ? o : "");
    int status = atoi(o);
    free(o);
    if (out)
        *out = edm_test_read_file(resp, NULL);
    if (headers)
        *headers = edm_test_read_file(hdrs, NULL);
    unlink(in);
    unlink(resp);
    unlink(hdrs);
    return status;
}

json_t *apitest_json(apitest *t, const char *method, const char *path, const char *body,
                     int *status)
{
    char *out = NULL;
    *status =
        apitest_req(t, method, path, body, body ? strlen(body) : 0, NULL, NULL, NULL, &out, NULL);
    json_t *v = out && out[0] ? json_loads(out, JSON_DECODE_ANY, NULL) : NULL;
    free(out);
    return v;
}

json_t *apitest_expect(apitest *t, const char *method, const char *path, const char *body, int want)
{
    int st;
    json_t *v = apitest_json(t, method, path, body, &st);
    if (st != want) {
        char *d = v ? json_dumps(v, JSON_COMPACT) : NULL;
        fail_msg("%s %s %s: status %d, expected %d: %s", method, path, body ? body : "", st, want,
                 d ? d : "-");
    }
    return v;
}

json_t *apitest_upload(apitest *t, int64_t cid, const char *ctype, const char *body, int want)
{
    char path[64], *out = NULL;
    snprintf(path, sizeof path, "/v1/campaigns/%lld/recipients", (long long)cid);
    int st = apitest_req(t, "POST", path, body, strlen(body), ctype, NULL, NULL, &out, NULL);
    if (st != want)
        fail_msg("upload: status %d, expected %d: %s", st, want, out ? out : "-");
    json_t *v = json_loads(out, 0, NULL);
    free(out);
    return v;
}

void apitest_expect_error(apitest *t, const char *method, const char *path, const char *body,
                          int status, const char *code, const char *field)
{
    int st;
    json_t *v = apitest_json(t, method, path, body, &st);
    char *dump = v ? json_dumps(v, JSON_COMPACT) : NULL;
    if (st != status)
        fail_msg("%s %s: status %d, expected %d: %s", method, path, st, status,
                 dump ? dump : "(no JSON)");
    json_t *e = json_object_get(v, "error");
    if (!json_is_string(json_object_get(e, "code")) ||
        !json_is_string(json_object_get(e, "message")) || json_object_get(e, "field") == NULL)
        fail_msg("%s %s: not an error object: %s", method, path, dump ? dump : "(no JSON)");
    if (code && strcmp(json_string_value(json_object_get(e, "code")), code) != 0)
        fail_msg("%s %s: code %s, expected %s", method, path, dump, code);
    json_t *f = json_object_get(e, "field");
    if (field == NULL ? !json_is_null(f)
                      : !json_is_string(f) || strcmp(json_string_value(f), field) != 0)
        fail_msg("%s %s: field in %s, expected %s", method, path, dump, field ? field : "null");
    free(dump);
    json_decref(v);
}

int apitest_connect(apitest *t)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

char *apitest_read_all(int fd, int timeout_ms, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r <= 0)
            break;
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t k = recv(fd, buf + n, cap - n - 1, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}
