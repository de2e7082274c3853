/*
 * tests/support/postfix_run.h: a throwaway Postfix instance for tests
 * (docs: TESTING.md's recipe): its own config, queue and Maildir
 * directories in a temporary directory, smtpd on ip and a free port with
 * STARTTLS (a throwaway certificate), virtual Maildir delivery for one
 * domain's listed users (anyone else: 550 5.1.1 at RCPT), relaying for
 * 127.0.0.0/8 refused elsewhere. It never touches /etc/postfix's queue.
 */
#ifndef EDM_TEST_POSTFIX_RUN_H
#define EDM_TEST_POSTFIX_RUN_H

#include <stddef.h>

typedef struct postfix_run {
    char *dir;
    char conf[512], maildir[512]; /* users' Maildirs: maildir/USER/new/ */
    char ip[32];
    int port;
    int started;
} postfix_run;

/* The master.cf of a throwaway instance: smtpd on ip:port and the
 * services a local MX needs (tlsmgr when tls). */
void postfix_master_cf(char *out, size_t n, const char *ip, int port, int tls);

/* Starts it on ip (a 127.0.1.x address) for domain with users (NULL
 * terminated local parts) and waits until smtpd answers. 0, or -1 (the
 * reason on stderr); postfix_run_stop is needed either way. */
int postfix_run_start(postfix_run *pf, const char *ip, const char *domain,
                      const char *const *users);
/* Stops it (waiting for its master to exit, SIGKILL if it lingers) and
 * removes its directory. Safe on a zeroed or half-started one. */
void postfix_run_stop(postfix_run *pf);

#endif
