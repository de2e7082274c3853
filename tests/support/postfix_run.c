/*
 * tests/support/postfix_run.c: a throwaway Postfix instance
 * (postfix_run.h): main.cf and master.cf written into its own directory,
 * `postfix -c DIR start`, and on stop `postfix -c DIR stop` plus a wait
 * for the master by PID. Used by tests/engine/smtp/test_smtp_real.c and
 * test_submission_postfix.c.
 */
#include "tests/support/postfix_run.h"
#include "tests/support/testlib.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pf_write(postfix_run *pf, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", pf->conf, name);
    return edm_test_write_file(path, text, strlen(text));
}

void postfix_master_cf(char *out, size_t n, const char *ip, int port, int tls)
{
    snprintf(out, n,
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
             "%s"
             "smtp unix - - n - - smtp\n",
             ip, port, tls ? "tlsmgr unix - - n 1000? 1 tlsmgr\n" : "");
}

int postfix_run_start(postfix_run *pf, const char *ip, const char *domain, const char *const *users)
{
    memset(pf, 0, sizeof *pf);
    pf->dir = edm_test_tmpdir("postfix");
    snprintf(pf->ip, sizeof pf->ip, "%s", ip);
    pf->port = edm_test_free_port(pf->ip);
    snprintf(pf->conf, sizeof pf->conf, "%s/conf", pf->dir);
    snprintf(pf->maildir, sizeof pf->maildir, "%s/mail", pf->dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; mkdir -p conf queue data mail; chmod 755 . conf;"
             "chown postfix:postfix data mail;"
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-subj /CN=mx.%s -days 2 -keyout conf/key.pem -out conf/cert.pem 2>/dev/null",
             pf->dir, domain);
    if (edm_test_run(cmd, NULL) != 0)
        return -1;
    /* The postfix user's uid/gid differ between images: ask. */
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
             "queue_directory = %s/queue\n"
             "data_directory = %s/data\n"
             "meta_directory = /etc/postfix\n"
             "mail_owner = postfix\nsetgid_group = postdrop\n"
             "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
             "myhostname = mx.%s\nmydomain = %s\nmyorigin = %s\n"
             "mydestination =\nmynetworks = 127.0.0.0/8\nrelayhost =\n"
             "alias_maps =\nalias_database =\nlocal_recipient_maps =\n"
             "local_header_rewrite_clients =\n"
             "virtual_mailbox_domains = %s\n"
             "virtual_mailbox_base = %s\n"
             "virtual_mailbox_maps = texthash:%s/vmailbox\n"
             "virtual_uid_maps = static:%d\nvirtual_gid_maps = static:%d\n"
             "virtual_minimum_uid = 1\n"
             "smtpd_tls_cert_file = %s/cert.pem\nsmtpd_tls_key_file = %s/key.pem\n"
             "smtpd_tls_security_level = may\n"
             "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n"
             "maillog_file_prefixes = /tmp, /var\nmaillog_file = %s/maillog\n"
             "smtputf8_enable = yes\n",
             pf->dir, pf->dir, domain, domain, domain, domain, pf->maildir, pf->conf, uid, gid,
             pf->conf, pf->conf, pf->dir);
    char vmailbox[2048] = "";
    for (size_t i = 0; users && users[i]; i++) {
        size_t n = strlen(vmailbox);
        snprintf(vmailbox + n, sizeof vmailbox - n, "%s@%s %s/\n", users[i], domain, users[i]);
    }
    char master_cf[2048];
    postfix_master_cf(master_cf, sizeof master_cf, pf->ip, pf->port, 1);
    if (pf_write(pf, "main.cf", main_cf) != 0 || pf_write(pf, "vmailbox", vmailbox) != 0 ||
        pf_write(pf, "master.cf", master_cf) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "postfix -c '%s' start 2>&1", pf->conf);
    char *out = NULL;
    int rc = edm_test_run(cmd, &out);
    pf->started = 1; /* stop it even if start half-failed */
    if (rc != 0) {
        fprintf(stderr, "postfix start: %s\n", out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    return edm_test_wait_port(pf->ip, pf->port, 20000) == 0 ? 0 : -1;
}

static pid_t master_pid(const postfix_run *pf)
{
    char path[700];
    snprintf(path, sizeof path, "%s/queue/pid/master.pid", pf->dir);
    char *s = edm_test_read_file(path, NULL);
    pid_t pid = s ? (pid_t)atoi(s) : 0;
    free(s);
    return pid;
}

void postfix_run_stop(postfix_run *pf)
{
    if (pf->started) {
        pid_t master = master_pid(pf);
        char cmd[700];
        snprintf(cmd, sizeof cmd, "postfix -c '%s' stop >/dev/null 2>&1", pf->conf);
        edm_test_run(cmd, NULL);
        /* Wait for the master (not our child) to go; force it if it lingers. */
        for (int i = 0; master > 0 && i < 100 && kill(master, 0) == 0; i++)
            edm_test_sleep_ms(50);
        if (master > 0 && kill(master, 0) == 0)
            kill(master, SIGKILL);
        pf->started = 0;
    }
    if (pf->dir) {
        edm_test_rmtree(pf->dir);
        free(pf->dir);
        pf->dir = NULL;
    }
}
