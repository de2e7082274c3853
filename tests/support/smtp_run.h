/*
 * tests/support/smtp_run.h: drives SMTP client sessions in tests: a shared
 * queue of messages handed out by next(), every result copied for
 * asserting after uv_run (the session's facts, and what
 * engine/delivery/classify.c makes of them), callback counts, and fake servers closed when
 * the last session has closed (so uv_run returns with every handle
 * closed).
 */
#ifndef EDM_TESTS_SMTP_RUN_H
#define EDM_TESTS_SMTP_RUN_H

#include "engine/delivery/classify.h"
#include "engine/smtp/smtp_session.h"
#include "tests/support/smtp_fake.h"

#define RUN_MAX_RCPTS 8

typedef struct run_rcpt {
    enum edm_dstate status;
    enum edm_category category;
    enum edm_failure failure;
    int code;
    char enhanced[16];
    char text[EDM_OUTCOME_TEXT_MAX];
    char queue_id[72];
} run_rcpt;

typedef struct run_msg {
    const char *rcpts[RUN_MAX_RCPTS];
    smtp_message m;
    int done; /* times reported: must end at 1 */
    unsigned session;
    enum edm_dstate status;
    enum edm_category category;
    enum edm_failure failure;
    int code;
    char enhanced[16];
    char text[EDM_OUTCOME_TEXT_MAX];
    char mx_host[64], mx_ip[64], source_ip[64], tls[96];
    int needs_7bit; /* refused: 8bit and the server lacks 8BITMIME */
    run_rcpt rcpt[RUN_MAX_RCPTS];
} run_msg;

typedef struct smtp_run {
    uv_loop_t loop;
    run_msg *msgs;
    size_t nmsgs, next_i;
    unsigned next_calls, done_calls, closed_calls, sessions_open;
    unsigned closed_order[8]; /* session ids in the order they closed */
    int fail_seen;
    classify_result fail;
    enum edm_failure fail_failure;
    int fail_code;
    char fail_text[600];
    char fail_tls[96];
    smtp_fake *fakes[4];
    size_t nfakes;
    smtp_session *sessions[8];
    size_t nsessions;
    int abort_after_first_done;
    int later_when_empty; /* next() says SMTP_LATER, not NULL, when none is left */
    int free_in_closed;   /* smtp_session_free() inside closed() */
} smtp_run;

void run_init(smtp_run *r);
/* Adds a message (data copied); rcpts NULL-terminated. Returns its index. */
size_t run_add(smtp_run *r, const char *sender, const char *const *rcpts, const char *data);
/* A fake server on r's loop, closed with the last session. */
smtp_fake *run_fake(smtp_run *r, const smtp_fake_config *cfg);
/* Starts a session on r's loop (opts->id names it). */
smtp_session *run_session(smtp_run *r, const smtp_options *opts);
/* uv_run until every handle closed; asserts the loop is empty. */
void run_loop(smtp_run *r);
/* Frees sessions, fakes, messages and closes the loop. */
void run_free(smtp_run *r);
/* Options with short timeouts for one target ip:port. */
smtp_options run_options(const smtp_target *t, size_t nt, int port);

#endif
