/*
 * tests/engine/feedback/test_feedback.c: what comes back, applied to a real
 * SQLite store (engine/feedback/feedback.c over store_sqlite_feedback.c):
 * the parser's samples with edm's real tokens and Message-IDs put in
 * (tests/engine/feedback/samples/, placeholders XBTOKENX, XUTOKENX,
 * XMSGIDX). Each case checks the receipt, its events, the suppression list,
 * and that every other receipt is exactly as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/base/err.h"
#include "engine/feedback/feedback.h"
#include "engine/message/verp.h"
#include "tests/support/store_backend.h"
#include "tests/support/testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NRCPT 4

static const unsigned char secret[] = "0123456789abcdef-test-secret";

struct fx {
    char *dir;
    edm_store *st;
    edm_fb_ctx ctx;
    int64_t cid;
    int64_t ids[NRCPT];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = edm_test_tmpdir("feedback");
    char path[4200], err[512];
    if (edm_test_store_where(f->dir, path, sizeof path) != 0 ||
        edm_store_open(path, &f->st, err, sizeof err) != 0)
        return -1;
    edm_store *st = f->st;
    f->cid = edm_test_store_campaign(st, NULL, "x");
    edm_upload *up;
    assert_int_equal(st->ops->upload_begin(st, f->cid, &up), 0);
    for (int i = 0; i < NRCPT; i++) {
        char email[64];
        snprintf(email, sizeof email, "%s@example.org",
                 i == 0   ? "nobody"
                 : i == 1 ? "slow"
                 : i == 2 ? "user"
                          : "other");
        edm_recipient r = {.email = email, .domain = "example.org", .vars_json = NULL};
        enum edm_add_outcome o;
        assert_int_equal(st->ops->upload_add(up, &r, 1, &o), 0);
    }
    assert_int_equal(st->ops->upload_end(up, 1), 0);
    int64_t cursor = 0;
    edm_job *jobs;
    size_t n;
    assert_int_equal(st->ops->claim(st, f->cid, 1000, 60, &cursor, NRCPT, &jobs, &n), 0);
    assert_int_equal(n, NRCPT);
    edm_outcome o[NRCPT];
    memset(o, 0, sizeof o);
    for (int i = 0; i < NRCPT; i++) {
        f->ids[i] = jobs[i].id;
        o[i].id = jobs[i].id;
        o[i].attempted = 1;
        o[i].attempted_at = 1000;
        o[i].code = 250;
        o[i].step = EDM_STEP_DATA_END;
        /* the last one is still being retried */
        o[i].status = i == NRCPT - 1 ? EDM_DSTATE_DEFERRED : EDM_DSTATE_DELIVERED;
        o[i].next_attempt_at = 5000;
        snprintf(o[i].message_id, sizeof o[i].message_id, "m%d.edm@example.com", i);
        snprintf(o[i].text, sizeof o[i].text, "ok");
    }
    assert_int_equal(st->ops->record(st, o, NRCPT), 0);
    edm_store_jobs_free(jobs, n);
    f->ctx = (edm_fb_ctx){f->st, secret, sizeof secret - 1};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    edm_test_store_release(f->st, f->dir);
    free(f);
    return 0;
}

static void replace_all(char **s, const char *from, const char *to)
{
    char *p;
    while ((p = strstr(*s, from)) != NULL) {
        size_t a = (size_t)(p - *s), fl = strlen(from), tl = strlen(to), n = strlen(*s);
        char *o = malloc(n - fl + tl + 1);
        memcpy(o, *s, a);
        memcpy(o + a, to, tl);
        memcpy(o + a + tl, p + fl, n - a - fl + 1);
        free(*s);
        *s = o;
    }
}

/* A sample about delivery index i (its tokens and Message-ID). */
static char *sample_for(struct fx *f, const char *file, int i, size_t *len)
{
    char rel[256], btok[EDM_VERP_TOKEN_MAX], utok[EDM_VERP_TOKEN_MAX], mid[64];
    snprintf(rel, sizeof rel, "tests/engine/feedback/samples/%s", file);
    char *s = edm_test_read_file(edm_test_src(rel), NULL);
    assert_non_null(s);
    assert_true(
        edm_verp_token(btok, EDM_VERP_BOUNCE, secret, sizeof secret - 1, (uint64_t)f->ids[i]) > 0);
    assert_true(
        edm_verp_token(utok, EDM_VERP_UNSUB, secret, sizeof secret - 1, (uint64_t)f->ids[i]) > 0);
    snprintf(mid, sizeof mid, "m%d.edm@example.com", i);
    replace_all(&s, "XBTOKENX", btok);
    replace_all(&s, "XUTOKENX", utok);
    replace_all(&s, "XMSGIDX", mid);
    *len = strlen(s);
    return s;
}

static json_t *receipt(struct fx *f, int i)
{
    json_t *r;
    assert_int_equal(f->st->ops->receipt_get(f->st, f->ids[i], &r), 0);
    return r;
}

static json_t *events(struct fx *f, int i)
{
    json_t *e;
    assert_int_equal(f->st->ops->receipt_events(f->st, f->ids[i], &e), 0);
    return e;
}

static json_t *suppressions(struct fx *f)
{
    edm_page p;
    assert_int_equal(f->st->ops->suppression_list(f->st, 0, 100, &p), 0);
    return p.items;
}

/* Every receipt and every event of the others, to prove nothing else moved. */
static json_t *snapshot(struct fx *f, int except)
{
    json_t *a = json_array();
    for (int i = 0; i < NRCPT; i++)
        if (i != except) {
            json_array_append_new(a, receipt(f, i));
            json_array_append_new(a, events(f, i));
        }
    return a;
}

static void others_unchanged(struct fx *f, json_t *before, int except)
{
    json_t *after = snapshot(f, except);
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
}

static void test_postfix_dsn_by_envelope(void **state)
{
    struct fx *f = *state;
    json_t *before = snapshot(f, 0);
    size_t len;
    char *msg = sample_for(f, "postfix_failed.eml", 0, &len);
    char rcpt[128], tok[EDM_VERP_TOKEN_MAX];
    edm_verp_token(tok, EDM_VERP_BOUNCE, secret, sizeof secret - 1, (uint64_t)f->ids[0]);
    snprintf(rcpt, sizeof rcpt, "bounces+%s@bounce.example.com", tok);
    edm_fb_result r;
    assert_int_equal(edm_feedback_message(&f->ctx, rcpt, msg, len, 2000, &r), 0);
    assert_int_equal(r.what, EDM_FB_BOUNCED);
    assert_int_equal(r.delivery_id, f->ids[0]);
    assert_true(r.done.suppressed);
    json_t *rc = receipt(f, 0);
    assert_string_equal(json_string_value(json_object_get(rc, "status")), "bounced");
    assert_string_equal(json_string_value(json_object_get(rc, "bounce_category")), "bad_mailbox");
    assert_string_equal(json_string_value(json_object_get(rc, "enhanced_code")), "5.1.1");
    assert_string_equal(json_string_value(json_object_get(rc, "response")), "user unknown");
    assert_true(json_is_null(json_object_get(rc, "feedback")));
    json_decref(rc);
    json_t *ev = events(f, 0);
    assert_int_equal(json_array_size(ev), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "type")),
                        "attempt");
    json_t *d = json_array_get(ev, 1);
    assert_string_equal(json_string_value(json_object_get(d, "type")), "dsn");
    assert_string_equal(json_string_value(json_object_get(d, "status")), "bounced");
    json_decref(ev);
    json_t *sup = suppressions(f);
    assert_int_equal(json_array_size(sup), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sup, 0), "value")),
                        "nobody@example.org");
    assert_string_equal(json_string_value(json_object_get(json_array_get(sup, 0), "reason")),
                        "bounce");
    json_decref(sup);
    others_unchanged(f, before, 0);
    free(msg);
}

/* Non-standard forms matched by the token in the returned copy, with no
 * envelope: each bounces delivery 0. */
static void test_plain_text_forms(void **state)
{
    static const char *const files[] = {
        "exim_failed.eml",      "qmail_failed.eml",    "exchange_failed.eml",    "gmail_failed.eml",
        "remote_550_multi.eml", "sendmail_failed.eml", "postfix_text_failed.eml"};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        teardown(state);
        assert_int_equal(setup(state), 0);
        struct fx *f = *state;
        json_t *before = snapshot(f, 0);
        size_t len;
        char *msg = sample_for(f, files[k], 0, &len);
        edm_fb_result r;
        assert_int_equal(edm_feedback_message(&f->ctx, NULL, msg, len, 2000, &r), 0);
        printf("%s: %s\n", files[k], edm_fb_what_name(r.what));
        assert_int_equal(r.what, EDM_FB_BOUNCED);
        json_t *rc = receipt(f, 0);
        assert_string_equal(json_string_value(json_object_get(rc, "status")), "bounced");
        assert_string_equal(json_string_value(json_object_get(rc, "bounce_category")),
                            "bad_mailbox");
        assert_int_equal(json_integer_value(json_object_get(rc, "smtp_code")), 550);
        json_decref(rc);
        json_t *sup = suppressions(f);
        assert_int_equal(json_array_size(sup), 1);
        json_decref(sup);
        others_unchanged(f, before, 0);
        free(msg);
    }
}

/* A delay notice adds an event and changes nothing else; a failure for a
 * receipt still being retried bounces it. */
static void test_delayed_then_deferred_failed(void **state)
{
    struct fx *f = *state;
    json_t *before = snapshot(f, 1);
    size_t len;
    char *msg = sample_for(f, "postfix_delayed.eml", 1, &len);
    edm_fb_result r;
    assert_int_equal(edm_feedback_message(&f->ctx, NULL, msg, len, 2000, &r), 0);
    assert_int_equal(r.what, EDM_FB_DELAYED);
    json_t *rc = receipt(f, 1);
    assert_string_equal(json_string_value(json_object_get(rc, "status")), "delivered");
    json_decref(rc);
    json_t *ev = events(f, 1);
    assert_int_equal(json_array_size(ev), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 1), "status")),
                        "deferred");
    json_decref(ev);
    json_t *sup = suppressions(f);
    assert_int_equal(json_array_size(sup), 0);
    json_decref(sup);
    others_unchanged(f, before, 1);
    free(msg);

    /* Exim's failure about the deferred one (index 3). */
    msg = sample_for(f, "exim_failed.eml", 3, &len);
    assert_int_equal(edm_feedback_message(&f->ctx, NULL, msg, len, 2100, &r), 0);
    assert_int_equal(r.what, EDM_FB_BOUNCED);
    rc = receipt(f, 3);
    assert_string_equal(json_string_value(json_object_get(rc, "status")), "bounced");
    assert_true(json_is_null(json_object_get(rc, "next_attempt_at")));
    json_decref(rc);
    free(msg);
}

/* RFC 5965's own example, matched by its Message-ID; JMRP (recipient
 * redacted, no token) by ours; Yahoo's (base64) by its token. */
static void test_complaints(void **state)
{
    struct fx *f = *state;
    json_t *before = snapshot(f, 2);
    /* Delivery 2 went out with the example's Message-ID. */
    edm_outcome o;
    memset(&o, 0, sizeof o);
    o.id = f->ids[2];
    o.status = EDM_DSTATE_DELIVERED;
    o.attempted_at = 1000;
    o.code = 250;
    snprintf(o.message_id, sizeof o.message_id, "8787KJKJ3K4J3K4J3K4J3.mail@example.net");
    assert_int_equal(f->st->ops->record(f->st, &o, 1), 0);
    json_decref(before);
    before = snapshot(f, 2);
    size_t len;
    char *msg = sample_for(f, "arf_rfc5965.eml", 2, &len);
    edm_fb_result r;
    assert_int_equal(edm_feedback_message(&f->ctx, "fbl@bounce.example.com", msg, len, 3000, &r),
                     0);
    assert_int_equal(r.what, EDM_FB_COMPLAINED);
    assert_int_equal(r.delivery_id, f->ids[2]);
    json_t *rc = receipt(f, 2);
    assert_string_equal(json_string_value(json_object_get(rc, "feedback")), "complained");
    assert_string_equal(json_string_value(json_object_get(rc, "feedback_at")),
                        "1970-01-01T00:50:00Z");
    assert_string_equal(json_string_value(json_object_get(rc, "status")), "delivered");
    json_decref(rc);
    json_t *ev = events(f, 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(ev, json_array_size(ev) - 1), "type")),
        "complaint");
    size_t nev = json_array_size(ev);
    json_decref(ev);
    /* The same report again: no second event. */
    assert_int_equal(edm_feedback_message(&f->ctx, NULL, msg, len, 3100, &r), 0);
    ev = events(f, 2);
    assert_int_equal(json_array_size(ev), nev);
    json_decref(ev);
    json_t *sup = suppressions(f);
    assert_int_equal(json_array_size(sup), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sup, 0), "reason")),
                        "complaint");
    json_decref(sup);
    others_unchanged(f, before, 2);
    free(msg);

    msg = sample_for(f, "arf_jmrp.eml", 1, &len);
    assert_int_equal(edm_feedback_message(&f->ctx, NULL, msg, len, 3000, &r), 0);
    assert_int_equal(r.what, EDM_FB_COMPLAINED);
    assert_int_equal(r.delivery_id, f->ids[1]);
    free(msg);
    msg = sample_for(f, "arf_yahoo_base64.eml", 0, &len);
    assert_int_equal(edm_feedback_message(&f->ctx, NULL, msg, len, 3000, &r), 0);
    assert_int_equal(r.what, EDM_FB_COMPLAINED);
    assert_int_equal(r.delivery_id, f->ids[0]);
    free(msg);
}

/* One Message-ID for several recipients (a message submitted over SMTP
 * goes to each of its recipients byte for byte): a report matched by
 * Message-ID alone goes to the recipient it names (ARF Original-Rcpt-To,
 * a DSN's Final-Recipient), not to the first delivery with that id. */
static void test_shared_message_id(void **state)
{
    struct fx *f = *state;
    edm_outcome o[2];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 2; i++) {
        o[i].id = f->ids[i + 1];
        o[i].status = EDM_DSTATE_DELIVERED;
        o[i].attempted_at = 1000;
        o[i].code = 250;
        snprintf(o[i].message_id, sizeof o[i].message_id, "shared.1@example.com");
    }
    assert_int_equal(f->st->ops->record(f->st, o, 2), 0);
    json_t *before = snapshot(f, 2);
    /* user@example.org (index 2) complains; slow@ (index 1) came first. */
    const char *arf =
        "From: fbl@isp.example\nTo: fbl@bounce.example.com\nSubject: complaint\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\n\n"
        "--b\nContent-Type: text/plain\n\nabuse report\n\n"
        "--b\nContent-Type: message/feedback-report\n\n"
        "Feedback-Type: abuse\nVersion: 1\nOriginal-Rcpt-To: <User@Example.org>\n\n"
        "--b\nContent-Type: text/rfc822-headers\n\n"
        "From: shop@example.com\nSubject: order\nMessage-ID: <shared.1@example.com>\n\n"
        "--b--\n";
    edm_fb_result r;
    assert_int_equal(
        edm_feedback_message(&f->ctx, "fbl@bounce.example.com", arf, strlen(arf), 3000, &r), 0);
    assert_int_equal(r.what, EDM_FB_COMPLAINED);
    assert_int_equal(r.delivery_id, f->ids[2]);
    others_unchanged(f, before, 2);
    /* A DSN without a token, to a feedback address: Final-Recipient. */
    before = snapshot(f, 1);
    const char *dsn =
        "From: MAILER-DAEMON@isp.example\nTo: fbl@bounce.example.com\nSubject: failed\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
        "--b\nContent-Type: text/plain\n\nfailed\n\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; isp.example\n\n"
        "Final-Recipient: rfc822; slow@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        "--b\nContent-Type: text/rfc822-headers\n\n"
        "From: shop@example.com\nMessage-ID: <shared.1@example.com>\n\n"
        "--b--\n";
    assert_int_equal(
        edm_feedback_message(&f->ctx, "fbl@bounce.example.com", dsn, strlen(dsn), 3100, &r), 0);
    assert_int_equal(r.what, EDM_FB_BOUNCED);
    assert_int_equal(r.delivery_id, f->ids[1]);
    others_unchanged(f, before, 1);
}

/* Forged tokens, an unknown Message-ID and an auto-reply change nothing. */
static void test_forged_and_unrelated(void **state)
{
    struct fx *f = *state;
    json_t *before = snapshot(f, -1);
    size_t len;
    char *msg = sample_for(f, "exim_failed.eml", 0, &len);
    /* alter one character of the token's tag */
    char *t = strstr(msg, "bounces+");
    while (t) {
        char *at = strchr(t, '@');
        at[-1] = at[-1] == 'a' ? 'b' : 'a';
        t = strstr(at, "bounces+");
    }
    char *m = strstr(msg, "m0.edm");
    m[1] = '9';
    edm_fb_result r;
    assert_int_equal(edm_feedback_message(&f->ctx, NULL, msg, len, 2000, &r), 0);
    assert_int_equal(r.what, EDM_FB_UNMATCHED);
    free(msg);
    msg = sample_for(f, "autoreply.eml", 0, &len);
    assert_int_equal(edm_feedback_message(&f->ctx, NULL, msg, len, 2000, &r), 0);
    assert_int_equal(r.what, EDM_FB_IGNORED);
    free(msg);
    assert_int_equal(edm_feedback_unsubscribe(&f->ctx, "1-aaaaaaaaaaaaaaaa", 18, 2000, &r),
                     EDM_ENOTFOUND);
    /* a bounce token is no unsubscribe token */
    char tok[EDM_VERP_TOKEN_MAX];
    int n = edm_verp_token(tok, EDM_VERP_BOUNCE, secret, sizeof secret - 1, (uint64_t)f->ids[0]);
    assert_int_equal(edm_feedback_unsubscribe(&f->ctx, tok, (size_t)n, 2000, &r), EDM_ENOTFOUND);
    json_t *sup = suppressions(f);
    assert_int_equal(json_array_size(sup), 0);
    json_decref(sup);
    others_unchanged(f, before, -1);
}

/* Mail to unsubscribe+TOKEN@ and one-click: unsubscribed once, suppressed. */
static void test_unsubscribe(void **state)
{
    struct fx *f = *state;
    json_t *before = snapshot(f, 1);
    char tok[EDM_VERP_TOKEN_MAX], rcpt[128];
    edm_verp_token(tok, EDM_VERP_UNSUB, secret, sizeof secret - 1, (uint64_t)f->ids[1]);
    snprintf(rcpt, sizeof rcpt, "Unsubscribe+%s@bounce.example.com", tok);
    edm_fb_result r;
    const char *body = "Subject: unsubscribe\n\nplease\n";
    assert_int_equal(edm_feedback_message(&f->ctx, rcpt, body, strlen(body), 4000, &r), 0);
    assert_int_equal(r.what, EDM_FB_UNSUBSCRIBED);
    assert_int_equal(edm_feedback_unsubscribe(&f->ctx, tok, strlen(tok), 4100, &r), 0);
    assert_int_equal(r.done.event, 0);
    json_t *rc = receipt(f, 1);
    assert_string_equal(json_string_value(json_object_get(rc, "feedback")), "unsubscribed");
    json_decref(rc);
    json_t *ev = events(f, 1);
    assert_int_equal(json_array_size(ev), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 1), "type")),
                        "unsubscribe");
    json_decref(ev);
    json_t *sup = suppressions(f);
    assert_int_equal(json_array_size(sup), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sup, 0), "reason")),
                        "unsubscribe");
    json_decref(sup);
    others_unchanged(f, before, 1);
    /* The events feed: every event in order, filtered by type. */
    edm_page p;
    assert_int_equal(f->st->ops->event_list(f->st, EDM_EVENT_UNSUBSCRIBE, 0, 10, &p), 0);
    assert_int_equal(json_array_size(p.items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p.items, 0), "email")),
                        "slow@example.org");
    edm_page_free(&p);
    assert_int_equal(f->st->ops->event_list(f->st, -1, 0, 2, &p), 0);
    assert_int_equal(json_array_size(p.items), 2);
    assert_true(p.next > 0);
    int64_t next = p.next;
    edm_page_free(&p);
    assert_int_equal(f->st->ops->event_list(f->st, -1, next, 10, &p), 0);
    assert_int_equal(json_array_size(p.items), NRCPT + 1 - 2);
    assert_int_equal(p.next, 0);
    edm_page_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_postfix_dsn_by_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_text_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delayed_then_deferred_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_complaints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_message_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forged_and_unrelated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsubscribe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, edm_test_store_group_setup, edm_test_store_group_teardown);
}
