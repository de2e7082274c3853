/*
 * tests/engine/feedback/test_feedback_postfix.c: a DSN written by a real
 * Postfix, end to end without the inbound listener (not built yet): edm
 * composes two campaign messages (VERP sender, Message-ID), Python's
 * smtplib hands them to a private Postfix instance on loopback, which
 * accepts both (250) and then bounces the one for fail.test (its transport
 * is error:5.1.1) to the VERP return path; Postfix itself delivers that
 * DSN to a Maildir for bounce.test. The file is fed to
 * engine/feedback/feedback.c with the envelope recipient Postfix recorded
 * (X-Original-To). Then: that receipt is bounced (bad_mailbox, 5.1.1), its
 * address suppressed (reason bounce), the other receipt untouched, and a
 * next campaign's upload records the address suppressed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/err.h"
#include "engine/feedback/feedback.h"
#include "engine/message/message.h"
#include "tests/support/testlib.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const unsigned char secret[] = "postfix-test-secret-0123456789";

struct pfx {
    char *dir;
    char conf[512], ip[32];
    int port, started;
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
             "virtual_mailbox_domains = pf.test bounce.test\n"
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
    pf_write("vmailbox", "ok@pf.test ok/\nbounces@bounce.test bounces/\n");
    pf_write("transport", "fail.test error:5.1.1 mailbox unknown\n");
    char master_cf[2048];
    snprintf(master_cf, sizeof master_cf,
             "%s:%d inet n - n - - smtpd\n"
             "cleanup unix n - n - 0 cleanup\n"
             "qmgr unix n - n 300 1 qmgr\n"
             "rewrite unix - - n - - trivial-rewrite\n"
             "bounce unix - - n - 0 bounce\n"
             "defer unix - - n - 0 bounce\n"
             "trace unix - - n - 0 bounce\n"
             "verify unix - - n - 1 verify\n"
             "flush unix n - n 1000? 0 flush\n"
             "proxymap unix - - n - - proxymap\n"
             "showq unix n - n - - showq\n"
             "error unix - - n - - error\n"
             "retry unix - - n - - error\n"
             "discard unix - - n - - discard\n"
             "virtual unix - n n - - virtual\n"
             "anvil unix - - n - 1 anvil\n"
             "scache unix - - n - 1 scache\n"
             "postlog unix-dgram n - n - 1 postlogd\n"
             "smtp unix - - n - - smtp\n",
             pf.ip, pf.port);
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

static int64_t campaign(edm_store *st, const char *const *rcpts, int n, int64_t *ids,
                        enum edm_add_outcome *outcomes)
{
    json_t *tf = json_pack("{s:s, s:s, s:s}", "name", "t", "subject", "Hello", "text", "Hi");
    edm_template_row t;
    assert_int_equal(st->ops->template_create(st, tf, &t), 0);
    json_t *cf = json_pack("{s:s, s:I, s:s}", "name", "c", "template_id", (json_int_t)t.id, "from",
                           "news@example.com");
    edm_campaign_row c;
    assert_int_equal(st->ops->campaign_create(st, cf, &c), 0);
    int64_t cid = c.id;
    json_decref(tf);
    json_decref(cf);
    edm_template_row_clear(&t);
    edm_campaign_row_clear(&c);
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, cid, &up), 0);
    for (int i = 0; i < n; i++) {
        edm_recipient r = {rcpts[i], strchr(rcpts[i], '@') + 1, NULL};
        assert_int_equal(st->ops->upload_add(up, &r, &outcomes[i]), 0);
    }
    assert_int_equal(st->ops->upload_end(up, 1), 0);
    if (ids) {
        int64_t cursor = 0;
        edm_job *jobs;
        size_t got;
        assert_int_equal(st->ops->claim(st, cid, 1000, 60, &cursor, (size_t)n, &jobs, &got), 0);
        assert_int_equal(got, (size_t)n);
        for (int i = 0; i < n; i++)
            ids[i] = jobs[i].id;
        edm_store_jobs_free(jobs, got);
    }
    return cid;
}

/* The first file in dir/new, or NULL; waits up to ms. */
static char *maildir_file(const char *dir, int ms)
{
    for (int waited = 0; waited < ms; waited += 100) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[1200];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            closedir(d);
            return strdup(path);
        }
        if (d)
            closedir(d);
        edm_test_sleep_ms(100);
    }
    return NULL;
}

static void postfix_bounce_suppresses(void **state)
{
    (void)state;
    char *tmp = edm_test_tmpdir("pfstore");
    char path[700], err[512];
    snprintf(path, sizeof path, "%s/edm.db", tmp);
    edm_store *st;
    assert_int_equal(edm_store_open(path, &st, err, sizeof err), 0);
    const char *rcpts[] = {"ok@pf.test", "nobody@fail.test"};
    int64_t ids[2];
    enum edm_add_outcome oc[2];
    campaign(st, rcpts, 2, ids, oc);

    /* Compose with edm, hand to Postfix (it accepts both), record delivered. */
    json_t *tpl = json_pack("{s:s, s:s}", "subject", "Hello", "text", "Hi there");
    edm_tpl_set *set;
    edm_tpl_error terr;
    assert_int_equal(edm_tpl_set_compile(&set, tpl, &terr), 0);
    json_decref(tpl);
    edm_message_worker w;
    assert_int_equal(edm_message_worker_init(&w), 0);
    edm_message_ctx mc = {.tpl = set,
                          .from_addr = "news@example.com",
                          .bounce_domain = "bounce.test",
                          .secret = secret,
                          .secret_len = sizeof secret - 1};
    edm_outcome o[2];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 2; i++) {
        edm_buf msg = EDM_BUF_INIT;
        char *sender = NULL, msgid[256];
        assert_int_equal(edm_message_build(&w, &mc, ids[i], rcpts[i], NULL, 1700000000, 0, &msg,
                                           &sender, msgid, NULL, err, sizeof err),
                         0);
        char mpath[800];
        snprintf(mpath, sizeof mpath, "%s/msg%d.eml", tmp, i);
        assert_int_equal(edm_test_write_file(mpath, msg.data, msg.len), 0);
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c 'import smtplib,sys; s=smtplib.SMTP(\"%s\", %d); "
                 "r=s.sendmail(\"%s\", [\"%s\"], open(\"%s\",\"rb\").read()); s.quit(); "
                 "sys.exit(1 if r else 0)'",
                 pf.ip, pf.port, sender, rcpts[i], mpath);
        char *out = NULL;
        int rc = edm_test_run(cmd, &out);
        if (rc != 0)
            fail_msg("smtplib: %s", out ? out : "");
        free(out);
        o[i].id = ids[i];
        o[i].status = EDM_DSTATE_DELIVERED;
        o[i].attempted = 1;
        o[i].attempted_at = 1700000000;
        o[i].code = 250;
        snprintf(o[i].message_id, sizeof o[i].message_id, "%s", msgid);
        edm_buf_free(&msg);
        edm_free(sender);
    }
    edm_message_worker_free(&w);
    edm_tpl_set_free(set);
    assert_int_equal(st->ops->record(st, o, 2), 0);
    json_t *before_ok;
    assert_int_equal(st->ops->receipt_get(st, ids[0], &before_ok), 0);

    /* Postfix's own DSN arrives at the VERP address within seconds. */
    char box[700];
    snprintf(box, sizeof box, "%s/mail/bounces/new", pf.dir);
    char *file = maildir_file(box, 30000);
    assert_non_null(file);
    size_t len;
    char *dsn = edm_test_read_file(file, &len);
    assert_non_null(dsn);
    assert_non_null(strstr(dsn, "report-type=delivery-status"));
    char rcpt[256] = "";
    const char *x = strstr(dsn, "X-Original-To: ");
    assert_non_null(x);
    sscanf(x + 15, "%255[^\r\n]", rcpt);
    assert_non_null(strstr(rcpt, "bounces+"));
    edm_fb_ctx fc = {st, secret, sizeof secret - 1};
    edm_fb_result r;
    assert_int_equal(edm_feedback_message(&fc, rcpt, dsn, len, 1700000100, &r), 0);
    assert_int_equal(r.what, EDM_FB_BOUNCED);
    assert_string_equal(r.form, "rfc3464");
    assert_int_equal(r.delivery_id, ids[1]);

    json_t *rc1;
    assert_int_equal(st->ops->receipt_get(st, ids[1], &rc1), 0);
    assert_string_equal(json_string_value(json_object_get(rc1, "status")), "bounced");
    assert_string_equal(json_string_value(json_object_get(rc1, "bounce_category")), "bad_mailbox");
    assert_string_equal(json_string_value(json_object_get(rc1, "enhanced_code")), "5.1.1");
    json_decref(rc1);
    json_t *after_ok;
    assert_int_equal(st->ops->receipt_get(st, ids[0], &after_ok), 0);
    assert_true(json_equal(before_ok, after_ok));
    json_decref(before_ok);
    json_decref(after_ok);
    assert_int_equal(st->ops->suppression_check(st, "nobody@fail.test", "fail.test"), 1);
    assert_int_equal(st->ops->suppression_check(st, "ok@pf.test", "pf.test"), 0);

    /* The next campaign to both: the bounced address is recorded suppressed. */
    campaign(st, rcpts, 2, NULL, oc);
    assert_int_equal(oc[0], EDM_ADD_ACCEPTED);
    assert_int_equal(oc[1], EDM_ADD_SUPPRESSED);

    free(dsn);
    free(file);
    edm_store_close(st);
    edm_test_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(postfix_bounce_suppresses),
    };
    return cmocka_run_group_tests(tests, pf_setup, pf_teardown);
}
