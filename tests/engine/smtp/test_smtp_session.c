/*
 * tests/engine/smtp/test_smtp_session.c: the SMTP client state machine against
 * the project's fake server (tests/support/smtp_fake.c): scripted dialogues
 * for every fault the fake can make, each asserting the exact
 * per-recipient result, plus pipelining, connection reuse, fallback
 * through targets, and a misbehaving server not holding up another
 * session. Every test counts callbacks and ends with every handle closed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/alloc.h"
#include "engine/base/log.h"
#include "tests/support/smtp_run.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *const TWO[] = {"a@x.test", "b@x.test", NULL};
static const char *const ONE[] = {"a@x.test", NULL};

#define MSG "From: s@y.test\r\nTo: a@x.test\r\nSubject: hi\r\n\r\nhello\r\n"

static smtp_fake *fake(smtp_run *r, const smtp_fake_rule *rules, size_t n, int no_pipe)
{
    smtp_fake_config cfg = {0};
    cfg.ip = "127.0.0.1";
    cfg.rules = rules;
    cfg.nrules = n;
    cfg.no_pipelining = no_pipe;
    return run_fake(r, &cfg);
}

/* One session to one fake server: deliver every message of r. */
static void deliver(smtp_run *r, smtp_fake *f, smtp_options *o)
{
    smtp_target t = {"fake.test", "127.0.0.1"};
    smtp_options def = run_options(&t, 1, smtp_fake_port(f));
    if (o == NULL)
        o = &def;
    run_session(r, o);
    run_loop(r);
}

static void pipelined_messages_reuse_one_connection(void **state)
{
    (void)state;
    smtp_run r;
    run_init(&r);
    smtp_fake *f = fake(&r, NULL, 0, 0);
    const char *body = "Subject: dots\r\n\r\n.leading dot\r\n..two\r\nbare lf\nend.\r\n.\r\nx";
    run_add(&r, "s@y.test", TWO, MSG);
    run_add(&r, "s@y.test", TWO, body);
    run_add(&r, "", ONE, MSG);
    r.free_in_closed = 1;
    deliver(&r, f, NULL);
    assert_int_equal(r.done_calls, 3);
    assert_int_equal(r.closed_calls, 1);
    assert_int_equal(r.fail_seen, 0);
    assert_int_equal(r.next_calls, 4); /* three messages, then NULL */
    assert_int_equal(smtp_fake_connections(f), 1);
    assert_int_equal(smtp_fake_pipelining_violations(f), 0);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(r.msgs[i].done, 1);
        assert_int_equal(r.msgs[i].status, EDM_DSTATE_DELIVERED);
        assert_int_equal(r.msgs[i].code, 250);
        assert_string_equal(r.msgs[i].enhanced, "2.0.0");
        assert_string_equal(r.msgs[i].mx_ip, "127.0.0.1");
        assert_string_equal(r.msgs[i].source_ip, "127.0.0.1");
        assert_string_equal(r.msgs[i].tls, "");
        char q[16];
        snprintf(q, sizeof q, "FAKE%04zu", i + 1);
        assert_string_equal(r.msgs[i].rcpt[0].queue_id, q);
        assert_int_equal(r.msgs[i].rcpt[0].status, EDM_DSTATE_DELIVERED);
    }
    assert_int_equal(r.msgs[1].rcpt[1].status, EDM_DSTATE_DELIVERED);
    /* Transparency: the server got the bytes back, bare LF as CRLF, with a
     * final CRLF added. */
    assert_int_equal(smtp_fake_messages(f), 3);
    assert_string_equal(smtp_fake_message(f, 0)->data, MSG);
    assert_string_equal(
        smtp_fake_message(f, 1)->data,
        "Subject: dots\r\n\r\n.leading dot\r\n..two\r\nbare lf\r\nend.\r\n.\r\nx\r\n");
    const char *log = smtp_fake_log(f);
    char want[300];
    snprintf(want, sizeof want,
             "EHLO client.test\nMAIL FROM:<s@y.test> SIZE=%zu\n"
             "RCPT TO:<a@x.test>\nRCPT TO:<b@x.test>\nDATA\n",
             strlen(MSG));
    if (!strstr(log, want))
        fail_msg("log:\n%s", log);
    snprintf(want, sizeof want, "MAIL FROM:<> SIZE=%zu\n", strlen(MSG));
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "QUIT\n"));
    assert_null(strstr(log, "RSET"));
    run_free(&r);
}

static void without_pipelining_waits_for_each_reply(void **state)
{
    (void)state;
    smtp_run r;
    run_init(&r);
    smtp_fake *f = fake(&r, NULL, 0, 1);
    run_add(&r, "s@y.test", TWO, MSG);
    run_add(&r, "s@y.test", ONE, MSG);
    deliver(&r, f, NULL);
    assert_int_equal(r.done_calls, 2);
    assert_int_equal(smtp_fake_pipelining_violations(f), 0);
    assert_int_equal(smtp_fake_messages(f), 2);
    assert_int_equal(r.msgs[0].rcpt[1].status, EDM_DSTATE_DELIVERED);
    assert_int_equal(r.msgs[1].status, EDM_DSTATE_DELIVERED);
    run_free(&r);
}

/* Per-recipient replies: each recipient gets its own exact result. */
static void per_recipient_replies(void **state)
{
    (void)state;
    static const smtp_fake_rule rules[] = {
        {FAKE_RCPT, "unknown@",
         "550 5.1.1 <unknown@x.test>: Recipient address rejected: User unknown\r\n", 0, FAKE_REPLY,
         0},
        {FAKE_RCPT, "full@", "452 4.2.2 Mailbox full\r\n", 0, FAKE_REPLY, 0},
        {FAKE_RCPT, "spam@", "550 5.7.1 Message rejected as spam\r\n", 0, FAKE_REPLY, 0},
        {FAKE_RCPT, "slow@", "450 4.7.1 Too many connections, slow down\r\n", 0, FAKE_REPLY, 0},
        {FAKE_RCPT, "multi@",
         "550-5.1.1 The email account that you tried to reach does\r\n550-5.1.1 not exist. Please "
         "try\r\n550 5.1.1 again.\r\n",
         0, FAKE_REPLY, 0},
    };
    static const char *const rc[] = {"ok@x.test",   "unknown@x.test", "full@x.test", "spam@x.test",
                                     "slow@x.test", "multi@x.test",   NULL};
    static const struct {
        enum edm_dstate st;
        enum edm_category cat;
        int code;
        const char *enh;
    } want[] = {
        {EDM_DSTATE_DELIVERED, EDM_CATEGORY_NONE, 250, "2.0.0"},
        {EDM_DSTATE_BOUNCED, EDM_CATEGORY_BAD_MAILBOX, 550, "5.1.1"},
        {EDM_DSTATE_DEFERRED, EDM_CATEGORY_MAILBOX_FULL, 452, "4.2.2"},
        {EDM_DSTATE_BOUNCED, EDM_CATEGORY_SPAM_BLOCK, 550, "5.7.1"},
        {EDM_DSTATE_DEFERRED, EDM_CATEGORY_RATE_LIMITED, 450, "4.7.1"},
        {EDM_DSTATE_BOUNCED, EDM_CATEGORY_BAD_MAILBOX, 550, "5.1.1"},
    };
    for (int pipe = 0; pipe < 2; pipe++) {
        smtp_run r;
        run_init(&r);
        smtp_fake *f = fake(&r, rules, sizeof rules / sizeof rules[0], !pipe);
        run_add(&r, "s@y.test", rc, MSG);
        deliver(&r, f, NULL);
        assert_int_equal(r.done_calls, 1);
        assert_int_equal(r.msgs[0].status, EDM_DSTATE_DELIVERED);
        for (size_t i = 0; i < 6; i++) {
            assert_int_equal(r.msgs[0].rcpt[i].status, want[i].st);
            assert_int_equal(r.msgs[0].rcpt[i].category, want[i].cat);
            assert_int_equal(r.msgs[0].rcpt[i].code, want[i].code);
            assert_string_equal(r.msgs[0].rcpt[i].enhanced, want[i].enh);
        }
        assert_string_equal(r.msgs[0].rcpt[5].text,
                            "The email account that you tried to reach does\nnot exist. "
                            "Please try\nagain.");
        assert_int_equal(smtp_fake_pipelining_violations(f), 0);
        run_free(&r);
    }
}

/* No recipient accepted: DATA refused, RSET, the next message goes. A
 * MAIL FROM refusal bounces every recipient. */
static void refused_transactions_then_next_message(void **state)
{
    (void)state;
    static const smtp_fake_rule rules[] = {
        {FAKE_RCPT, "nobody@", "550 5.1.1 no such user\r\n", 0, FAKE_REPLY, 0},
        {FAKE_MAIL, "spammer@", "550 5.7.1 Sender blocked: listed at zen.spamhaus.org\r\n", 0,
         FAKE_REPLY, 0},
        {FAKE_MAIL, "busy@", "451 4.3.0 Temporary failure\r\n", 0, FAKE_REPLY, 0},
    };
    static const char *const nobody[] = {"nobody@x.test", NULL};
    for (int pipe = 0; pipe < 2; pipe++) {
        smtp_run r;
        run_init(&r);
        smtp_fake *f = fake(&r, rules, 3, !pipe);
        run_add(&r, "s@y.test", nobody, MSG);
        run_add(&r, "spammer@y.test", TWO, MSG);
        run_add(&r, "busy@y.test", ONE, MSG);
        run_add(&r, "s@y.test", ONE, MSG);
        deliver(&r, f, NULL);
        assert_int_equal(r.done_calls, 4);
        assert_int_equal(r.msgs[0].status, EDM_DSTATE_BOUNCED);
        assert_int_equal(r.msgs[0].category, EDM_CATEGORY_BAD_MAILBOX);
        assert_int_equal(r.msgs[0].rcpt[0].code, 550);
        for (int k = 0; k < 2; k++) {
            assert_int_equal(r.msgs[1].rcpt[k].status, EDM_DSTATE_BOUNCED);
            assert_int_equal(r.msgs[1].rcpt[k].category, EDM_CATEGORY_SPAM_BLOCK);
            assert_int_equal(r.msgs[1].rcpt[k].code, 550);
        }
        assert_int_equal(r.msgs[2].rcpt[0].status, EDM_DSTATE_DEFERRED);
        assert_int_equal(r.msgs[2].rcpt[0].code, 451);
        assert_int_equal(r.msgs[3].rcpt[0].status, EDM_DSTATE_DELIVERED);
        assert_int_equal(smtp_fake_messages(f), 1);
        assert_int_equal(smtp_fake_connections(f), 1);
        assert_non_null(strstr(smtp_fake_log(f), "RSET"));
        assert_int_equal(smtp_fake_pipelining_violations(f), 0);
        run_free(&r);
    }
}

/* A run of refused transactions: each RSET after the first since the last
 * delivery counts toward the server's non-mail command limit (Exim's
 * smtp_accept_max_nonmail, 10); before it is reached the session moves to
 * a fresh connection with QUIT. A delivery in between frees the count. */
static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void rset_runs_move_to_a_fresh_connection(void **state)
{
    (void)state;
    static const smtp_fake_rule rules[] = {
        {FAKE_RCPT, "nobody@", "550 5.1.1 no such user\r\n", 0, FAKE_REPLY, 0},
    };
    static const char *const nobody[] = {"nobody@x.test", NULL};
    for (int pipe = 0; pipe < 2; pipe++) {
        smtp_run r;
        run_init(&r);
        smtp_fake *f = fake(&r, rules, 1, !pipe);
        for (int i = 0; i < 20; i++)
            run_add(&r, "s@y.test", nobody, MSG);
        run_add(&r, "s@y.test", ONE, MSG);
        deliver(&r, f, NULL);
        assert_int_equal(r.done_calls, 21);
        assert_int_equal(r.closed_calls, 1);
        assert_int_equal(r.fail_seen, 0);
        for (int i = 0; i < 20; i++) {
            assert_int_equal(r.msgs[i].done, 1);
            assert_int_equal(r.msgs[i].rcpt[0].status, EDM_DSTATE_BOUNCED);
        }
        assert_int_equal(r.msgs[20].rcpt[0].status, EDM_DSTATE_DELIVERED);
        /* 10 refused transactions a connection (1 free RSET + 8 counted,
         * then QUIT), the last one delivers on the third. */
        assert_int_equal(smtp_fake_connections(f), 3);
        const char *log = smtp_fake_log(f);
        assert_int_equal(count_of(log, "QUIT"), 3);
        assert_int_equal(count_of(log, "RSET"), 18);
        /* no connection carries more than 9 RSETs */
        const char *p = log;
        for (int c = 0; c < 3; c++) {
            const char *q = strstr(p, "QUIT");
            assert_non_null(q);
            size_t n = 0;
            for (const char *x = p; (x = strstr(x, "RSET")) != NULL && x < q; x++)
                n++;
            assert_true(n <= 9);
            p = q + 4;
        }
        assert_int_equal(smtp_fake_pipelining_violations(f), 0);
        run_free(&r);
    }

    /* Refused and delivered in turn: every RSET is the free one. */
    smtp_run r;
    run_init(&r);
    smtp_fake *f = fake(&r, rules, 1, 0);
    for (int i = 0; i < 15; i++) {
        run_add(&r, "s@y.test", nobody, MSG);
        run_add(&r, "s@y.test", ONE, MSG);
    }
    deliver(&r, f, NULL);
    assert_int_equal(r.done_calls, 30);
    assert_int_equal(smtp_fake_connections(f), 1);
    assert_int_equal(count_of(smtp_fake_log(f), "RSET"), 15);
    run_free(&r);
}

/* Faults that end the conversation: each defers (or bounces) exactly. */
static void faults_end_the_session(void **state)
{
    (void)state;
    char longline[700];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "250 ", 4);
    memcpy(longline + sizeof longline - 3, "\r\n", 3);
    const struct {
        const char *name;
        smtp_fake_rule rule;
        enum edm_dstate st;
        enum edm_category cat;
        int code;
        const char *text; /* in the recipient's text */
    } cases[] = {
        {"greeting 554",
         {FAKE_GREETING, NULL, "554 5.3.2 No SMTP service here\r\n", 0, FAKE_REPLY, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_POLICY,
         554,
         "No SMTP service here"},
        {"greeting 421",
         {FAKE_GREETING, NULL, "421 4.7.0 Too many connections from your IP\r\n", 0,
          FAKE_REPLY_CLOSE, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_RATE_LIMITED,
         421,
         "Too many connections"},
        {"disconnect mid-DATA",
         {FAKE_BODY, NULL, NULL, 0, FAKE_DISCONNECT, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_NETWORK,
         0,
         "lost connection"},
        {"disconnect at RCPT",
         {FAKE_RCPT, NULL, NULL, 0, FAKE_DISCONNECT, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_NETWORK,
         0,
         "while sending RCPT TO"},
        {"garbage reply",
         {FAKE_RCPT, NULL, "hello there\r\n", 0, FAKE_REPLY, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_PROTOCOL,
         0,
         "malformed reply"},
        {"mixed codes",
         {FAKE_MAIL, NULL, "250-ok\r\n251 ok\r\n", 0, FAKE_REPLY, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_PROTOCOL,
         0,
         "malformed reply"},
        {"over-long reply",
         {FAKE_DATA, NULL, longline, 0, FAKE_REPLY, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_PROTOCOL,
         0,
         "over-long reply"},
        {"421 at MAIL",
         {FAKE_MAIL, NULL, "421 4.7.0 Rate limit exceeded, closing\r\n", 0, FAKE_REPLY_CLOSE, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_RATE_LIMITED,
         421,
         "Rate limit"},
        {"hang at end of data",
         {FAKE_DOT, NULL, NULL, 0, FAKE_HANG, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_NETWORK,
         0,
         "timed out after the end of the message content"},
        {"hang at greeting",
         {FAKE_GREETING, NULL, NULL, 0, FAKE_HANG, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_NETWORK,
         0,
         "timed out while receiving the initial greeting"},
        {"5xx at end of data",
         {FAKE_DOT, NULL, "552 5.2.2 Over quota\r\n", 0, FAKE_REPLY, 0},
         EDM_DSTATE_BOUNCED,
         EDM_CATEGORY_MAILBOX_FULL,
         552,
         "Over quota"},
        {"delayed greeting",
         {FAKE_GREETING, NULL, NULL, 100, FAKE_REPLY, 0},
         EDM_DSTATE_DELIVERED,
         EDM_CATEGORY_NONE,
         250,
         "queued as"},
        {"delayed RCPT reply",
         {FAKE_RCPT, NULL, NULL, 100, FAKE_REPLY, 0},
         EDM_DSTATE_DELIVERED,
         EDM_CATEGORY_NONE,
         250,
         "queued as"},
        {"delayed 4xx at DATA",
         {FAKE_DATA, NULL, "451 4.3.0 Try later\r\n", 100, FAKE_REPLY, 0},
         EDM_DSTATE_DEFERRED,
         EDM_CATEGORY_OTHER,
         451,
         "Try later"},
        {"delay within the timeout",
         {FAKE_DOT, NULL, NULL, 100, FAKE_REPLY, 0},
         EDM_DSTATE_DELIVERED,
         EDM_CATEGORY_NONE,
         250,
         "queued as"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "case: %s\n", cases[i].name);
        smtp_run r;
        run_init(&r);
        smtp_fake *f = fake(&r, &cases[i].rule, 1, 0);
        run_add(&r, "s@y.test", TWO, MSG);
        smtp_target t = {"fake.test", "127.0.0.1"};
        smtp_options o = run_options(&t, 1, smtp_fake_port(f));
        o.timeouts.greeting = o.timeouts.data_end = 1000; /* hangs time out; delays do not */
        deliver(&r, f, &o);
        assert_int_equal(r.done_calls, 1);
        assert_int_equal(r.closed_calls, 1);
        assert_int_equal(r.msgs[0].done, 1);
        for (int k = 0; k < 2; k++) {
            assert_int_equal(r.msgs[0].rcpt[k].status, cases[i].st);
            assert_int_equal(r.msgs[0].rcpt[k].category, cases[i].cat);
            assert_int_equal(r.msgs[0].rcpt[k].code, cases[i].code);
            if (!strstr(r.msgs[0].rcpt[k].text, cases[i].text))
                fail_msg("%s: text \"%s\" lacks \"%s\"", cases[i].name, r.msgs[0].rcpt[k].text,
                         cases[i].text);
        }
        assert_int_equal(r.fail_seen, cases[i].st == EDM_DSTATE_DEFERRED &&
                                          /* a 4xx to DATA defers the message, not the session */
                                          strcmp(cases[i].name, "delayed 4xx at DATA") != 0);
        /* A refusal leaves with QUIT while the connection can carry it; a
         * 421 (the server closes) and a broken connection end without. */
        const char *log = smtp_fake_log(f);
        if (strcmp(cases[i].name, "greeting 554") == 0)
            assert_non_null(strstr(log, "QUIT"));
        if (strcmp(cases[i].name, "greeting 421") == 0 || strstr(cases[i].name, "disconnect") ||
            strstr(cases[i].name, "hang"))
            assert_null(strstr(log, "QUIT"));
        run_free(&r);
    }
}

/* A hanging server delays only its own session: another one finishes
 * first while the first waits for its timeout. */
static void misbehaving_server_does_not_hold_others(void **state)
{
    (void)state;
    static const smtp_fake_rule hang = {FAKE_RCPT, NULL, NULL, 0, FAKE_HANG, 0};
    smtp_run r;
    run_init(&r);
    smtp_fake *bad = fake(&r, &hang, 1, 0);
    smtp_fake *good = fake(&r, NULL, 0, 0);
    for (int i = 0; i < 6; i++)
        run_add(&r, "s@y.test", ONE, MSG);
    smtp_target tb = {"bad.test", "127.0.0.1"}, tg = {"good.test", "127.0.0.1"};
    smtp_options ob = run_options(&tb, 1, smtp_fake_port(bad));
    ob.timeouts.rcpt = 1500;
    ob.id = 1;
    smtp_options og = run_options(&tg, 1, smtp_fake_port(good));
    og.id = 2;
    run_session(&r, &ob);
    run_session(&r, &og);
    run_loop(&r);
    assert_int_equal(r.closed_calls, 2);
    assert_int_equal(r.closed_order[0], 1); /* the good session closed first */
    assert_int_equal(r.closed_order[1], 0);
    assert_int_equal(r.done_calls, 6);
    assert_int_equal(r.msgs[0].session, 0);
    assert_int_equal(r.msgs[0].rcpt[0].status, EDM_DSTATE_DEFERRED);
    if (!strstr(r.msgs[0].rcpt[0].text, "timed out while sending RCPT TO"))
        fail_msg("text: %s", r.msgs[0].rcpt[0].text);
    for (int i = 1; i < 6; i++) {
        assert_int_equal(r.msgs[i].session, 1);
        assert_int_equal(r.msgs[i].status, EDM_DSTATE_DELIVERED);
    }
    assert_int_equal(smtp_fake_messages(good), 5);
    run_free(&r);
}

/* Fallback through targets: refused connect, greeting 554 and EHLO+HELO
 * failures move on; the last target delivers. */
static void falls_back_through_targets(void **state)
{
    (void)state;
    /* Nothing listening: every target refused, the message deferred. */
    smtp_run r;
    run_init(&r);
    run_add(&r, "s@y.test", ONE, MSG);
    smtp_target t[] = {{"mx-refused.test", "127.0.0.1"}};
    smtp_options o = run_options(t, 1, edm_test_free_port("127.0.0.1"));
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.msgs[0].rcpt[0].status, EDM_DSTATE_DEFERRED);
    assert_int_equal(r.msgs[0].rcpt[0].category, EDM_CATEGORY_NETWORK);
    assert_non_null(strstr(r.msgs[0].rcpt[0].text, "cannot connect"));
    assert_int_equal(r.msgs[0].rcpt[0].failure, EDM_FAIL_NETWORK); /* the fact */
    assert_int_equal(r.msgs[0].rcpt[0].code, 0);
    assert_int_equal(r.fail_seen, 1);
    assert_int_equal(r.fail_failure, EDM_FAIL_NETWORK);
    assert_int_equal(r.fail.category, EDM_CATEGORY_NETWORK);
    run_free(&r);

    /* a: connection refused (the fake listens on 127.0.0.1 only), b: the
     * fake greets with 554 once, c: the fake again, now willing. */
    static const smtp_fake_rule g554 = {FAKE_GREETING, NULL, "554 go away\r\n", 0, FAKE_REPLY, 1};
    run_init(&r);
    smtp_fake *f = fake(&r, &g554, 1, 0);
    run_add(&r, "s@y.test", ONE, MSG);
    run_add(&r, "s@y.test", ONE, MSG);
    smtp_target t3[] = {{"a.test", "127.0.0.2"}, {"b.test", "127.0.0.1"}, {"c.test", "127.0.0.1"}};
    o = run_options(t3, 3, smtp_fake_port(f));
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.done_calls, 2);
    assert_int_equal(r.fail_seen, 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r.msgs[i].rcpt[0].status, EDM_DSTATE_DELIVERED);
        assert_string_equal(r.msgs[i].mx_host, "c.test");
    }
    assert_int_equal(smtp_fake_connections(f), 2);
    assert_int_equal(smtp_fake_messages(f), 2);
    run_free(&r);
}

static void helo_fallback_and_local_refusals(void **state)
{
    (void)state;
    smtp_run r;
    run_init(&r);
    smtp_fake_config cfg = {0};
    cfg.ip = "127.0.0.1";
    cfg.no_ehlo = 1;
    smtp_fake *f = run_fake(&r, &cfg);
    run_add(&r, "s@y.test", ONE, MSG);
    deliver(&r, f, NULL);
    assert_int_equal(r.msgs[0].status, EDM_DSTATE_DELIVERED);
    assert_non_null(
        strstr(smtp_fake_log(f), "EHLO client.test\nHELO client.test\nMAIL FROM:<s@y.test>\n"));
    assert_int_equal(smtp_fake_pipelining_violations(f), 0);
    run_free(&r);

    /* SIZE limit and SMTPUTF8: refused locally, no MAIL sent; others go. */
    run_init(&r);
    cfg.no_ehlo = 0;
    cfg.size_max = 60;
    f = run_fake(&r, &cfg);
    char big[200];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    run_add(&r, "s@y.test", ONE, big);
    run_add(&r, "s@y.test", ONE, "Subject: small\r\n\r\nx\r\n");
    run_add(&r, "s@y.test", ONE, big);
    deliver(&r, f, NULL);
    assert_int_equal(r.done_calls, 3);
    assert_int_equal(r.msgs[0].rcpt[0].status, EDM_DSTATE_BOUNCED);
    assert_string_equal(r.msgs[0].rcpt[0].enhanced, "5.3.4");
    assert_int_equal(r.msgs[1].rcpt[0].status, EDM_DSTATE_DELIVERED);
    assert_int_equal(r.msgs[2].rcpt[0].status, EDM_DSTATE_BOUNCED);
    assert_int_equal(smtp_fake_messages(f), 1);
    run_free(&r);
}

/* RFC 6531: a UTF-8 address needs SMTPUTF8; without it the message is
 * refused here (5.6.7), never sent. */
static void utf8_addresses(void **state)
{
    (void)state;
    static const char *const utf8[] = {"j\xc3\xb6rg@x.test", NULL};
    for (int offered = 0; offered < 2; offered++) {
        smtp_run r;
        run_init(&r);
        smtp_fake_config cfg = {0};
        cfg.ip = "127.0.0.1";
        cfg.no_smtputf8 = !offered;
        smtp_fake *f = run_fake(&r, &cfg);
        run_add(&r, "s@y.test", utf8, MSG);
        run_add(&r, "s@y.test", ONE, MSG);
        deliver(&r, f, NULL);
        assert_int_equal(r.done_calls, 2);
        assert_int_equal(r.msgs[1].status, EDM_DSTATE_DELIVERED);
        if (offered) {
            assert_int_equal(r.msgs[0].rcpt[0].status, EDM_DSTATE_DELIVERED);
            assert_non_null(strstr(smtp_fake_log(f), " SMTPUTF8\nRCPT TO:<j\xc3\xb6rg@x.test>\n"));
        } else {
            assert_int_equal(r.msgs[0].rcpt[0].status, EDM_DSTATE_BOUNCED);
            assert_string_equal(r.msgs[0].rcpt[0].enhanced, "5.6.7");
            assert_null(strstr(smtp_fake_log(f), "j\xc3\xb6rg"));
        }
        run_free(&r);
    }
}

/* A server that answers 354 to DATA although no recipient was accepted
 * gets an empty message ended at once; the next message is unaffected. */
static void data_accepted_without_recipients(void **state)
{
    (void)state;
    static const smtp_fake_rule rules[] = {
        {FAKE_RCPT, "nobody@", "550 5.1.1 no such user\r\n", 0, FAKE_REPLY, 0},
        {FAKE_DATA, NULL, "354 go ahead\r\n", 0, FAKE_REPLY, 1},
    };
    static const char *const nobody[] = {"nobody@x.test", NULL};
    smtp_run r;
    run_init(&r);
    smtp_fake *f = fake(&r, rules, 2, 0);
    run_add(&r, "s@y.test", nobody, MSG);
    run_add(&r, "s@y.test", ONE, MSG);
    deliver(&r, f, NULL);
    assert_int_equal(r.done_calls, 2);
    assert_int_equal(r.msgs[0].rcpt[0].status, EDM_DSTATE_BOUNCED);
    assert_int_equal(r.msgs[0].rcpt[0].code, 550);
    assert_int_equal(r.msgs[1].rcpt[0].status, EDM_DSTATE_DELIVERED);
    assert_int_equal(smtp_fake_messages(f), 2);
    assert_int_equal(smtp_fake_message(f, 0)->len, 0); /* nothing of the message went out */
    assert_string_equal(smtp_fake_message(f, 1)->data, MSG);
    run_free(&r);
}

static void max_messages_per_connection_and_abort(void **state)
{
    (void)state;
    smtp_run r;
    run_init(&r);
    smtp_fake *f = fake(&r, NULL, 0, 0);
    for (int i = 0; i < 5; i++)
        run_add(&r, "s@y.test", ONE, MSG);
    smtp_target t = {"fake.test", "127.0.0.1"};
    smtp_options o = run_options(&t, 1, smtp_fake_port(f));
    o.max_messages = 2;
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.done_calls, 2);
    assert_int_equal(r.next_i, 2);
    assert_int_equal(smtp_fake_messages(f), 2);
    run_free(&r);

    /* Abort from the done callback: the message sent ahead is deferred. */
    run_init(&r);
    f = fake(&r, NULL, 0, 0);
    for (int i = 0; i < 3; i++)
        run_add(&r, "s@y.test", ONE, MSG);
    r.abort_after_first_done = 1;
    o = run_options(&t, 1, smtp_fake_port(f));
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.msgs[0].status, EDM_DSTATE_DELIVERED);
    assert_int_equal(r.msgs[1].done, 1);
    assert_int_equal(r.msgs[1].status, EDM_DSTATE_DEFERRED);
    assert_non_null(strstr(r.msgs[1].text, "aborted"));
    assert_int_equal(r.closed_calls, 1);
    run_free(&r);

    /* Abort (shutdown) of a session waiting idle for work: QUIT, and a
     * clean close, not a network failure. */
    run_init(&r);
    f = fake(&r, NULL, 0, 0);
    run_add(&r, "s@y.test", ONE, MSG);
    r.later_when_empty = 1;
    o = run_options(&t, 1, smtp_fake_port(f));
    smtp_session *idle = run_session(&r, &o);
    uv_run(&r.loop, UV_RUN_ONCE);
    for (int spins = 0; !smtp_session_idle(idle) && spins < 200; spins++)
        uv_run(&r.loop, UV_RUN_ONCE);
    assert_true(smtp_session_idle(idle));
    smtp_session_abort(idle);
    run_loop(&r);
    assert_int_equal(r.msgs[0].status, EDM_DSTATE_DELIVERED);
    assert_int_equal(r.closed_calls, 1);
    assert_int_equal(r.fail_seen, 0);
    assert_non_null(strstr(smtp_fake_log(f), "QUIT"));
    run_free(&r);

    /* Abort while connecting (close-while-connecting). */
    run_init(&r);
    run_add(&r, "s@y.test", ONE, MSG);
    smtp_target far = {"far.test", "127.0.0.1"};
    o = run_options(&far, 1, edm_test_free_port("127.0.0.1"));
    smtp_session *s = run_session(&r, &o);
    smtp_session_abort(s);
    run_loop(&r);
    assert_int_equal(r.done_calls, 1);
    assert_int_equal(r.msgs[0].status, EDM_DSTATE_DEFERRED);
    assert_int_equal(r.closed_calls, 1);
    run_free(&r);

    /* Nothing to send: closed() without a connection. */
    run_init(&r);
    o = run_options(&far, 1, 25);
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.closed_calls, 1);
    assert_int_equal(r.fail_seen, 0);
    assert_int_equal(r.done_calls, 0);
    run_free(&r);
}

static void binds_to_source_ip(void **state)
{
    (void)state;
    smtp_run r;
    run_init(&r);
    smtp_fake *f = fake(&r, NULL, 0, 0);
    run_add(&r, "s@y.test", ONE, MSG);
    smtp_target t = {"fake.test", "127.0.0.1"};
    smtp_options o = run_options(&t, 1, smtp_fake_port(f));
    o.source_ip = "127.0.0.7";
    deliver(&r, f, &o);
    assert_string_equal(r.msgs[0].source_ip, "127.0.0.7");
    assert_int_equal(r.msgs[0].status, EDM_DSTATE_DELIVERED);
    run_free(&r);
}

/* Fault injection: allocation failure at creation, EMFILE at connect. */
static void allocation_failure_and_emfile(void **state)
{
    (void)state;
    smtp_run r;
    run_init(&r);
    smtp_target t = {"fake.test", "127.0.0.1"};
    smtp_options o = run_options(&t, 1, 25);
    static const smtp_callbacks cb = {NULL, NULL, NULL};
    edm_alloc_fail_after(0);
    smtp_session *s = smtp_session_new(&r.loop, &o, &cb, NULL);
    long injected = edm_alloc_injected_failures();
    edm_alloc_fail_after(-1);
    assert_null(s);
    assert_true(injected >= 1);
    run_free(&r);

    run_init(&r);
    smtp_fake *f = fake(&r, NULL, 0, 0);
    run_add(&r, "s@y.test", ONE, MSG);
    o = run_options(&t, 1, smtp_fake_port(f));
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int probe = dup(0); /* the lowest free descriptor: nothing above it may open */
    assert_true(probe >= 0);
    close(probe);
    low = old;
    low.rlim_cur = (rlim_t)probe;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    run_session(&r, &o);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    run_loop(&r);
    assert_int_equal(r.done_calls, 1);
    assert_int_equal(r.msgs[0].rcpt[0].status, EDM_DSTATE_DEFERRED);
    assert_int_equal(r.msgs[0].rcpt[0].category, EDM_CATEGORY_NETWORK);
    if (!strstr(r.msgs[0].rcpt[0].text, "too many open files"))
        fail_msg("text: %s", r.msgs[0].rcpt[0].text);
    assert_int_equal(smtp_fake_connections(f), 0);
    run_free(&r);
}

int main(void)
{
    edm_log_set_level(EDM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipelined_messages_reuse_one_connection),
        cmocka_unit_test(without_pipelining_waits_for_each_reply),
        cmocka_unit_test(per_recipient_replies),
        cmocka_unit_test(refused_transactions_then_next_message),
        cmocka_unit_test(rset_runs_move_to_a_fresh_connection),
        cmocka_unit_test(faults_end_the_session),
        cmocka_unit_test(misbehaving_server_does_not_hold_others),
        cmocka_unit_test(falls_back_through_targets),
        cmocka_unit_test(helo_fallback_and_local_refusals),
        cmocka_unit_test(utf8_addresses),
        cmocka_unit_test(data_accepted_without_recipients),
        cmocka_unit_test(max_messages_per_connection_and_abort),
        cmocka_unit_test(binds_to_source_ip),
        cmocka_unit_test(allocation_failure_and_emfile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
