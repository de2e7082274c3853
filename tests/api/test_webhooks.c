/*
 * tests/api/test_webhooks.c: webhooks end to end (docs/tracking.md,
 * "Webhooks") with the real `edm serve`, a real smtp-sink and a receiver
 * written with Python's http.server (tests/api/webhook_receiver.py) that
 * checks every Edm-Signature. The receiver is down while the campaign is
 * sent, edm is killed (SIGKILL) and restarted, then the receiver comes up:
 * it must get every delivered event and the open made through the public
 * listener, each at least once, every one signed right. The API: create
 * answers the secret once, list never shows it, bad input is 422, delete.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/message/verp.h"
#include "tests/api/apitest.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static apitest srv;
static pid_t sink_pid, recv_pid;

#define req(method, path, body, want) apitest_expect(&srv, method, path, body, want)

static void secret_of(unsigned char *s, size_t *n)
{
    if (edm_test_store_is_pg()) {
        long long len = edm_test_store_value(
            srv.db, "SELECT length(value) FROM settings WHERE name = 'secret'");
        assert_true(len > 0 && len <= 64);
        for (long long i = 0; i < len; i++) {
            char sql[128];
            snprintf(sql, sizeof sql,
                     "SELECT get_byte(value, %lld) FROM settings WHERE name = 'secret'", i);
            long long b = edm_test_store_value(srv.db, sql);
            assert_true(b >= 0 && b <= 255);
            s[i] = (unsigned char)b;
        }
        *n = (size_t)len;
        return;
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(srv.db, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE name = 'secret'", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    *n = (size_t)sqlite3_column_bytes(q, 0);
    memcpy(s, sqlite3_column_blob(q, 0), *n);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* Lines of the receiver's file containing needle. */
static int count_lines(const char *file, const char *needle)
{
    char *all = edm_test_read_file(file, NULL);
    int n = 0;
    for (char *p = all; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(all);
    return n;
}

static void webhooks_survive_outage_and_kill(void **state)
{
    (void)state;
    int sink_port = edm_test_free_port("127.0.0.1");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sink_port);
    char *argv[] = {"smtp-sink", "-u", "nobody", addr, "64", NULL};
    sink_pid = edm_test_spawn(argv, NULL);
    assert_true(sink_pid > 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", sink_port, 5000), 0);
    int pub_port = edm_test_free_port("127.0.0.1");
    int recv_port = edm_test_free_port("127.0.0.1");
    char extra[512];
    snprintf(extra, sizeof extra,
             "\"pools\": [{\"name\": \"default\"}], "
             "\"routes\": [{\"match\": \"*.test\", \"relay\": \"127.0.0.1:%d\"}], "
             "\"public\": {\"listen\": \"127.0.0.1:%d\", \"base_url\": "
             "\"https://mail.example.com\", \"machine_open_seconds\": 0}, "
             "\"webhooks\": {\"retry_min\": 1}",
             sink_port, pub_port);
    apitest_start_serve(&srv, "EDM_TEST_HOOK_KEYS", "k1", 0, extra);

    /* The API: bad input, create with the secret, list without. */
    apitest_expect_error(&srv, "POST", "/v1/webhooks",
                         "{\"url\":\"ftp://x.example/\",\"events\":[\"open\"]}", 422, "invalid",
                         "url");
    apitest_expect_error(&srv, "POST", "/v1/webhooks",
                         "{\"url\":\"https://x.example/\",\"events\":[\"opened\"]}", 422, "invalid",
                         "events[0]");
    char body[256];
    snprintf(body, sizeof body,
             "{\"url\":\"http://127.0.0.1:%d/hook\",\"events\":[\"delivered\",\"open\"]}",
             recv_port);
    json_t *w = req("POST", "/v1/webhooks", body, 201);
    const char *secret = json_string_value(json_object_get(w, "secret"));
    assert_non_null(secret);
    assert_true(strncmp(secret, "whsec_", 6) == 0);
    char secret_file[600], out_file[600];
    snprintf(secret_file, sizeof secret_file, "%s/secret", srv.dir);
    snprintf(out_file, sizeof out_file, "%s/events", srv.dir);
    assert_int_equal(edm_test_write_file(secret_file, secret, strlen(secret)), 0);
    json_decref(w);
    json_t *other = req("POST", "/v1/webhooks",
                        "{\"url\":\"https://other.example/h\",\"events\":[\"click\"]}", 201);
    char dpath[64];
    snprintf(dpath, sizeof dpath, "/v1/webhooks/%lld",
             (long long)json_integer_value(json_object_get(other, "id")));
    json_decref(other);
    json_t *list = req("GET", "/v1/webhooks", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
    assert_null(json_object_get(json_array_get(json_object_get(list, "items"), 0), "secret"));
    json_decref(list);
    apitest_req(&srv, "DELETE", dpath, NULL, 0, NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(apitest_req(&srv, "DELETE", dpath, NULL, 0, NULL, NULL, NULL, NULL, NULL),
                     404);

    /* A campaign sent while the receiver is down. */
    json_t *t = req("POST", "/v1/templates",
                    "{\"name\":\"t\",\"subject\":\"s\",\"html\":\"<p>hi</p>\"}", 201);
    snprintf(body, sizeof body,
             "{\"name\":\"c\",\"template_id\":%lld,\"from\":\"n@example.com\","
             "\"track\":{\"opens\":true}}",
             (long long)json_integer_value(json_object_get(t, "id")));
    json_decref(t);
    json_t *c = req("POST", "/v1/campaigns", body, 201);
    int64_t cid = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    json_decref(
        apitest_upload(&srv, cid, "text/csv", "email\na@a.test\nb@a.test\nc@b.test\n", 200));
    char path[128];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/schedule", (long long)cid);
    json_decref(req("POST", path, "{\"send_at\":\"2001-01-01T00:00:00Z\"}", 200));
    snprintf(path, sizeof path, "/v1/campaigns/%lld/stats", (long long)cid);
    int delivered = 0;
    for (int i = 0; i < 400 && delivered < 3; i++) {
        json_t *s = req("GET", path, NULL, 200);
        delivered =
            (int)json_integer_value(json_object_get(json_object_get(s, "counts"), "delivered"));
        json_decref(s);
        edm_test_sleep_ms(50);
    }
    assert_int_equal(delivered, 3);
    /* An open of the first receipt, through the public listener. */
    unsigned char sec[64];
    size_t slen;
    secret_of(sec, &slen);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts", (long long)cid);
    json_t *rl = req("GET", path, NULL, 200);
    int64_t rid =
        json_integer_value(json_object_get(json_array_get(json_object_get(rl, "items"), 0), "id"));
    json_decref(rl);
    char tok[EDM_TRACK_TOKEN_MAX], cmd[600];
    assert_true(edm_verp_track_token(tok, EDM_VERP_OPEN, sec, slen, (uint64_t)rid, 0) > 0);
    snprintf(cmd, sizeof cmd,
             "curl -s -o /dev/null -w '%%{http_code}' -A 'Thunderbird' "
             "http://127.0.0.1:%d/o/%s.gif",
             pub_port, tok);
    char *code = NULL;
    edm_test_run(cmd, &code);
    assert_string_equal(code, "200");
    free(code);
    edm_test_sleep_ms(1500); /* a failed attempt or two against the dead port */

    /* kill -9 and restart: the outbox is in the database. */
    kill(srv.pid, SIGKILL);
    waitpid(srv.pid, NULL, 0);
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/edm.json", srv.dir);
    char *sargv[] = {(char *)edm_test_bin(), "serve", "-c", cfg, NULL};
    srv.pid = edm_test_spawn(sargv, srv.log);
    assert_true(srv.pid > 0);
    assert_int_equal(edm_test_wait_port("127.0.0.1", srv.port, 5000), 0);

    /* The receiver comes up: every event arrives, signed right. */
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", recv_port);
    char *rargv[] = {"/usr/bin/python3",
                     (char *)edm_test_src("tests/api/webhook_receiver.py"),
                     port_s,
                     secret_file,
                     out_file,
                     NULL};
    recv_pid = edm_test_spawn(rargv, NULL);
    assert_true(recv_pid > 0);
    int got = 0;
    for (int i = 0; i < 300 && got < 4; i++) {
        got = count_lines(out_file, "\"event\": \"delivered\"") +
              (count_lines(out_file, "\"event\": \"open\"") > 0);
        edm_test_sleep_ms(100);
    }
    assert_int_equal(count_lines(out_file, "BAD-SIGNATURE"), 0);
    assert_true(count_lines(out_file, "\"event\": \"delivered\"") >= 3);
    const char *who[] = {"a@a.test", "b@a.test", "c@b.test"};
    for (int i = 0; i < 3; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\"email\": \"%s\"", who[i]);
        assert_true(count_lines(out_file, needle) >= 1);
    }
    assert_true(count_lines(out_file, "\"event\": \"open\"") >= 1);
    assert_int_equal(count_lines(out_file, "\"event\": \"click\""), 0);
    /* Nothing left in the outbox. */
    json_t *after = NULL;
    for (int i = 0; i < 50; i++) {
        json_decref(after);
        after = req("GET", "/v1/webhooks", NULL, 200);
        if (json_integer_value(json_object_get(json_array_get(json_object_get(after, "items"), 0),
                                               "pending")) == 0)
            break;
        edm_test_sleep_ms(100);
    }
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(after, "items"), 0), "pending")),
                     0);
    json_decref(after);

    edm_test_stop(recv_pid, 1000);
    recv_pid = 0;
    apitest_stop(&srv);
    edm_test_stop(sink_pid, 1000);
    sink_pid = 0;
}

static int teardown(void **state)
{
    (void)state;
    if (recv_pid > 0)
        edm_test_stop(recv_pid, 1000);
    if (sink_pid > 0)
        edm_test_stop(sink_pid, 1000);
    if (srv.pid > 0)
        edm_test_stop(srv.pid, 1000);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(webhooks_survive_outage_and_kill, teardown),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
