/*
 * tests/engine/smtp/test_smtp_real.c: the SMTP client against real, independent
 * servers: Postfix's smtp-sink for volume and its reject
 * switches, and a throwaway Postfix smtpd instance on its own 127.0.1.x
 * address with STARTTLS and virtual Maildir delivery, whose delivered
 * bytes are compared with what was sent (after transparency: Postfix
 * stores LF line ends and adds Return-Path/X-Original-To/Delivered-To/
 * Received at the top). Every server is stopped by PID on every path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/buf.h"
#include "engine/base/log.h"
#include "engine/net/tls.h"
#include "tests/support/postfix_run.h"
#include "tests/support/smtp_run.h"
#include "tests/support/testlib.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- smtp-sink ------------------------------------------------------- */

struct sink {
    pid_t pid;
    int port;
    char *dir;
};

static int sink_start(struct sink *k, const char *extra)
{
    k->port = edm_test_free_port("127.0.0.1");
    k->dir = edm_test_tmpdir("sink");
    char addr[64], log[600];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", k->port);
    snprintf(log, sizeof log, "%s/sink.log", k->dir);
    char *argv[12];
    int n = 0;
    argv[n++] = "smtp-sink";
    argv[n++] = "-u";
    argv[n++] = "nobody";
    argv[n++] = "-m";
    argv[n++] = "1000";
    char ex1[16], ex2[32];
    if (extra) {
        sscanf(extra, "%15s %31s", ex1, ex2);
        argv[n++] = ex1;
        argv[n++] = ex2;
    }
    argv[n++] = addr;
    argv[n++] = "1024";
    argv[n] = NULL;
    k->pid = edm_test_spawn(argv, log);
    if (k->pid < 0 || edm_test_wait_port("127.0.0.1", k->port, 10000) != 0)
        return -1;
    return 0;
}

static void sink_stop(struct sink *k)
{
    if (k->pid > 0)
        edm_test_stop(k->pid, 2000);
    k->pid = 0;
    if (k->dir) {
        edm_test_rmtree(k->dir);
        free(k->dir);
        k->dir = NULL;
    }
}

static struct sink sink;

static int sink_teardown(void **state)
{
    (void)state;
    sink_stop(&sink);
    return 0;
}

static void sink_volume_over_reused_connections(void **state)
{
    (void)state;
    assert_int_equal(sink_start(&sink, NULL), 0);
    static const char *const rc[] = {"a@sink.test", "b@sink.test", NULL};
    smtp_run r;
    run_init(&r);
    char body[1100];
    for (int i = 0; i < 3000; i++) {
        snprintf(body, sizeof body, "Subject: %d\r\n\r\n.dot line\r\n%0900d\r\n", i, i);
        run_add(&r, "s@edm.test", rc, body);
    }
    smtp_target t = {"sink.test", "127.0.0.1"};
    smtp_options o = run_options(&t, 1, sink.port);
    for (unsigned i = 0; i < 4; i++) {
        o.id = i + 1;
        o.max_messages = 1000;
        run_session(&r, &o);
    }
    run_loop(&r);
    assert_int_equal(r.done_calls, 3000);
    assert_int_equal(r.fail_seen, 0);
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(r.msgs[i].done, 1);
        assert_int_equal(r.msgs[i].rcpt[0].status, EDM_DSTATE_DELIVERED);
        assert_int_equal(r.msgs[i].rcpt[1].status, EDM_DSTATE_DELIVERED);
        assert_int_equal(r.msgs[i].code, 250);
    }
    run_free(&r);
    sink_stop(&sink);
}

/* smtp-sink -f/-r: hard and soft rejects of one command, as a real
 * pipelining server sends them. */
static void sink_rejects(void **state)
{
    (void)state;
    const struct {
        const char *flag;
        enum edm_dstate st;
        int code_class;
    } cases[] = {
        {"-f rcpt", EDM_DSTATE_BOUNCED, 5}, {"-r rcpt", EDM_DSTATE_DEFERRED, 4},
        {"-f mail", EDM_DSTATE_BOUNCED, 5}, {"-f data", EDM_DSTATE_BOUNCED, 5},
        {"-r .", EDM_DSTATE_DEFERRED, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(sink_start(&sink, cases[i].flag), 0);
        static const char *const rc[] = {"a@sink.test", NULL};
        smtp_run r;
        run_init(&r);
        run_add(&r, "s@edm.test", rc, "Subject: x\r\n\r\nx\r\n");
        run_add(&r, "s@edm.test", rc, "Subject: y\r\n\r\ny\r\n");
        smtp_target t = {"sink.test", "127.0.0.1"};
        smtp_options o = run_options(&t, 1, sink.port);
        run_session(&r, &o);
        run_loop(&r);
        assert_int_equal(r.done_calls, 2);
        for (int m = 0; m < 2; m++) {
            if (r.msgs[m].rcpt[0].status != cases[i].st ||
                r.msgs[m].rcpt[0].code / 100 != cases[i].code_class)
                fail_msg("%s: message %d: %d %s", cases[i].flag, m, r.msgs[m].rcpt[0].code,
                         r.msgs[m].rcpt[0].text);
        }
        run_free(&r);
        sink_stop(&sink);
    }
}

/* ---- a throwaway Postfix ------------------------------------------- */

static postfix_run pf;
static SSL_CTX *client_ctx;

static int pf_setup(void **state)
{
    (void)state;
    char err[200], ip[32];
    static const char *const users[] = {"alice", "bob", NULL};
    client_ctx = tls_client_ctx_new(err, sizeof err);
    snprintf(ip, sizeof ip, "127.0.1.%d", 20 + (int)(getpid() % 200));
    return postfix_run_start(&pf, ip, "pf.test", users) == 0 && client_ctx ? 0 : -1;
}

static int pf_teardown(void **state)
{
    (void)state;
    postfix_run_stop(&pf);
    tls_ctx_free(client_ctx);
    return 0;
}

/* Removes the trace headers Postfix puts on top; the rest must be ours. */
static const char *skip_trace_headers(const char *p)
{
    static const char *const names[] = {
        "Return-Path:", "X-Original-To:", "Delivered-To:", "Received:"};
    for (;;) {
        int hit = 0;
        for (size_t i = 0; i < 4; i++)
            if (strncmp(p, names[i], strlen(names[i])) == 0)
                hit = 1;
        if (!hit)
            return p;
        do {
            p = strchr(p, '\n');
            if (p == NULL)
                return "";
            p++;
        } while (*p == ' ' || *p == '\t');
    }
}

/* The message as Postfix stores it: CRLF -> LF. */
static char *as_stored(const char *m)
{
    edm_buf b = EDM_BUF_INIT;
    for (; *m; m++)
        if (!(m[0] == '\r' && m[1] == '\n'))
            edm_buf_append_char(&b, *m);
    return edm_buf_detach(&b, NULL);
}

/* Waits for n files in mail/<box>/new and returns their contents. */
static size_t read_maildir(const char *box, char **files, size_t max, size_t want)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/%s/new", pf.maildir, box);
    size_t n = 0;
    for (int tries = 0; tries < 300; tries++) {
        n = 0;
        DIR *d = opendir(dir);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL && n < max)
                if (e->d_name[0] != '.')
                    n++;
            closedir(d);
        }
        if (n >= want)
            break;
        edm_test_sleep_ms(50);
    }
    DIR *d = opendir(dir);
    n = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < max) {
            if (e->d_name[0] == '.')
                continue;
            char path[1200];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            files[n++] = edm_test_read_file(path, NULL);
        }
        closedir(d);
    }
    return n;
}

static void postfix_delivers_byte_identical_over_starttls(void **state)
{
    (void)state;
    static const char *const both[] = {"alice@pf.test", "bob@pf.test", "nobody@pf.test", NULL};
    static const char *const alice[] = {"alice@pf.test", NULL};
    smtp_run r;
    run_init(&r);
    const char *m1 = "From: Sender <s@edm.test>\r\nTo: alice@pf.test\r\n"
                     "Date: Fri, 27 Nov 2026 13:06:01 +0000\r\n"
                     "Message-ID: <m1@edm.test>\r\nSubject: first\r\n\r\n"
                     "Hello.\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n";
    run_add(&r, "bounce+1@edm.test", both, m1);
    /* About 300 KB with many lines: more than one body slice. */
    edm_buf big = EDM_BUF_INIT;
    edm_buf_append_str(&big, "From: s@edm.test\r\nTo: alice@pf.test\r\n"
                             "Date: Fri, 27 Nov 2026 13:06:01 +0000\r\n"
                             "Message-ID: <m2@edm.test>\r\nSubject: second\r\n\r\n");
    for (int i = 0; i < 4000; i++)
        edm_buf_appendf(&big, "%s%05d %s\r\n", i % 7 == 0 ? "." : "", i,
                        "the quick brown fox jumps over the lazy dog, again and again");
    run_add(&r, "bounce+2@edm.test", alice, big.data);
    size_t m3 = run_add(&r, "bounce+3@edm.test", alice,
                        "From: s@edm.test\r\nTo: alice@pf.test\r\n"
                        "Date: Fri, 27 Nov 2026 13:06:01 +0000\r\n"
                        "Message-ID: <m3@edm.test>\r\nSubject: third\r\n"
                        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9f"
                        "e aus K\xc3\xb6ln\r\n");
    r.msgs[m3].m.flags = SMTP_MSG_8BITMIME;
    smtp_target t = {"mx.pf.test", pf.ip};
    smtp_options o = run_options(&t, 1, pf.port);
    o.tls = SMTP_TLS_REQUIRED;
    o.tls_ctx = client_ctx;
    o.source_ip = "127.0.0.9";
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.done_calls, 3);
    assert_int_equal(r.fail_seen, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r.msgs[i].status, EDM_DSTATE_DELIVERED);
        assert_int_equal(strncmp(r.msgs[i].tls, "TLSv1.3 ", 8), 0);
        assert_string_equal(r.msgs[i].source_ip, "127.0.0.9");
        assert_string_equal(r.msgs[i].mx_ip, pf.ip);
        assert_true(strlen(r.msgs[i].rcpt[0].queue_id) >= 6); /* Postfix queue id */
    }
    assert_int_equal(r.msgs[0].rcpt[1].status, EDM_DSTATE_DELIVERED);
    /* Postfix: 550 5.1.1 <nobody@pf.test>: Recipient address rejected: User
     * unknown in virtual mailbox table. */
    assert_int_equal(r.msgs[0].rcpt[2].status, EDM_DSTATE_BOUNCED);
    assert_int_equal(r.msgs[0].rcpt[2].code, 550);
    assert_string_equal(r.msgs[0].rcpt[2].enhanced, "5.1.1");
    assert_int_equal(r.msgs[0].rcpt[2].category, EDM_CATEGORY_BAD_MAILBOX);

    char *files[8] = {0};
    size_t n = read_maildir("alice", files, 8, 3);
    assert_int_equal(n, 3);
    int matched = 0;
    for (size_t f = 0; f < n; f++) {
        const char *rest = skip_trace_headers(files[f]);
        for (size_t m = 0; m < 3; m++) {
            char *want = as_stored(r.msgs[m].m.data);
            if (strcmp(rest, want) == 0)
                matched |= 1 << m;
            free(want);
        }
        free(files[f]);
    }
    assert_int_equal(matched, 7);
    n = read_maildir("bob", files, 8, 1);
    assert_int_equal(n, 1);
    char *want = as_stored(m1);
    assert_string_equal(skip_trace_headers(files[0]), want);
    free(want);
    free(files[0]);
    edm_buf_free(&big);
    run_free(&r);
}

int main(void)
{
    edm_log_set_level(getenv("EDM_TEST_DEBUG") ? EDM_LOG_DEBUG : EDM_LOG_ERROR);
    const struct CMUnitTest sink_tests[] = {
        cmocka_unit_test_teardown(sink_volume_over_reused_connections, sink_teardown),
        cmocka_unit_test_teardown(sink_rejects, sink_teardown),
    };
    const struct CMUnitTest pf_tests[] = {
        cmocka_unit_test(postfix_delivers_byte_identical_over_starttls),
    };
    int rc = cmocka_run_group_tests_name("smtp-sink", sink_tests, NULL, NULL);
    rc += cmocka_run_group_tests_name("postfix", pf_tests, pf_setup, pf_teardown);
    return rc;
}
