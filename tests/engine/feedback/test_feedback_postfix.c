/*
 * tests/engine/feedback/test_feedback_postfix.c: the acceptance of late
 * bounces, end to end with a real Postfix and nothing faked: `edm serve`
 * sends a campaign of two through its route to a private Postfix instance
 * on loopback, which accepts both (250, so both receipts are delivered)
 * and then bounces the one for fail.test (its transport is
 * error:5.1.1) to the VERP return path bounces+TOKEN@bounce.test; its
 * transport for bounce.test is edm's inbound listener, so Postfix's own
 * smtp client delivers the DSN there. Then, within seconds: that receipt
 * is bounced (bad_mailbox, 5.1.1) with a dsn event, its address is
 * suppressed (reason bounce), the other receipt is untouched; the next
 * campaign to both records the address suppressed and Postfix never sees
 * a second message for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/api/apitest.h"
#include "tests/support/postfix_run.h"
#include "tests/support/testlib.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pfx {
    char *dir;
    char conf[512], ip[32];
    int port, started;
    int inbound_port; /* edm's inbound listener, where bounce.test mail goes */
};
static struct pfx pf;

static void pf_write(const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", pf.conf, name);
    assert_int_equal(edm_test_write_file(path, text, strlen(text)), 0);
}

static int pf_start(void)
{
    pf.dir = edm_test_tmpdir("pfdsn");
    pf.inbound_port = edm_test_free_port("127.0.0.1");
    snprintf(pf.ip, sizeof pf.ip, "127.0.1.%d", 20 + (int)((getpid() + 101) % 200));
    pf.port = edm_test_free_port(pf.ip);
    snprintf(pf.conf, sizeof pf.conf, "%s/conf", pf.dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; mkdir -p conf queue data mail; chmod 755 . conf;"
             "chown postfix:postfix data mail",
             pf.dir);
    if (edm_test_run(cmd, NULL) != 0)
        return -1;
    char *ids = NULL;
    edm_test_run("printf '%s %s' $(id -u postfix) $(id -g postfix)", &ids);
    int uid = 0, gid = 0;
    if (ids == NULL || sscanf(ids, "%d %d", &uid, &gid) != 2) {
        free(ids);
        return -1;
    }
    free(ids);
    char main_cf[4096];
    snprintf(main_cf, sizeof main_cf,
             "compatibility_level = 3.6\n"
             "queue_directory = %s/queue\ndata_directory = %s/data\n"
             "meta_directory = /etc/postfix\n"
             "mail_owner = postfix\nsetgid_group = postdrop\n"
             "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
             "myhostname = mx.pf.test\nmydomain = pf.test\nmyorigin = pf.test\n"
             "mydestination =\nmynetworks = 127.0.0.0/8\nrelayhost =\n"
             "alias_maps =\nalias_database =\nlocal_recipient_maps =\n"
             "local_header_rewrite_clients =\n"
             "recipient_delimiter = +\n"
             "virtual_mailbox_domains = pf.test\n"
             "virtual_mailbox_base = %s/mail\n"
             "virtual_mailbox_maps = texthash:%s/vmailbox\n"
             "virtual_uid_maps = static:%d\nvirtual_gid_maps = static:%d\n"
             "virtual_minimum_uid = 1\n"
             "relay_domains = fail.test\n"
             "transport_maps = texthash:%s/transport\n"
             /* accept at RCPT, bounce later: the MX that says 250 first */
             "smtpd_reject_unlisted_recipient = no\n"
             "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n"
             "maillog_file_prefixes = /tmp, /var\nmaillog_file = %s/maillog\n",
             pf.dir, pf.dir, pf.dir, pf.conf, uid, gid, pf.conf, pf.dir);
    pf_write("main.cf", main_cf);
    pf_write("vmailbox", "ok@pf.test ok/\n");
    char transport[256];
    snprintf(transport, sizeof transport,
             "fail.test error:5.1.1 mailbox unknown\nbounce.test smtp:[127.0.0.1]:%d\n",
             pf.inbound_port);
    pf_write("transport", transport);
    char master_cf[2048];
    postfix_master_cf(master_cf, sizeof master_cf, pf.ip, pf.port, 0);
    pf_write("master.cf", master_cf);
    snprintf(cmd, sizeof cmd, "postfix -c '%s' start 2>&1", pf.conf);
    char *out = NULL;
    int rc = edm_test_run(cmd, &out);
    pf.started = 1;
    if (rc != 0)
        fprintf(stderr, "postfix start: %s\n", out ? out : "");
    free(out);
    return rc == 0 && edm_test_wait_port(pf.ip, pf.port, 20000) == 0 ? 0 : -1;
}

static int pf_setup(void **state)
{
    (void)state;
    return pf_start();
}

static int pf_teardown(void **state)
{
    (void)state;
    if (pf.started) {
        char path[700], cmd[700];
        snprintf(path, sizeof path, "%s/queue/pid/master.pid", pf.dir);
        char *s = edm_test_read_file(path, NULL);
        pid_t master = s ? (pid_t)atoi(s) : 0;
        free(s);
        snprintf(cmd, sizeof cmd, "postfix -c '%s' stop >/dev/null 2>&1", pf.conf);
        edm_test_run(cmd, NULL);
        for (int i = 0; master > 0 && i < 100 && kill(master, 0) == 0; i++)
            edm_test_sleep_ms(50);
        if (master > 0 && kill(master, 0) == 0)
            kill(master, SIGKILL);
    }
    if (pf.dir) {
        edm_test_rmtree(pf.dir);
        free(pf.dir);
    }
    return 0;
}

static apitest srv;

#define req(method, path, body, want) apitest_expect(&srv, method, path, body, want)

/* A campaign from news@example.com to the CSV rows, scheduled now; returns
 * its id, *upload the upload's answer. */
static int64_t campaign(int64_t tid, const char *csv, json_t **upload)
{
    char body[256], path[96];
    snprintf(body, sizeof body,
             "{\"name\":\"c\",\"template_id\":%lld,\"from\":\"news@example.com\"}", (long long)tid);
    json_t *c = req("POST", "/v1/campaigns", body, 201);
    int64_t cid = json_integer_value(json_object_get(c, "id"));
    json_decref(c);
    *upload = apitest_upload(&srv, cid, "text/csv", csv, 200);
    snprintf(path, sizeof path, "/v1/campaigns/%lld/schedule", (long long)cid);
    json_decref(req("POST", path, "{\"send_at\":\"2020-01-01T00:00:00Z\"}", 200));
    return cid;
}

/* The receipt of email in campaign cid. */
static json_t *receipt(int64_t cid, const char *email)
{
    char path[200];
    snprintf(path, sizeof path, "/v1/campaigns/%lld/receipts?email=%s", (long long)cid, email);
    json_t *list = req("GET", path, NULL, 200);
    json_t *r = json_array_get(json_object_get(list, "items"), 0);
    assert_non_null(r);
    json_incref(r);
    json_decref(list);
    return r;
}

static const char *field(json_t *r, const char *name)
{
    const char *v = json_string_value(json_object_get(r, name));
    return v ? v : "";
}

/* Waits up to ms for email's receipt in cid to reach status; returns it. */
static json_t *wait_status(int64_t cid, const char *email, const char *status, int ms)
{
    for (int waited = 0;; waited += 100) {
        json_t *r = receipt(cid, email);
        if (strcmp(field(r, "status"), status) == 0)
            return r;
        if (waited >= ms) {
            char *text = json_dumps(r, JSON_COMPACT), *log = edm_test_read_file(srv.log, NULL);
            fail_msg("%s never became %s: %s\nedm serve log:\n%s", email, status, text,
                     log ? log : "");
        }
        json_decref(r);
        edm_test_sleep_ms(100);
    }
}

/* How many times Postfix's log shows a delivery attempt to addr. */
static int postfix_saw(const char *addr)
{
    char path[700], needle[128];
    snprintf(path, sizeof path, "%s/maillog", pf.dir);
    snprintf(needle, sizeof needle, "to=<%s>", addr);
    char *log = edm_test_read_file(path, NULL);
    int n = 0;
    for (const char *p = log; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

static void postfix_bounce_suppresses(void **state)
{
    (void)state;
    char extra[1024];
    snprintf(extra, sizeof extra,
             "\"bounce_domain\": \"bounce.test\", \"smtp\": {\"helo\": \"edm.example.com\"}, "
             "\"pools\": [{\"name\": \"default\"}], "
             "\"routes\": [{\"match\": \"pf.test\", \"relay\": \"%s:%d\", \"tls\": \"none\"}, "
             "{\"match\": \"fail.test\", \"relay\": \"%s:%d\", \"tls\": \"none\"}], "
             "\"inbound\": {\"listen\": [\"127.0.0.1:%d\"]}",
             pf.ip, pf.port, pf.ip, pf.port, pf.inbound_port);
    apitest_start_serve(&srv, "EDM_TEST_PFDSN_KEYS", "k1", 0, extra);
    assert_int_equal(edm_test_wait_port("127.0.0.1", pf.inbound_port, 5000), 0);
    json_t *t = req("POST", "/v1/templates",
                    "{\"name\":\"t\",\"subject\":\"Hello\",\"text\":\"Hi there\"}", 201);
    int64_t tid = json_integer_value(json_object_get(t, "id"));
    json_decref(t);

    /* The MX accepts both: both delivered. */
    json_t *up;
    int64_t c1 = campaign(tid, "email\nok@pf.test\nnobody@fail.test\n", &up);
    assert_int_equal(json_integer_value(json_object_get(up, "accepted")), 2);
    json_decref(up);
    json_t *ok = wait_status(c1, "ok@pf.test", "delivered", 30000);
    json_t *first = receipt(c1, "nobody@fail.test");
    assert_true(strcmp(field(first, "status"), "delivered") == 0 ||
                strcmp(field(first, "status"), "bounced") == 0);
    json_decref(first);

    /* Postfix bounces one to the VERP address; its smtp client brings the
     * DSN to edm's inbound listener; within seconds the receipt is bounced. */
    json_t *b = wait_status(c1, "nobody@fail.test", "bounced", 30000);
    assert_string_equal(field(b, "bounce_category"), "bad_mailbox");
    assert_string_equal(field(b, "enhanced_code"), "5.1.1");
    int64_t bid = json_integer_value(json_object_get(b, "id"));
    json_decref(b);
    char path[128];
    snprintf(path, sizeof path, "/v1/receipts/%lld/events", (long long)bid);
    json_t *ev = req("GET", path, NULL, 200);
    json_t *items = json_object_get(ev, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(field(json_array_get(items, 0), "type"), "attempt");
    assert_string_equal(field(json_array_get(items, 1), "type"), "dsn");
    json_decref(ev);
    json_t *ok_after = receipt(c1, "ok@pf.test");
    assert_true(json_equal(ok, ok_after));
    json_decref(ok);
    json_decref(ok_after);
    json_t *sup = req("GET", "/v1/suppressions", NULL, 200);
    json_t *sitems = json_object_get(sup, "items");
    assert_int_equal(json_array_size(sitems), 1);
    assert_string_equal(field(json_array_get(sitems, 0), "value"), "nobody@fail.test");
    assert_string_equal(field(json_array_get(sitems, 0), "reason"), "bounce");
    json_decref(sup);
    assert_int_equal(postfix_saw("nobody@fail.test"), 1);

    /* The next campaign to both: suppressed, and nothing is sent to it. */
    int64_t c2 = campaign(tid, "email\nok@pf.test\nnobody@fail.test\n", &up);
    assert_int_equal(json_integer_value(json_object_get(up, "accepted")), 1);
    assert_int_equal(json_integer_value(json_object_get(up, "suppressed")), 1);
    json_decref(up);
    json_decref(wait_status(c2, "ok@pf.test", "delivered", 30000));
    json_decref(wait_status(c2, "nobody@fail.test", "suppressed", 1000));
    assert_int_equal(postfix_saw("nobody@fail.test"), 1);
    assert_int_equal(postfix_saw("ok@pf.test"), 2);
    apitest_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(postfix_bounce_suppresses),
    };
    int rc = cmocka_run_group_tests(tests, pf_setup, pf_teardown);
    if (srv.pid > 0)
        edm_test_stop(srv.pid, 1000);
    return rc;
}
