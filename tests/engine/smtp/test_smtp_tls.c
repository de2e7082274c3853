/*
 * tests/engine/smtp/test_smtp_tls.c: STARTTLS (opportunistic and required) and
 * AUTH against the fake server with a throwaway certificate: protocol and
 * cipher recorded, required never falls back to plaintext, opportunistic
 * retries plaintext after a failed handshake, AUTH PLAIN/LOGIN only under
 * TLS, bad credentials defer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/log.h"
#include "engine/net/tls.h"
#include "tests/support/smtp_run.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ONE[] = {"a@x.test", NULL};
#define MSG "Subject: tls\r\n\r\nover TLS\r\n"

static char *dir;
static char cert[512], key[512];
static SSL_CTX *client_ctx;

static int setup(void **state)
{
    (void)state;
    dir = edm_test_tmpdir("smtp_tls");
    if (smtp_fake_make_cert(dir, cert, key, sizeof cert) != 0)
        return -1;
    char err[200];
    client_ctx = tls_client_ctx_new(err, sizeof err);
    return client_ctx ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tls_ctx_free(client_ctx);
    edm_test_rmtree(dir);
    free(dir);
    return 0;
}

/* A fake server offering STARTTLS, and AUTH for user (password "s3cret")
 * unless user is NULL. */
static smtp_fake_config tls_cfg(const char *user)
{
    smtp_fake_config cfg = {0};
    cfg.ip = "127.0.0.1";
    cfg.cert_file = cert;
    cfg.key_file = key;
    cfg.auth_user = user;
    cfg.auth_pass = user ? "s3cret" : NULL;
    return cfg;
}

static smtp_fake *tls_fake(smtp_run *r, const smtp_fake_rule *rules, size_t n, const char *user)
{
    smtp_fake_config cfg = tls_cfg(user);
    cfg.rules = rules;
    cfg.nrules = n;
    return run_fake(r, &cfg);
}

static smtp_options opts(const smtp_target *t, size_t nt, int port, enum smtp_tls_mode mode)
{
    smtp_options o = run_options(t, nt, port);
    o.tls = mode;
    o.tls_ctx = client_ctx;
    return o;
}

static void starttls_records_protocol_and_cipher(void **state)
{
    (void)state;
    for (int mode = SMTP_TLS_OPPORTUNISTIC; mode <= SMTP_TLS_REQUIRED; mode++) {
        smtp_run r;
        run_init(&r);
        smtp_fake *f = tls_fake(&r, NULL, 0, NULL);
        run_add(&r, "s@y.test", ONE, MSG);
        run_add(&r, "s@y.test", ONE, MSG);
        smtp_target t = {"fake.test", "127.0.0.1"};
        smtp_options o = opts(&t, 1, smtp_fake_port(f), (enum smtp_tls_mode)mode);
        run_session(&r, &o);
        run_loop(&r);
        assert_int_equal(r.done_calls, 2);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(r.msgs[i].status, EDM_DSTATE_DELIVERED);
            /* "protocol cipher", as the store records it */
            assert_int_equal(strncmp(r.msgs[i].tls, "TLSv1.3 ", 8), 0);
            assert_true(strlen(r.msgs[i].tls) > 12);
        }
        const char *log = smtp_fake_log(f);
        assert_non_null(
            strstr(log, "EHLO client.test\nSTARTTLS\n<tls TLSv1.3>\nEHLO client.test\n"));
        assert_string_equal(smtp_fake_message(f, 1)->data, MSG);
        assert_int_equal(smtp_fake_handshakes(f), 1);
        assert_string_equal(smtp_fake_sni(f), "fake.test"); /* the MX host's name */
        run_free(&r);
    }
}

/* A host given as an address literal (a relay by IP) gets no SNI: RFC
 * 6066 section 3 allows only host names in it. */
static void no_sni_for_address_literals(void **state)
{
    (void)state;
    static const char *const hosts[] = {"127.0.0.1", "[127.0.0.1]", "localhost"};
    static const char *const want[] = {"", "", "localhost"};
    for (size_t i = 0; i < 3; i++) {
        smtp_run r;
        run_init(&r);
        smtp_fake *f = tls_fake(&r, NULL, 0, NULL);
        run_add(&r, "s@y.test", ONE, MSG);
        smtp_target t = {hosts[i], "127.0.0.1"};
        smtp_options o = opts(&t, 1, smtp_fake_port(f), SMTP_TLS_REQUIRED);
        run_session(&r, &o);
        run_loop(&r);
        assert_int_equal(r.msgs[0].status, EDM_DSTATE_DELIVERED);
        assert_int_equal(strncmp(r.msgs[0].tls, "TLSv1.3 ", 8), 0);
        assert_int_equal(smtp_fake_handshakes(f), 1);
        assert_string_equal(smtp_fake_sni(f), want[i]);
        run_free(&r);
    }
}

/* required: a host without STARTTLS is skipped for the next one, never
 * used in plaintext; opportunistic uses it in plaintext. */
static void required_fails_over_never_to_plaintext(void **state)
{
    (void)state;
    smtp_run r;
    run_init(&r);
    smtp_fake_config plain = {0};
    plain.ip = "127.0.0.1";
    smtp_fake *f = run_fake(&r, &plain);
    run_add(&r, "s@y.test", ONE, MSG);
    smtp_target t[] = {{"plain1.test", "127.0.0.1"}, {"plain2.test", "127.0.0.1"}};
    smtp_options o = opts(t, 2, smtp_fake_port(f), SMTP_TLS_REQUIRED);
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.msgs[0].rcpt[0].status, EDM_DSTATE_DEFERRED);
    assert_int_equal(r.msgs[0].rcpt[0].category, EDM_CATEGORY_TLS);
    assert_non_null(strstr(r.msgs[0].rcpt[0].text, "TLS is required but not offered"));
    assert_int_equal(smtp_fake_connections(f), 2); /* both targets tried */
    assert_null(strstr(smtp_fake_log(f), "MAIL FROM"));
    /* each connection left with QUIT */
    const char *log = smtp_fake_log(f);
    const char *q1 = strstr(log, "QUIT");
    assert_non_null(q1);
    assert_non_null(strstr(q1 + 4, "QUIT"));
    run_free(&r);

    run_init(&r);
    f = run_fake(&r, &plain);
    run_add(&r, "s@y.test", ONE, MSG);
    o = opts(t, 1, smtp_fake_port(f), SMTP_TLS_OPPORTUNISTIC);
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.msgs[0].status, EDM_DSTATE_DELIVERED);
    assert_string_equal(r.msgs[0].tls, "");
    run_free(&r);
}

/* The handshake breaks (the server closes after 220): opportunistic retries
 * the same host in plaintext, required defers with category tls. */
static void failed_handshake(void **state)
{
    (void)state;
    static const smtp_fake_rule broken = {FAKE_STARTTLS,    NULL, "220 go ahead\r\n", 0,
                                          FAKE_REPLY_CLOSE, 0};
    smtp_run r;
    run_init(&r);
    smtp_fake *f = tls_fake(&r, &broken, 1, NULL);
    run_add(&r, "s@y.test", ONE, MSG);
    smtp_target t = {"fake.test", "127.0.0.1"};
    smtp_options o = opts(&t, 1, smtp_fake_port(f), SMTP_TLS_OPPORTUNISTIC);
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.msgs[0].status, EDM_DSTATE_DELIVERED);
    assert_string_equal(r.msgs[0].tls, "");
    assert_int_equal(smtp_fake_connections(f), 2);
    run_free(&r);

    run_init(&r);
    f = tls_fake(&r, &broken, 1, NULL);
    run_add(&r, "s@y.test", ONE, MSG);
    o = opts(&t, 1, smtp_fake_port(f), SMTP_TLS_REQUIRED);
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.msgs[0].rcpt[0].status, EDM_DSTATE_DEFERRED);
    assert_int_equal(r.msgs[0].rcpt[0].category, EDM_CATEGORY_TLS);
    assert_int_equal(smtp_fake_connections(f), 1);
    assert_int_equal(smtp_fake_messages(f), 0);
    run_free(&r);
}

static void auth_only_after_tls(void **state)
{
    (void)state;
    const struct {
        int login_only;
        const char *pass;
        enum smtp_tls_mode mode;
        enum edm_dstate st;
        enum edm_category cat;
        const char *logged;
    } cases[] = {
        {0, "s3cret", SMTP_TLS_REQUIRED, EDM_DSTATE_DELIVERED, EDM_CATEGORY_NONE, "AUTH PLAIN "},
        {1, "s3cret", SMTP_TLS_OPPORTUNISTIC, EDM_DSTATE_DELIVERED, EDM_CATEGORY_NONE,
         "AUTH LOGIN\n<auth data>\n<auth data>\n"},
        {0, "wrong", SMTP_TLS_REQUIRED, EDM_DSTATE_DEFERRED, EDM_CATEGORY_AUTH, "AUTH PLAIN "},
        {1, "wrong", SMTP_TLS_REQUIRED, EDM_DSTATE_DEFERRED, EDM_CATEGORY_AUTH, "AUTH LOGIN"},
        {0, "s3cret", SMTP_TLS_NONE, EDM_DSTATE_DEFERRED, EDM_CATEGORY_TLS, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        smtp_run r;
        run_init(&r);
        smtp_fake_config cfg = tls_cfg("relayuser");
        cfg.auth_login_only = cases[i].login_only;
        smtp_fake *f = run_fake(&r, &cfg);
        run_add(&r, "s@y.test", ONE, MSG);
        smtp_target t = {"relay.test", "127.0.0.1"};
        smtp_options o = opts(&t, 1, smtp_fake_port(f), cases[i].mode);
        o.auth_user = "relayuser";
        o.auth_pass = cases[i].pass;
        run_session(&r, &o);
        run_loop(&r);
        assert_int_equal(r.msgs[0].rcpt[0].status, cases[i].st);
        assert_int_equal(r.msgs[0].rcpt[0].category, cases[i].cat);
        const char *log = smtp_fake_log(f);
        /* Refused (535, or AUTH without TLS): one AUTH at most, then
         * QUIT on the same connection; the session's failure carries the
         * TLS it had. */
        if (cases[i].st == EDM_DSTATE_DEFERRED) {
            assert_int_equal(smtp_fake_connections(f), 1);
            assert_non_null(strstr(log, "QUIT"));
            assert_int_equal(r.fail_seen, 1);
            if (cases[i].logged)
                assert_int_equal(strncmp(r.fail_tls, "TLSv1.3 ", 8), 0);
        }
        if (cases[i].logged) {
            assert_non_null(strstr(log, cases[i].logged));
            assert_non_null(strstr(log, "<tls TLSv1.3>\nEHLO client.test\nAUTH"));
            /* TLS is recorded on every attempt that negotiated it */
            assert_int_equal(strncmp(r.msgs[0].tls, "TLSv1.3 ", 8), 0);
        } else {
            assert_null(strstr(log, "AUTH"));
            assert_null(strstr(log, "MAIL"));
        }
        run_free(&r);
    }
}

/* A 535 refuses our credentials everywhere: the relay's next address is
 * not tried (one more failed AUTH would count against the source IP). */
static void refused_credentials_tried_once(void **state)
{
    (void)state;
    smtp_run r;
    run_init(&r);
    smtp_fake *f = tls_fake(&r, NULL, 0, "relayuser");
    run_add(&r, "s@y.test", ONE, MSG);
    smtp_target t[] = {{"relay.test", "127.0.0.1"}, {"relay.test", "127.0.0.1"}};
    smtp_options o = opts(t, 2, smtp_fake_port(f), SMTP_TLS_REQUIRED);
    o.auth_user = "relayuser";
    o.auth_pass = "wrong";
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.msgs[0].rcpt[0].code, 535);
    assert_int_equal(r.msgs[0].rcpt[0].category, EDM_CATEGORY_AUTH);
    assert_int_equal(smtp_fake_connections(f), 1);
    const char *log = smtp_fake_log(f);
    const char *a = strstr(log, "AUTH");
    assert_non_null(a);
    assert_null(strstr(a + 4, "AUTH"));
    assert_non_null(strstr(a, "QUIT"));
    run_free(&r);
}

/* A relay that offers no AUTH mechanism to a session with credentials: the
 * fact is an AUTH failure without a reply, its category auth; the
 * message is never sent. */
static void auth_not_offered(void **state)
{
    (void)state;
    smtp_run r;
    run_init(&r);
    smtp_fake *f = tls_fake(&r, NULL, 0, NULL);
    run_add(&r, "s@y.test", ONE, MSG);
    smtp_target t = {"relay.test", "127.0.0.1"};
    smtp_options o = opts(&t, 1, smtp_fake_port(f), SMTP_TLS_REQUIRED);
    o.auth_user = "relayuser";
    o.auth_pass = "s3cret";
    run_session(&r, &o);
    run_loop(&r);
    assert_int_equal(r.msgs[0].rcpt[0].failure, EDM_FAIL_AUTH);
    assert_int_equal(r.msgs[0].rcpt[0].code, 0);
    assert_int_equal(r.msgs[0].rcpt[0].status, EDM_DSTATE_DEFERRED);
    assert_int_equal(r.msgs[0].rcpt[0].category, EDM_CATEGORY_AUTH);
    assert_non_null(strstr(r.msgs[0].rcpt[0].text, "no AUTH PLAIN or LOGIN offered"));
    assert_null(strstr(smtp_fake_log(f), "AUTH"));
    assert_null(strstr(smtp_fake_log(f), "MAIL"));
    assert_non_null(strstr(smtp_fake_log(f), "QUIT"));
    assert_int_equal(smtp_fake_messages(f), 0);
    run_free(&r);
}

/* The fake server checked by a reference client: swaks over STARTTLS
 * with AUTH (the fake's loop runs in a thread while swaks runs here). */
static void loop_thread(void *arg)
{
    uv_run(arg, UV_RUN_DEFAULT);
}

static void stop_cb(uv_async_t *a)
{
    smtp_fake_close(a->data);
    uv_close((uv_handle_t *)a, NULL);
}

static void fake_passes_swaks(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    smtp_fake_config cfg = tls_cfg("relayuser");
    smtp_fake *f = smtp_fake_start(&loop, &cfg);
    assert_non_null(f);
    uv_async_t stop;
    uv_async_init(&loop, &stop, stop_cb);
    stop.data = f;
    uv_thread_t t;
    assert_int_equal(uv_thread_create(&t, loop_thread, &loop), 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "swaks --server 127.0.0.1 --port %d --from s@y.test --to a@x.test,b@x.test "
             "--tls --auth PLAIN --auth-user relayuser --auth-password s3cret "
             "--header 'Subject: swaks' --body '.dot first\n..two' 2>&1",
             smtp_fake_port(f));
    char *out = NULL;
    int rc = edm_test_run(cmd, &out);
    uv_async_send(&stop);
    uv_thread_join(&t);
    assert_int_equal(uv_loop_alive(&loop), 0);
    if (rc != 0 || !strstr(out, "<~  250 2.0.0 Ok: queued as FAKE0001") ||
        !strstr(out, "<~  235 2.7.0 Authentication successful"))
        fail_msg("swaks rc=%d:\n%s", rc, out ? out : "");
    free(out);
    assert_int_equal(smtp_fake_messages(f), 1);
    assert_non_null(strstr(smtp_fake_message(f, 0)->data, "\r\n.dot first\r\n..two\r\n"));
    assert_non_null(strstr(smtp_fake_log(f), "STARTTLS\n<tls TLSv1.3>\n"));
    assert_non_null(strstr(smtp_fake_log(f), "RCPT TO:<b@x.test>"));
    smtp_fake_free(f);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    edm_log_set_level(EDM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starttls_records_protocol_and_cipher),
        cmocka_unit_test(no_sni_for_address_literals),
        cmocka_unit_test(refused_credentials_tried_once),
        cmocka_unit_test(required_fails_over_never_to_plaintext),
        cmocka_unit_test(failed_handshake),
        cmocka_unit_test(auth_only_after_tls),
        cmocka_unit_test(auth_not_offered),
        cmocka_unit_test(fake_passes_swaks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
