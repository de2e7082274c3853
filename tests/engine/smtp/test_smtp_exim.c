/*
 * tests/engine/smtp/test_smtp_exim.c: the SMTP client against a real Exim
 * 4.96 as MX (Debian's exim4-daemon-light, unpacked by scripts/setup into
 * .peers/exim4, never installed: docs/smtp.md, "Tests"). Exim runs from
 * that tree with a private config, spool, log and mail directory on its
 * own loopback address, in a private mount namespace (unshare -m) where
 * /etc/passwd and /etc/group gain its compiled-in user (Debian-exim) and
 * /usr/sbin holds its binary (it re-executes itself by that path to
 * deliver); nothing on the host changes. The daemon is stopped by PID on
 * every path.
 *
 * Proves: delivered recipients land in Exim's mailboxes byte for byte
 * (the body), unknown ones are bounced with Exim's "550 Unrouteable
 * address" (bad_mailbox), STARTTLS gives TLS 1.3 recorded on the outcome,
 * PIPELINING is used (Exim's log_selector +pipelining: " L" or " L." on
 * each reception, with "-" appended when it was offered but not used), Exim's queue id is
 * captured, and a run of 15 refused transactions does not trip Exim's
 * smtp_accept_max_nonmail ("too many nonmail commands").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/net/tls.h"
#include "tests/support/smtp_run.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct exim {
    char *dir;
    char ip[32];
    int port;
    pid_t pid;
};

static struct exim ex;
static SSL_CTX *client_ctx;

static void put(const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", ex.dir, name);
    assert_int_equal(edm_test_write_file(path, text, strlen(text)), 0);
}

static char *slurp(const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", ex.dir, name);
    return edm_test_read_file(path, NULL);
}

static int exim_setup(void **state)
{
    (void)state;
    char err[200];
    client_ctx = tls_client_ctx_new(err, sizeof err);
    const char *root = edm_test_src(".peers/exim4");
    char bin[700];
    snprintf(bin, sizeof bin, "%s/usr/sbin/exim4", root);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "exim: %s missing: run scripts/setup\n", bin);
        return -1;
    }
    ex.dir = edm_test_tmpdir("exim");
    snprintf(ex.ip, sizeof ex.ip, "127.0.2.%d", 1 + (int)(getpid() % 200));
    ex.port = edm_test_free_port(ex.ip);
    char cmd[4096];
    /* Debian-exim is nobody's uid here; spool, log and mail belong to it. */
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; chmod 755 .; mkdir -p spool log mail;"
             "chown 65534:65534 spool log mail;"
             "(cat /etc/passwd; echo 'Debian-exim:x:65534:65534::/nonexistent:/usr/sbin/nologin')"
             " > passwd; (cat /etc/group; echo 'Debian-exim:x:65534:') > group;"
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-subj /CN=mx.exim.test -days 2 -keyout key.pem -out cert.pem 2>/dev/null;"
             "chmod 644 key.pem",
             ex.dir);
    if (edm_test_run(cmd, NULL) != 0)
        return -1;
    char conf[4096];
    snprintf(conf, sizeof conf,
             "keep_environment =\n"
             "local_interfaces = %s\n"
             "daemon_smtp_ports = %d\n"
             "spool_directory = %s/spool\n"
             "log_file_path = %s/log/%%slog\n"
             "log_selector = +pipelining +tls_cipher\n"
             "primary_hostname = mx.exim.test\n"
             "domainlist local_domains = exim.test\n"
             "acl_smtp_rcpt = acl_check_rcpt\n"
             "tls_advertise_hosts = *\n"
             "tls_certificate = %s/cert.pem\n"
             "tls_privatekey = %s/key.pem\n"
             "pipelining_advertise_hosts = *\n"
             "host_lookup =\n"
             "rfc1413_hosts =\n"
             "never_users = root\n"
             "\nbegin acl\n"
             "acl_check_rcpt:\n"
             "  deny   domains = !+local_domains\n"
             "         message = relay not permitted\n"
             "  require verify = recipient\n"
             "  accept\n"
             "\nbegin routers\n"
             "known:\n"
             "  driver = accept\n"
             "  domains = +local_domains\n"
             "  local_parts = alice : bob\n"
             "  transport = to_file\n"
             "\nbegin transports\n"
             "to_file:\n"
             "  driver = appendfile\n"
             "  file = %s/mail/$local_part_data\n"
             "  user = Debian-exim\n"
             "  group = Debian-exim\n"
             "  mode = 0644\n",
             ex.ip, ex.port, ex.dir, ex.dir, ex.dir, ex.dir, ex.dir);
    put("exim.conf", conf);
    char run[2048];
    snprintf(run, sizeof run,
             "set -e\n"
             "mount --bind '%s/passwd' /etc/passwd\n"
             "mount --bind '%s/group' /etc/group\n"
             "mount --bind '%s/usr/sbin' /usr/sbin\n"
             "exec /usr/sbin/exim4 -C '%s/exim.conf' -bdf -oP '%s/exim.pid'\n",
             ex.dir, ex.dir, root, ex.dir, ex.dir);
    put("run.sh", run);
    char script[700], out[700];
    snprintf(script, sizeof script, "%s/run.sh", ex.dir);
    snprintf(out, sizeof out, "%s/daemon.out", ex.dir);
    char *argv[] = {"unshare", "-m", "sh", script, NULL};
    ex.pid = edm_test_spawn(argv, out); /* unshare and sh exec: this is Exim's pid */
    if (ex.pid < 0 || edm_test_wait_port(ex.ip, ex.port, 20000) != 0) {
        char *o = slurp("daemon.out");
        fprintf(stderr, "exim did not start: %s\n", o ? o : "");
        free(o);
        return -1;
    }
    return client_ctx ? 0 : -1;
}

static int exim_teardown(void **state)
{
    (void)state;
    if (ex.pid > 0)
        edm_test_stop(ex.pid, 3000);
    ex.pid = 0;
    tls_ctx_free(client_ctx);
    if (ex.dir) {
        edm_test_rmtree(ex.dir);
        free(ex.dir);
        ex.dir = NULL;
    }
    return 0;
}

/* Exim delivers in a process of its own after the 250: wait for the
 * mailbox to hold n messages. */
static char *wait_mailbox(const char *user, size_t n)
{
    char name[64];
    snprintf(name, sizeof name, "mail/%s", user);
    for (int i = 0; i < 200; i++) {
        char *m = slurp(name);
        size_t k = 0;
        for (const char *p = m; p && (p = strstr(p, "\nFrom ")) != NULL; p++)
            k++;
        if (m && strncmp(m, "From ", 5) == 0)
            k++;
        if (k >= n)
            return m;
        free(m);
        edm_test_sleep_ms(50);
    }
    fail_msg("mailbox %s never held %zu messages", user, n);
    return NULL;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void exim_delivers_bounces_over_tls_with_pipelining(void **state)
{
    (void)state;
    static const char *const alice[] = {"alice@exim.test", NULL};
    static const char *const bob_and_nobody[] = {"bob@exim.test", "nobody@exim.test", NULL};
    static const char *const nobody[] = {"nobody@exim.test", NULL};
    smtp_run r;
    run_init(&r);
    char body[3][200];
    for (int i = 0; i < 3; i++)
        snprintf(body[i], sizeof body[i],
                 "From: s@y.test\r\nTo: alice@exim.test\r\nSubject: m%d\r\n\r\nmarker-%d-%d\r\n"
                 ".dot-stuffed line\r\n",
                 i, i, (int)getpid());
    run_add(&r, "s@y.test", alice, body[0]);
    run_add(&r, "s@y.test", bob_and_nobody, body[1]);
    /* 15 refused transactions in a row: past Exim's 10 non-mail commands
     * if each were followed by RSET on one connection. */
    for (int i = 0; i < 15; i++)
        run_add(&r, "s@y.test", nobody, body[2]);
    run_add(&r, "s@y.test", alice, body[2]);
    smtp_target t = {"mx.exim.test", ex.ip};
    smtp_options o = run_options(&t, 1, ex.port);
    o.tls = SMTP_TLS_REQUIRED;
    o.tls_ctx = client_ctx;
    o.helo = "client.test";
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.done_calls, 18);
    assert_int_equal(r.fail_seen, 0);

    run_msg *m0 = &r.msgs[0], *m1 = &r.msgs[1], *last = &r.msgs[17];
    assert_int_equal(m0->rcpt[0].status, EDM_DSTATE_DELIVERED);
    assert_int_equal(m1->rcpt[0].status, EDM_DSTATE_DELIVERED);
    assert_int_equal(last->rcpt[0].status, EDM_DSTATE_DELIVERED);
    /* Exim's queue id: "250 OK id=1xY9CL-0007Ys-2D" */
    for (run_msg *m = m0; m; m = m == m0 ? m1 : m == m1 ? last : NULL) {
        assert_int_equal(strlen(m->rcpt[0].queue_id), 16);
        assert_int_equal(m->rcpt[0].queue_id[6], '-');
        assert_int_equal(strncmp(m->tls, "TLSv1.3 ", 8), 0);
    }
    assert_int_equal(m1->rcpt[1].status, EDM_DSTATE_BOUNCED);
    assert_int_equal(m1->rcpt[1].category, EDM_CATEGORY_BAD_MAILBOX);
    assert_int_equal(m1->rcpt[1].code, 550);
    for (int i = 2; i < 17; i++) {
        assert_int_equal(r.msgs[i].rcpt[0].status, EDM_DSTATE_BOUNCED);
        assert_int_equal(r.msgs[i].rcpt[0].category, EDM_CATEGORY_BAD_MAILBOX);
        if (!strstr(r.msgs[i].rcpt[0].text, "Unrouteable address"))
            fail_msg("msg %d: %s", i, r.msgs[i].rcpt[0].text);
    }

    char marker[64];
    char *a = wait_mailbox("alice", 2);
    snprintf(marker, sizeof marker, "marker-0-%d\n.dot-stuffed line\n", (int)getpid());
    assert_non_null(strstr(a, marker));
    snprintf(marker, sizeof marker, "marker-2-%d\n", (int)getpid());
    assert_non_null(strstr(a, marker));
    free(a);
    char *b = wait_mailbox("bob", 1);
    snprintf(marker, sizeof marker, "marker-1-%d\n", (int)getpid());
    assert_non_null(strstr(b, marker));
    free(b);

    char *log = slurp("log/mainlog");
    assert_non_null(log);
    assert_int_equal(count_of(log, " <= s@y.test"), 3);
    /* PIPELINING offered and used: " L" (" L." when PIPECONNECT is also
     * offered), with "-" appended when it was not used. */
    if (count_of(log, "P=esmtps L") != 3 || count_of(log, " L- ") + count_of(log, " L.- ") != 0)
        fail_msg("exim log:\n%s", log);
    for (const char *p = log; (p = strstr(p, " <= ")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        const char *x = strstr(p, "X=TLS1.3:");
        assert_true(x != NULL && (eol == NULL || x < eol)); /* each reception over TLS 1.3 */
    }
    assert_null(strstr(log, "too many nonmail"));
    assert_null(strstr(log, "synchronization error"));
    assert_int_equal(count_of(log, "rejected RCPT <nobody@exim.test>"), 16);
    free(log);
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(exim_delivers_bounces_over_tls_with_pipelining, exim_setup,
                                        exim_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
